//! Trace context: which trace a run belongs to and which span each run and step attempt is, in
//! the identifiers of W3C Trace Context (<https://www.w3.org/TR/trace-context/>).
//!
//! The engine only names spans: every run gets a span id (in its `RunStarted` or `RunResumed`
//! event, with the span it is a child of), and so does every attempt of a step (in its
//! `StepStarted`). A sub-pipeline run is a child of the attempt that started it, a `foreach`
//! item's attempt a child of the `foreach` step's attempt. Turning events into spans, sampling
//! and exporting them is telemetry's.

use std::fmt;

/// A trace's 16-byte id; never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// A span's 8-byte id; never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

/// One span's place in a trace: what a `traceparent` header carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// The caller's sampling decision (the `sampled` flag).
    pub sampled: bool,
}

impl TraceId {
    /// A random id, as a trace without a parent gets.
    pub fn random() -> TraceId {
        TraceId(fastrand::u128(1..).to_be_bytes())
    }

    /// The 32 lowercase hex digits of the id.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }

    /// An id from its 32 hex digits; none for anything else or all zeros.
    pub fn parse(text: &str) -> Option<TraceId> {
        let id = TraceId(unhex(text)?);
        (id.0 != [0; 16]).then_some(id)
    }
}

impl SpanId {
    /// A random id.
    pub fn random() -> SpanId {
        SpanId(fastrand::u64(1..).to_be_bytes())
    }

    /// The 16 lowercase hex digits of the id.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl TraceContext {
    /// The root of a new trace.
    pub fn root() -> TraceContext {
        TraceContext { trace_id: TraceId::random(), span_id: SpanId::random(), sampled: true }
    }

    /// A new span in the same trace, with the same sampling decision.
    pub fn child(&self) -> TraceContext {
        TraceContext { span_id: SpanId::random(), ..*self }
    }

    /// Reads a `traceparent` header value as W3C Trace Context level 1 says a receiver must:
    /// version `00` is exactly `00-<trace id>-<parent id>-<flags>`; a later version may append
    /// fields after a `-`, which are ignored; version `ff`, uppercase hex and all-zero ids are
    /// invalid. `None` for an invalid value, which the caller then ignores.
    pub fn parse_traceparent(value: &str) -> Option<TraceContext> {
        let value = value.trim();
        let version = value.get(..2)?;
        let version = u8::from_str_radix(version, 16).ok().filter(|_| is_lower_hex(&value[..2]))?;
        match version {
            0xff => return None,
            0 if value.len() != 55 => return None,
            _ if value.len() > 55 && value.as_bytes()[55] != b'-' => return None,
            _ => {}
        }
        let fields = value.get(..55)?;
        let mut parts = fields.split('-');
        let (_, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
            return None;
        }
        let trace_id = TraceId::parse(trace)?;
        let span_id = SpanId(unhex(span)?);
        let [flags] = unhex::<1>(flags)?;
        (span_id.0 != [0; 8]).then_some(TraceContext { trace_id, span_id, sampled: flags & 1 == 1 })
    }

    /// The `traceparent` header value of this span: version `00`.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id.hex(), self.span_id.hex(), u8::from(self.sampled))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `N` bytes from exactly `2 * N` lowercase hex digits.
fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !is_lower_hex(text) {
        return None;
    }
    let mut out = [0; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_reads_back_as_written() {
        let cx = TraceContext::parse_traceparent(VALID).unwrap();
        assert_eq!(cx.trace_id.hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(cx.span_id.hex(), "00f067aa0ba902b7");
        assert!(cx.sampled);
        assert_eq!(cx.traceparent(), VALID);
        let unsampled = TraceContext::parse_traceparent(&VALID.replace("-01", "-00")).unwrap();
        assert!(!unsampled.sampled);
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        let cases = [
            "",
            "00",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ];
        for case in cases {
            assert_eq!(TraceContext::parse_traceparent(case), None, "{case}");
        }
    }

    #[test]
    fn a_later_version_is_read_as_far_as_version_00_goes() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds";
        let cx = TraceContext::parse_traceparent(later).unwrap();
        assert_eq!(cx.traceparent(), VALID);
    }

    #[test]
    fn a_child_span_stays_in_its_trace() {
        let root = TraceContext::root();
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        assert_eq!(TraceContext::parse_traceparent(&child.traceparent()), Some(child));
    }
}
