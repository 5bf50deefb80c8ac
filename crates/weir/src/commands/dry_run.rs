//! `weir dry-run`: walks a pipeline without side effects.

use crate::exit::{EXIT_INVALID, EXIT_RUN_FAILED};
use crate::settings::Settings;
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use weir_api::{DryRunReport, DryRunStep};
use weir_engine::{Collector, Engine, EventKind, ManualClock, RunOptions};
use weir_pipeline::Status;

/// Walk a pipeline with side effects mocked: the order steps run in, the branches taken, and
/// what would be called
///
/// Steps with external effects (`http`, `sleep`, `log`) are not run: their resolved
/// configuration is shown ("would call") and their output is null, or what `--mock` gives.
/// Steps that only compute (`transform`, `pass`, `fail`) run for real, so conditions take the
/// branches a real run would take. Time is virtual: retries and timeouts do not wait.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir dry-run score.yaml -i '{\"order\": 7}'\n  weir dry-run score.yaml --mock 'fetch={\"status\": 200, \"body\": {\"total\": 90}}'"
)]
pub struct Args {
    /// The pipeline file.
    file: PathBuf,
    #[command(flatten)]
    input: crate::input::InputArgs,
    /// Output of a step instead of running it, e.g. `--mock fetch='{"status":200}'`. Repeatable.
    #[arg(long = "mock", value_name = "STEP=JSON")]
    mocks: Vec<String>,
    /// Print the walk as JSON: `{status, output, error, steps: [{id, kind, status, order, ...}]}`.
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
    let clock = ManualClock::new();
    let engine = Engine::new(registry, clock.clone());
    let opts = RunOptions { dry_run: true, mocks, seed: Some(0), ..RunOptions::default() };
    let sink = Collector::default();
    let report = match clock.block_on(engine.run(&bundle, input, &opts, &sink)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let result = DryRunReport {
        status: report.status,
        output: report.output.clone(),
        error: report.error.as_ref().map(ToString::to_string),
        steps: walk(&sink.events()),
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print_walk(&plan.pipeline().name, &result);
    }
    Ok(if report.status == Status::Succeeded { ExitCode::SUCCESS } else { ExitCode::from(EXIT_RUN_FAILED) })
}

fn parse_mocks(mocks: &[String]) -> Result<HashMap<String, Value>> {
    mocks
        .iter()
        .map(|m| {
            let (id, raw) =
                m.split_once('=').with_context(|| format!("--mock \"{m}\": expected STEP=JSON"))?;
            let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
            Ok((id.to_owned(), value))
        })
        .collect()
}

/// One entry per step, in the order the steps finished, from the run's events.
fn walk(events: &[weir_engine::Event]) -> Vec<DryRunStep> {
    let mut steps: Vec<DryRunStep> = Vec::new();
    let mut would_call: HashMap<&str, &Value> = HashMap::new();
    // The walk lists the pipeline's own steps; items and sub-pipeline runs are inside them.
    let own =
        events.iter().filter(|e| e.parent.is_none() && e.kind.step().is_some_and(|at| at.item.is_none()));
    for event in own {
        let Some(at) = event.kind.step() else { continue };
        let mut step = DryRunStep {
            order: steps.len() + 1,
            id: at.step.clone(),
            kind: at.kind.clone(),
            status: Status::Succeeded,
            output: None,
            error: None,
            reason: None,
            mocked: false,
            would_call: None,
        };
        match &event.kind {
            EventKind::StepMocked { at, config } => {
                would_call.insert(&at.step, config);
                continue;
            }
            EventKind::StepSucceeded { output, .. } => step.output = Some(output.clone()),
            EventKind::StepFailed { error, .. } => {
                (step.status, step.error) = (Status::Failed, Some(error.clone()))
            }
            EventKind::StepSkipped { reason, .. } => {
                (step.status, step.reason) = (Status::Skipped, Some(reason.clone()))
            }
            EventKind::StepCancelled { .. } => step.status = Status::Cancelled,
            _ => continue,
        }
        if let Some(config) = would_call.get(at.step.as_str()) {
            step.mocked = true;
            step.would_call = Some((*config).clone());
        }
        steps.push(step);
    }
    steps
}

fn print_walk(name: &str, result: &DryRunReport) {
    outln!("dry run of {name}: steps with external effects were not run");
    let width = result.steps.iter().map(|s| s.id.len()).max().unwrap_or(0);
    for s in &result.steps {
        let (id, kind) = (&s.id, &s.kind);
        let detail = match (s.status, &s.would_call) {
            (Status::Skipped, _) => format!("skipped: {}", s.reason.as_deref().unwrap_or_default()),
            (Status::Failed, _) => format!("failed: {}", s.error.as_deref().unwrap_or_default()),
            (Status::Succeeded, Some(config)) => format!("would call {kind} with {config}"),
            (status, _) => format!("{status} → {}", short(s.output.as_ref().unwrap_or(&Value::Null))),
        };
        outln!("  {:>3}. {id:<width$}  {kind:<9} {detail}", s.order);
    }
    match result.status {
        Status::Succeeded => outln!("output: {}", short(&result.output)),
        status => outln!("the run would end {status}: {}", result.error.as_deref().unwrap_or("")),
    }
}

/// A value on one line, shortened to fit.
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 80 { format!("{}…", text.chars().take(79).collect::<String>()) } else { text }
}
