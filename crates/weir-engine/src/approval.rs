//! Waiting for a person: what an `approval` step asks, and the answer it gets.
//!
//! The question is an event ([`EventKind::ApprovalRequested`](crate::EventKind)) committed before
//! the step waits, so it is durable and visible to other processes (`weir approvals`); the
//! answer comes back through the run's [`RunStore`](crate::RunStore), written there by whoever
//! answered — another process, possibly much later. A step that waits is in flight: if its
//! process stops, the step runs again when the run is resumed, asks again (the store keeps the
//! first question and any answer it already has) and goes on from the answer.

use serde_json::Value;
use std::time::{Duration, SystemTime};

/// What an approval step asks.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalRequest {
    /// What the person is asked, as shown to them.
    pub prompt: String,
    /// A JSON Schema the answer's value must match, if it carries one.
    pub schema: Option<Value>,
    /// Who may answer; anyone when empty.
    pub assignees: Vec<String>,
    /// How long to wait from when it was first asked; forever when absent.
    pub timeout: Option<Duration>,
    /// What no answer within `timeout` means.
    pub on_timeout: OnTimeout,
}

/// What an approval whose timeout passed without an answer resolves to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnTimeout {
    /// It counts as approved, with no answer value.
    Approve,
    /// It counts as rejected: the step fails with [`ErrorKind::Rejected`](crate::ErrorKind).
    Reject,
    /// The step fails with [`ErrorKind::Timeout`](crate::ErrorKind).
    #[default]
    Fail,
}

impl OnTimeout {
    pub const ALL: [OnTimeout; 3] = [OnTimeout::Approve, OnTimeout::Reject, OnTimeout::Fail];

    /// `approve`, `reject` or `fail`, as pipelines and the store spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            OnTimeout::Approve => "approve",
            OnTimeout::Reject => "reject",
            OnTimeout::Fail => "fail",
        }
    }

    pub fn parse(label: &str) -> Option<OnTimeout> {
        OnTimeout::ALL.into_iter().find(|o| o.as_str() == label)
    }
}

/// How a question was settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Rejected,
    /// No answer came within the timeout, and `on_timeout` is `fail`.
    Expired,
}

impl Decision {
    pub const ALL: [Decision; 3] = [Decision::Approved, Decision::Rejected, Decision::Expired];

    /// `approved`, `rejected` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
            Decision::Expired => "expired",
        }
    }

    pub fn parse(label: &str) -> Option<Decision> {
        Decision::ALL.into_iter().find(|d| d.as_str() == label)
    }
}

/// The answer to an approval.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub decision: Decision,
    /// The value the person gave (`weir approve -i`), null without one.
    pub value: Value,
    /// Who answered; `timeout` when the timeout decided.
    pub by: String,
    pub at: SystemTime,
    /// Why, for a rejection.
    pub reason: Option<String>,
    /// Whether the timeout decided rather than a person.
    pub timed_out: bool,
}
