//! `weir runs logs`: a stored run's event log as lines a person reads, or as JSON lines, and
//! followed as the run goes on.

use super::runs::{lookup_failure, no_such_run, store_failure};
use crate::exit::EXIT_RUN_FAILED;
use crate::progress::human;
use crate::settings::{Settings, Style, paint};
use anyhow::Result;
use std::process::ExitCode;
use std::time::Duration;
use weir_api::{Event, EventKind};
use weir_pipeline::Status;
use weir_store::Store;

/// How often `--follow` reads the store for new events.
const POLL: Duration = Duration::from_millis(200);

#[derive(clap::Args)]
pub struct LogsArgs {
    /// The run's id, or enough of its start to name one run.
    run: String,
    /// Keep printing new events until the run ends; then exit 0 if it succeeded, 1 if it failed
    /// or was cancelled (or no process runs it any more: `weir resume` continues it).
    #[arg(short, long)]
    follow: bool,
    /// Print each event as one JSON object per line, as `weir run --events` writes them.
    #[arg(long)]
    json: bool,
}

pub async fn logs(store: &Store, args: &LogsArgs, settings: &Settings) -> Result<ExitCode> {
    let Some(run) = store.run(&args.run).await.map_err(lookup_failure)? else {
        return Err(no_such_run(&args.run, store));
    };
    let id = run.run.run_id;
    let mut next = 0;
    let mut idle = false;
    loop {
        let events = store.events(&id, next).await.map_err(store_failure)?;
        for event in &events {
            print(event, args.json, settings.stdout_color)?;
            next = event.seq + 1;
        }
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        // The run's end is its last event, unless it was resumed after (then more follow it).
        if let Some(Event { kind: EventKind::RunFinished { status, .. }, run_id, .. }) = events.last()
            && *run_id == id
        {
            return Ok(exit(*status));
        }
        // With nothing new, make sure something still runs it: a run whose process died stays
        // `running`, and would be followed forever.
        if events.is_empty() && idle && !still_going(store, &id, settings).await? {
            return Ok(ExitCode::from(EXIT_RUN_FAILED));
        }
        idle = events.is_empty();
        tokio::time::sleep(POLL).await;
    }
}

/// The exit code of `--follow` once the run ended `status`, as `weir run` would have exited.
fn exit(status: Status) -> ExitCode {
    match status {
        Status::Succeeded => ExitCode::SUCCESS,
        _ => ExitCode::from(EXIT_RUN_FAILED),
    }
}

/// Whether a process may still add to run `id`'s log: its owner is alive, or cannot be checked
/// from here (another machine). Says why not when it is not.
async fn still_going(store: &Store, id: &str, settings: &Settings) -> Result<bool> {
    let Some(state) = store.run_state(id).await.map_err(store_failure)? else { return Ok(false) };
    if state.status.is_finished() {
        return Ok(false);
    }
    let dead = state.owner.as_deref().is_some_and(|o| crate::owner::alive(o) == Some(false));
    if dead && !settings.quiet {
        eprintln!(
            "{}: run {id} is {} but no process runs it any more; `weir resume {id}` continues it",
            paint("note", Style::Dim, settings.stderr_color),
            state.status
        );
    }
    Ok(!dead)
}

fn print(event: &Event, json: bool, color: bool) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string(event)?);
    } else {
        let (what, style) = describe(&event.kind);
        outln!("{}  {:<24}  {}", clock(event.at), label(event), paint(&what, style, color));
    }
    Ok(())
}

/// `HH:MM:SS.mmm` of `at` (ms since the epoch), in UTC.
fn clock(at: u64) -> String {
    let (secs, ms) = (at / 1000, at % 1000);
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}.{ms:03}", day / 3600, day / 60 % 60, day % 60)
}

/// Where an event happened: `run`, or a step as `weir run` names it (`fetch`, `fetch[2]`,
/// `each[2] › load`).
fn label(event: &Event) -> String {
    let parent = event.parent.as_ref().map(|p| (p.step.as_str(), p.item));
    match event.kind.step() {
        Some(at) => crate::progress::place(parent, Some((&*at.step, at.item))),
        None => crate::progress::place(parent, Some(("run", None))),
    }
}

fn took(ms: f64) -> String {
    human(Duration::from_secs_f64((ms / 1e3).max(0.0)))
}

/// What an event says happened, and how it is painted.
fn describe(kind: &EventKind) -> (String, Style) {
    match kind {
        EventKind::RunStarted { pipeline, digest, input, .. } => {
            (format!("started {pipeline} ({digest}) with input {input}"), Style::Dim)
        }
        EventKind::RunResumed { .. } => ("resumed".into(), Style::Dim),
        EventKind::StepStarted { attempt, .. } => (format!("started, attempt {attempt}"), Style::Dim),
        EventKind::StepRetrying { attempt, error, delay_ms, .. } => {
            (format!("attempt {attempt} failed: {error} (retrying in {})", took(*delay_ms)), Style::Warn)
        }
        EventKind::StepMocked { .. } => ("mocked".into(), Style::Dim),
        EventKind::StepSucceeded { attempts: 0, .. } => {
            ("succeeded without running (its result was taken)".into(), Style::Ok)
        }
        EventKind::StepSucceeded { attempts, duration_ms, .. } => {
            let after = if *attempts > 1 { format!(" after {attempts} attempts") } else { String::new() };
            (format!("succeeded in {}{after}", took(*duration_ms)), Style::Ok)
        }
        EventKind::StepFailed { attempts, error, error_kind, on_error, .. } => {
            let then = crate::progress::handling(on_error).map_or_else(String::new, |h| format!(" ({h})"));
            (format!("failed after {attempts} attempts: {error} ({error_kind}){then}"), Style::Error)
        }
        EventKind::StepSkipped { reason, .. } => (format!("skipped: {reason}"), Style::Dim),
        EventKind::StepCancelled { .. } => ("cancelled".into(), Style::Error),
        EventKind::StepLog { level, message, .. } => {
            let style = match level {
                weir_engine::LogLevel::Warn => Style::Warn,
                weir_engine::LogLevel::Error => Style::Error,
                weir_engine::LogLevel::Debug | weir_engine::LogLevel::Info => Style::Dim,
            };
            (format!("[{}] {message}", crate::progress::level_name(*level)), style)
        }
        EventKind::ApprovalRequested { prompt, .. } => (format!("waits for approval: {prompt}"), Style::Warn),
        EventKind::ApprovalAnswered { decision, by, .. } => (format!("{decision} by {by}"), Style::Dim),
        EventKind::RunFinished { status, error, duration_ms, .. } => {
            let why = error.as_ref().map_or_else(String::new, |e| format!(": {e}"));
            let style = if *status == Status::Succeeded { Style::Ok } else { Style::Error };
            (format!("{status} in {}{why}", took(*duration_ms)), style)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_clock_times_to_the_millisecond() {
        assert_eq!(clock(0), "00:00:00.000");
        assert_eq!(clock(1_764_849_784_123), "12:03:04.123");
    }
}
