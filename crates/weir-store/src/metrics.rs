//! What `weir status` and `weir metrics` read: the durations and statuses of the root runs of a
//! window and of their steps, the runs in flight, approvals waiting, workers, and the mark
//! `weir metrics reset` leaves. Percentiles are computed here, in Rust, from the durations the
//! query returns (SQLite has no percentile functions), so both backends report the same.

use crate::Error;
use crate::backend::{Backend, Param, Row, Stmt};
use crate::query::{Cols, status};
use std::collections::BTreeMap;
use weir_api::{ApprovalsWaiting, InFlight, Percentiles, PipelineMetrics, StepMetrics};
use weir_pipeline::Status;

const RUNS: &str =
    "SELECT pipeline, status, duration_ms FROM runs WHERE parent_run IS NULL AND started_at >= $1";

/// The steps themselves (`item` -1), not their `foreach` items, in the order they started.
const STEPS: &str = "SELECT r.pipeline, s.step, s.status, s.attempts, s.duration_ms FROM steps s \
     JOIN runs r ON r.id = s.run_id WHERE r.parent_run IS NULL AND r.started_at >= $1 AND s.item = -1 \
     ORDER BY r.started_at, r.id, s.first_seq";

const IN_FLIGHT: &str = "SELECT id, pipeline, status, started_at, owner FROM runs WHERE parent_run IS NULL \
     AND status IN ('pending', 'running', 'waiting') ORDER BY started_at, id";

const APPROVALS: &str = "SELECT COUNT(*), MIN(requested_at) FROM approvals WHERE decided_at IS NULL";

/// PostgreSQL only: the size of the database the store is in.
pub(crate) const DATABASE_SIZE: &str = "SELECT pg_database_size(current_database())";

const READ_SINCE: &str = "SELECT value FROM weir_meta WHERE key = 'metrics_since'";

const WRITE_SINCE: &str = "INSERT INTO weir_meta (key, value) VALUES ('metrics_since', $1) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

#[cfg(test)]
pub(crate) const STATEMENTS: &[&str] =
    &[RUNS, STEPS, IN_FLIGHT, APPROVALS, DATABASE_SIZE, READ_SINCE, WRITE_SINCE];

/// Per pipeline (by name), the root runs started at or after `since_ms`, and their steps.
pub(crate) async fn pipelines(
    backend: &Backend,
    since_ms: u64,
    pipeline: Option<&str>,
) -> Result<Vec<PipelineMetrics>, Error> {
    let since = vec![Param::Int(since_ms as i64)];
    let runs = backend.query(RUNS, since.clone()).await?;
    let steps = backend.query(STEPS, since).await?;
    let keep = |name: &str| pipeline.is_none_or(|p| p == name);
    let mut by_pipeline: BTreeMap<String, Tally> = BTreeMap::new();
    for row in &runs {
        let c = Cols(row);
        let name = c.text(0)?;
        if keep(&name) {
            by_pipeline.entry(name).or_default().run(status(&c.text(1)?)?, c.opt_real(2)?);
        }
    }
    for row in &steps {
        let c = Cols(row);
        let name = c.text(0)?;
        if let Some(tally) = by_pipeline.get_mut(&name) {
            tally.step(row)?;
        }
    }
    Ok(by_pipeline.into_iter().map(|(name, tally)| tally.finish(name)).collect())
}

/// One pipeline's runs and steps, as they are read.
#[derive(Default)]
struct Tally {
    by_status: BTreeMap<String, u64>,
    durations: Vec<f64>,
    /// Steps in the order they were first seen.
    steps: Vec<(String, StepTally)>,
}

#[derive(Default)]
struct StepTally {
    attempts: u64,
    retries: u64,
    failures: u64,
    durations: Vec<f64>,
}

impl Tally {
    fn run(&mut self, status: Status, duration_ms: Option<f64>) {
        *self.by_status.entry(status.as_str().to_owned()).or_default() += 1;
        if let Some(ms) = duration_ms.filter(|_| ended(status)) {
            self.durations.push(ms);
        }
    }

    fn step(&mut self, row: &Row) -> Result<(), Error> {
        let c = Cols(row);
        let step = c.text(1)?;
        let attempts = c.int(3)?.max(0) as u64;
        let at = match self.steps.iter().position(|(s, _)| *s == step) {
            Some(at) => at,
            None => {
                self.steps.push((step, StepTally::default()));
                self.steps.len() - 1
            }
        };
        let tally = &mut self.steps[at].1;
        tally.attempts += attempts;
        tally.retries += attempts.saturating_sub(1);
        if status(&c.text(2)?)? == Status::Failed {
            tally.failures += 1;
        }
        tally.durations.extend(c.opt_real(4)?);
        Ok(())
    }

