//! `weir bench compare`: two reports, benchmark by benchmark and metric by metric.

use super::{ReportArgs, SEED, parse_fraction};
use crate::settings::Settings;
use anyhow::Result;
use std::process::ExitCode;
use weir_api::bench::{BenchReport, Benchmark, Comparison};

/// Compare two benchmark reports
///
/// BASE and NEW are reports written with `--json` (or `-o FILE.json`), or `@NAME` for the
/// newest report saved with `--save NAME`. Benchmarks are paired by name (two reports of one
/// benchmark each are paired whatever their names). Per metric: the ratio of medians NEW/BASE
/// with its 95% bootstrap confidence interval, the Mann-Whitney U p-value corrected for the
/// number of metrics (Holm), and a verdict: improved, regressed, or no change within
/// --threshold. Deterministic counters are compared exactly.
///
/// The two reports should come from the same machine and build: the environment of each is in
/// the report. To gate CI on the result, use `weir bench ci`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir bench compare base.json new.json\n  weir bench compare @nightly new.json --threshold 5%\n  weir bench compare base.json new.json --format markdown >> $GITHUB_STEP_SUMMARY"
)]
pub struct Args {
    /// The base report: a file, or @NAME for the newest report saved as NAME.
    base: String,
    /// The new report.
    new: String,
    /// A change smaller than this counts as none.
    #[arg(long, value_name = "FRACTION", default_value = "2%", value_parser = parse_fraction)]
    threshold: f64,
    #[command(flatten)]
    report: ReportArgs,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let base = super::load(&args.base, settings).map_err(super::invalid)?;
    let mut new = super::load(&args.new, settings).map_err(super::invalid)?;
    new.comparisons = pairs(&base, &new, args.threshold)?;
    super::emit(new, &args.report, settings)?;
    Ok(ExitCode::SUCCESS)
}

/// Every benchmark of `new` that `base` has too, compared.
pub fn pairs(base: &BenchReport, new: &BenchReport, threshold: f64) -> Result<Vec<Comparison>> {
    let single = base.benchmarks.len() == 1 && new.benchmarks.len() == 1;
    let found = |b: &Benchmark| {
        if single { base.benchmarks.first() } else { base.benchmarks.iter().find(|x| x.name == b.name) }
    };
    let comparisons: Vec<Comparison> =
        new.benchmarks.iter().filter_map(|b| Some(compare(found(b)?, b, threshold))).collect();
    if comparisons.is_empty() {
        let names = |r: &BenchReport| {
            r.benchmarks.iter().map(|b| format!("\"{}\"", b.name)).collect::<Vec<_>>().join(", ")
        };
        return Err(super::invalid(anyhow::anyhow!(
            "the reports have no benchmark in common: the base has {}, the new one {}",
            names(base),
            names(new)
        )));
    }
    Ok(comparisons)
}

/// Each benchmark after the first against the first.
pub fn against_first(benchmarks: &[Benchmark], threshold: f64) -> Vec<Comparison> {
    let Some((first, rest)) = benchmarks.split_first() else { return Vec::new() };
    rest.iter().map(|b| compare(first, b, threshold)).collect()
}

/// `new` against `base`: the metrics by statistics, the counters exactly.
pub fn compare(base: &Benchmark, new: &Benchmark, threshold: f64) -> Comparison {
    weir_bench::compare::compare(base, new, threshold, SEED)
}
