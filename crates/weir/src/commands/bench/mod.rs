//! `weir bench`: benchmarks of pipelines (runs in this process), commands (whole processes) and
//! HTTP servers, their comparisons and CI gates. The measuring, the statistics, the meters and
//! the report formats are `weir-bench`'s; this module turns arguments into plans, runs the
//! targets, and writes, saves and reads reports.

mod ab;
mod ci;
mod cmd;
mod compare;
mod counters;
mod history;
pub(super) use history::utc;
#[cfg(feature = "http")]
mod http;
mod pipeline;
mod process;
mod run;

use crate::exit::Failure;
use crate::settings::Settings;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use weir_api::bench::{BENCH_SCHEMA_VERSION, BenchMode, BenchReport, Benchmark, Environment};
use weir_bench::harness::{Plan, Stop};
use weir_bench::report::Format;

/// Benchmark pipelines, commands and HTTP servers, and compare the results
///
/// Every figure comes with its spread: the median with a 95% bootstrap confidence interval,
/// percentiles from p50 to p99.9, outliers flagged (never dropped), and warnings when the
/// measurement deserves less trust (high variance, too few samples, a slow first run, a busy
/// machine). Reports print as a table, or as JSON (`--json`, every raw sample included; its
/// schema is schema/bench-report.schema.json), CSV, Bencher's metric format, Markdown or one
/// self-contained HTML file with plots (`-o report.html`).
///
/// Compare two reports with `weir bench compare`, two pipelines or commands fairly on a noisy
/// machine with `weir bench ab` (interleaved in ABBA blocks), and gate CI on a baseline with
/// `weir bench ci`. `--save NAME` keeps a report in the store for `weir bench history NAME`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir bench run examples/hello.yaml\n  weir bench run score.yaml -i '{\"order\": 7}' --duration 10s --concurrency 4\n  weir bench cmd --runs 20 -- python infer.py -- weir run infer.yaml\n  weir bench http http://127.0.0.1:8080/health --rate 500 --duration 10s\n  weir bench run p.yaml --json > base.json; weir bench compare base.json new.json\n  weir bench ab a.yaml b.yaml\n  weir bench ci p.yaml --baseline base.json --threshold 5%\n  weir bench run p.yaml --save nightly; weir bench history nightly"
)]
pub struct Args {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(clap::Subcommand)]
enum BenchCommand {
    Run(run::Args),
    Cmd(cmd::Args),
    #[cfg(feature = "http")]
    Http(http::Args),
    Compare(compare::Args),
    Ab(ab::Args),
    Ci(ci::Args),
    History(history::Args),
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    match args.command {
        BenchCommand::Run(args) => run::run(args, settings),
        BenchCommand::Cmd(args) => cmd::run(args, settings),
        #[cfg(feature = "http")]
        BenchCommand::Http(args) => http::run(args, settings),
        BenchCommand::Compare(args) => compare::run(args, settings),
        BenchCommand::Ab(args) => ab::run(args, settings),
        BenchCommand::Ci(args) => ci::run(args, settings),
        BenchCommand::History(args) => history::run(args, settings),
    }
}

/// How much to measure: `--iterations` or `--duration`, and `--warmup`.
#[derive(clap::Args)]
pub struct PlanArgs {
    /// Measured iterations (runs, or processes for `cmd`); the default is 100 runs, 10 processes.
    #[arg(short = 'n', long, visible_alias = "runs", value_name = "N", conflicts_with = "duration")]
    iterations: Option<u64>,
    /// Measure for this long instead of a count (`500ms`, `30s`, `2m`): iterations start until
    /// it has passed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Iterations run first and not measured (default: 3 runs, 1 process).
    #[arg(long, value_name = "N")]
    warmup: Option<u64>,
}

impl PlanArgs {
    /// The plan, with the defaults of the kind of target measured.
    fn plan(&self, iterations: u64, warmup: u64, concurrency: u32) -> Plan {
        let stop = match self.duration {
            Some(d) => Stop::Duration(d),
            None => Stop::Iterations(self.iterations.unwrap_or(iterations)),
        };
        Plan { warmup: self.warmup.unwrap_or(warmup), stop, concurrency }
    }
}

/// What besides time to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Profile {
    /// CPU time, user and system (on by default).
    Cpu,
    /// Peak resident memory (on by default).
    Mem,
    /// Energy and power (RAPL, NVML, powermetrics, or an estimate marked `estimated`) and
    /// thermal or throttling events.
    Energy,
    /// Deterministic counters: heap allocations and bytes per run, write calls and bytes per step.
    Counters,
    /// Instructions per run, counted by valgrind (when it is installed): deterministic, and slow.
    Instructions,
    /// fsync and write system calls per step, counted by strace (when it is installed).
    Syscalls,
}

