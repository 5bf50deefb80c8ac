//! Spans from a run's events: one per run (`run <pipeline>`) and one per step attempt
//! (`step <id>`), with the ids the engine gave them, sampled at the root of each trace and
//! exported over OTLP/HTTP (protobuf) by a thread of their own (`export`), so a run never waits
//! for a collector. The run's thread only copies what a span needs of an event into a queue
//! (a [`Record`]); the exporter's thread samples, builds, encodes and sends the spans.

// Without the `otlp` feature no exporter starts, so no span is ever built; what builds them stays
// compiled (and checked) in both builds rather than behind a `cfg` on every item.
#![cfg_attr(not(feature = "otlp"), allow(dead_code))]

mod export;
mod otlp;

use crate::{Fx, Pinned};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use weir_engine::{Event, EventKind, SpanId, TraceContext, TraceId};

/// What spans are sent where: filled by the binary from its configuration and the standard
/// OpenTelemetry environment variables.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The URL spans are POSTed to (an OTLP/HTTP traces endpoint, `…/v1/traces`).
    pub url: String,
    /// Headers sent with every request (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: Vec<(String, String)>,
    /// How long one request may take.
    pub timeout: Duration,
    /// The `service.name` and other attributes of the resource the spans come from.
    pub resource: Vec<(String, String)>,
    pub sampler: Sampler,
}

impl Options {
    /// The traces URL of the OTel specification: a traces endpoint as it is, else the base
    /// endpoint with `v1/traces` appended; none without either.
    pub fn url(endpoint: Option<&str>, traces_endpoint: Option<&str>) -> Option<String> {
        fn nonempty(v: Option<&str>) -> Option<&str> {
            v.map(str::trim).filter(|v| !v.is_empty())
        }
        match (nonempty(traces_endpoint), nonempty(endpoint)) {
            (Some(traces), _) => Some(traces.to_owned()),
            (None, Some(base)) => Some(format!("{}/v1/traces", base.trim_end_matches('/'))),
            (None, None) => None,
        }
    }
}

/// Which traces are recorded, decided once at the root run of each trace
/// (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    /// This fraction of traces, chosen by trace id, so every process that samples by ratio
    /// agrees on a trace.
    TraceIdRatio(f64),
    /// The caller's decision when a run has a parent span (`traceparent`), else the inner
    /// sampler's.
    ParentBased(Box<Sampler>),
}

impl Default for Sampler {
    /// `parentbased_always_on`, the OTel default.
    fn default() -> Sampler {
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    }
}

impl Sampler {
    /// The sampler `name` (an `OTEL_TRACES_SAMPLER` value) with `arg`, the ratio of the
    /// `traceidratio` ones (default 1.0); an error says what is wrong with either.
    pub fn parse(name: &str, arg: Option<&str>) -> Result<Sampler, String> {
        let ratio = || match arg.map(str::trim).filter(|a| !a.is_empty()) {
            None => Ok(1.0),
            Some(a) => a
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| format!("the sampler argument \"{a}\" is not a ratio between 0 and 1")),
        };
        let parent_based = |s| Sampler::ParentBased(Box::new(s));
        Ok(match name.trim() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio()?),
            "parentbased_always_on" => parent_based(Sampler::AlwaysOn),
            "parentbased_always_off" => parent_based(Sampler::AlwaysOff),
            "parentbased_traceidratio" => parent_based(Sampler::TraceIdRatio(ratio()?)),
            other => {
                return Err(format!(
                    "unknown sampler \"{other}\": expected always_on, always_off, traceidratio, \
                     parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
                ));
            }
        })
    }

    /// Whether to record the trace `trace_id`; `parent` is the caller's decision, when the run
    /// has a parent span.
    pub fn sample(&self, trace_id: TraceId, parent: Option<bool>) -> bool {
        match (self, parent) {
            (Sampler::AlwaysOn, _) => true,
            (Sampler::AlwaysOff, _) => false,
            // As the OpenTelemetry SDKs do: the last 8 bytes of the id against the ratio of 2^63.
            (Sampler::TraceIdRatio(ratio), _) => {
                let bound = (ratio.clamp(0.0, 1.0) * (1u64 << 63) as f64) as u64;
                let [.., b8, b9, b10, b11, b12, b13, b14, b15] = trace_id.0;
                (u64::from_be_bytes([b8, b9, b10, b11, b12, b13, b14, b15]) >> 1) < bound
            }
            (Sampler::ParentBased(_), Some(sampled)) => sampled,
            (Sampler::ParentBased(root), None) => root.sample(trace_id, None),
        }
    }
}

/// The resource spans come from: its attributes, `service.name` first.
pub(crate) struct Resource {
    pub(crate) attributes: Vec<(String, String)>,
}

