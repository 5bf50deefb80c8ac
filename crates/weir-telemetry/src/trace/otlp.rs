//! The OTLP/HTTP request body of a batch of spans: an `ExportTraceServiceRequest`
//! (opentelemetry-proto's `collector/trace/v1`) in protobuf, written by hand. The few messages
//! weir sends need no code generator, and the test's receiver decodes them with the
//! published message types.

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

/// The request body for `spans`, all from the one `resource`.
pub(super) fn encode(resource: &Resource, spans: &[Span]) -> Vec<u8> {
    let mut scope = Message::default();
    scope.string(1, "weir");
    scope.string(2, env!("CARGO_PKG_VERSION"));
    let mut scope_spans = Message::default();
    scope_spans.message(1, scope);
    for span in spans {
        scope_spans.message(2, encode_span(span));
    }
    let mut res = Message::default();
    for (key, value) in &resource.attributes {
        res.message(1, key_value(key, &Value::Str(value.clone())));
    }
    let mut resource_spans = Message::default();
    resource_spans.message(1, res);
    resource_spans.message(2, scope_spans);
    let mut request = Message::default();
    request.message(1, resource_spans);
    request.0
}

fn encode_span(span: &Span) -> Message {
    let mut m = Message::default();
    m.bytes(1, &span.trace_id.0);
    m.bytes(2, &span.span_id.0);
    if let Some(parent) = span.parent {
        m.bytes(4, &parent.0);
    }
    m.string(5, &span.name);
    m.varint(6, SPAN_KIND_INTERNAL);
    m.fixed64(7, nanos(span.start));
    m.fixed64(8, nanos(span.end));
    for Attribute(key, value) in &span.attributes {
        m.message(9, key_value(key, value));
    }
    if let Some(error) = &span.error {
        let mut status = Message::default();
        status.string(2, error);
        status.varint(3, STATUS_CODE_ERROR);
        m.message(15, status);
    }
    m
}

fn key_value(key: &str, value: &Value) -> Message {
    let mut any = Message::default();
    match value {
        Value::Str(s) => any.string(1, s),
        Value::Bool(b) => any.varint(2, u64::from(*b)),
        // int64 is a varint of the two's complement.
        Value::Int(i) => any.varint(3, *i as u64),
    }
    let mut kv = Message::default();
    kv.string(1, key);
    kv.message(2, any);
    kv
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// One protobuf message being written.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
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

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.tag(field, LEN);
        self.raw_varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn message(&mut self, field: u32, m: Message) {
        self.bytes(field, &m.0);
    }
}
