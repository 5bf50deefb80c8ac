//! Cancelling a run from outside the process that runs it (`weir runs cancel`).
//!
//! A run whose process is gone is ended here: the events its process would have written on
//! cancellation — a `step_cancelled` for each step and item that had not ended, a
//! `run_finished` with the status `cancelled` for it and each sub-pipeline run still going —
//! are recorded as any run's events are (`record`), after the last one it stored, and its
//! undecided approvals are settled as rejected, all in one transaction. A run whose process runs
//! on another machine is asked instead: the request is a column of its row, which the process
//! running it reads while the run is in flight ([`requests`]) and acts on by cancelling it.

use crate::backend::{Backend, Param, Stmt};
use crate::query::{self, Cols};
use crate::{Error, RunMeta};
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use weir_api::StoredRunDetail;
use weir_engine::{ErrorKind, Event, EventKind, Parent, StepAt};
use weir_pipeline::Status;

const REQUEST: &str = "UPDATE runs SET cancel_requested_at = $1, cancel_reason = $2 \
     WHERE id = $3 AND status IN ('running', 'waiting') RETURNING id";

/// The root runs a process runs that were asked to stop.
const REQUESTS: &str = "SELECT id FROM runs WHERE owner = $1 AND cancel_requested_at IS NOT NULL \
     AND status IN ('running', 'waiting') AND parent_run IS NULL";

/// A cancelled run's questions no longer wait for an answer: they are settled as rejected, by
/// `cancel`, with its reason.
const SETTLE_APPROVALS: &str = "UPDATE approvals SET decision = 'rejected', decided_by = 'cancel', \
     decided_at = $1, reason = $2, timed_out = 0 WHERE decided_at IS NULL \
     AND (run_id = $3 OR run_id IN (SELECT id FROM runs WHERE parent_run = $3))";

const KEEP_REASON: &str = "UPDATE runs SET cancel_reason = $1 WHERE id = $2";

/// A run cancelled from outside is done with: no worker continues it (one that was only
/// stopped, by a worker's drain, stays queued).
const DEQUEUE: &str = "DELETE FROM queue WHERE run_id = $1";

#[cfg(test)]
pub(crate) const STATEMENTS: &[&str] = &[REQUEST, REQUESTS, SETTLE_APPROVALS, KEEP_REASON, DEQUEUE];

/// Asks the process running run `id` to cancel it: whether the run was still going to be asked.
pub(crate) async fn request(
    backend: &Backend,
    id: &str,
    reason: Option<&str>,
    now_ms: u64,
) -> Result<bool, Error> {
    let params = vec![Param::Int(now_ms as i64), Param::opt_text(reason), Param::text(id)];
    let out = backend.script(vec![Stmt { sql: REQUEST, params }], crate::backend::Isolation::Write).await?;
    Ok(out.first().is_some_and(|rows| !rows.is_empty()))
}

/// The runs of process `owner` that were asked to stop.
pub(crate) async fn requests(backend: &Backend, owner: &str) -> Result<Vec<String>, Error> {
    let rows = backend.query(REQUESTS, vec![Param::text(owner)]).await?;
    rows.iter().map(|row| Cols(row).text(0)).collect()
}

/// Ends run `id` (whose process is gone) as cancelled, with its unfinished steps, items and
/// sub-pipeline runs, and settles its approvals; `None` when there is no such run, else the
/// status it has after (the one it ended with, if it had).
pub(crate) async fn cancel(
    backend: &Backend,
    id: &str,
    reason: Option<&str>,
    now_ms: u64,
) -> Result<Option<Status>, Error> {
    let Some(found) = crate::resume::interrupted(backend, id).await? else { return Ok(None) };
    let run = &found.run;
    if run.run.status.is_finished() {
        return Ok(Some(run.run.status));
    }
    let id = run.run.run_id.clone();
    let message = match reason {
        Some(reason) => format!("cancelled by `weir runs cancel`: {reason}"),
        None => "cancelled by `weir runs cancel`".to_owned(),
    };
    let mut ending = Ending {
        at: UNIX_EPOCH + Duration::from_millis(now_ms),
        seq: found.resume.next_seq,
        message,
        events: Vec::new(),
    };
    ending.run(backend, run, None).await?;
    let mut statements = crate::record::events(&ending.events, &RunMeta::default())?;
    let (at, reason) = (Param::Int(now_ms as i64), Param::opt_text(reason));
    statements.push(Stmt { sql: SETTLE_APPROVALS, params: vec![at, reason.clone(), Param::text(&id)] });
    statements.push(Stmt { sql: KEEP_REASON, params: vec![reason, Param::text(&id)] });
    statements.push(Stmt { sql: DEQUEUE, params: vec![Param::text(&id)] });
    backend.write(statements).await?;
    Ok(Some(Status::Cancelled))
}

/// The events that end a run tree as cancelled, numbered on from its last stored event.
struct Ending {
    at: SystemTime,
    seq: u64,
    message: String,
    events: Vec<Event>,
}

impl Ending {
    fn push(&mut self, run_id: &Arc<str>, parent: &Option<Arc<Parent>>, kind: EventKind) {
        let event =
            Event { seq: self.seq, at: self.at, run_id: run_id.clone(), parent: parent.clone(), kind };
        self.seq += 1;
        self.events.push(event);
    }

    /// The ends of `run`'s unfinished sub-pipeline runs, of its unfinished steps, then its own.
    fn run<'a>(
        &'a mut self,
        backend: &'a Backend,
        run: &'a StoredRunDetail,
        parent: Option<Arc<Parent>>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let run_id: Arc<str> = run.run.run_id.as_str().into();
            for child in run.children.iter().filter(|c| !c.status.is_finished()) {
                let Some(detail) = query::run(backend, &child.run_id).await? else { continue };
                let Some(p) = &child.parent else { continue };
                let parent = Parent { run_id: run_id.clone(), step: p.step.clone(), item: p.item };
                self.run(backend, &detail, Some(Arc::new(parent))).await?;
            }
            for step in run.steps.iter().filter(|s| !s.status.is_finished()) {
                let at = StepAt {
                    step: step.step.as_str().into(),
                    kind: step.kind.as_str().into(),
                    item: step.item,
                };
                self.push(&run_id, &parent, EventKind::StepCancelled { at });
            }
            let took = self.at.duration_since(UNIX_EPOCH + Duration::from_millis(run.run.started_at));
            self.push(
                &run_id,
                &parent,
                EventKind::RunFinished {
                    status: Status::Cancelled,
                    output: Value::Null,
                    error: Some(self.message.clone()),
                    error_kind: Some(ErrorKind::Cancelled),
                    duration: took.unwrap_or_default(),
                },
            );
            Ok(())
        })
    }
}
