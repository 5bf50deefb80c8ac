//! `weir bench … --json`, `--save` and the files `weir bench compare` and `weir bench ci` read:
//! one report of a benchmark, its raw samples included. The document is versioned
//! (`schema_version`, [`BENCH_SCHEMA_VERSION`]); its JSON Schema is committed as
//! `schema/bench-report.schema.json` (`cargo xtask codegen`). Within one version fields are only
//! ever added, so a reader of version 1 reads every later report of version 1.
//!
//! Units: times in the unit their metric names (`ms` for latencies), rates per second, energy in
//! joules, power in watts, memory in bytes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of the document this weir writes; a reader refuses a newer one.
pub const BENCH_SCHEMA_VERSION: u32 = 1;

/// One invocation of `weir bench run|cmd|http|ab`: what was measured, on what machine, and how
/// it compares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BenchReport {
    /// [`BENCH_SCHEMA_VERSION`] when it was written.
    pub schema_version: u32,
    pub mode: BenchMode,
    /// The name given with `--save`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub started_at: u64,
    /// Seconds from the first warm-up to the last measurement.
    pub duration_s: f64,
    pub environment: Environment,
    /// One per pipeline, command or URL, in the order given.
    pub benchmarks: Vec<Benchmark>,
    /// Each later benchmark against the first (`ab`, or several commands).
    #[serde(default)]
    pub comparisons: Vec<Comparison>,
    /// What makes the figures less trustworthy, for the whole report (each benchmark has its own).
    #[serde(default)]
    pub warnings: Vec<Warning>,
}

/// What a report measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BenchMode {
    /// In-process runs of a pipeline (`weir bench run`).
    Run,
    /// Whole processes of a command (`weir bench cmd`).
    Cmd,
    /// Requests to a URL (`weir bench http`).
    Http,
    /// Two pipelines or commands interleaved in ABBA blocks (`weir bench ab`).
    Ab,
}

/// The machine and the build that measured: what to check before comparing two reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Environment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// Logical CPUs this process may run on.
    pub cores: u32,
    /// The CPU frequency governor (`performance`, `powersave`, …), where the kernel tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governor: Option<String>,
    /// `linux`, `macos`, …
    pub os: String,
    pub arch: String,
    /// The kernel release (`uname -r`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The compiler weir was built with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rustc: Option<String>,
    /// `release` or `debug`: a debug build's figures say little about a release's.
    pub profile: String,
    pub weir_version: String,
    /// The commit weir was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// The 1, 5 and 15 minute load averages when the measurement started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_average: Option<[f64; 3]>,
}

/// One pipeline, command or URL, measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Benchmark {
    /// The file, the command line or the URL.
    pub name: String,
    /// Measured iterations (runs, processes or requests), warm-up excluded.
    pub iterations: u64,
    pub warmup: u64,
    /// Iterations in flight at once.
    pub concurrency: u32,
    /// Seconds the measured iterations took, end to end.
    pub wall_s: f64,
    /// Iterations that did not succeed (a run that failed, a command that exited non-zero, a
    /// request that got no response). They are measured like the others.
    #[serde(default)]
    pub failures: u64,
    /// `latency` first (one sample per iteration), then the others (`step.<id>` per step of a
    /// run, `latency.uncorrected` for a fixed-rate load, …).
    pub metrics: Vec<Metric>,
    pub throughput: Throughput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<Energy>,
    /// Throttling and thermal events seen while it ran.
    #[serde(default)]
    pub thermal: Vec<ThermalEvent>,
    /// Where a run's time went (`weir bench run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Breakdown>,
    /// Deterministic counters: what noise cannot move, and what `weir bench ci` gates on exactly.
    #[serde(default)]
    pub counters: Vec<Counter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpStats>,
    #[serde(default)]
    pub warnings: Vec<Warning>,
}

/// A distribution of samples, with every sample kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Metric {
    /// `latency`, `step.<id>`, `latency.uncorrected`, …
    pub name: String,
    /// `ms`, `s`, `bytes`, `count`, …
    pub unit: String,
    pub summary: Summary,
    /// Every sample, in the order measured; outliers are flagged, never dropped.
    pub samples: Vec<f64>,
    /// Seconds from the start of the measurement at which each sample began (as many as
    /// `samples`), for time series; empty when not recorded.
    #[serde(default)]
    pub at_s: Vec<f64>,
    /// Indices into `samples` of the outliers (modified z-score above 3.5).
    #[serde(default)]
    pub outliers: Vec<usize>,
}

/// The statistics of a metric's samples.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub n: u64,
    pub mean: f64,
    pub stddev: f64,
    /// Coefficient of variation: `stddev / mean`.
    pub cv: f64,
    pub min: f64,
    pub max: f64,
    pub median: f64,
    /// The 95% bootstrap confidence interval of the median.
    pub median_ci: Interval,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
}

