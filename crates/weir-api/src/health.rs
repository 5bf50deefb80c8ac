//! `weir health --json`: what each check of a weir installation found, and the verdict.

use serde::{Deserialize, Serialize};

/// The checks `weir health` ran (and the ones it could not), and what they add up to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// `down` when any check is down, else `degraded` when any is, else `healthy`. Skipped
    /// checks count for nothing.
    pub status: Overall,
    pub checks: Vec<Check>,
}

/// One check: `store.reachable`, `store.schema`, `store.integrity`, `workers`, `schedules`,
/// `config` or `endpoints`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    /// How long the check took; 0 for one that did not run.
    pub latency_ms: f64,
    /// What it found, or why it did not run, as a sentence.
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    /// Not run: the detail says why.
    Skipped,
    Degraded,
    Down,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    Healthy,
    Degraded,
    Down,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Skipped => "skipped",
            CheckStatus::Degraded => "degraded",
            CheckStatus::Down => "down",
        }
    }
}

impl Overall {
    /// The verdict of `checks`: the worst of those that ran.
    pub fn of(checks: &[Check]) -> Overall {
        let worst = checks.iter().map(|c| c.status).max();
        match worst {
            Some(CheckStatus::Down) => Overall::Down,
            Some(CheckStatus::Degraded) => Overall::Degraded,
            _ => Overall::Healthy,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Overall::Healthy => "healthy",
            Overall::Degraded => "degraded",
            Overall::Down => "down",
        }
    }
}

impl Check {
    /// A check that ran for `took`.
    pub fn ran(name: &str, status: CheckStatus, took: std::time::Duration, detail: String) -> Check {
        Check { name: name.to_owned(), status, latency_ms: crate::ms(took), detail }
    }

    /// A check that did not run, and why.
    pub fn skipped(name: &str, why: impl Into<String>) -> Check {
        Check { name: name.to_owned(), status: CheckStatus::Skipped, latency_ms: 0.0, detail: why.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: CheckStatus) -> Check {
        Check { name: "x".into(), status, latency_ms: 0.0, detail: String::new() }
    }

    #[test]
    fn the_verdict_is_the_worst_check_and_skipped_counts_for_nothing() {
        use CheckStatus::*;
        assert_eq!(Overall::of(&[check(Ok), check(Skipped)]), Overall::Healthy);
        assert_eq!(Overall::of(&[check(Skipped)]), Overall::Healthy);
        assert_eq!(Overall::of(&[check(Degraded), check(Skipped), check(Ok)]), Overall::Degraded);
        assert_eq!(Overall::of(&[check(Degraded), check(Down)]), Overall::Down);
    }
}
