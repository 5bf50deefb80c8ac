//! `weir runs cancel`: stops a run that has not ended, whichever process (if any) runs it.

use super::runs::{lookup_failure, no_such_run, now_ms, store_failure};
use crate::exit::EXIT_RUN_FAILED;
use crate::settings::{Settings, Style, paint};
use anyhow::{Context, Result, bail};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use weir_pipeline::Status;
use weir_store::Store;

/// How long `weir runs cancel` waits for the process running a run to end it.
const WAIT: Duration = Duration::from_secs(5);
/// How often it looks meanwhile.
const LOOK: Duration = Duration::from_millis(100);

#[derive(clap::Args)]
pub struct CancelArgs {
    /// The run's id, or enough of its start to name one run.
    run: String,
    /// Why, kept with the run (`weir runs show`) and in its error.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// End a run last run on another machine in the store at once, as if its process were gone,
    /// instead of asking that process to stop it.
    #[arg(long)]
    force: bool,
}

/// Who can stop the run.
enum Stopper {
    /// No process: its owner is gone (or unknown), or `--force`. The store ends it.
    Nobody,
    /// A process of this machine, by its pid: SIGTERM, which it turns into a cancelled run.
    Here(String),
    /// A process this machine cannot check: it reads the request from the store.
    Elsewhere(String),
    /// A worker (of any machine): it reads the request from the store within a second, and
    /// stops that run alone.
    Worker(String),
}

pub async fn cancel(store: &Store, args: &CancelArgs, settings: &Settings) -> Result<ExitCode> {
    let Some(found) = store.run(&args.run).await.map_err(lookup_failure)? else {
        return Err(no_such_run(&args.run, store));
    };
    let run = &found.run;
    let id = run.run_id.as_str();
    if let Some(parent) = &run.parent {
        bail!("run {id} is a sub-pipeline run of run {}; cancel that one", parent.run_id);
    }
    if run.status.is_finished() {
        bail!("run {id} has already ended ({}): there is nothing to cancel", run.status);
    }
    let state = store.run_state(id).await.map_err(store_failure)?;
    let owner = state.as_ref().and_then(|s| s.owner.clone());
    // Without a reason of its own, a cancel keeps the reason of an earlier request.
    let reason = args.reason.as_deref().or(state.as_ref().and_then(|s| s.cancel_reason.as_deref()));
    let stopper = match owner.as_deref() {
        Some(_) if args.force => Stopper::Nobody,
        Some(o) => match crate::owner::alive(o) {
            Some(true) => Stopper::Here(crate::owner::pid(o).unwrap_or_default().to_owned()),
            Some(false) => Stopper::Nobody,
            None => Stopper::Elsewhere(o.to_owned()),
        },
        None => Stopper::Nobody,
    };
    let stopper = match (stopper, store.queued(id).await.map_err(store_failure)?) {
        (Stopper::Here(_) | Stopper::Elsewhere(_), weir_store::Queued::By(worker)) => Stopper::Worker(worker),
        (stopper, _) => stopper,
    };
    let status = match stopper {
        Stopper::Nobody => store.cancel(id, reason, now_ms()).await.map_err(store_failure)?,
        Stopper::Here(pid) => {
            store.request_cancel(id, reason, now_ms()).await.map_err(store_failure)?;
            terminate(&pid)?;
            wait(store, id, true).await?
        }
        Stopper::Worker(worker) => {
            store.request_cancel(id, reason, now_ms()).await.map_err(store_failure)?;
            let status = wait(store, id, false).await?;
            if status.is_some_and(|s| !s.is_finished()) && !settings.quiet {
                eprintln!("{}: worker {worker} runs it", paint("note", Style::Dim, settings.stderr_color));
            }
            status
        }
        Stopper::Elsewhere(owner) => {
            store.request_cancel(id, reason, now_ms()).await.map_err(store_failure)?;
            match wait(store, id, false).await? {
                Some(status) if status.is_finished() => Some(status),
                _ => {
                    outln!("asked the process running run {id} ({owner}) to cancel it");
                    if !settings.quiet {
                        eprintln!(
                            "{}: it looks every second while the run is in flight; `weir runs show {id}` shows when it has; \
                             if that process is gone, `weir runs cancel {id} --force` ends the run in the store",
                            paint("note", Style::Dim, settings.stderr_color)
                        );
                    }
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    };
    report(id, status)
}

/// What the command says and exits with, once the run's status is `status`.
fn report(id: &str, status: Option<Status>) -> Result<ExitCode> {
    match status {
        Some(Status::Cancelled) => {
            outln!("cancelled run {id}");
            Ok(ExitCode::SUCCESS)
        }
        Some(status) if status.is_finished() => {
            eprintln!("run {id} ended {status} before it could be cancelled");
            Ok(ExitCode::from(EXIT_RUN_FAILED))
        }
        _ => {
            eprintln!("run {id} was asked to stop but is still going after {} s", WAIT.as_secs());
            Ok(ExitCode::from(EXIT_RUN_FAILED))
        }
    }
}

/// Sends SIGTERM to process `pid` through kill(1): the binary has no unsafe code to call
/// kill(2) with, and kill(1) is part of every unix. A process that ended meanwhile cannot be
/// signalled, which is no failure: the wait that follows finds the run ended, or ends it.
fn terminate(pid: &str) -> Result<()> {
    std::process::Command::new("kill")
        .args(["-TERM", pid])
        .stderr(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run `kill -TERM {pid}` to stop the process running the run"))?;
    Ok(())
}

/// Waits up to [`WAIT`] for run `id` to end, and returns its status then. With `local`, its
/// process is of this machine: once it is gone with the run still not ended — a run waiting for
/// an approval stays `waiting` when its process stops — the store ends it.
async fn wait(store: &Store, id: &str, local: bool) -> Result<Option<Status>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let Some(state) = store.run_state(id).await.map_err(store_failure)? else { return Ok(None) };
        if state.status.is_finished() {
            return Ok(Some(state.status));
        }
        let gone = state.owner.as_deref().is_none_or(|o| crate::owner::alive(o) == Some(false));
        if local && gone {
            let reason = state.cancel_reason.as_deref();
            return store.cancel(id, reason, now_ms()).await.map_err(store_failure);
        }
        if Instant::now() >= deadline {
            return Ok(Some(state.status));
        }
        tokio::time::sleep(LOOK).await;
    }
}
