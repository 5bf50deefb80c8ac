//! `weir dry-run`: walks a pipeline without side effects.

use crate::exit::{EXIT_INVALID, EXIT_RUN_FAILED};
use crate::settings::Settings;
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use weir_api::{DryRunItem, DryRunOutcome, DryRunReport, DryRunStep, Walked};
use weir_engine::{Collector, Engine, Event, EventKind, ManualClock, RunOptions};
use weir_pipeline::Status;

/// Walk a pipeline with side effects mocked: the order steps run in, the branches taken, and
/// what would be called
///
/// Steps with external effects (`http`, `sleep`, `log`) are not run: their resolved
/// configuration is shown ("would call") and their output is null, or what `--mock` gives
/// ("mocked →"). Steps that only compute (`transform`, `pass`, `fail`) run for real, so
/// conditions take the branches a real run would take. A `foreach` lists each item and what it
/// would call, a `pipeline` step the walk of its pipeline; a step the run never got to because
/// another failed is "not reached". Time is virtual: retries and timeouts do not wait. Values of
/// the environment variables the pipeline reads show as `***`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir dry-run score.yaml -i '{\"order\": 7}'\n  weir dry-run score.yaml --mock 'fetch={\"status\": 200, \"body\": {\"total\": 90}}'"
)]
pub struct Args {
    /// The pipeline file.
    file: PathBuf,
    #[command(flatten)]
    input: crate::input::InputArgs,
    /// Output of a step instead of running it, as JSON, e.g. `--mock fetch='{"status":200}'`;
    /// text is a JSON string: `--mock name='"Ada"'`. Repeatable.
    #[arg(long = "mock", value_name = "STEP=JSON")]
    mocks: Vec<String>,
    /// Print the walk as JSON: `{status, output, error, steps: [{order, id, kind, status, output,
    /// mocked, would_call, items: [{index, kind, status, would_call, steps}], steps}]}`.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let registry = super::registry();
    let Some(bundle) = crate::load::bundle_for_run(&args.file, &registry, settings)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let plan = bundle.root();
    let input = args.input.value()?;
    let mocks = parse_mocks(&args.mocks)?;
    if let Some(unknown) = mocks.keys().find(|id| plan.step_index(id).is_none()) {
        anyhow::bail!("--mock names step \"{unknown}\", which is not in {}", args.file.display());
    }
    let env = crate::env::for_run(&bundle, &settings.config.run.env_allow)?;
    let redact = crate::env::Redact::new(&env);
    let clock = ManualClock::new();
    let engine = Engine::new(registry, clock.clone());
    let opts = RunOptions { dry_run: true, mocks, seed: Some(0), env, ..RunOptions::default() };
    let sink = Collector::default();
    let report = match clock.block_on(engine.run(&bundle, input, &opts, &sink)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let events = sink.events();
    let mut result = serde_json::to_value(DryRunReport {
        status: report.status,
        output: report.output.clone(),
        error: report.error.as_ref().map(ToString::to_string),
        steps: Walk::new(&events).root(),
    })?;
    redact.json(&mut result);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print_walk(&plan.pipeline().name, &serde_json::from_value(result)?, &opts.mocks);
    }
    Ok(if report.status == Status::Succeeded { ExitCode::SUCCESS } else { ExitCode::from(EXIT_RUN_FAILED) })
}

fn parse_mocks(mocks: &[String]) -> Result<HashMap<String, Value>> {
    mocks
        .iter()
        .map(|m| {
            let (id, raw) =
                m.split_once('=').with_context(|| format!("--mock \"{m}\": expected STEP=JSON"))?;
            let value = serde_json::from_str(raw).map_err(|e| {
                anyhow::anyhow!(
                    "--mock \"{m}\": the value is not JSON ({e}); for text, give a JSON string: --mock '{id}={}'",
                    Value::String(raw.to_owned())
                )
            })?;
            Ok((id.to_owned(), value))
        })
        .collect()
}

