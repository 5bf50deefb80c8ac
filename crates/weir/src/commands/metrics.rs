//! `weir metrics`: per pipeline and per step, what the stored runs of a reporting window add up
//! to, read from the store so every process reports the same numbers; `weir metrics reset`
//! starts a new window.

use super::runs::{now_ms, open, parse_duration, store_failure};
use crate::progress::human;
use anyhow::Result;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use weir_api::{MetricsReport, PipelineMetrics};
use weir_store::{Durability, Exported, Store};

/// Run and step numbers per pipeline, computed from the store
///
/// Counts root runs by status, the failure rate (failed over ended runs), run durations
/// (p50/p95/p99/max, nearest rank) and, per step, attempts, retries (attempts beyond the first),
/// failures and p50/p95 durations. The window is `--window` back from now; without it, since the
/// last `weir metrics reset`; without a reset, every stored run. The output says which.
///
/// Exit codes: 0 printed, 2 invalid arguments, 3 the store cannot be opened.
#[derive(clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  weir metrics\n  weir metrics --window 1h --pipeline nightly\n  \
    weir metrics --format csv --output metrics.csv\n  weir metrics --format md\n  weir metrics reset"
)]
pub struct Args {
    #[command(subcommand)]
    command: Option<MetricsCommand>,
    /// Count the runs started within this long ago, such as `30m`, `1h` or `7d` (instead of
    /// since the last reset).
    #[arg(long, value_name = "DURATION", value_parser = parse_window)]
    window: Option<Window>,
    /// Only this pipeline (its `name`).
    #[arg(long, value_name = "NAME")]
    pipeline: Option<String>,
    /// A table; JSON (a `MetricsReport`); CSV (RFC 4180, a row per pipeline and a row per step,
    /// whose `step` column is empty for the pipeline's row); or Markdown tables.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write to this file (replaced whole) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum MetricsCommand {
    /// Start a new reporting window now; nothing is deleted (`weir runs list` still lists every run)
    Reset,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
    Md,
}

/// `--window` as written, and how long that is.
#[derive(Clone, Debug)]
pub struct Window {
    pub text: String,
    pub span: Duration,
}

pub fn parse_window(text: &str) -> Result<Window, String> {
    Ok(Window { text: text.trim().to_owned(), span: parse_duration(text)? })
}

