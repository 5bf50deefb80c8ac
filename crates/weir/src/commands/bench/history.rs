//! `weir bench history`: the reports saved under a name, as a trend with its change points.

use crate::settings::Settings;
use anyhow::Result;
use std::process::ExitCode;

/// The trend of the reports saved as NAME (`--save NAME`), with change points flagged
///
/// One line per saved report, oldest first: when it was saved, its commit, the median latency
/// of its first benchmark with the 95% interval, and the change from the report before. A
/// change point is where the level of the series shifts by more than 5% and stays shifted (a
/// step, not one noisy report). Without NAME: the names reports are saved as.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir bench run p.yaml --save nightly\n  weir bench history nightly\n  weir bench history nightly --json | jq '.[] | select(.change_point)'\n  weir bench history"
)]
pub struct Args {
    /// The name reports were saved as.
    name: Option<String>,
    /// How many of the newest reports to show.
    #[arg(long, value_name = "N", default_value_t = 30)]
    limit: usize,
    /// Print JSON: an array of `{id, saved_at, git_commit, benchmark, median, lo, hi, unit, change, change_point}`
    /// (or, without NAME, of `{name, reports, last_saved_at}`).
    #[arg(long)]
    json: bool,
}

/// One saved report, as the trend shows it.
struct Point {
    id: String,
    saved_at: u64,
    git_commit: Option<String>,
    benchmark: String,
    median: f64,
    lo: f64,
    hi: f64,
    unit: String,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let runtime = super::super::runtime(super::super::Threads::One)?;
    let store = runtime.block_on(super::super::runs::open(settings, weir_store::Durability::Normal))?;
    let Some(name) = &args.name else {
        let names = runtime.block_on(store.bench_names()).map_err(super::super::runs::store_failure)?;
        return names_out(&names, args.json);
    };
    let saved =
        runtime.block_on(store.bench_history(name, args.limit)).map_err(super::super::runs::store_failure)?;
    if saved.is_empty() {
        return Err(super::invalid(anyhow::anyhow!(
            "no report is saved as \"{name}\" (`weir bench history` lists the names; `--save {name}` saves one)"
        )));
    }
    let points: Vec<Point> = saved.iter().filter_map(point).collect();
    let medians: Vec<f64> = points.iter().map(|p| p.median).collect();
    let changes = weir_bench::changepoint::change_points(&medians);
    if args.json {
        let rows: Vec<serde_json::Value> = points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                serde_json::json!({
                    "id": p.id, "saved_at": p.saved_at, "git_commit": p.git_commit, "benchmark": p.benchmark,
                    "median": p.median, "lo": p.lo, "hi": p.hi, "unit": p.unit,
                    "change": change(&medians, i), "change_point": changes.contains(&i),
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{:<20} {:<10} {:>12} {:>25} {:>9}", "saved (UTC)", "commit", "median", "95% CI", "change");
    for (i, p) in points.iter().enumerate() {
        let commit = p.git_commit.as_deref().map_or("-", |c| &c[..c.len().min(8)]);
        let ci = format!("[{:.3}, {:.3}] {}", p.lo, p.hi, p.unit);
        let delta = change(&medians, i).map_or("".into(), |c| format!("{:+.1}%", c * 100.0));
        let flag = if changes.contains(&i) { "  ◆ change point" } else { "" };
        outln!("{:<20} {:<10} {:>12.3} {:>25} {:>9}{flag}", utc(p.saved_at), commit, p.median, ci, delta);
    }
    if !changes.is_empty() {
        outln!("\n◆: the level shifts here and stays shifted");
    }
    Ok(ExitCode::SUCCESS)
}

fn names_out(names: &[(String, u64, u64)], json: bool) -> Result<ExitCode> {
    if json {
        let rows: Vec<_> = names
            .iter()
            .map(|(name, n, last)| serde_json::json!({"name": name, "reports": n, "last_saved_at": last}))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else if names.is_empty() {
        eprintln!("no reports are saved yet: `weir bench run FILE --save NAME` saves one");
    } else {
        outln!("{:<30} {:>8}  last saved (UTC)", "name", "reports");
        for (name, n, last) in names {
            outln!("{name:<30} {n:>8}  {}", utc(*last));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The first benchmark's latency of a saved report; none for one that cannot be read.
fn point(saved: &weir_store::SavedBench) -> Option<Point> {
    let report = weir_bench::report::read(saved.report.as_bytes()).ok()?;
    let benchmark = report.benchmarks.first()?;
    let latency = benchmark.metrics.first()?;
    Some(Point {
        id: saved.id.clone(),
        saved_at: saved.saved_at,
        git_commit: saved.git_commit.clone(),
        benchmark: benchmark.name.clone(),
        median: latency.summary.median,
        lo: latency.summary.median_ci.lo,
        hi: latency.summary.median_ci.hi,
        unit: latency.unit.clone(),
    })
}

/// The relative change of point `i` from the one before.
fn change(medians: &[f64], i: usize) -> Option<f64> {
    let before = *medians.get(i.checked_sub(1)?)?;
    (before > 0.0).then(|| medians[i] / before - 1.0)
}

/// `2026-12-04 20:15:07`.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = weir_store::cron::civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}
