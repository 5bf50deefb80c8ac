//! `weir test --json`: the outcome of every test case.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestReport {
    pub passed: usize,
    pub failed: usize,
    /// Files that are invalid, whose cases did not run (their diagnostics go to stderr).
    #[serde(default)]
    pub invalid: Vec<String>,
    pub cases: Vec<CaseReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseReport {
    pub file: String,
    pub name: String,
    pub passed: bool,
    /// What did not match the case's `expect`, one problem each.
    pub problems: Vec<CaseProblem>,
}

/// One way a case's run differs from what it expects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseProblem {
    /// Where: the jq path of a difference in the output (`.`, `.order.items[0]`), `status`,
    /// `error`, or `steps.<id>` (a step's status, or a call outside the process it was refused).
    pub path: String,
    /// What the case expects there (null for a missing value or a refused call).
    pub expected: Value,
    /// What the run gave (null for a missing value; for a refused call, what it would have called).
    pub found: Value,
    /// The problem in words, as `weir test` prints it.
    pub message: String,
}
