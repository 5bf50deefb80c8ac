//! `weir status`: what the store holds now, at a glance — runs in flight, the last runs, each
//! pipeline's numbers over a window, approvals waiting, workers, and the store's size.

use super::metrics::{Window, parse_window};
use super::runs::{coarse, now_ms, open, store_failure};
use crate::progress::human;
use anyhow::Result;
use std::process::ExitCode;
use std::time::Duration;
use weir_api::{StatusReport, WorkerStatus};
use weir_store::{Durability, RunFilter, Store};

/// A worker without a heartbeat for this long is shown as stale, as `weir health` judges it: one
/// of `weir worker`'s default 30 s leases, after which its runs' leases have run out and other
/// workers take them (a live worker heartbeats every third of its lease).
const STALE_MS: u64 = 30_000;

/// How many of the last runs are listed.
const RECENT: usize = 10;

/// What the store holds now: runs in flight, recent runs, pipelines, approvals, workers
///
/// Runs in flight (pending in the queue, running, or waiting for an approval) with their age
/// and owner; the last 10 runs; per pipeline over `--window`, runs, failure rate and p50/p95/p99
/// durations; approvals waiting; workers with their last heartbeat ("stale" after 30 s, one
/// default lease); and the store's size (SQLite: the file and its WAL; PostgreSQL:
/// `pg_database_size` of the database it is in).
///
/// Exit codes: 0 printed, 2 invalid arguments, 3 the store cannot be opened.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  weir status\n  weir status --window 24h\n  \
    weir status --json | jq '.in_flight | length'")]
pub struct Args {
    /// The window of the per-pipeline numbers, back from now, such as `30m`, `1h` or `7d`.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_window)]
    window: Window,
    /// Print a `StatusReport` JSON document instead of the tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, settings: &crate::settings::Settings) -> Result<ExitCode> {
    let runtime = super::runtime(super::Threads::One)?;
    runtime.block_on(async {
        let store = open(settings, Durability::Normal).await?;
        let report = report(&store, args.window.span).await.map_err(store_failure)?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print(&report, &args.window);
        }
        Ok(ExitCode::SUCCESS)
    })
}

async fn report(store: &Store, window: Duration) -> Result<StatusReport, weir_store::Error> {
    let now = now_ms();
    let window_ms = window.as_millis() as u64;
    let recent = store.runs(&RunFilter { limit: RECENT, ..RunFilter::default() }).await?;
    let workers = store.workers().await?.into_iter().map(|w| {
        let age_ms = now.saturating_sub(w.heartbeat);
        WorkerStatus { id: w.id, owner: w.owner, heartbeat_at: w.heartbeat, age_ms, stale: age_ms > STALE_MS }
    });
    let mut pipelines = store.metrics(now.saturating_sub(window_ms), None).await?;
    // The per-step numbers are `weir metrics`'s; status stays one screen.
    pipelines.iter_mut().for_each(|p| p.steps.clear());
    Ok(StatusReport {
        now_ms: now,
        window_ms,
        in_flight: store.in_flight(now).await?,
        recent,
        pipelines,
        approvals: store.approvals_waiting().await?,
        workers: workers.collect(),
        store: store.size().await?,
    })
}

fn ms(ms: f64) -> String {
    human(Duration::from_secs_f64((ms / 1e3).max(0.0)))
}

fn age(ms: u64) -> String {
    coarse(Duration::from_millis(ms))
}

fn print(report: &StatusReport, window: &Window) {
    outln!("in flight: {}", report.in_flight.len());
    for run in &report.in_flight {
        let owner = run.owner.as_deref().unwrap_or("-");
        outln!(
            "  {:<36}  {:<20}  {:<9}  {:>5}  {owner}",
            run.run_id,
            run.pipeline,
            run.status,
            age(run.age_ms)
        );
    }
    outln!("");
    outln!("last runs:");
    for run in &report.recent {
        let took = run.duration_ms.map_or_else(|| "-".to_owned(), ms);
        let when = age(report.now_ms.saturating_sub(run.started_at));
        outln!("  {:<36}  {:<20}  {:<9}  {:>9}  {when} ago", run.run_id, run.pipeline, run.status, took);
    }
    outln!("");
    outln!("pipelines over the last {}:", window.text);
    outln!("  {:<20}  {:>5}  {:>8}  {:>9}  {:>9}  {:>9}", "pipeline", "runs", "failure", "p50", "p95", "p99");
    for p in &report.pipelines {
        let d = &p.duration_ms;
        let rate = format!("{:.1}%", p.failure_rate * 100.0);
        outln!(
            "  {:<20}  {:>5}  {:>8}  {:>9}  {:>9}  {:>9}",
            p.pipeline,
            p.runs,
            rate,
            ms(d.p50),
            ms(d.p95),
            ms(d.p99)
        );
    }
    outln!("");
    let oldest = report.approvals.oldest_at.map_or_else(String::new, |at| {
        format!(", the oldest asked {} ago", age(report.now_ms.saturating_sub(at)))
    });
    outln!("approvals waiting: {}{oldest}", report.approvals.count);
    outln!("workers: {}", report.workers.len());
    for w in &report.workers {
        let stale = if w.stale { "  stale" } else { "" };
        outln!("  {:<36}  heartbeat {} ago{stale}", w.id, age(w.age_ms));
    }
    let s = &report.store;
    outln!("store: {} {} bytes ({})", s.backend, s.bytes, s.measured);
}