/// `--profile` and what the meters need.
#[derive(clap::Args)]
pub struct ProfileArgs {
    /// What to measure besides time, comma-separated: cpu, mem, energy, counters, instructions,
    /// syscalls.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST", default_value = "cpu,mem")]
    profile: Vec<Profile>,
    /// The CPU's thermal design power in watts, for the energy estimate when no meter can be
    /// read (default: 15 W per core, up to 65 W).
    #[arg(long, value_name = "WATTS")]
    tdp: Option<f64>,
}

impl ProfileArgs {
    pub fn has(&self, profile: Profile) -> bool {
        self.profile.contains(&profile)
    }

    /// The energy meters' settings, when energy is profiled.
    fn meters(&self) -> Option<weir_bench::meter::Config> {
        self.has(Profile::Energy)
            .then(|| weir_bench::meter::Config { tdp_watts: self.tdp, ..Default::default() })
    }
}

/// Where a report goes.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Print the report as JSON on stdout (the same as `--format json`).
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// The format of stdout: table (default), json, csv, bmf (Bencher's metric format),
    /// markdown or html.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    format: Option<Format>,
    /// Also write the report to FILE, in the format its extension names (.json, .csv, .md,
    /// .html, .bmf.json), replacing it whole. Repeatable.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Vec<PathBuf>,
    /// Save the report in the store under NAME, for `weir bench history NAME` and for
    /// `--baseline @NAME`.
    #[arg(long, value_name = "NAME")]
    save: Option<String>,
}

impl ReportArgs {
    fn stdout_format(&self) -> Format {
        if self.json { Format::Json } else { self.format.unwrap_or(Format::Table) }
    }
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse().map_err(|_| format!("\"{s}\" is not a format: table, json, csv, bmf, markdown or html"))
}

/// The format a file's name asks for.
fn format_of(path: &Path) -> Result<Format> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
    let format = [
        (".bmf.json", Format::Bmf),
        (".json", Format::Json),
        (".csv", Format::Csv),
        (".md", Format::Markdown),
        (".markdown", Format::Markdown),
        (".html", Format::Html),
        (".htm", Format::Html),
        (".txt", Format::Table),
    ]
    .into_iter()
    .find(|(ext, _)| name.ends_with(ext));
    match format {
        Some((_, format)) => Ok(format),
        None => bail!(
            "cannot tell the format of {} from its name: use .json, .csv, .md, .html, .bmf.json or .txt",
            path.display()
        ),
    }
}

/// Parses `250ms`, `30s`, `2m`, `1h`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 =
        number.parse().map_err(|_| format!("\"{s}\" is not a duration such as 500ms, 30s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1e3,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("\"{s}\" has the unit \"{unit}\": use ms, s, m or h")),
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(format!("\"{s}\" is not a positive duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses `5%` or `0.05` as a fraction.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let value = match s.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => s.trim().parse::<f64>(),
    }
    .map_err(|_| format!("\"{s}\" is not a fraction such as 5% or 0.05"))?;
    if !(0.0..1.0).contains(&value) {
        return Err(format!("\"{s}\" is not between 0% and 100%"));
    }
    Ok(value)
}

/// The build `weir bench` measures with.
pub fn build() -> weir_bench::fingerprint::Build {
    weir_bench::fingerprint::Build {
        weir_version: env!("CARGO_PKG_VERSION").into(),
        rustc: option_env!("WEIR_BUILD_RUSTC").map(Into::into),
        profile: option_env!("WEIR_BUILD_PROFILE").unwrap_or("unknown").into(),
        git_commit: option_env!("WEIR_BUILD_COMMIT").map(Into::into),
    }
}

/// A report of `benchmarks`, measured on `environment` from `started_at`.
pub fn report(
    mode: BenchMode,
    environment: Environment,
    started_at: u64,
    duration: Duration,
    benchmarks: Vec<Benchmark>,
) -> BenchReport {
    let mut warnings = Vec::new();
    if environment.profile == "debug" {
        warnings.push(weir_api::bench::Warning {
            code: "debug_build".into(),
            message: "this weir is a debug build: its own overhead is several times a release build's (cargo build --release)".into(),
        });
    }
    BenchReport {
        schema_version: BENCH_SCHEMA_VERSION,
        mode,
        name: None,
        started_at,
        duration_s: duration.as_secs_f64(),
        environment,
        benchmarks,
        comparisons: Vec::new(),
        warnings,
    }
}

/// Writes `report` where `args` say: stdout, the files, the store.
pub fn emit(mut report: BenchReport, args: &ReportArgs, settings: &Settings) -> Result<()> {
    if let Some(name) = &args.save {
        report.name = Some(name.clone());
        save(&report, name, settings)?;
    }
    for path in &args.output {
        let mut bytes = Vec::new();
        weir_bench::report::write(format_of(path)?, &report, &mut bytes)?;
        crate::output::replace(path, bytes)?;
    }
    let mut bytes = Vec::new();
    match args.stdout_format() {
        Format::Table => {
            let width = settings.stdout_width.unwrap_or(100).clamp(60, 160);
            let options = weir_bench::report::TableOptions { color: settings.stdout_color, width };
            weir_bench::report::write_table(&report, &options, &mut bytes)?;
        }
        format => weir_bench::report::write(format, &report, &mut bytes)?,
    }
    crate::output::write(None, &String::from_utf8_lossy(&bytes))?;
    if let Some(name) = &args.save
        && !settings.quiet
    {
        eprintln!("saved as \"{name}\": `weir bench history {name}` shows its trend");
    }
    Ok(())
}

