//! `weir resume`: continues an interrupted run from the store.

use super::run::{DurabilityArg, Launch, OutputArgs};
use super::runs::{lookup_failure, no_such_run, open};
use crate::exit::EXIT_INVALID;
use crate::settings::{Settings, Style, paint};
use anyhow::{Result, bail};
use std::process::ExitCode;
use weir_engine::ErrorKind;
use weir_pipeline::Status;

/// Continue an interrupted run from the store
///
/// A run whose process died (a crash, `kill -9`, a power loss) stays `running` in the store, and
/// one stopped while an `approval` step waits stays `waiting` (it goes on from the answer); one
/// stopped by Ctrl-C or SIGTERM ends `cancelled`, and one stopped because its store failed (a
/// full disk) ends `failed` with the error kind `store`. `weir resume` continues any of them with the same
/// input and seed, on the exact pipeline versions it started with: the stored text, even if the
/// file has changed since.
///
/// Steps, `foreach` items and sub-pipeline runs that had ended are not run again; their results
/// stand. A step that was running when the process stopped runs again, so it runs at least once:
/// the interrupted attempt counts, and the step gets at least one more. An `http` step sends the
/// same `Idempotency-Key` header on every attempt and resume, so a service can tell a repeat.
///
/// A `running` run whose process is still alive on this machine is refused, and so is one last
/// run on another machine, which cannot be checked from here: `--force` resumes it anyway.
///
/// Exit codes: 0 succeeded, 1 failed or cancelled, 2 the run cannot be resumed (no such run, it
/// has ended, its process is alive, its pipeline no longer validates), 3 the store cannot be
/// opened, 130 or 143 stopped by a second signal.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir runs list --status running\n  weir resume 019ae5c2\n  weir resume 019ae5c2 --json"
)]
pub struct Args {
    /// The run's id, or enough of its start to name one run.
    run: String,
    #[command(flatten)]
    output: OutputArgs,
    /// Resume a `running` run even though its process may still be going (it would then run
    /// twice at once).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    durability: DurabilityArg,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let registry = super::registry();
    let runtime = super::runtime(super::Threads::Workers)?;
    let (store, interrupted) = runtime.block_on(async {
        let store = open(settings, args.durability.level()).await?;
        let found = store.interrupted(&args.run).await.map_err(lookup_failure)?;
        Ok::<_, anyhow::Error>((store, found))
    })?;
    let Some(interrupted) = interrupted else { return Err(no_such_run(&args.run, &store)) };
    let run = &interrupted.run.run;
    let id = &run.run_id;
    if let Some(parent) = &run.parent {
        bail!("run {id} is a sub-pipeline run of run {}; resume that one", parent.run_id);
    }
    match run.status {
        Status::Running | Status::Waiting => check_owner(id, interrupted.owner.as_deref(), args.force)?,
        Status::Cancelled => {}
        // Stopped because its store failed: what it committed is consistent, as at a crash.
        Status::Failed if run.error.as_ref().is_some_and(|e| e.kind == ErrorKind::Store.as_str()) => {}
        Status::Succeeded => bail!("run {id} has already succeeded: there is nothing to resume"),
        Status::Pending => bail!("run {id} is queued and has not started: `weir worker` starts it"),
        status => {
            bail!("run {id} {status}: it ended, it was not interrupted (`weir run` runs its pipeline again)")
        }
    }
    let (pipeline, id) = (run.pipeline.clone(), id.clone());
    let ended = interrupted.resume.run.steps.values().filter(|s| s.ended.is_some()).count();
    let store = store.recording(None, Some(crate::owner::current()));
    let Some(launch) = Launch::from_store(interrupted, store, &registry, settings)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    if settings.interactive() && !args.output.events {
        let total = launch.bundle.root().steps().len();
        eprintln!(
            "{}",
            paint(
                &format!("resuming run {id} of {pipeline}: {ended} of {total} steps had ended"),
                Style::Dim,
                settings.stderr_color
            )
        );
    }
    launch.run(
        registry,
        &runtime,
        &args.output,
        settings,
        &crate::telemetry::Observer::logs(&settings.config),
    )
}

/// A `running` run may be resumed once the process that ran it is gone.
fn check_owner(id: &str, owner: Option<&str>, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    let Some(owner) = owner else { return Ok(()) };
    match crate::owner::alive(owner) {
        Some(false) => Ok(()),
        Some(true) => {
            let pid = crate::owner::pid(owner).unwrap_or("?");
            bail!(
                "run {id} is still running, in process {pid}: wait for it, or stop it (Ctrl-C, SIGTERM) and resume it then"
            )
        }
        None => bail!(
            "run {id} is `running`, last run by a process this machine cannot check ({owner}); if it is gone, resume it with --force"
        ),
    }
}

/// The pipeline versions a stored run started with, rebuilt from the store's texts and validated
/// again, for it to be `done` (resumed, replayed) on them; none, with the problems printed, when
/// they no longer validate with this weir.
pub fn pinned(
    found: &weir_store::Interrupted,
    registry: &weir_engine::Registry,
    settings: &Settings,
    done: &str,
) -> Result<Option<weir_pipeline::Bundle>> {
    let run = &found.run.run;
    let id = &run.run_id;
    let Some(stored) = &found.bundle else {
        bail!("run {id} was stored without its pipeline versions (by an older weir) and cannot be {done}");
    };
    let bundle = crate::load::bundle_from_store(stored, registry, settings)?;
    if bundle.is_none() {
        eprintln!(
            "{}: the version of {} that run {id} started with does not validate with this weir",
            paint("error", Style::Error, settings.stderr_color),
            run.pipeline
        );
    }
    Ok(bundle)
}
