//! `weir test`: runs the `tests:` blocks of pipelines.

use crate::exit::{EXIT_INVALID, EXIT_RUN_FAILED};
use crate::load;
use crate::settings::{Settings, Style, paint};
use anyhow::Result;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::runtime::Runtime;
use weir_api::CaseProblem;
use weir_engine::{
    Collector, Engine, ErrorKind, Event, EventKind, External, ManualClock, Registry, RunOptions,
};
use weir_pipeline::Bundle;
use weir_pipeline::model::TestCase;

/// Run the test cases in pipelines' `tests:` blocks
///
/// Each case runs the pipeline with its `input`, replaces the steps named in `mock` by the given
/// outputs, and checks `expect` (output, status, error text, step statuses). Failures show what
/// differs. Exit codes: 0 all passed, 1 a case failed, 2 a pipeline is invalid or `--case`
/// names no case.
///
/// Cases are hermetic: they run on virtual time, so a `sleep` or a retry's backoff takes no
/// time, and a step that would call outside the process (`http`) and is not mocked fails the
/// case instead of running, naming the call. A case with `allow_external: true`, or every case
/// with `--allow-external`, runs such steps for real, on real time.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir test examples/\n  weir test score.yaml --json\n  weir test score.yaml --case 'big order is vip'"
)]
pub struct Args {
    /// Pipeline files or directories.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Run only the case with this exact name. Repeatable; a name that no case of the files has
    /// is an error (exit 2) that lists the names there are.
    #[arg(long = "case", value_name = "NAME")]
    cases: Vec<String>,
    /// Let steps that call outside the process (`http`) run for real when a case does not mock
    /// them, in every case, as `allow_external: true` does for one. Such cases run on real time.
    #[arg(long)]
    allow_external: bool,
    /// Print results as JSON on stdout: `{passed, failed, invalid, cases: [{file, name, passed,
    /// problems: [{path, expected, found, message}]}]}`.
    #[arg(long)]
    json: bool,
}

struct Outcome {
    file: String,
    name: String,
    problems: Vec<CaseProblem>,
}

/// A file named on the command line: its bundle, or none when it is invalid.
struct Loaded {
    file: PathBuf,
    bundle: Option<Bundle>,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let registry = super::registry();
    let runtime = super::runtime(super::Threads::One)?;
    let mut loaded = Vec::new();
    for file in load::expand(&args.files)? {
        let bundle = load::bundle_for_run(&file, &registry, settings)?;
        loaded.push(Loaded { file, bundle });
    }
    check_case_names(&args.cases, &loaded)?;
    let mut outcomes = Vec::new();
    let mut invalid = Vec::new();
    for Loaded { file, bundle } in &loaded {
        let Some(bundle) = bundle else {
            if !args.json {
                outln!(
                    "{} {} is invalid: its cases did not run",
                    paint("✗", Style::Error, settings.stdout_color),
                    file.display()
                );
            }
            invalid.push(file.display().to_string());
            continue;
        };
        let tests = &bundle.root().pipeline().tests;
        if tests.is_empty() && args.cases.is_empty() && !args.json {
            outln!("- {} has no test cases", file.display());
        }
        for case in tests.iter().filter(|c| args.cases.is_empty() || args.cases.contains(&c.name)) {
            let allow = args.allow_external || case.allow_external;
            let problems = run_case(&registry, &runtime, bundle, case, allow);
            let outcome = Outcome { file: file.display().to_string(), name: case.name.clone(), problems };
            if !args.json {
                print_outcome(&outcome, settings.stdout_color);
            }
            outcomes.push(outcome);
        }
    }
    report(outcomes, invalid, args.json, settings)
}

/// Refuses `--case` names that no case of the valid files has, listing the names there are.
fn check_case_names(wanted: &[String], loaded: &[Loaded]) -> Result<()> {
    let names: Vec<&str> = loaded
        .iter()
        .filter_map(|l| l.bundle.as_ref())
        .flat_map(|b| b.root().pipeline().tests.iter().map(|c| c.name.as_str()))
        .collect();
    let unknown: Vec<&str> = wanted.iter().map(String::as_str).filter(|w| !names.contains(w)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let there = if names.is_empty() {
        "there are no test cases".to_owned()
    } else {
        format!("the cases are: {}", names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", "))
    };
    let quoted: Vec<String> = unknown.iter().map(|n| format!("\"{n}\"")).collect();
    anyhow::bail!("--case {}: no test case has that name; {there}", quoted.join(", "))
}