/// A confidence interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
    /// The confidence level, 0.95 for 95%.
    pub level: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Throughput {
    /// Iterations per second of wall time.
    pub per_s: f64,
    /// `foreach` items per second, for a pipeline that has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_per_s: Option<f64>,
}

/// What the measured iterations cost the machine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Resources {
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    /// The peak resident set of the process that ran them (for commands: the largest child).
    pub peak_rss_bytes: u64,
}

/// `measured` by a meter, or `estimated` from a model: shown everywhere the figure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    Measured,
    Estimated,
}

/// Energy over the measured iterations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Energy {
    /// `measured` only when every domain is.
    pub quality: Quality,
    pub joules: f64,
    pub joules_per_iteration: f64,
    pub mean_watts: f64,
    /// Each meter's domains (`rapl:package-0`, `nvml:gpu0`, `powermetrics:ane`, `estimate:cpu`).
    pub domains: Vec<EnergyDomain>,
    /// Power over time, summed over domains.
    #[serde(default)]
    pub series: Vec<PowerSample>,
    /// Meters that exist and could not be read, with why ("rapl: permission denied").
    #[serde(default)]
    pub unavailable: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnergyDomain {
    pub name: String,
    pub quality: Quality,
    pub joules: f64,
    pub mean_watts: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PowerSample {
    pub at_s: f64,
    pub watts: f64,
}

/// A throttling or thermal event: what makes a slow measurement the machine's fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ThermalEvent {
    /// Seconds from the start of the measurement.
    pub at_s: f64,
    /// `thermal_zone0`, `cpu3`, `nvml:gpu0`, `powermetrics`, …
    pub source: String,
    /// `throttle`, `thermal_pressure` or `temperature`.
    pub kind: String,
    pub detail: String,
}

/// The mean run, split by where its time went (milliseconds); the three add up to its latency.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Breakdown {
    /// From the run's start to its first step's start.
    pub queue_wait_ms: f64,
    /// Time at least one step was executing.
    pub execution_ms: f64,
    /// Time no step executed between the first step's start and the run's end: scheduling,
    /// commits, the transitions between steps.
    pub transition_ms: f64,
}

/// A count that does not depend on how busy the machine is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Counter {
    /// `allocations`, `allocated_bytes`, `instructions`, `store.commits`, `store.statements`,
    /// `store.bytes`, `store.syncs`, …
    pub name: String,
    /// The mean per `per`.
    pub value: f64,
    /// `run` or `step`.
    pub per: String,
}

/// What a load against a URL saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HttpStats {
    pub method: String,
    /// Requests per second asked for (`--rate`); none in the closed model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    pub connections: u32,
    pub sent: u64,
    /// Responses received, whatever their status.
    pub completed: u64,
    /// Requests that failed without a response (connection refused, reset, timed out).
    pub errors: u64,
    /// Requests never sent because every connection was busy until the run ended.
    pub dropped: u64,
    /// Requests sent later than intended (by more than a millisecond): the load fell behind.
    pub late: u64,
    /// Responses by status code.
    pub status_counts: BTreeMap<String, u64>,
}

/// A later benchmark against the first, metric by metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Comparison {
    pub base: String,
    pub new: String,
    pub metrics: Vec<MetricComparison>,
    /// The deterministic counters both have, compared exactly (no statistics: they do not vary).
    #[serde(default)]
    pub counters: Vec<CounterComparison>,
}

/// One counter of two benchmarks: beyond the threshold either way is a verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CounterComparison {
    pub name: String,
    pub per: String,
    pub base: f64,
    pub new: f64,
    /// `new / base` (1 when both are 0; none when only the base is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    pub threshold: f64,
    pub verdict: Verdict,
}

/// One metric of two benchmarks. Lower is better for every compared metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricComparison {
    pub metric: String,
    pub unit: String,
    pub base_median: f64,
    pub new_median: f64,
    /// `new_median / base_median`, with its 95% bootstrap confidence interval.
    pub ratio: f64,
    pub ratio_ci: Interval,
    /// The two-sided Mann-Whitney U p-value, and the same after Holm's correction across the
    /// metrics compared.
    pub p_value: f64,
    pub p_adjusted: f64,
    /// The relative change within which a difference counts as none (0.02 for 2%).
    pub threshold: f64,
    pub verdict: Verdict,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Significantly lower beyond the threshold.
    Improved,
    /// Significantly higher beyond the threshold.
    Regressed,
    /// No significant change beyond the threshold.
    Unchanged,
}

/// A reason to trust a figure less, with a stable code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Warning {
    /// `high_variance`, `too_short`, `slow_first_run`, `busy_machine`, `outliers`, `failures`,
    /// `energy_unavailable`, `energy_estimated`, `throttled`, `debug_build`, `late_requests`.
    pub code: String,
    pub message: String,
}
