//! `weir test`: runs the `tests:` blocks of pipelines.

use crate::exit::{EXIT_INVALID, EXIT_RUN_FAILED};
use crate::load;
use crate::settings::{Settings, Style, paint};
use anyhow::Result;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use weir_engine::{Engine, NullSink, RunOptions};
use weir_pipeline::Bundle;
use weir_pipeline::model::TestCase;

/// Run the test cases in pipelines' `tests:` blocks
///
/// Each case runs the pipeline with its `input`, replaces the steps named in `mock` by the given
/// outputs, and checks `expect` (output, status, error text, step statuses). Failures show what
/// differs. Exit codes: 0 all passed, 1 a case failed, 2 a pipeline is invalid.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  weir test examples/\n  weir test score.yaml --json")]
pub struct Args {
    /// Pipeline files or directories.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print results as JSON on stdout: `{passed, failed, cases: [{file, name, passed, problems}]}`.
    #[arg(long)]
    json: bool,
}

struct Outcome {
    file: String,
    name: String,
    problems: Vec<String>,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let registry = super::registry();
    let engine = super::engine(registry.clone());
    let runtime = super::runtime(super::Threads::One)?;
    let mut outcomes = Vec::new();
    let mut invalid = false;
    for file in load::expand(&args.files)? {
        let Some(bundle) = load::bundle_for_run(&file, &registry, settings)? else {
            invalid = true;
            continue;
        };
        let plan = bundle.root();
        if plan.pipeline().tests.is_empty() && !args.json {
            outln!("- {} has no test cases", file.display());
        }
        for case in &plan.pipeline().tests {
            let problems = runtime.block_on(run_case(&engine, &bundle, case));
            let outcome = Outcome { file: file.display().to_string(), name: case.name.clone(), problems };
            if !args.json {
                print_outcome(&outcome, settings.stdout_color);
            }
            outcomes.push(outcome);
        }
    }
    let failed = outcomes.iter().filter(|o| !o.problems.is_empty()).count();
    let passed = outcomes.len() - failed;
    if args.json {
        let cases = outcomes
            .into_iter()
            .map(|o| weir_api::CaseReport {
                file: o.file,
                name: o.name,
                passed: o.problems.is_empty(),
                problems: o.problems,
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&weir_api::TestReport { passed, failed, cases })?);
    } else {
        let color = settings.stdout_color;
        let style = if failed > 0 { Style::Error } else { Style::Ok };
        outln!("{}", paint(&format!("{passed} passed, {failed} failed"), style, color));
    }
    Ok(if invalid {
        ExitCode::from(EXIT_INVALID)
    } else if failed > 0 {
        ExitCode::from(EXIT_RUN_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_outcome(o: &Outcome, color: bool) {
    if o.problems.is_empty() {
        outln!("{} {} › {}", paint("✓", Style::Ok, color), o.file, o.name);
    } else {
        outln!("{} {} › {}", paint("✗", Style::Error, color), o.file, o.name);
        for p in &o.problems {
            for line in p.lines() {
                outln!("    {line}");
            }
        }
    }
}

/// Runs one case and lists what did not match.
pub(crate) async fn run_case(engine: &Engine, bundle: &Bundle, case: &TestCase) -> Vec<String> {
    let opts = RunOptions {
        mocks: case.mock.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        seed: Some(0),
        ..RunOptions::default()
    };
    let input = if case.input.is_null() { json!({}) } else { case.input.clone() };
    let report = match engine.run(bundle, input, &opts, &NullSink).await {
        Ok(r) => r,
        Err(e) => return vec![e.to_string()],
    };
    let mut problems = Vec::new();
    let expect = &case.expect;
    let status = expect.status.unwrap_or(weir_pipeline::Status::Succeeded);
    if report.status != status {
        let why = report.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default();
        problems.push(format!("status: expected {status}, got {}{why}", report.status));
    }
    if let Some(expected) = &expect.output {
        let mut diffs = Vec::new();
        diff(expected, &report.output, ".", &mut diffs);
        if !diffs.is_empty() {
            problems.push(format!(
                "output differs:\n{}",
                diffs.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n")
            ));
        }
    }
    if let Some(text) = &expect.error {
        let got = report.error.as_ref().map(ToString::to_string).unwrap_or_default();
        if !got.contains(text.as_str()) {
            problems.push(format!("error: expected it to contain {text:?}, got {got:?}"));
        }
    }
    for (id, want) in &expect.steps {
        let got = report.steps.iter().find(|s| s.id == *id).map(|s| s.status.as_str());
        if got != want.as_str() {
            problems.push(format!(
                "step {id}: expected {}, got {}",
                want.as_str().unwrap_or("?"),
                got.unwrap_or("nothing")
            ));
        }
    }
    problems
}

/// Lists the differences between two JSON values, by jq path. Numbers compare by value (`1` equals `1.0`).
pub fn diff(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
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
                    None => out.push(format!("{}: missing (expected {ev})", join(k))),
                }
            }
            for (k, av) in a.iter().filter(|(k, _)| !e.contains_key(*k)) {
                out.push(format!("{}: unexpected {av}", join(k)));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                let p = if path == "." { format!(".[{i}]") } else { format!("{path}[{i}]") };
                diff(ev, av, &p, out);
            }
            if e.len() != a.len() {
                out.push(format!("{path}: expected {} items, got {}", e.len(), a.len()));
            }
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        (e, a) if e == a => {}
        (e, a) => out.push(format!("{path}: expected {e}, got {a}")),
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
        assert_eq!(out, [".b[1]: expected 2, got 3", ".c: missing (expected \"x\")", ".d: unexpected true"]);
    }
}
