//! Spans from a run's events: one per run (`run <pipeline>`) and one per step attempt
//! (`step <id>`), with the ids the engine gave them, sampled at the root of each trace (on the
//! run's thread, when it starts) and exported over OTLP/HTTP (protobuf) by the hub's thread
//! (`crate::hub`, `export`), so a run never waits for a collector. The [`Builder`] turns the
//! records of sampled runs into spans.

// Without the `otlp` feature no exporter starts, so no span is ever built; what builds them stays
// compiled (and checked) in both builds rather than behind a `cfg` on every item.
#![cfg_attr(not(feature = "otlp"), allow(dead_code))]

mod export;
mod otlp;

pub(crate) use export::Sender;

use crate::Fx;
use crate::hub::Error;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use weir_engine::{SpanId, TraceContext, TraceId};

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

/// Which open span a record ends: a run's (`None`), or the current attempt of a step (and
/// item).
type Key = (Arc<str>, Option<(Arc<str>, Option<usize>)>);

/// The spans being built from the records of sampled runs, on the hub's thread: those begun
/// and not yet ended.
#[derive(Default)]
pub(crate) struct Builder {
    open: HashMap<Key, Span, Fx>,
}

impl Builder {
    /// Opens the span of run `run`.
    #[allow(clippy::too_many_arguments)] // A run's start, field by field.
    pub(crate) fn run(
        &mut self,
        run: Arc<str>,
        time: SystemTime,
        pipeline: String,
        digest: String,
        trace: TraceContext,
        parent_span: Option<SpanId>,
        resumed: bool,
    ) {
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

    /// Opens the span of an attempt of step `step` of run `run`, when the run's is open.
    #[allow(clippy::too_many_arguments)] // An attempt's start, field by field.
    pub(crate) fn started(
        &mut self,
        run: Arc<str>,
        step: Arc<str>,
        kind: Arc<str>,
        item: Option<usize>,
        time: SystemTime,
        attempt: u32,
        span: SpanId,
        parent_span: SpanId,
    ) {
        let Some(trace_id) = self.open.get(&(run.clone(), None)).map(|r| r.trace_id) else { return };
        let mut attributes = Vec::with_capacity(7);
        attributes.extend([
            str("weir.run.id", run.clone()),
            str("weir.step.id", step.clone()),
            str("weir.step.kind", kind),
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

    /// Ends the open span of step `step`'s attempt; none if it is not open (a step that ended
    /// without an attempt).
    pub(crate) fn ended(
        &mut self,
        run: Arc<str>,
        step: Arc<str>,
        item: Option<usize>,
        time: SystemTime,
        status: &'static str,
        error: Option<Error>,
    ) -> Option<Span> {
        end(&mut self.open, &(run, Some((step, item))), time, status, error)
    }

    /// Ends the span of run `run`; a root run's end drops whatever its trace left open.
    pub(crate) fn run_ended(
        &mut self,
        run: Arc<str>,
        time: SystemTime,
        root: bool,
        status: &'static str,
        error: Option<Error>,
    ) -> Option<Span> {
        let span = end(&mut self.open, &(run, None), time, status, error)?;
        if root {
            self.open.retain(|_, s| s.trace_id != span.trace_id);
        }
        Some(span)
    }
}

/// The open span `key` ended at `at` with `status` (and an error and its kind); none if it is
/// not open (not sampled, or a step that ended without an attempt).
fn end(
    open: &mut HashMap<Key, Span, Fx>,
    key: &Key,
    at: SystemTime,
    status: &'static str,
    error: Option<Error>,
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
