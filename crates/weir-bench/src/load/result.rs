//! What a load saw (`LoadResult`), gathered from every connection's outcomes, and its place in a
//! report: `weir_api::bench::HttpStats` and the latency samples the binary turns into metrics.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use weir_api::bench::HttpStats;

/// How many distinct error messages a result keeps.
const ERROR_SAMPLES: usize = 5;

/// A request sent later than this after it was due is `late`.
const LATE: Duration = Duration::from_millis(1);

/// One measured request: when it was due, sent and answered (or failed).
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub intended: Instant,
    pub sent: Instant,
    pub done: Instant,
    /// The response's status, or why there was none.
    pub status: Result<u16, String>,
}

/// The measured requests of a load. The three sample vectors have one entry per response (errors
/// have none), in the order the requests were due.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadResult {
    pub method: String,
    pub rate: Option<f64>,
    pub connections: u32,
    /// Milliseconds from when each request was due to the end of its response: what a client
    /// arriving on schedule waits (no coordinated omission). Equal to `uncorrected` in the
    /// closed model.
    pub corrected: Vec<f64>,
    /// Milliseconds from when each request was sent to the end of its response: the server's
    /// view, blind to the time a request waited for a free connection.
    pub uncorrected: Vec<f64>,
    /// Seconds from the start of the measurement to when each request was due.
    pub at_s: Vec<f64>,
    pub status_counts: BTreeMap<u16, u64>,
    pub sent: u64,
    /// Responses, whatever their status.
    pub completed: u64,
    /// Requests that got no response: refused, reset or timed out.
    pub errors: u64,
    /// Requests due that were never sent: every connection stayed busy until the end.
    pub dropped: u64,
    /// Requests sent more than a millisecond after they were due.
    pub late: u64,
    /// From the start of the measurement until the last request sent was answered.
    pub wall: Duration,
    /// The first few distinct error messages, in the order they were seen.
    pub error_samples: Vec<String>,
}

/// The latency samples of a result, for `Metric`s `latency` and `latency.uncorrected`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    pub corrected: Vec<f64>,
    pub uncorrected: Vec<f64>,
    pub at_s: Vec<f64>,
}

impl LoadResult {
    /// Builds the figures from every measured outcome; `t0` is the start of the measurement.
    pub(crate) fn collect(mut outcomes: Vec<Outcome>, t0: Instant, dropped: u64) -> Self {
        outcomes.sort_by_key(|o| o.intended);
        let mut result = LoadResult { sent: outcomes.len() as u64, dropped, ..LoadResult::default() };
        for outcome in &outcomes {
            result.add(outcome, t0);
        }
        result
    }

    fn add(&mut self, outcome: &Outcome, t0: Instant) {
        if outcome.sent.saturating_duration_since(outcome.intended) > LATE {
            self.late += 1;
        }
        match &outcome.status {
            Ok(status) => {
                self.completed += 1;
                *self.status_counts.entry(*status).or_default() += 1;
                self.corrected.push(ms(outcome.done.saturating_duration_since(outcome.intended)));
                self.uncorrected.push(ms(outcome.done.saturating_duration_since(outcome.sent)));
                self.at_s.push(outcome.intended.saturating_duration_since(t0).as_secs_f64());
            }
            Err(message) => {
                self.errors += 1;
                if self.error_samples.len() < ERROR_SAMPLES && !self.error_samples.contains(message) {
                    self.error_samples.push(message.clone());
                }
            }
        }
    }

    /// The counts, as a report carries them.
    pub fn http_stats(&self) -> HttpStats {
        HttpStats {
            method: self.method.clone(),
            rate: self.rate,
            connections: self.connections,
            sent: self.sent,
            completed: self.completed,
            errors: self.errors,
            dropped: self.dropped,
            late: self.late,
            status_counts: self.status_counts.iter().map(|(code, n)| (code.to_string(), *n)).collect(),
        }
    }

    /// The counts and the samples, for a report's `http` and its latency metrics.
    pub fn into_parts(self) -> (HttpStats, Samples) {
        let stats = self.http_stats();
        (stats, Samples { corrected: self.corrected, uncorrected: self.uncorrected, at_s: self.at_s })
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}
