//! `weir replay`: runs a stored run again, as a new run on the same pinned versions and input,
//! and compares what it ends with to what the original ended with.

use super::run::{DurabilityArg, Launch};
use super::runs::{lookup_failure, no_such_run, open, open_for_run};
use crate::exit::{EXIT_DIFFERENT, EXIT_INVALID};
use crate::settings::{Settings, paint};
use anyhow::{Result, bail};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::ExitCode;
use weir_engine::ErrorKind;
use weir_engine::resume::Ended;
use weir_pipeline::Plan;
use weir_pipeline::diff::FieldChange;

/// Run a stored run again and show how its result differs from the original's
///
/// The replay is a new stored run (`replays` in `weir runs show`) with the original's input and
/// jitter seed, on the exact pipeline versions the original started with: the stored text, even
/// if the file has changed since. Without `--from` every step runs again. With `--from STEP`,
/// that step runs again with every step whose run follows from it (its dependents and its
/// error handler, and theirs); every other step — those before it, and those beside it that do
/// not depend on it — takes the result it had in the original run without running (0 attempts
/// in the replay's record).
///
/// Then it prints what differs between the two runs' `{status, output}`, one path per line:
/// `+` added, `-` removed, `~` changed (nothing when they are the same).
///
/// Exit codes: 0 the results are the same, 1 they differ, 2 the run cannot be replayed (no such
/// run, no such step, its pipeline no longer validates), 3 the store cannot be opened.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir replay 019ae5c2\n  weir replay 019ae5c2 --from score\n  weir replay 019ae5c2 --json | jq .changes"
)]
pub struct Args {
    /// The run's id, or enough of its start to name one run.
    run: String,
    /// Run this step and what follows from it again; the other steps reuse the original's results.
    #[arg(long, value_name = "STEP")]
    from: Option<String>,
    /// Print `{run_id, replay_of, status, reused, same, changes}` on stdout, each change
    /// `{change, path, before, after}` (`change` is `added`, `removed` or `changed`).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    durability: DurabilityArg,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let registry = super::registry();
    let runtime = super::runtime(super::Threads::Workers)?;
    let found = runtime.block_on(async {
        let store = open(settings, args.durability.level()).await?;
        match store.interrupted(&args.run).await.map_err(lookup_failure)? {
            Some(found) => Ok(found),
            None => Err(no_such_run(&args.run, &store)),
        }
    })?;
    let original = &found.run;
    let id = original.run.run_id.clone();
    if let Some(parent) = &original.run.parent {
        bail!("run {id} is a sub-pipeline run of run {}; replay that one", parent.run_id);
    }
    let Some(bundle) = super::resume::pinned(&found, &registry, settings, "replayed")? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let reuse = reused(bundle.root(), &found.resume.run.steps, args.from.as_deref(), &id)?;
    let store = runtime.block_on(open_for_run(&bundle, settings, args.durability.level()))?.replaying(&id);
    let mut names: Vec<String> = reuse.keys().cloned().collect();
    names.sort_by_key(|n| bundle.root().step_index(n));
    let launch = Launch {
        bundle,
        input: original.input.clone(),
        seed: Some(found.resume.run.seed),
        run_id: None,
        store: Some(store),
        resume: None,
        reuse,
        trace_parent: crate::traces::parent(settings),
    };
    let report = match launch.execute(
        registry,
        &runtime,
        false,
        settings,
        &crate::telemetry::Observer::logs(&settings.config),
    )? {
        Ok(report) => report,
        Err(code) => return Ok(code),
    };
    if report.error.as_ref().is_some_and(|e| e.kind == ErrorKind::Store) {
        let kind = Some(ErrorKind::Store.as_str());
        return Ok(super::run::exit_code(&report.run_id, report.status, kind, settings));
    }
    let before = json!({"status": original.run.status, "output": original.output});
    let after = json!({"status": report.status, "output": report.output});
    let changes = weir_pipeline::diff::values(&before, &after);
    if args.json {
        let document = json!({
            "run_id": report.run_id,
            "replay_of": id,
            "status": report.status,
            "reused": names,
            "same": changes.is_empty(),
            "changes": changes.iter().map(change_json).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        print(&id, &report, &names, &changes, settings);
    }
    Ok(if changes.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DIFFERENT) })
}

/// The results of the original run that the replay takes instead of running the steps: every
/// step that ended (succeeded, failed, skipped), except `from` and what follows from it; none
/// without `from`.
fn reused(
    plan: &Plan,
    recorded: &HashMap<String, weir_engine::resume::PriorStep>,
    from: Option<&str>,
    id: &str,
) -> Result<HashMap<String, Ended>> {
    let Some(from) = from else { return Ok(HashMap::new()) };
    let Some(start) = plan.step_index(from) else {
        let ids: Vec<&str> = plan.steps().iter().map(|s| s.id()).collect();
        bail!(
            "--from \"{from}\": the pipeline {} of run {id} has no such step (its steps: {})",
            plan.name(),
            ids.join(", ")
        );
    };
    let again = plan.downstream(start);
    let steps = plan.steps().iter().enumerate().filter(|(i, _)| again.binary_search(i).is_err());
    let ended = steps.filter_map(|(_, s)| Some((s.id().to_owned(), recorded.get(s.id())?.ended.clone()?)));
    Ok(ended.collect())
}

fn change_json(change: &FieldChange) -> Value {
    let mut value = change.to_json();
    if let Value::Object(fields) = &mut value {
        fields.insert("change".into(), json!(change.mark().as_str()));
    }
    value
}

fn print(
    id: &str,
    report: &weir_engine::RunReport,
    reused: &[String],
    changes: &[FieldChange],
    settings: &Settings,
) {
    if !settings.quiet {
        let taken = match reused {
            [] => String::new(),
            names => format!("; reused the results of {}", names.join(", ")),
        };
        eprintln!("replayed run {id} as run {}: {}{taken}", report.run_id, report.status);
    }
    let color = settings.stdout_color;
    for change in changes {
        let style = super::diff::mark_style(change.mark());
        outln!("{}", paint(&format!("{} {}", change.mark().symbol(), change.render()), style, color));
    }
    if changes.is_empty() && settings.interactive() {
        eprintln!("the replay ended as the original did");
    }
}
