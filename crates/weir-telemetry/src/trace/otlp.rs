//! The OTLP/HTTP request body of a batch of spans: an `ExportTraceServiceRequest`
//! (opentelemetry-proto's `collector/trace/v1`) in protobuf, written by hand. The few messages
//! weir sends need no code generator, and the test's receiver decodes them with the
//! published message types. Each message's length is worked out before it is written, so a
//! batch is written in one pass into one buffer: no message is built apart and copied in.

use super::{Attribute, Resource, Span, Value};
use std::time::SystemTime;

/// Protobuf wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

/// `Span.kind`: `SPAN_KIND_INTERNAL`, an operation inside weir.
const SPAN_KIND_INTERNAL: u64 = 1;
/// `Status.code`: `STATUS_CODE_ERROR`.
const STATUS_CODE_ERROR: u64 = 2;

/// The instrumentation scope: weir and its version.
const SCOPE: (&str, &str) = ("weir", env!("CARGO_PKG_VERSION"));

/// The request body for `spans`, all from the one `resource`.
pub(super) fn encode(resource: &Resource, spans: &[Span]) -> Vec<u8> {
    let resource_len: usize =
        resource.attributes.iter().map(|(k, v)| field(key_value_len(k, &Value::str(v)))).sum();
    let scope_len = field(SCOPE.0.len()) + field(SCOPE.1.len());
    let scope_spans_len = field(scope_len) + spans.iter().map(|s| field(span_len(s))).sum::<usize>();
    let resource_spans_len = field(resource_len) + field(scope_spans_len);

    let mut w = Writer(Vec::with_capacity(field(resource_spans_len)));
    w.len(1, resource_spans_len); // ExportTraceServiceRequest.resource_spans
    w.len(1, resource_len); // ResourceSpans.resource
    for (key, value) in &resource.attributes {
        w.key_value(1, key, &Value::str(value)); // Resource.attributes
    }
    w.len(2, scope_spans_len); // ResourceSpans.scope_spans
    w.len(1, scope_len); // ScopeSpans.scope
    w.string(1, SCOPE.0);
    w.string(2, SCOPE.1);
    for span in spans {
        w.span(2, span); // ScopeSpans.spans
    }
    w.0
}

/// The length of a length-delimited field (tag, length, content) of `len` bytes: every field
/// weir writes has a number below 16, so its tag is one byte.
fn field(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn span_len(span: &Span) -> usize {
    let (prefix, name) = &span.name;
    let mut len = field(16) + field(8) + field(prefix.len() + name.as_str().len()) + 2 + 9 + 9;
    if span.parent.is_some() {
        len += field(8);
    }
    len += span.attributes.iter().map(|Attribute(k, v)| field(key_value_len(k, v))).sum::<usize>();
    if let Some(error) = &span.error {
        len += field(status_len(error));
    }
    len
}

fn status_len(message: &str) -> usize {
    field(message.len()) + 1 + varint_len(STATUS_CODE_ERROR)
}

fn key_value_len(key: &str, value: &Value) -> usize {
    field(key.len()) + field(any_value_len(value))
}

fn any_value_len(value: &Value) -> usize {
    match value {
        Value::Str(s) => field(s.as_str().len()),
        Value::Bool(_) => 2,
        Value::Int(i) => 1 + varint_len(*i as u64),
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A protobuf message being written, its nested messages' lengths known beforehand.
struct Writer(Vec<u8>);

impl Writer {
    fn tag(&mut self, field: u32, wire: u32) {
        self.raw_varint(u64::from(field << 3 | wire));
    }

    fn raw_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn varint(&mut self, field: u32, v: u64) {
        self.tag(field, VARINT);
        self.raw_varint(v);
    }

    fn fixed64(&mut self, field: u32, v: u64) {
        self.tag(field, FIXED64);
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// The tag and length of a length-delimited field whose `len` bytes come next.
    fn len(&mut self, field: u32, len: usize) {
        self.tag(field, LEN);
        self.raw_varint(len as u64);
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.len(field, b.len());
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn span(&mut self, field: u32, span: &Span) {
        self.len(field, span_len(span));
        self.bytes(1, &span.trace_id.0);
        self.bytes(2, &span.span_id.0);
        if let Some(parent) = span.parent {
            self.bytes(4, &parent.0);
        }
        let (prefix, name) = &span.name;
        let name = name.as_str();
        self.len(5, prefix.len() + name.len());
        self.0.extend_from_slice(prefix.as_bytes());
        self.0.extend_from_slice(name.as_bytes());
        self.varint(6, SPAN_KIND_INTERNAL);
        self.fixed64(7, nanos(span.start));
        self.fixed64(8, nanos(span.end));
        for Attribute(key, value) in &span.attributes {
            self.key_value(9, key, value);
        }
        if let Some(error) = &span.error {
            self.len(15, status_len(error));
            self.string(2, error);
            self.varint(3, STATUS_CODE_ERROR);
        }
    }

    fn key_value(&mut self, field: u32, key: &str, value: &Value) {
        self.len(field, key_value_len(key, value));
        self.string(1, key);
        self.len(2, any_value_len(value));
        match value {
            Value::Str(s) => self.string(1, s.as_str()),
            Value::Bool(b) => self.varint(2, u64::from(*b)),
            // int64 is a varint of the two's complement.
            Value::Int(i) => self.varint(3, *i as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_worked_out_as_written() {
        for v in [0, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut w = Writer(Vec::new());
            w.raw_varint(v);
            assert_eq!(w.0.len(), varint_len(v), "{v}");
        }
        let span = |error: Option<&str>, parent| Span {
            trace_id: weir_engine::TraceId([7; 16]),
            span_id: weir_engine::SpanId([8; 8]),
            parent,
            name: ("step ", super::super::Text::Owned("x".repeat(200))),
            start: SystemTime::UNIX_EPOCH,
            end: SystemTime::now(),
            attributes: vec![
                Attribute("weir.step.attempt", Value::Int(-3)),
                Attribute("weir.run.resumed", Value::Bool(true)),
                Attribute("weir.step.id", Value::str("fetch")),
            ],
            error: error.map(str::to_owned),
        };
        for s in [span(None, None), span(Some("boom"), Some(weir_engine::SpanId([9; 8])))] {
            let mut w = Writer(Vec::new());
            w.span(2, &s);
            assert_eq!(w.0.len(), field(span_len(&s)));
        }
        let resource = Resource { attributes: vec![("service.name".into(), "weir".into())] };
        let spans = [span(None, None), span(Some("e"), None)];
        let body = encode(&resource, &spans);
        assert_eq!(body[0], 1 << 3 | 2);
    }
}
