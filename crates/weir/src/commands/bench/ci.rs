//! `weir bench ci`: a pipeline measured now against a baseline report, failing on a regression.

use super::pipeline::{Target, TargetArgs};
use super::run::Measuring;
use super::{PlanArgs, ProfileArgs, ReportArgs, parse_fraction};
use crate::exit::{EXIT_INVALID, EXIT_RUN_FAILED};
use crate::settings::Settings;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use weir_api::bench::{BenchMode, BenchReport, Benchmark, Verdict, Warning};

/// Gate CI on a baseline: exit 1 on a significant regression beyond the threshold
///
/// Measures FILE as `weir bench run` does (or reads a report measured before, with --new) and
/// compares it with the baseline: every latency metric by statistics (a regression is
/// significant after Holm's correction and beyond --threshold), and the deterministic counters
/// (`--profile counters,instructions,syscalls`) exactly, which no noise can move.
///
/// Shared CI machines are noisy: a time gate tighter than the machine's own variation fires
/// falsely. `--aa` measures that first (the pipeline against itself, in ABBA blocks); when the
/// noise is above the threshold, the gate says so and uses the noise instead.
///
/// Exit codes: 0 no regression, 1 a regression (or runs that failed), 2 invalid input,
/// arguments, or a baseline that is not a report.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir bench run p.yaml --profile cpu,mem,counters -o base.json\n  weir bench ci p.yaml --baseline base.json --threshold 5%\n  weir bench ci p.yaml --baseline @main --aa\n  weir bench ci --new new.json --baseline base.json --format markdown"
)]
pub struct Args {
    /// The pipeline to measure now (not with --new).
    #[arg(required_unless_present = "new", conflicts_with = "new")]
    file: Option<PathBuf>,
    /// The baseline: a report file, or @NAME for the newest report saved as NAME.
    #[arg(long, value_name = "REPORT")]
    baseline: String,
    /// A report measured before to check, instead of measuring FILE now.
    #[arg(long, value_name = "REPORT")]
    new: Option<String>,
    /// A regression smaller than this passes.
    #[arg(long, value_name = "FRACTION", default_value = "5%", value_parser = parse_fraction)]
    threshold: f64,
    /// Measure the machine's own noise first (the pipeline against itself) and never gate
    /// tighter than it.
    #[arg(long, conflicts_with = "new")]
    aa: bool,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    plan: PlanArgs,
    #[command(flatten)]
    profile: ProfileArgs,
    #[command(flatten)]
    report: ReportArgs,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let baseline = super::load(&args.baseline, settings).map_err(super::invalid)?;
    let (mut report, threshold) = match &args.new {
        Some(new) => (super::load(new, settings).map_err(super::invalid)?, args.threshold),
        None => match measure(&args, &baseline, settings)? {
            Some(measured) => measured,
            None => return Ok(ExitCode::from(EXIT_INVALID)),
        },
    };
    report.comparisons = super::compare::pairs(&baseline, &report, threshold)?;
    let regressions = regressions(&report);
    let failed = report.benchmarks.iter().any(|b| b.failures > 0);
    super::emit(report, &args.report, settings)?;
    if regressions.is_empty() {
        eprintln!("no regression beyond {:.1}% against {}", threshold * 100.0, args.baseline);
    } else {
        eprintln!(
            "regressed beyond {:.1}% against {}: {}",
            threshold * 100.0,
            args.baseline,
            regressions.join(", ")
        );
    }
    Ok(if regressions.is_empty() && !failed { ExitCode::SUCCESS } else { ExitCode::from(EXIT_RUN_FAILED) })
}

/// Measures FILE now (after the A/A measurement, with --aa); the report and the threshold to
/// gate with.
fn measure(args: &Args, baseline: &BenchReport, settings: &Settings) -> Result<Option<(BenchReport, f64)>> {
    let file = args.file.as_ref().ok_or_else(|| anyhow::anyhow!("a pipeline file, or --new REPORT"))?;
    let runtime = super::super::runtime(super::super::Threads::Workers)?;
    let Some(target) = Target::load(file, &args.target, settings, &runtime)? else {
        return Ok(None);
    };
    let environment = weir_bench::fingerprint::environment(&super::build());
    let cores = environment.cores;
    let started_at = super::super::runs::now_ms();
    let began = Instant::now();
    let base_iterations = baseline.benchmarks.first().map_or(100, |b| b.iterations);
    let plan = args.plan.plan(base_iterations, 3, baseline.benchmarks.first().map_or(1, |b| b.concurrency));
    let mut warnings = Vec::new();
    let mut threshold = args.threshold;
    if args.aa {
        let noise = noise(&target, &runtime, base_iterations, cores, settings)?;
        if noise >= threshold {
            warnings.push(Warning {
                code: "noisy_machine".into(),
                message: format!(
                    "the machine's own noise (±{:.1}%, measured A/A) is above the threshold ({:.1}%): the gate uses ±{:.1}%, and smaller regressions cannot be told from noise here",
                    noise * 100.0,
                    threshold * 100.0,
                    noise * 100.0
                ),
            });
            threshold = noise;
        } else if !settings.quiet {
            eprintln!(
                "machine noise, A/A: ±{:.1}% (below the {:.1}% threshold)",
                noise * 100.0,
                threshold * 100.0
            );
        }
    }
    let measuring = Measuring { target: &target, file, args: &args.target, profile: &args.profile };
    let benchmark = measuring.measure(&runtime, &plan, cores, settings)?;
    let mut report = super::report(BenchMode::Run, environment, started_at, began.elapsed(), vec![benchmark]);
    report.warnings.extend(warnings);
    Ok(Some((report, threshold)))
}

/// The half-width of the 95% interval of the A/A ratio of medians: how far apart two
/// measurements of the same thing land on this machine now.
fn noise(
    target: &Target,
    runtime: &tokio::runtime::Runtime,
    iterations: u64,
    cores: u32,
    settings: &Settings,
) -> Result<f64> {
    let side = super::ab::PipelineSide { target, runtime, concurrency: 1 };
    let bar = super::Bar::new(settings, "A/A noise");
    let rounds = 20.min(iterations.max(2));
    let per_slot = iterations.max(2).div_ceil(rounds);
    let measured = super::ab::interleave(&[&side, &side], rounds, per_slot, 1, &bar)?;
    let benchmarks: Vec<Benchmark> =
        measured.into_iter().map(|m| weir_bench::measure::benchmark(m, cores, super::SEED)).collect();
    let comparison = super::compare::compare(&benchmarks[0], &benchmarks[1], 0.0);
    let latency = comparison.metrics.first();
    Ok(latency.map_or(0.0, |m| (m.ratio_ci.hi - 1.0).max(1.0 - m.ratio_ci.lo).max(0.0)))
}

/// What regressed: `benchmark: metric +x%` for metrics and counters.
fn regressions(report: &BenchReport) -> Vec<String> {
    let mut found = Vec::new();
    for c in &report.comparisons {
        for m in c.metrics.iter().filter(|m| m.verdict == Verdict::Regressed) {
            found.push(format!("{}: {} {:+.1}%", c.new, m.metric, (m.ratio - 1.0) * 100.0));
        }
        for k in c.counters.iter().filter(|k| k.verdict == Verdict::Regressed) {
            let change = k.ratio.map_or("from 0".into(), |r| format!("{:+.1}%", (r - 1.0) * 100.0));
            found.push(format!("{}: {} per {} {change}", c.new, k.name, k.per));
        }
    }
    found
}