pub fn run(args: Args, settings: &crate::settings::Settings) -> Result<ExitCode> {
    let runtime = super::runtime(super::Threads::One)?;
    runtime.block_on(async {
        let store = open(settings, Durability::Normal).await?;
        if let Some(MetricsCommand::Reset) = args.command {
            let now = now_ms();
            store.reset_metrics(now).await.map_err(store_failure)?;
            outln!(
                "metrics reset: `weir metrics` counts runs started from {}",
                weir_bench::report::timestamp(now)
            );
            return Ok(ExitCode::SUCCESS);
        }
        let report = report(&store, args.window.as_ref(), args.pipeline.as_deref()).await?;
        let text = match args.format {
            Format::Table => table(&report),
            Format::Json => format!("{}\n", serde_json::to_string_pretty(&report)?),
            Format::Csv => super::admin::csv(&exported(&report)),
            Format::Md => markdown(&report),
        };
        match &args.output {
            Some(path) => crate::output::replace(path, &text)?,
            None => crate::settings::write_stdout(format_args!("{text}")),
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The report of the window `window` says, or else the one since the last reset.
async fn report(store: &Store, window: Option<&Window>, pipeline: Option<&str>) -> Result<MetricsReport> {
    let (since_ms, kind, described) = match window {
        Some(w) => {
            let since = now_ms().saturating_sub(w.span.as_millis() as u64);
            (since, "window", format!("over the last {}", w.text))
        }
        None => match store.metrics_since().await.map_err(store_failure)? {
            Some(at) => (at, "reset", format!("since the reset at {}", weir_bench::report::timestamp(at))),
            None => (0, "all", "over every stored run (no reset yet)".to_owned()),
        },
    };
    let pipelines = store.metrics(since_ms, pipeline).await.map_err(store_failure)?;
    Ok(MetricsReport { since_ms, window: kind.into(), described, pipelines })
}

fn ms(ms: f64) -> String {
    human(Duration::from_secs_f64((ms / 1e3).max(0.0)))
}

fn count(p: &PipelineMetrics, status: &str) -> u64 {
    p.by_status.get(status).copied().unwrap_or(0)
}

/// `2 succeeded, 0 failed, 1 pending`: succeeded and failed always, the other statuses when
/// some run has them.
fn statuses(p: &PipelineMetrics) -> String {
    let mut parts =
        vec![format!("{} succeeded", count(p, "succeeded")), format!("{} failed", count(p, "failed"))];
    let others = p.by_status.iter().filter(|(s, _)| !matches!(s.as_str(), "succeeded" | "failed"));
    parts.extend(others.map(|(status, n)| format!("{n} {status}")));
    parts.join(", ")
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn table(report: &MetricsReport) -> String {
    let mut out = format!("metrics {}\n", report.described);
    if report.pipelines.is_empty() {
        out.push_str("no runs in this window\n");
        return out;
    }
    for p in &report.pipelines {
        let d = &p.duration_ms;
        out.push_str(&format!(
            "\n{}: {} run{} ({}), failure rate {}, p50 {} p95 {} p99 {} max {}\n",
            p.pipeline,
            p.runs,
            if p.runs == 1 { "" } else { "s" },
            statuses(p),
            percent(p.failure_rate),
            ms(d.p50),
            ms(d.p95),
            ms(d.p99),
            ms(d.max)
        ));
        out.push_str(&format!(
            "  {:<24}  {:>8}  {:>7}  {:>8}  {:>9}  {:>9}\n",
            "step", "attempts", "retries", "failures", "p50", "p95"
        ));
        for s in &p.steps {
            out.push_str(&format!(
                "  {:<24}  {:>8}  {:>7}  {:>8}  {:>9}  {:>9}\n",
                s.step,
                s.attempts,
                s.retries,
                s.failures,
                ms(s.p50_ms),
                ms(s.p95_ms)
            ));
        }
    }
    out
}

const COLUMNS: &[&str] = &[
    "pipeline",
    "step",
    "runs",
    "succeeded",
    "failed",
    "failure_rate",
    "attempts",
    "retries",
    "failures",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
];

/// The report as rows of [`COLUMNS`], for the CSV writer of `weir admin export`.
fn exported(report: &MetricsReport) -> Exported {
    let mut rows = Vec::new();
    for p in &report.pipelines {
        let d = &p.duration_ms;
        rows.push(vec![
            json!(p.pipeline),
            Value::Null,
            json!(p.runs),
            json!(count(p, "succeeded")),
            json!(count(p, "failed")),
            json!(p.failure_rate),
            Value::Null,
            Value::Null,
            Value::Null,
            json!(d.p50),
            json!(d.p95),
            json!(d.p99),
            json!(d.max),
        ]);
        for s in &p.steps {
            rows.push(vec![
                json!(p.pipeline),
                json!(s.step),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                json!(s.attempts),
                json!(s.retries),
                json!(s.failures),
                json!(s.p50_ms),
                json!(s.p95_ms),
                Value::Null,
                Value::Null,
            ]);
        }
    }
    Exported { columns: COLUMNS, rows }
}

fn markdown(report: &MetricsReport) -> String {
    let mut out = format!("# Metrics {}\n\n", report.described);
    out.push_str("| pipeline | runs | succeeded | failed | failure rate | p50 | p95 | p99 | max |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for p in &report.pipelines {
        let d = &p.duration_ms;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            p.pipeline,
            p.runs,
            count(p, "succeeded"),
            count(p, "failed"),
            percent(p.failure_rate),
            ms(d.p50),
            ms(d.p95),
            ms(d.p99),
            ms(d.max)
        ));
    }
    out.push_str("\n| pipeline | step | attempts | retries | failures | p50 | p95 |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for p in &report.pipelines {
        for s in &p.steps {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                p.pipeline,
                s.step,
                s.attempts,
                s.retries,
                s.failures,
                ms(s.p50_ms),
                ms(s.p95_ms)
            ));
        }
    }
    out
}