/// Prints the summary (or the JSON report) and decides the exit code.
fn report(outcomes: Vec<Outcome>, invalid: Vec<String>, json: bool, settings: &Settings) -> Result<ExitCode> {
    let failed = outcomes.iter().filter(|o| !o.problems.is_empty()).count();
    let passed = outcomes.len() - failed;
    let code = if !invalid.is_empty() {
        ExitCode::from(EXIT_INVALID)
    } else if failed > 0 {
        ExitCode::from(EXIT_RUN_FAILED)
    } else {
        ExitCode::SUCCESS
    };
    if json {
        let cases = outcomes
            .into_iter()
            .map(|o| weir_api::CaseReport {
                file: o.file,
                name: o.name,
                passed: o.problems.is_empty(),
                problems: o.problems,
            })
            .collect();
        let report = weir_api::TestReport { passed, failed, invalid, cases };
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(code);
    }
    let mut summary = format!("{passed} passed, {failed} failed");
    if !invalid.is_empty() {
        let s = if invalid.len() == 1 { "" } else { "s" };
        summary.push_str(&format!(", {} invalid file{s}", invalid.len()));
    }
    let style = if failed > 0 || !invalid.is_empty() { Style::Error } else { Style::Ok };
    outln!("{}", paint(&summary, style, settings.stdout_color));
    Ok(code)
}

fn print_outcome(o: &Outcome, color: bool) {
    if o.problems.is_empty() {
        outln!("{} {} › {}", paint("✓", Style::Ok, color), o.file, o.name);
        return;
    }
    outln!("{} {} › {}", paint("✗", Style::Error, color), o.file, o.name);
    let (output, other): (Vec<_>, Vec<_>) = o.problems.iter().partition(|p| p.path.starts_with('.'));
    for p in other {
        for line in p.message.lines() {
            outln!("    {line}");
        }
    }
    if !output.is_empty() {
        outln!("    output differs:");
        for p in output {
            outln!("      {}", p.message);
        }
    }
}

/// Runs one case and lists what did not match. Unless `allow_external`, the case runs on
/// virtual time and refuses calls outside the process; otherwise it runs on real time on
/// `runtime`, since a real request takes real time.
pub(crate) fn run_case(
    registry: &Arc<Registry>,
    runtime: &Runtime,
    bundle: &Bundle,
    case: &TestCase,
    allow_external: bool,
) -> Vec<CaseProblem> {
    let external = if allow_external { External::Allow } else { External::Refuse };
    let opts = RunOptions {
        mocks: case.mock.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        seed: Some(0),
        external,
        ..RunOptions::default()
    };
    let input = if case.input.is_null() { json!({}) } else { case.input.clone() };
    let sink = Collector::default();
    let result = if allow_external {
        runtime.block_on(super::engine(registry.clone()).run(bundle, input, &opts, &sink))
    } else {
        let clock = ManualClock::new();
        clock.block_on(Engine::new(registry.clone(), clock.clone()).run(bundle, input, &opts, &sink))
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => return vec![problem("input", Value::Null, Value::Null, e.to_string())],
    };
    // A refused call decides the case: whatever else differs follows from it.
    let refused = refusals(&sink.events());
    if !refused.is_empty() {
        return refused;
    }
    compare(case, &report)
}

/// Every step (at any depth) that was refused a call outside the process, with how to allow it.
fn refusals(events: &[Event]) -> Vec<CaseProblem> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepFailed { at, error, error_kind: ErrorKind::Refused, .. } => {
                let item = at.item.map(|i| format!(" (item {i})")).unwrap_or_default();
                let within = e
                    .parent
                    .as_ref()
                    .map(|p| format!(" of the pipeline step \"{}\" runs", p.step))
                    .unwrap_or_default();
                let message = format!(
                    "step \"{}\"{item}{within} {error}; mock it in the case's `mock`, or allow calls with \
                     `allow_external: true` in the case or --allow-external",
                    at.step
                );
                Some(problem(&format!("steps.{}", at.step), Value::Null, json!(error), message))
            }
            _ => None,
        })
        .collect()
}

