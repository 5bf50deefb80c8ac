//! `weir dry-run`: walks a pipeline without side effects.

use crate::exit::{EXIT_INVALID, EXIT_RUN_FAILED};
use crate::settings::Settings;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
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
    let Some(plan) = crate::load::plan_for_run(&args.file, &registry, settings)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let input = args.input.value()?;
    let mocks = parse_mocks(&args.mocks)?;
    if let Some(unknown) = mocks.keys().find(|id| plan.step_index(id).is_none()) {
        anyhow::bail!("--mock names step \"{unknown}\", which is not in {}", args.file.display());
    }
    let clock = ManualClock::new();
    let loader = Arc::new(crate::load::FsLoader::new(registry.clone()));
    let engine = Engine::new(registry, clock.clone(), loader);
    let opts = RunOptions { dry_run: true, mocks, seed: Some(0), ..RunOptions::default() };
    let sink = Collector::default();
    let report = match clock.block_on(engine.run(&plan, input, &opts, &sink)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let walk = walk(&plan, &sink.events());
    let result = json!({
        "status": report.status,
        "output": report.output,
        "error": report.error.as_ref().map(ToString::to_string),
        "steps": walk,
    });
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print_walk(&plan.pipeline.name, &result);
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
fn walk(plan: &weir_pipeline::Plan, events: &[weir_engine::Event]) -> Vec<Value> {
    let mut steps: Vec<Value> = Vec::new();
    let mut would_call: HashMap<&str, &Value> = HashMap::new();
    for event in events {
        let (id, entry) = match &event.kind {
            EventKind::StepMocked { step, config, .. } => {
                would_call.insert(step, config);
                continue;
            }
            EventKind::StepSucceeded { step, output, .. } => {
                (step, json!({"status": "succeeded", "output": output}))
            }
            EventKind::StepFailed { step, error, .. } => (step, json!({"status": "failed", "error": error})),
            EventKind::StepSkipped { step, reason } => (step, json!({"status": "skipped", "reason": reason})),
            EventKind::StepCancelled { step } => (step, json!({"status": "cancelled"})),
            _ => continue,
        };
        let Some(i) = plan.step_index(id) else { continue };
        let mut entry = entry;
        entry["id"] = json!(id);
        entry["kind"] = json!(plan.steps[i].kind);
        entry["order"] = json!(steps.len() + 1);
        if let Some(config) = would_call.get(id.as_str()) {
            entry["mocked"] = json!(true);
            entry["would_call"] = (*config).clone();
        }
        steps.push(entry);
    }
    steps
}

fn print_walk(name: &str, result: &Value) {
    outln!("dry run of {name}: steps with external effects were not run");
    let steps = result["steps"].as_array().cloned().unwrap_or_default();
    let width = steps.iter().filter_map(|s| s["id"].as_str()).map(str::len).max().unwrap_or(0);
    for s in &steps {
        let id = s["id"].as_str().unwrap_or_default();
        let kind = s["kind"].as_str().unwrap_or_default();
        let detail = match s["status"].as_str() {
            Some("skipped") => format!("skipped: {}", s["reason"].as_str().unwrap_or_default()),
            Some("failed") => format!("failed: {}", s["error"].as_str().unwrap_or_default()),
            Some("succeeded") if s["mocked"] == true => format!("would call {kind} with {}", s["would_call"]),
            Some(status) => format!("{status} → {}", short(&s["output"])),
            None => String::new(),
        };
        outln!("  {:>3}. {id:<width$}  {kind:<9} {detail}", s["order"]);
    }
    match result["status"].as_str() {
        Some("succeeded") => outln!("output: {}", short(&result["output"])),
        _ => outln!(
            "the run would end {}: {}",
            result["status"].as_str().unwrap_or("?"),
            result["error"].as_str().unwrap_or("")
        ),
    }
}

/// A value on one line, shortened to fit.
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 80 { format!("{}…", text.chars().take(79).collect::<String>()) } else { text }
}
