//! The metrics of the runs of this process, in one explicit registry (no globals). [`Metrics`]
//! is updated from `Telemetry::emit` and from the store's [`TimedStore`], and renders the
//! registry as OpenMetrics text for a scrape ([`Metrics::render`]). [`CATALOGUE`] names every
//! family once: the registry is built from it and `docs/metrics.md` is generated from it.
//!
//! Label cardinality is bounded: labels are pipeline ids, step ids, step kinds, statuses and
//! store operations, never run ids, and a family keeps at most [`MAX_SERIES`] label sets — the
//! label values of any further set become `other`.

mod process;
mod reference;
mod store;

pub use reference::reference;
pub use store::TimedStore;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The most label sets one family keeps; the label values of a set beyond it become `other`.
pub const MAX_SERIES: usize = 1000;

/// The label value that stands for every label set beyond [`MAX_SERIES`].
pub const OTHER: &str = "other";

/// What a family is, for the registry and the generated reference.
#[derive(Debug)]
pub struct Spec {
    /// The name as scraped (a counter's with its `_total`).
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
    /// A histogram's bucket bounds, in seconds.
    pub buckets: &'static [f64],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Runs take from milliseconds to hours.
const RUN_BUCKETS: &[f64] =
    &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0];
/// Steps range from an in-process `pass` (microseconds) to long HTTP calls and approvals.
const STEP_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0];
/// A commit is a transaction: sub-millisecond on SQLite in WAL mode, milliseconds with fsyncs or
/// a network.
const STORE_BUCKETS: &[f64] = &[0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

pub const RUNS: Spec = Spec {
    name: "weir_runs_total",
    kind: Kind::Counter,
    labels: &["pipeline", "status"],
    help: "Runs that ended in this process, by pipeline and final status; a sub-pipeline run counts under its own pipeline",
    buckets: &[],
};
pub const RUN_DURATION: Spec = Spec {
    name: "weir_run_duration_seconds",
    kind: Kind::Histogram,
    labels: &["pipeline", "status"],
    help: "How long the runs that ended in this process took, from start (or resume) to end",
    buckets: RUN_BUCKETS,
};
pub const STEP_DURATION: Spec = Spec {
    name: "weir_step_duration_seconds",
    kind: Kind::Histogram,
    labels: &["pipeline", "step", "kind", "status"],
    help: "How long steps that succeeded or failed took, all attempts and waits between them included",
    buckets: STEP_BUCKETS,
};
pub const STEP_RETRIES: Spec = Spec {
    name: "weir_step_retries_total",
    kind: Kind::Counter,
    labels: &["pipeline", "step", "kind"],
    help: "Attempts that failed and were retried",
    buckets: &[],
};
pub const RUNS_IN_FLIGHT: Spec = Spec {
    name: "weir_runs_in_flight",
    kind: Kind::Gauge,
    labels: &[],
    help: "Runs this process is running now (sub-pipeline runs included); other processes' runs are not counted",
    buckets: &[],
};
pub const APPROVALS_PENDING: Spec = Spec {
    name: "weir_approvals_pending",
    kind: Kind::Gauge,
    labels: &[],
    help: "Approvals the runs of this process wait for now; other processes' are not counted",
    buckets: &[],
};
pub const STORE_COMMIT: Spec = Spec {
    name: "weir_store_commit_seconds",
    kind: Kind::Histogram,
    labels: &[],
    help: "How long the store took to commit a group of a run's events, failed commits included",
    buckets: STORE_BUCKETS,
};
pub const STORE_ERRORS: Spec = Spec {
    name: "weir_store_errors_total",
    kind: Kind::Counter,
    labels: &["op"],
    help: "Store operations that failed: `commit`, `answer` (waiting for an approval's answer) or `answered`",
    buckets: &[],
};

/// Every family, in the order of the reference (the process metrics come after them).
pub const CATALOGUE: &[&Spec] = &[
    &RUNS,
    &RUN_DURATION,
    &STEP_DURATION,
    &STEP_RETRIES,
    &RUNS_IN_FLIGHT,
    &APPROVALS_PENDING,
    &STORE_COMMIT,
    &STORE_ERRORS,
];

/// The process metrics, read from `/proc/self` at each scrape (on Linux only).
pub const PROCESS: &[&Spec] = process::CATALOGUE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    pub pipeline: String,
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub pipeline: String,
    pub step: String,
    pub kind: String,
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetryLabels {
    pub pipeline: String,
    pub step: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    pub op: &'static str,
}

/// Makes the histograms of a family, with its buckets.
#[derive(Clone, Debug)]
pub struct Buckets(&'static [f64]);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// A label set that can stand for all those beyond the cap.
pub trait Capped: Clone + Hash + Eq {
    fn other(&self) -> Self;
}

impl Capped for RunLabels {
    fn other(&self) -> Self {
        RunLabels { pipeline: OTHER.into(), status: self.status }
    }
}

impl Capped for StepLabels {
    fn other(&self) -> Self {
        StepLabels { pipeline: OTHER.into(), step: OTHER.into(), kind: OTHER.into(), status: self.status }
    }
}

impl Capped for RetryLabels {
    fn other(&self) -> Self {
        RetryLabels { pipeline: OTHER.into(), step: OTHER.into(), kind: OTHER.into() }
    }
}

/// A family whose label sets are capped at [`MAX_SERIES`].
#[derive(Debug)]
struct Series<L, M, C = fn() -> M> {
    family: Family<L, M, C>,
    /// How many label sets the family holds (the `other` set aside). Two threads adding a set
    /// at once can count it twice, which only brings the cap a little closer.
    sets: AtomicUsize,
}

impl<L: Capped, M: Clone, C: MetricConstructor<M>> Series<L, M, C> {
    fn new(family: Family<L, M, C>) -> Self {
        Series { family, sets: AtomicUsize::new(0) }
    }

    /// The metric of `labels` (a handle on it: metrics are shared on clone), or of their
    /// `other` stand-in once the family holds [`MAX_SERIES`] sets and not these.
    fn get(&self, labels: L) -> M {
        if let Some(metric) = self.family.get(&labels) {
            return metric.clone();
        }
        let labels = if self.sets.load(Ordering::Relaxed) < MAX_SERIES {
            self.sets.fetch_add(1, Ordering::Relaxed);
            labels
        } else {
            labels.other()
        };
        self.family.get_or_create_owned(&labels)
    }
}

/// The registry and handles on its families.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    runs: Series<RunLabels, Counter>,
    run_duration: Series<RunLabels, Histogram, Buckets>,
    step_duration: Series<StepLabels, Histogram, Buckets>,
    step_retries: Series<RetryLabels, Counter>,
    runs_in_flight: Gauge,
    approvals_pending: Gauge,
    store_commit: Histogram,
    store_errors: Family<OpLabels, Counter>,
    /// What brings the registry up to date before it is rendered: the telemetry folds what
    /// its runs handed on.
    before_render: CatchUps,
}

/// Brings a registry up to date before it is rendered.
pub(crate) type CatchUp = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct CatchUps(Mutex<Vec<CatchUp>>);

impl std::fmt::Debug for CatchUps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatchUps").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut metrics = Metrics {
            registry: Registry::default(),
            runs: Series::new(Family::default()),
            run_duration: Series::new(Family::new_with_constructor(Buckets(RUN_BUCKETS))),
            step_duration: Series::new(Family::new_with_constructor(Buckets(STEP_BUCKETS))),
            step_retries: Series::new(Family::default()),
            runs_in_flight: Gauge::default(),
            approvals_pending: Gauge::default(),
            store_commit: Histogram::new(STORE_BUCKETS.iter().copied()),
            store_errors: Family::default(),
            before_render: CatchUps::default(),
        };
        let r = &mut metrics.registry;
        // prometheus-client adds a counter's `_total` itself.
        let name = |spec: &Spec| spec.name.strip_suffix("_total").unwrap_or(spec.name);
        r.register(name(&RUNS), RUNS.help, metrics.runs.family.clone());
        r.register(name(&RUN_DURATION), RUN_DURATION.help, metrics.run_duration.family.clone());
        r.register(name(&STEP_DURATION), STEP_DURATION.help, metrics.step_duration.family.clone());
        r.register(name(&STEP_RETRIES), STEP_RETRIES.help, metrics.step_retries.family.clone());
        r.register(name(&RUNS_IN_FLIGHT), RUNS_IN_FLIGHT.help, metrics.runs_in_flight.clone());
        r.register(name(&APPROVALS_PENDING), APPROVALS_PENDING.help, metrics.approvals_pending.clone());
        r.register(name(&STORE_COMMIT), STORE_COMMIT.help, metrics.store_commit.clone());
        r.register(name(&STORE_ERRORS), STORE_ERRORS.help, metrics.store_errors.clone());
        process::register(r);
        metrics
    }

    /// The registry in Prometheus's text format, version 0.0.4 (what [`CONTENT_TYPE`] says),
    /// which every scraper and `promtool` read.
    pub fn render(&self) -> String {
        for catch_up in self.before_render.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            catch_up();
        }
        let mut text = String::new();
        // Writing into a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        prometheus_text(&text)
    }

    /// `by` more (or, negative, fewer) runs are in flight.
    pub fn runs_in_flight(&self, by: i64) {
        self.runs_in_flight.inc_by(by);
    }

    pub fn run_finished(&self, labels: RunLabels, duration: Duration) {
        self.runs.get(labels.clone()).inc();
        self.run_duration.get(labels).observe(duration.as_secs_f64());
    }

    /// The histogram of the steps `labels` names, for the caller to keep: observing it again
    /// costs no lookup (`Telemetry` keeps one per step).
    pub fn step_duration(&self, labels: StepLabels) -> Histogram {
        self.step_duration.get(labels)
    }

    /// The retry counter of the steps `labels` names, to keep as [`Metrics::step_duration`]'s.
    pub fn step_retries(&self, labels: RetryLabels) -> Counter {
        self.step_retries.get(labels)
    }

    /// Calls `catch_up` before each rendering.
    pub(crate) fn before_render(&self, catch_up: CatchUp) {
        self.before_render.0.lock().unwrap_or_else(|e| e.into_inner()).push(catch_up);
    }

    /// `by` more (or, negative, fewer) approvals wait.
    pub fn approvals_pending(&self, by: i64) {
        self.approvals_pending.inc_by(by);
    }

    fn store_committed(&self, took: Duration) {
        self.store_commit.observe(took.as_secs_f64());
    }

    fn store_failed(&self, op: &'static str) {
        self.store_errors.get_or_create(&OpLabels { op }).inc();
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// OpenMetrics text (what prometheus-client writes) as Prometheus text: a counter's family is
/// named as its samples are (`weir_runs_total`, not `weir_runs`), and there is no `# UNIT` or
/// `# EOF`. The samples are the same in both.
fn prometheus_text(open_metrics: &str) -> String {
    let mut out = String::with_capacity(open_metrics.len());
    // prometheus-client writes a family's HELP right before its TYPE.
    let mut help: Option<&str> = None;
    for line in open_metrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let counter = rest.strip_suffix(" counter");
            let suffix = if counter.is_some() { "_total" } else { "" };
            if let Some((name, text)) = help.take().and_then(|h| h.split_once(' ')) {
                out.push_str(&format!("# HELP {name}{suffix} {text}\n"));
            }
            match counter {
                Some(name) => out.push_str(&format!("# TYPE {name}_total counter\n")),
                None => out.push_str(&format!("{line}\n")),
            }
            continue;
        }
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(pipeline: &str, step: &str) -> StepLabels {
        StepLabels { pipeline: pipeline.into(), step: step.into(), kind: "pass".into(), status: "succeeded" }
    }

    #[test]
    fn label_sets_beyond_the_cap_are_counted_as_other() {
        let metrics = Metrics::new();
        for i in 0..MAX_SERIES + 5 {
            metrics.step_duration(step("p", &format!("s{i}"))).observe(0.001);
        }
        metrics.step_duration(step("p", "s0")).observe(0.001);
        let text = metrics.render();
        let series = text.lines().filter(|l| l.starts_with("weir_step_duration_seconds_count{")).count();
        assert_eq!(series, MAX_SERIES + 1, "the cap plus the one `other` set");
        let other = r#"weir_step_duration_seconds_count{pipeline="other",step="other",kind="other",status="succeeded"} 5"#;
        assert!(text.contains(other), "{text}");
        assert!(text.contains(
            r#"weir_step_duration_seconds_count{pipeline="p",step="s0",kind="pass",status="succeeded"} 2"#
        ));
    }

    #[test]
    fn every_family_of_the_catalogue_is_rendered_with_its_help() {
        let metrics = Metrics::new();
        metrics.run_finished(RunLabels { pipeline: "p".into(), status: "succeeded" }, Duration::ZERO);
        metrics
            .step_retries(RetryLabels { pipeline: "p".into(), step: "s".into(), kind: "http".into() })
            .inc();
        metrics.step_duration(step("p", "s")).observe(0.0);
        metrics.store_failed("commit");
        let text = metrics.render();
        for spec in CATALOGUE {
            // The registry ends each help with a full stop.
            let help =
                format!("# HELP {} {}.\n# TYPE {} {}\n", spec.name, spec.help, spec.name, spec.kind.as_str());
            assert!(text.contains(&help), "{} is missing:\n{text}", spec.name);
        }
    }
}