/// What of the case's `expect` the run's report does not match.
fn compare(case: &TestCase, report: &weir_engine::RunReport) -> Vec<CaseProblem> {
    let mut problems = Vec::new();
    let expect = &case.expect;
    let status = expect.status.unwrap_or(weir_pipeline::Status::Succeeded);
    if report.status != status {
        let why = report.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default();
        let message = format!("status: expected {status}, got {}{why}", report.status);
        problems.push(problem("status", json!(status.as_str()), json!(report.status.as_str()), message));
    }
    if let Some(expected) = &expect.output {
        diff(expected, &report.output, ".", &mut problems);
    }
    if let Some(text) = &expect.error {
        let got = report.error.as_ref().map(ToString::to_string).unwrap_or_default();
        if !got.contains(text.as_str()) {
            let message = format!("error: expected it to contain {text:?}, got {got:?}");
            problems.push(problem("error", json!(text), json!(got), message));
        }
    }
    for (id, want) in &expect.steps {
        let got = report.steps.iter().find(|s| s.id == *id).map(|s| s.status.as_str());
        if got != want.as_str() {
            let message = format!(
                "step {id}: expected {}, got {}",
                want.as_str().unwrap_or("?"),
                got.unwrap_or("nothing")
            );
            problems.push(problem(&format!("steps.{id}"), want.clone(), json!(got), message));
        }
    }
    problems
}

fn problem(path: &str, expected: Value, found: Value, message: String) -> CaseProblem {
    CaseProblem { path: path.to_owned(), expected, found, message }
}

/// Lists the differences between two JSON values, by jq path. Numbers compare by value (`1` equals `1.0`).
pub fn diff(expected: &Value, actual: &Value, path: &str, out: &mut Vec<CaseProblem>) {
    const MAX: usize = 20;
    if out.len() >= MAX {
        return;
    }
    let join = |key: &str| {
        if path == "." { format!(".{key}") } else { format!("{path}.{key}") }
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => diff(ev, av, &join(k), out),
                    None => {
                        let p = join(k);
                        let message = format!("{p}: missing (expected {ev})");
                        out.push(problem(&p, ev.clone(), Value::Null, message));
                    }
                }
            }
            for (k, av) in a.iter().filter(|(k, _)| !e.contains_key(*k)) {
                let p = join(k);
                let message = format!("{p}: unexpected {av}");
                out.push(problem(&p, Value::Null, av.clone(), message));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                let p = if path == "." { format!(".[{i}]") } else { format!("{path}[{i}]") };
                diff(ev, av, &p, out);
            }
            if e.len() != a.len() {
                let message = format!("{path}: expected {} items, got {}", e.len(), a.len());
                out.push(problem(path, expected.clone(), actual.clone(), message));
            }
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        (e, a) if e == a => {}
        (e, a) => out.push(problem(path, e.clone(), a.clone(), format!("{path}: expected {e}, got {a}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::diff;
    use serde_json::json;

    #[test]
    fn diff_names_paths_and_ignores_number_spelling() {
        let mut out = Vec::new();
        diff(
            &json!({"a": 1, "b": [1, 2], "c": "x"}),
            &json!({"a": 1.0, "b": [1, 3], "d": true}),
            ".",
            &mut out,
        );
        let messages: Vec<&str> = out.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [".b[1]: expected 2, got 3", ".c: missing (expected \"x\")", ".d: unexpected true"]
        );
        let fields: Vec<_> = out.iter().map(|p| (p.path.as_str(), &p.expected, &p.found)).collect();
        assert_eq!(fields[0], (".b[1]", &json!(2), &json!(3)));
        assert_eq!(fields[1], (".c", &json!("x"), &json!(null)));
    }
}
