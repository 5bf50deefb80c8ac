//! Why a step attempt failed. Every failure has a kind from a small fixed set, so telemetry and
//! the store can count and group failures by it (a metric label), while the message says exactly
//! what happened.

/// What kind of failure a step had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The step's resolved configuration does not fit its kind (a value of the wrong type, a
    /// malformed URL).
    Config,
    /// A jq expression failed while running (`if`, `${{ }}`, a program field such as `expr`).
    Expression,
    /// An attempt took longer than the step's `timeout`.
    Timeout,
    /// An HTTP response came back with a status that is not accepted.
    HttpStatus,
    /// A request could not be made or its answer not read (refused, reset, name not found).
    Network,
    /// Work the step ran failed: a `foreach` item or a sub-pipeline.
    Nested,
    /// The work the step waited on was cancelled.
    Cancelled,
    /// The step failed on purpose (`fail`) or for a reason of its kind's own.
    Step,
    /// The run does not allow what the step would do: a call outside the process in a run that
    /// refuses them (`weir test`), not mocked.
    Refused,
    /// A person rejected the step: an `approval` answered with `weir reject`, or whose timeout
    /// rejects it.
    Rejected,
    /// The run's store could not make its events durable: the run stops rather than go on
    /// without a record it could be resumed from.
    Store,
}

impl ErrorKind {
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::Config,
        ErrorKind::Expression,
        ErrorKind::Timeout,
        ErrorKind::HttpStatus,
        ErrorKind::Network,
        ErrorKind::Nested,
        ErrorKind::Cancelled,
        ErrorKind::Step,
        ErrorKind::Refused,
        ErrorKind::Rejected,
        ErrorKind::Store,
    ];

    /// The kind a step that ran nested work (`foreach` items, a sub-pipeline run) reports for
    /// that work's failure of this kind: `nested`, but a store failure stays one, so that it
    /// stops the whole run wherever it happened.
    pub fn nested(self) -> ErrorKind {
        match self {
            ErrorKind::Store => ErrorKind::Store,
            _ => ErrorKind::Nested,
        }
    }

    /// The kind as a label: `config`, `expression`, `timeout`, `http_status`, `network`,
    /// `nested`, `cancelled`, `step`, `refused`, `rejected` or `store`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Expression => "expression",
            ErrorKind::Timeout => "timeout",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::Network => "network",
            ErrorKind::Nested => "nested",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Step => "step",
            ErrorKind::Refused => "refused",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Store => "store",
        }
    }

    /// The kind named by a label, as [`ErrorKind::as_str`] writes it.
    pub fn parse(label: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.iter().copied().find(|k| k.as_str() == label)
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an attempt failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub kind: ErrorKind,
    pub message: String,
    /// Whether another attempt could succeed. Bad configuration or expressions cannot.
    pub retryable: bool,
}

impl StepError {
    /// A failure that another attempt might not repeat.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), retryable: true }
    }

    /// A failure every attempt would repeat.
    pub fn fatal(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), retryable: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(ErrorKind::HttpStatus.to_string(), "http_status");
    }
}
