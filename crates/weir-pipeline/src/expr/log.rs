//! What an evaluation says on the side: the messages of `debug` and `stderr`, and the message
//! `halt_error` stops with. jq prints them on its standard error; weir keeps them with the
//! evaluation that said them, wherever it runs (inline or on a thread of its own), so the engine
//! can log them as the step's and a failed step can say why it halted.
//!
//! A [`Log`] is bounded, since an expression in a loop can say a lot: past [`MAX_MESSAGES`]
//! messages or [`MAX_LOG_BYTES`] of text it counts what it drops, and says how many at the end.

use super::guard::Capped;
use jaq_json::Val;
use std::cell::{Cell, RefCell};
use std::fmt::Write as _;

/// The most messages one evaluation keeps.
pub const MAX_MESSAGES: usize = 1_000;
/// The most text (in bytes) the messages of one evaluation keep: 1 MiB.
pub const MAX_LOG_BYTES: usize = 1 << 20;

/// What said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Said {
    /// `debug`: `["DEBUG:",<value>]`, as jq 1.7 prints it.
    Debug,
    /// `stderr`: a string as it is, any other value as compact JSON (jq 1.7).
    Stderr,
    /// weir: how many messages past the limits were dropped.
    Dropped,
}

/// One message of an evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub said: Said,
    pub text: String,
}

/// The messages of one evaluation, as it says them.
#[derive(Debug, Default)]
pub struct Log {
    messages: RefCell<Vec<Message>>,
    bytes: Cell<usize>,
    dropped: Cell<usize>,
    /// What `halt_error` stopped the evaluation with.
    halted: RefCell<Option<String>>,
}

impl Log {
    /// Keeps what `debug` says of `v`.
    pub(crate) fn debug(&self, v: &Val) {
        self.keep(Said::Debug, |text| write!(text, "[\"DEBUG:\",{v}]"));
    }

    /// Keeps what `stderr` says of `v`.
    pub(crate) fn stderr(&self, v: &Val) {
        self.keep(Said::Stderr, |text| write_raw(text, v));
    }

    /// Keeps the message `write` writes, or counts it as dropped past the limits. It is written
    /// only up to what the limits leave, so a huge value costs no more than that.
    fn keep(&self, said: Said, write: impl FnOnce(&mut Capped) -> std::fmt::Result) {
        let mut messages = self.messages.borrow_mut();
        let mut text = Capped::new(MAX_LOG_BYTES - self.bytes.get());
        if messages.len() == MAX_MESSAGES || write(&mut text).is_err() {
            self.dropped.set(self.dropped.get() + 1);
            return;
        }
        self.bytes.set(self.bytes.get() + text.len());
        messages.push(Message { said, text: text.into_string() });
    }

    /// Records the message `halt_error` stops with: its input as `stderr` would print it.
    pub(crate) fn halt(&self, v: &Val) {
        let mut message = String::new();
        let _ = write_raw(&mut message, v);
        *self.halted.borrow_mut() = Some(message);
    }

    /// The message `halt_error` stopped the evaluation with, if it did.
    pub(crate) fn halted(&self) -> Option<String> {
        self.halted.borrow().clone()
    }

    /// The messages in the order they were said, then one saying how many were dropped, if any.
    pub fn into_messages(self) -> Vec<Message> {
        let mut messages = self.messages.into_inner();
        match self.dropped.get() {
            0 => {}
            n => messages.push(Message {
                said: Said::Dropped,
                text: format!(
                    "{n} more message(s) dropped: an evaluation keeps at most {MAX_MESSAGES} messages \
                     and {} MiB of them",
                    MAX_LOG_BYTES >> 20
                ),
            }),
        }
        messages
    }
}

/// Writes `v` as jq's `stderr` prints it: a string as it is, any other value as compact JSON.
fn write_raw(out: &mut impl std::fmt::Write, v: &Val) -> std::fmt::Result {
    match v {
        Val::TStr(b) | Val::BStr(b) => out.write_str(&String::from_utf8_lossy(b)),
        other => write!(out, "{other}"),
    }
}