fn save(report: &BenchReport, name: &str, settings: &Settings) -> Result<()> {
    let runtime = super::runtime(super::Threads::One)?;
    let text = serde_json::to_string(report)?;
    let saved = weir_store::SavedBench {
        id: weir_engine::new_run_id(&weir_engine::SystemClock::default()),
        name: name.into(),
        saved_at: super::runs::now_ms(),
        git_commit: report.environment.git_commit.clone(),
        report: text,
    };
    runtime.block_on(async {
        let store = super::runs::open(settings, weir_store::Durability::Normal).await?;
        store.save_bench(&saved).await.map_err(super::runs::store_failure)
    })
}

/// Reads a report: a file, or `@NAME` for the newest report saved as NAME.
pub fn load(what: &str, settings: &Settings) -> Result<BenchReport> {
    match what.strip_prefix('@') {
        Some(name) => {
            let runtime = super::runtime(super::Threads::One)?;
            let saved = runtime.block_on(async {
                let store = super::runs::open(settings, weir_store::Durability::Normal).await?;
                store.bench_history(name, 1).await.map_err(super::runs::store_failure)
            })?;
            let Some(saved) = saved.into_iter().next() else {
                bail!("no report is saved as \"{name}\" (`weir bench … --save {name}` saves one)");
            };
            weir_bench::report::read(saved.report.as_bytes())
                .with_context(|| format!("the report saved as \"{name}\" ({})", saved.id))
        }
        None => {
            let bytes = std::fs::read(what).with_context(|| format!("cannot read {what}"))?;
            weir_bench::report::read(&bytes).with_context(|| format!("{what} is not a weir bench report"))
        }
    }
}

/// Adds what the meters read to `benchmark`.
pub fn add_readings(benchmark: &mut Benchmark, readings: weir_bench::meter::Readings) {
    benchmark.energy = readings.energy;
    benchmark.thermal = readings.thermal;
    benchmark.warnings.extend(readings.warnings);
}

/// The CPU time of measured work, as the energy estimate wants it.
pub fn cpu_use(usage: weir_bench::resources::Usage, wall: Duration) -> weir_bench::meter::CpuUse {
    weir_bench::meter::CpuUse {
        user_s: usage.user.as_secs_f64(),
        sys_s: usage.sys.as_secs_f64(),
        wall_s: wall.as_secs_f64(),
    }
}

/// The progress of a measurement on stderr, when a person watches it; nothing otherwise.
pub struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    pub fn new(settings: &Settings, label: &str) -> Bar {
        if !settings.interactive() {
            return Bar(None);
        }
        let bar =
            indicatif::ProgressBar::with_draw_target(Some(1000), indicatif::ProgressDrawTarget::stderr());
        let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% {elapsed}")
            .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            bar.set_style(style);
        }
        let label: String = label.chars().take(40).collect();
        bar.set_prefix(label);
        Bar(Some(bar))
    }

    pub fn show(&self, budget: &weir_bench::harness::Budget) {
        self.fraction(budget.progress());
    }

    pub fn fraction(&self, done: f64) {
        if let Some(bar) = &self.0 {
            bar.set_position((done.clamp(0.0, 1.0) * 1000.0) as u64);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// A report that cannot be read is the user's to fix.
fn invalid(e: anyhow::Error) -> anyhow::Error {
    Failure::Invalid.wrap(e)
}

/// The seed of the statistics' resampling: fixed, so the same samples give the same intervals.
pub const SEED: u64 = 0x5eed;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_units_a_person_types() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("10d").unwrap_err().contains("unit \"d\""));
        assert!(parse_duration("0s").unwrap_err().contains("positive"));
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn fractions_are_percentages_or_numbers() {
        assert_eq!(parse_fraction("5%"), Ok(0.05));
        assert_eq!(parse_fraction("0.02"), Ok(0.02));
        assert!(parse_fraction("150%").is_err());
        assert!(parse_fraction("x").is_err());
    }

    #[test]
    fn a_file_name_says_its_format() {
        assert_eq!(format_of(Path::new("r.html")).ok(), Some(Format::Html));
        assert_eq!(format_of(Path::new("out/r.bmf.json")).ok(), Some(Format::Bmf));
        assert_eq!(format_of(Path::new("R.JSON")).ok(), Some(Format::Json));
        assert!(format_of(Path::new("r.xlsx")).unwrap_err().to_string().contains(".json, .csv"));
    }
}