/// A finished span, ready to export.
pub(crate) struct Span {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent: Option<SpanId>,
    /// `run ` or `step `, and the pipeline's or the step's id.
    pub(crate) name: (&'static str, Text),
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    pub(crate) attributes: Vec<Attribute>,
    /// The status message of a span that failed (OTel status `Error`).
    pub(crate) error: Option<String>,
}

pub(crate) struct Attribute(pub(crate) &'static str, pub(crate) Value);

pub(crate) enum Value {
    Str(Text),
    Int(i64),
    Bool(bool),
}

impl Value {
    pub(crate) fn str(text: impl Into<Text>) -> Value {
        Value::Str(text.into())
    }
}

/// An attribute's text: shared by the spans of a run (its id, its steps' ids and kinds),
/// fixed (statuses, error kinds), or its own.
pub(crate) enum Text {
    Shared(Arc<str>),
    Static(&'static str),
    Owned(String),
}

impl Text {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Text::Shared(s) => s,
            Text::Static(s) => s,
            Text::Owned(s) => s,
        }
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Text {
        Text::Shared(s)
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Text {
        Text::Static(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::Owned(s)
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text::Owned(s.clone())
    }
}

fn str(key: &'static str, value: impl Into<Text>) -> Attribute {
    Attribute(key, Value::str(value))
}

/// A name a record refers to by number: the run's thread sends each shared name (run id, step
/// id, kind) once, then its number, so the exporter's thread never touches the memory the
/// engine's names live in, and a record is a few plain words.
pub(crate) type Name = u32;

/// What a span needs of one event, copied on the run's thread without allocating (but for a
/// run's start and a failure's message). The exporter's thread turns records into spans.
pub(crate) enum Record {
    /// The next name's text: its number is the count of names sent since the last `Forget`.
    Name(Arc<str>),
    /// The names sent so far are forgotten: numbers start again from 0.
    Forget,
    /// A run started or resumed (boxed: it is rare, and the largest).
    Run(Box<RunRecord>),
    Step {
        run: Name,
        step: Name,
        kind: Name,
        item: Option<usize>,
        time: SystemTime,
        attempt: u32,
        span: SpanId,
        parent_span: SpanId,
    },
    StepEnded {
        run: Name,
        step: Name,
        item: Option<usize>,
        time: SystemTime,
        status: &'static str,
        error: Option<Box<(String, &'static str)>>,
    },
    RunEnded {
        run: Name,
        time: SystemTime,
        /// Whether it is the root run of its trace (no parent run).
        root: bool,
        status: &'static str,
        error: Option<Box<(String, &'static str)>>,
    },
}

/// A run started or resumed; `parent_run` is the run that started a sub-pipeline run.
pub(crate) struct RunRecord {
    run: Name,
    parent_run: Option<Name>,
    time: SystemTime,
    pipeline: String,
    digest: String,
    trace: TraceContext,
    parent_span: Option<SpanId>,
    resumed: bool,
}

/// The names the run's threads have sent the exporter's, by the address of the shared text:
/// a name costs a lookup by pointer, its text crosses once.
#[derive(Default)]
pub(crate) struct Names {
    known: HashMap<Pinned, Name, Fx>,
}

impl Names {
    /// The most names kept; then all are forgotten and sent again as they come.
    const MAX: usize = 16_384;

    /// The number of `name`, queuing its text first when it is new.
    fn name(&mut self, name: &Arc<str>, queue: &mut Vec<Record>) -> Name {
        if let Some(&number) = self.known.get(&Pinned::address(name)) {
            return number;
        }
        if self.known.len() >= Names::MAX {
            self.known.clear();
            queue.push(Record::Forget);
        }
        let number = self.known.len() as Name;
        self.known.insert(Pinned::new(name), number);
        queue.push(Record::Name(name.clone()));
        number
    }

    /// Queues what the span of `event` needs of it; nothing for the events that make no span
    /// data.
    pub(crate) fn record(&mut self, event: &Event, queue: &mut Vec<Record>) {
        let time = event.at;
        let error = |e: &str, kind: &'static str| Some(Box::new((e.to_owned(), kind)));
        let record = match &event.kind {
            EventKind::RunStarted { pipeline, digest, trace, parent_span, .. }
            | EventKind::RunResumed { pipeline, digest, trace, parent_span } => {
                Record::Run(Box::new(RunRecord {
                    run: self.name(&event.run_id, queue),
                    parent_run: event.parent.as_ref().map(|p| self.name(&p.run_id, queue)),
                    time,
                    pipeline: pipeline.clone(),
                    digest: digest.clone(),
                    trace: *trace,
                    parent_span: *parent_span,
                    resumed: matches!(event.kind, EventKind::RunResumed { .. }),
                }))
            }
            EventKind::StepStarted { at, attempt, span, parent_span } => Record::Step {
                run: self.name(&event.run_id, queue),
                step: self.name(&at.step, queue),
                kind: self.name(&at.kind, queue),
                item: at.item,
                time,
                attempt: *attempt,
                span: *span,
                parent_span: *parent_span,
            },
            EventKind::StepRetrying { at, error: e, error_kind, .. }
            | EventKind::StepFailed { at, error: e, error_kind, .. } => Record::StepEnded {
                run: self.name(&event.run_id, queue),
                step: self.name(&at.step, queue),
                item: at.item,
                time,
                status: "failed",
                error: error(e, error_kind.as_str()),
            },
            EventKind::StepSucceeded { at, .. } | EventKind::StepCancelled { at } => Record::StepEnded {
                run: self.name(&event.run_id, queue),
                step: self.name(&at.step, queue),
                item: at.item,
                time,
                status: if matches!(event.kind, EventKind::StepCancelled { .. }) {
                    "cancelled"
                } else {
                    "succeeded"
                },
                error: None,
            },
            EventKind::RunFinished { status, error: e, error_kind, .. } => Record::RunEnded {
                run: self.name(&event.run_id, queue),
                time,
                root: event.parent.is_none(),
                status: status.as_str(),
                error: e.as_deref().and_then(|e| error(e, error_kind.map_or("", |k| k.as_str()))),
            },
            EventKind::StepMocked { .. }
            | EventKind::StepSkipped { .. }
            | EventKind::StepLog { .. }
            | EventKind::ApprovalRequested { .. }
            | EventKind::ApprovalAnswered { .. } => return,
        };
        queue.push(record);
    }
}

/// The spans of the runs of this process, as their events are recorded: the run's thread only
/// copies what a span needs into the exporter's queue.
pub(crate) struct Spans {
    export: export::Exporter,
}

impl std::fmt::Debug for Spans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spans").finish_non_exhaustive()
    }
}

impl Spans {
    /// Starts the exporter thread; an error says why spans cannot be exported by this build.
    pub(crate) fn start(options: Options) -> Result<Spans, String> {
        Ok(Spans { export: export::Exporter::start(options)? })
    }

    /// Queues what the span an event opens, annotates or ends needs of it.
    pub(crate) fn record(&self, event: &Event) {
        self.export.record(event);
    }

    /// Sends what has ended and waits for it to be exported, at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) {
        self.export.flush(timeout);
    }

    /// How many records were dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.export.dropped()
    }
}

/// Which open span a record ends: a run's (`None`), or the current attempt of a step (and
/// item).
type Key = (Arc<str>, Option<(Arc<str>, Option<usize>)>);

/// The spans being built from records, on the exporter's thread: those begun and not yet ended,
/// of sampled traces only.
pub(crate) struct Builder {
    sampler: Sampler,
    /// The names sent so far, by number: the exporter's own copies.
    names: Vec<Arc<str>>,
    open: HashMap<Key, Span, Fx>,
}

impl Builder {
    pub(crate) fn new(sampler: Sampler) -> Builder {
        Builder { sampler, names: Vec::new(), open: HashMap::default() }
    }

    fn name(&self, name: Name) -> Arc<str> {
        self.names.get(name as usize).cloned().unwrap_or_else(|| "".into())
    }

    /// Opens, annotates or ends the span `record` is about; an ended span goes to `ended`.
    pub(crate) fn apply(&mut self, record: Record, ended: &mut Vec<Span>) {
        match record {
            // A copy: the text the run's thread shares stays in its cache.
            Record::Name(text) => self.names.push(Arc::from(&*text)),
            Record::Forget => self.names.clear(),
            Record::Run(run) => {
                let RunRecord { run, parent_run, time, pipeline, digest, trace, parent_span, resumed } = *run;
                let run = self.name(run);
                let sampled = match parent_run {
                    // A sub-pipeline run is in its trace when the run that started it is.
                    Some(parent) => self.open.contains_key(&(self.name(parent), None)),
                    None => self.sampler.sample(trace.trace_id, parent_span.map(|_| trace.sampled)),
                };
                if !sampled {
                    return;
                }
                let mut attributes = Vec::with_capacity(6);
                attributes.extend([
                    str("weir.pipeline", &pipeline),
                    str("weir.pipeline.version", digest),
                    str("weir.run.id", run.clone()),
                ]);
                if resumed {
                    attributes.push(Attribute("weir.run.resumed", Value::Bool(true)));
                }
                let span = Span {
                    trace_id: trace.trace_id,
                    span_id: trace.span_id,
                    parent: parent_span,
                    name: ("run ", pipeline.into()),
                    start: time,
                    end: time,
                    attributes,
                    error: None,
                };
                self.open.insert((run, None), span);
            }
            Record::Step { run, step, kind, item, time, attempt, span, parent_span } => {
                let run = self.name(run);
                let Some(trace_id) = self.open.get(&(run.clone(), None)).map(|r| r.trace_id) else { return };
                let step = self.name(step);
                let mut attributes = Vec::with_capacity(7);
                attributes.extend([
                    str("weir.run.id", run.clone()),
                    str("weir.step.id", step.clone()),
                    str("weir.step.kind", self.name(kind)),
                    Attribute("weir.step.attempt", Value::Int(i64::from(attempt))),
                ]);
                if let Some(item) = item {
                    attributes.push(Attribute("weir.step.item", Value::Int(item as i64)));
                }
                let span = Span {
                    trace_id,
                    span_id: span,
                    parent: Some(parent_span),
                    name: ("step ", step.clone().into()),
                    start: time,
                    end: time,
                    attributes,
                    error: None,
                };
                self.open.insert((run, Some((step, item))), span);
            }
            Record::StepEnded { run, step, item, time, status, error } => {
                let key = (self.name(run), Some((self.name(step), item)));
                ended.extend(end(&mut self.open, &key, time, status, error));
            }
            Record::RunEnded { run, time, root, status, error } => {
                let key = (self.name(run), None);
                let Some(span) = end(&mut self.open, &key, time, status, error) else { return };
                // Whatever a dropped run left open ends with it, unexported.
                if root {
                    self.open.retain(|_, s| s.trace_id != span.trace_id);
                }
                ended.push(span);
            }
        }
    }
}

/// The open span `key` ended at `at` with `status` (and an error and its kind); none if it is
/// not open (not sampled, or a step that ended without an attempt).
fn end(
    open: &mut HashMap<Key, Span, Fx>,
    key: &Key,
    at: SystemTime,
    status: &'static str,
    error: Option<Box<(String, &'static str)>>,
) -> Option<Span> {
    let mut span = open.remove(key)?;
    span.end = at;
    span.attributes.push(str("weir.status", status));
    if let Some(error) = error {
        let (message, kind) = *error;
        span.attributes.push(str("weir.error.kind", kind));
        span.error = Some(message);
    }
    Some(span)
}

/// The resource of `options`: its attributes, with `service.name` first (`weir` unless set).
pub(crate) fn resource(options: &Options) -> Resource {
    let is_name = |(k, _): &&(String, String)| k == "service.name";
    let name = options.resource.iter().find(is_name).map_or("weir", |(_, v)| v.as_str());
    let mut attributes = vec![("service.name".to_owned(), name.to_owned())];
    attributes.extend(options.resource.iter().filter(|a| !is_name(a)).cloned());
    Resource { attributes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(last: u64) -> TraceId {
        let mut bytes = [0; 16];
        bytes[0] = 1;
        bytes[8..].copy_from_slice(&last.to_be_bytes());
        TraceId(bytes)
    }

    #[test]
    fn samplers_follow_the_otel_names() {
        let parse = |name, arg| Sampler::parse(name, arg).unwrap();
        assert_eq!(parse("always_on", None), Sampler::AlwaysOn);
        assert_eq!(parse("traceidratio", Some("0.25")), Sampler::TraceIdRatio(0.25));
        assert_eq!(
            parse("parentbased_traceidratio", None),
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(1.0)))
        );
        assert!(Sampler::parse("sometimes", None).unwrap_err().contains("unknown sampler \"sometimes\""));
        assert!(Sampler::parse("traceidratio", Some("2")).unwrap_err().contains("\"2\""));
    }

    #[test]
    fn a_ratio_samples_by_trace_id_and_parent_based_follows_the_caller() {
        let half = Sampler::TraceIdRatio(0.5);
        assert!(half.sample(id(0), None));
        assert!(half.sample(id(u64::MAX / 2 - 1), None));
        assert!(!half.sample(id(u64::MAX), None));
        assert!(!Sampler::TraceIdRatio(0.0).sample(id(0), None));
        let sampled =
            (0..1000u64).filter(|i| half.sample(id(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)), None)).count();
        assert!((400..600).contains(&sampled), "{sampled} of 1000");

        let parent_based = Sampler::default();
        assert!(parent_based.sample(id(1), None), "a root is sampled");
        assert!(!parent_based.sample(id(1), Some(false)), "the caller said no");
        let off = Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
        assert!(off.sample(id(1), Some(true)) && !off.sample(id(1), None));
    }

    #[test]
    fn endpoints_read_as_otel_specifies() {
        assert_eq!(Options::url(Some("http://c:4318/"), None).as_deref(), Some("http://c:4318/v1/traces"));
        assert_eq!(Options::url(Some("http://c:4318"), Some("http://t/x")).as_deref(), Some("http://t/x"));
        assert_eq!(Options::url(Some(""), None), None);
    }
}