/// The walk of a dry run, read from its events: each run's own steps in the order they finished,
/// a `foreach` step's items and a `pipeline` step's run inside their step.
struct Walk<'e> {
    events: &'e [Event],
}

impl<'e> Walk<'e> {
    fn new(events: &'e [Event]) -> Self {
        Self { events }
    }

    /// The walk of the run the dry run started.
    fn root(&self) -> Vec<DryRunStep> {
        let root = self.events.iter().find(|e| e.parent.is_none()).map(|e| e.run_id.clone());
        root.map(|run| self.steps(&run)).unwrap_or_default()
    }

    /// The events of run `run` about its step `step`: the step's own (`None`) or an item's.
    fn of_step(&self, run: &'e str, step: &'e str) -> impl Iterator<Item = (&'e Event, Option<usize>)> {
        self.events.iter().filter_map(move |e| {
            let at = e.kind.step()?;
            (&*e.run_id == run && &*at.step == step).then_some((e, at.item))
        })
    }

    /// The runs that step `step` of run `run` started: (run id, item).
    fn children(&self, run: &'e str, step: &'e str) -> impl Iterator<Item = (&'e str, Option<usize>)> {
        self.events.iter().filter_map(move |e| match (&e.kind, &e.parent) {
            (EventKind::RunStarted { .. }, Some(p)) if &*p.run_id == run && p.step == step => {
                Some((&*e.run_id, p.item))
            }
            _ => None,
        })
    }

    fn steps(&self, run: &'e str) -> Vec<DryRunStep> {
        let ended = self.events.iter().filter(|e| &*e.run_id == run && is_end(&e.kind));
        let mut steps = Vec::new();
        for at in ended.filter_map(|e| e.kind.step()).filter(|at| at.item.is_none()) {
            let own = self.of_step(run, &at.step).filter(|(_, item)| item.is_none());
            let Some((mut outcome, reason)) = self.end(own.map(|(e, _)| e)) else { continue };
            let children: Vec<_> = self.children(run, &at.step).collect();
            if let Some((child, _)) = children.iter().find(|(_, item)| item.is_none()) {
                outcome.steps = self.steps(child);
            }
            steps.push(DryRunStep {
                order: steps.len() + 1,
                id: at.step.to_string(),
                kind: at.kind.to_string(),
                mocked: outcome.would_call.is_some(),
                outcome,
                reason,
                items: self.items(run, &at.step, &children),
            });
        }
        steps
    }

