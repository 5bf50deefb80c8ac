//! The records of the runs, folded into what they measure: the metrics (each step's handles
//! kept, so a step's next end costs a lookup and no label set), the StatsD datagrams and the
//! spans, which wait in `ended` for the hub's thread to send them.

use super::{Batch, End, Name, Record, RunRecord};
use crate::Fx;
use crate::metrics::{self, Metrics, RetryLabels, RunLabels, StepLabels};
use crate::statsd::Statsd;
use crate::trace::{Builder, Span};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

/// Spans waiting to be sent, at most; more are dropped (and counted) until the hub's thread
/// catches up.
const WAITING: usize = 16_384;

pub(crate) struct Fold {
    /// Each thread's names, by number: the hub's own copies.
    producers: HashMap<u64, Vec<Arc<str>>>,
    measures: Option<Measures>,
    statsd: Option<Statsd>,
    /// The spans begun and not yet ended, when spans are exported.
    spans: Option<Builder>,
    /// The spans that ended, for the hub's thread to send.
    pub(crate) ended: Vec<Span>,
    /// Spans dropped because [`WAITING`] were waiting.
    pub(crate) dropped: u64,
}

/// The metrics, and the handles of the steps seen so far.
struct Measures {
    metrics: Arc<Metrics>,
    /// By pipeline, step and kind; at most [`metrics::MAX_SERIES`]: the steps beyond resolve
    /// theirs each time.
    steps: HashMap<StepKey, StepHandles, Fx>,
}

/// A step's pipeline, id and kind.
type StepKey = (Arc<str>, Arc<str>, Arc<str>);

/// One step's metrics, each made when first needed (a step that never failed has no `failed`
/// series).
#[derive(Default)]
struct StepHandles {
    succeeded: Option<Histogram>,
    failed: Option<Histogram>,
    retries: Option<Counter>,
}

impl Fold {
    pub(crate) fn new(metrics: Option<Arc<Metrics>>, statsd: Option<Statsd>, spans: bool) -> Fold {
        Fold {
            producers: HashMap::new(),
            measures: metrics.map(|metrics| Measures { metrics, steps: HashMap::default() }),
            statsd,
            spans: spans.then(Builder::default),
            ended: Vec::new(),
            dropped: 0,
        }
    }

    /// Folds a thread's batch; its emptied buffer goes to `emptied`.
    pub(crate) fn apply(&mut self, batch: Batch, emptied: &mut Vec<Vec<Record>>) {
        let Batch { producer, mut records, last } = batch;
        let mut names = self.producers.remove(&producer).unwrap_or_default();
        for record in records.drain(..) {
            match record {
                // A copy: the text the run's thread shares stays in its cache.
                Record::Name(text) => names.push(Arc::from(&*text)),
                Record::Forget => names.clear(),
                record => self.record(&names, record),
            }
        }
        if !last {
            self.producers.insert(producer, names);
        }
        emptied.push(records);
    }

    fn record(&mut self, names: &[Arc<str>], record: Record) {
        let name = |n: Name| names.get(n as usize).cloned().unwrap_or_else(|| "".into());
        match record {
            Record::Name(_) | Record::Forget => {}
            Record::Run(run) => {
                let RunRecord { run, time, pipeline, digest, trace, parent_span, resumed } = *run;
                if let Some(spans) = &mut self.spans {
                    spans.run(name(run), time, pipeline, digest, trace, parent_span, resumed);
                }
            }
            Record::Started { run, step, kind, item, time, attempt, span, parent_span } => {
                if let Some(spans) = &mut self.spans {
                    spans.started(name(run), name(step), name(kind), item, time, attempt, span, parent_span);
                }
            }
            Record::Ended { run, pipeline, step, kind, item, time, sampled, end } => {
                let (pipeline, step) = (name(pipeline), name(step));
                self.measure_step(&pipeline, &step, &name(kind), &end);
                if sampled && let Some(spans) = &mut self.spans {
                    let (status, error) = match end {
                        End::Succeeded(_) => ("succeeded", None),
                        End::Failed(_, error) | End::Retrying(error) => ("failed", Some(error)),
                        End::Cancelled => ("cancelled", None),
                    };
                    let span = spans.ended(name(run), step, item, time, status, error);
                    self.send(span);
                }
            }
            Record::RunEnded { run, pipeline, time, sampled, root, status, error, duration } => {
                let pipeline = name(pipeline);
                if let Some(m) = &self.measures {
                    m.metrics.run_finished(RunLabels { pipeline: pipeline.to_string(), status }, duration);
                }
                if let Some(s) = &self.statsd {
                    s.run_finished(&pipeline, status, duration);
                }
                if sampled && let Some(spans) = &mut self.spans {
                    let span = spans.run_ended(name(run), time, root, status, error);
                    self.send(span);
                }
            }
        }
    }

    /// The metrics of an attempt's end: a step's duration, or a retry.
    fn measure_step(&mut self, pipeline: &Arc<str>, step: &Arc<str>, kind: &Arc<str>, end: &End) {
        let (duration, status) = match end {
            End::Succeeded(d) => (Some(*d), "succeeded"),
            End::Failed(d, _) => (Some(*d), "failed"),
            End::Retrying(_) => (None, "retrying"),
            End::Cancelled => return,
        };
        if let Some(Measures { metrics: m, steps }) = &mut self.measures {
            let key = (pipeline.clone(), step.clone(), kind.clone());
            let full = steps.len() >= metrics::MAX_SERIES;
            let handles = match steps.entry(key) {
                Entry::Occupied(handles) => Some(handles.into_mut()),
                Entry::Vacant(slot) if !full => Some(slot.insert(StepHandles::default())),
                Entry::Vacant(_) => None,
            };
            let labels = || (pipeline.to_string(), step.to_string(), kind.to_string());
            match duration {
                Some(duration) => {
                    let succeeded = status == "succeeded";
                    let make = || {
                        let (pipeline, step, kind) = labels();
                        m.step_duration(StepLabels { pipeline, step, kind, status })
                    };
                    let seconds = duration.as_secs_f64();
                    match handles {
                        Some(h) => {
                            let slot = if succeeded { &mut h.succeeded } else { &mut h.failed };
                            slot.get_or_insert_with(make).observe(seconds);
                        }
                        None => make().observe(seconds),
                    }
                }
                None => {
                    let make = || {
                        let (pipeline, step, kind) = labels();
                        m.step_retries(RetryLabels { pipeline, step, kind })
                    };
                    match handles {
                        Some(h) => h.retries.get_or_insert_with(make).inc(),
                        None => make().inc(),
                    };
                }
            }
        }
        if let Some(s) = &self.statsd {
            match duration {
                Some(duration) => s.step_ended(pipeline, step, kind, status, duration),
                None => s.step_retried(pipeline, step, kind),
            }
        }
    }

    /// Keeps a span that ended for the hub's thread to send, or drops it when too many wait.
    fn send(&mut self, span: Option<Span>) {
        let Some(span) = span else { return };
        if self.ended.len() >= WAITING {
            self.dropped += 1;
            if self.dropped == 1 {
                tracing::warn!(target: crate::target::TRACES, "too many spans wait to be exported: dropping spans");
            }
            return;
        }
        self.ended.push(span);
    }
}