    fn finish(mut self, pipeline: String) -> PipelineMetrics {
        let count = |s: Status| self.by_status.get(s.as_str()).copied().unwrap_or(0);
        let failed = count(Status::Failed);
        let ended = count(Status::Succeeded) + failed + count(Status::Cancelled);
        let steps = self
            .steps
            .into_iter()
            .map(|(step, mut t)| {
                let p = percentiles(&mut t.durations);
                StepMetrics {
                    step,
                    attempts: t.attempts,
                    retries: t.retries,
                    failures: t.failures,
                    p50_ms: p.p50,
                    p95_ms: p.p95,
                }
            })
            .collect();
        PipelineMetrics {
            pipeline,
            runs: self.by_status.values().sum(),
            failure_rate: if ended == 0 { 0.0 } else { failed as f64 / ended as f64 },
            duration_ms: percentiles(&mut self.durations),
            by_status: self.by_status,
            steps,
        }
    }
}

fn ended(status: Status) -> bool {
    matches!(status, Status::Succeeded | Status::Failed | Status::Cancelled)
}

/// Root runs that have not ended, oldest first, with their ages at `now_ms`.
pub(crate) async fn in_flight(backend: &Backend, now_ms: u64) -> Result<Vec<InFlight>, Error> {
    let rows = backend.query(IN_FLIGHT, Vec::new()).await?;
    rows.iter()
        .map(|row| {
            let c = Cols(row);
            let started_at = c.int(3)?.max(0) as u64;
            Ok(InFlight {
                run_id: c.text(0)?,
                pipeline: c.text(1)?,
                status: status(&c.text(2)?)?,
                started_at,
                age_ms: now_ms.saturating_sub(started_at),
                owner: c.opt_text(4)?,
            })
        })
        .collect()
}

/// How many questions wait for an answer, and when the oldest was asked (read only: timeouts
/// are settled by the commands that answer).
pub(crate) async fn approvals(backend: &Backend) -> Result<ApprovalsWaiting, Error> {
    let rows = backend.query(APPROVALS, Vec::new()).await?;
    let Some(row) = rows.first() else { return Ok(ApprovalsWaiting::default()) };
    let c = Cols(row);
    Ok(ApprovalsWaiting { count: c.int(0)?.max(0) as u64, oldest_at: c.opt_int(1)?.map(|t| t.max(0) as u64) })
}

pub(crate) async fn database_size(backend: &Backend) -> Result<u64, Error> {
    let rows = backend.query(DATABASE_SIZE, Vec::new()).await?;
    let Some(row) = rows.first() else { return Ok(0) };
    Ok(Cols(row).int(0)?.max(0) as u64)
}

/// When the last `weir metrics reset` was, if there was one.
pub(crate) async fn since(backend: &Backend) -> Result<Option<u64>, Error> {
    let rows = backend.query(READ_SINCE, Vec::new()).await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let text = Cols(row).text(0)?;
    text.parse().map(Some).map_err(|_| Error::Corrupt(format!("metrics_since \"{text}\" is not a number")))
}

pub(crate) async fn reset(backend: &Backend, now_ms: u64) -> Result<(), Error> {
    backend.write(vec![Stmt { sql: WRITE_SINCE, params: vec![Param::text(now_ms.to_string())] }]).await
}

/// The percentiles of `durations` (any order; sorted here).
fn percentiles(durations: &mut [f64]) -> Percentiles {
    durations.sort_by(f64::total_cmp);
    let at = |p: f64| nearest_rank(durations, p);
    Percentiles { p50: at(50.0), p95: at(95.0), p99: at(99.0), max: durations.last().copied().unwrap_or(0.0) }
}

/// The nearest-rank `p`th percentile of `sorted`: the smallest value with at least `p`% of the
/// values at or below it; 0 for none.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut d: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentiles(&mut d), Percentiles { p50: 50.0, p95: 95.0, p99: 99.0, max: 100.0 });
        assert_eq!(percentiles(&mut [7.0]), Percentiles { p50: 7.0, p95: 7.0, p99: 7.0, max: 7.0 });
        assert_eq!(percentiles(&mut []), Percentiles::default());
        assert_eq!(nearest_rank(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.0);
        assert_eq!(nearest_rank(&[1.0, 2.0, 3.0, 4.0], 95.0), 4.0);
    }
}