    /// A `foreach` step's items: those of its nested step, or the runs of its pipeline.
    fn items(&self, run: &'e str, step: &'e str, children: &[(&'e str, Option<usize>)]) -> Vec<DryRunItem> {
        let mut indices: Vec<usize> = self.of_step(run, step).filter_map(|(_, item)| item).collect();
        indices.sort_unstable();
        indices.dedup();
        let nested = indices.into_iter().filter_map(|index| {
            let events =
                || self.of_step(run, step).filter(move |(_, item)| *item == Some(index)).map(|(e, _)| e);
            let kind = events().find_map(|e| e.kind.step())?.kind.to_string();
            let (outcome, _) = self.end(events())?;
            Some(DryRunItem { index, kind, outcome })
        });
        let runs = children.iter().filter_map(|&(child, item)| {
            let finished = self.events.iter().find_map(|e| match &e.kind {
                EventKind::RunFinished { status, output, error, .. } if &*e.run_id == child => {
                    Some((*status, output, error))
                }
                _ => None,
            });
            let (status, output, error) = finished.map_or((Walked::NotReached, None, None), |(s, o, e)| {
                (s.into(), Some(o.clone()), e.as_ref().map(ToString::to_string))
            });
            let outcome = DryRunOutcome { status, output, error, would_call: None, steps: self.steps(child) };
            Some(DryRunItem { index: item?, kind: "pipeline".to_owned(), outcome })
        });
        let mut items: Vec<DryRunItem> = nested.chain(runs).collect();
        items.sort_by_key(|i| i.index);
        items
    }

    /// How one step or item ended, from its events, and why it was skipped; none before its
    /// terminal event.
    fn end(&self, events: impl Iterator<Item = &'e Event>) -> Option<(DryRunOutcome, Option<String>)> {
        let mut started = false;
        let mut would_call = None;
        for event in events {
            let (status, output, error, reason) = match &event.kind {
                EventKind::StepStarted { .. } => {
                    started = true;
                    continue;
                }
                EventKind::StepMocked { config, .. } => {
                    (started, would_call) = (true, Some(config.clone()));
                    continue;
                }
                EventKind::StepSucceeded { output, .. } => {
                    (Walked::Succeeded, Some(output.clone()), None, None)
                }
                EventKind::StepFailed { error, .. } => (Walked::Failed, None, Some(error.clone()), None),
                EventKind::StepSkipped { reason, .. } => (Walked::Skipped, None, None, Some(reason.clone())),
                EventKind::StepCancelled { .. } if started => (Walked::Cancelled, None, None, None),
                EventKind::StepCancelled { .. } => (Walked::NotReached, None, None, None),
                _ => continue,
            };
            return Some((DryRunOutcome { status, output, error, would_call, steps: Vec::new() }, reason));
        }
        None
    }
}

/// Whether an event ends a step or an item.
fn is_end(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::StepSucceeded { .. }
            | EventKind::StepFailed { .. }
            | EventKind::StepSkipped { .. }
            | EventKind::StepCancelled { .. }
    )
}

fn print_walk(name: &str, result: &DryRunReport, mocks: &HashMap<String, Value>) {
    outln!("dry run of {name}: steps with external effects were not run");
    print_steps(&result.steps, Some(mocks), 1);
    match result.status {
        Status::Succeeded => outln!("output: {}", short(&result.output)),
        status => outln!("the run would end {status}: {}", result.error.as_deref().unwrap_or("")),
    }
}

/// Prints a walk at `depth`; `mocks` are the `--mock` values, which stand in for steps of the
/// root pipeline only.
fn print_steps(steps: &[DryRunStep], mocks: Option<&HashMap<String, Value>>, depth: usize) {
    let indent = "  ".repeat(depth);
    let width = steps.iter().map(|s| s.id.len()).max().unwrap_or(0);
    for s in steps {
        let (id, kind) = (&s.id, &s.kind);
        let given = mocks.is_some_and(|m| m.contains_key(id));
        let detail = outcome_line(&s.outcome, kind, s.reason.as_deref(), given);
        outln!("{indent}{:>3}. {id:<width$}  {kind:<9} {detail}", s.order);
        let count = s.items.len();
        for item in &s.items {
            let (n, index) = (item.index + 1, item.index);
            let detail = outcome_line(&item.outcome, &item.kind, None, false);
            outln!("{indent}       item {n} of {count} (index {index}): {detail}");
            print_steps(&item.outcome.steps, None, depth + 4);
        }
        print_steps(&s.outcome.steps, None, depth + 3);
    }
}

/// How a step or an item of `kind` ended, on one line; `given` when `--mock` stood in for it.
fn outcome_line(o: &DryRunOutcome, kind: &str, reason: Option<&str>, given: bool) -> String {
    let output = || short(o.output.as_ref().unwrap_or(&Value::Null));
    match (o.status, &o.would_call) {
        (Walked::Skipped, _) => format!("skipped: {}", reason.unwrap_or_default()),
        (Walked::Failed, _) => format!("failed: {}", o.error.as_deref().unwrap_or_default()),
        (Walked::Succeeded, Some(config)) if given => {
            format!("mocked → {} (instead of {kind} with {config})", output())
        }
        (Walked::Succeeded, Some(config)) => format!("would call {kind} with {config}"),
        (status, _) if o.output.is_some() => format!("{status} → {}", output()),
        (status, _) => status.to_string(),
    }
}

/// A value on one line, shortened to fit.
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 80 { format!("{}…", text.chars().take(79).collect::<String>()) } else { text }
}
