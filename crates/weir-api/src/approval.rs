//! `weir approvals --json`, `weir approve --json` and `weir reject --json`: the questions of
//! `approval` steps as the store keeps them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use weir_pipeline::Status;

/// One `approval` step's question, and its answer once it has one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredApproval {
    pub run_id: String,
    pub pipeline: String,
    /// The status of the run that asks: `waiting` while this waits in a running process or none.
    pub run_status: Status,
    pub step: String,
    /// The `foreach` item that asks, for an approval nested in a `foreach`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    pub prompt: String,
    /// The JSON Schema an answer's value must match, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Who may answer; anyone when empty.
    pub assignees: Vec<String>,
    /// `approve`, `reject` or `fail`: what no answer by `deadline` means.
    pub on_timeout: String,
    /// Milliseconds since the Unix epoch, when the step first asked.
    pub requested_at: u64,
    /// When the timeout passes; none without a timeout.
    pub deadline: Option<u64>,
    /// `pending`, `approved`, `rejected` or `expired`.
    pub decision: String,
    /// The value given with the answer (`weir approve -i`); null without one.
    pub answer: Value,
    /// Who answered: a user name, or `timeout`.
    pub by: Option<String>,
    pub decided_at: Option<u64>,
    /// Why, for a rejection.
    pub reason: Option<String>,
    pub timed_out: bool,
}
