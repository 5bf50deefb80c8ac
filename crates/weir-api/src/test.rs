//! `weir test --json`: the outcome of every test case.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestReport {
    pub passed: usize,
    pub failed: usize,
    pub cases: Vec<CaseReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseReport {
    pub file: String,
    pub name: String,
    pub passed: bool,
    /// What did not match the case's `expect`, one problem each.
    pub problems: Vec<String>,
}
