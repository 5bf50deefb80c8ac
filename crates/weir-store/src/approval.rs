//! Approvals: the questions `approval` steps ask (recorded from their events, in `record`), the
//! answers people give (`weir approve`, `weir reject`), and the wait for them.
//!
//! An answer is taken at most once: the statement that records it changes the row only while it
//! has none, and says whether it did. A timeout is settled the same way by whichever process
//! looks first after the deadline (a waiting run, `weir approvals`, `weir approve`), so it takes
//! effect even when no process was running at the time — and an answer that comes after it is
//! refused. A waiting run learns of an answer by reading the row again: every 200 ms on SQLite;
//! on PostgreSQL when the answer's `NOTIFY` arrives (and every few seconds besides, should a
//! notification be lost with its connection).

use crate::Error;
use crate::backend::{Backend, Param, Row, Stmt};
use crate::query::Cols;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use weir_api::StoredApproval;
use weir_engine::{Answer, Decision};

/// The PostgreSQL channel an answer is announced on; its payload is the run id.
pub(crate) const CHANNEL: &str = "weir_approvals";

/// What an undecided question whose deadline passed resolves to, by its `on_timeout`.
macro_rules! settle {
    ($where:literal) => {
        concat!(
            "UPDATE approvals SET decision = CASE on_timeout WHEN 'approve' THEN 'approved' \
             WHEN 'reject' THEN 'rejected' ELSE 'expired' END, decided_by = 'timeout', \
             decided_at = deadline, timed_out = 1 \
             WHERE decided_at IS NULL AND deadline IS NOT NULL AND deadline <= $1",
            $where
        )
    };
}

const SETTLE_ALL: &str = settle!("");
const SETTLE_ONE: &str = settle!(" AND run_id = $2 AND step = $3 AND item = $4");

/// The columns [`stored`] reads, in its order.
macro_rules! columns {
    () => {
        "SELECT a.run_id, r.pipeline, r.status, a.step, a.item, a.prompt, a.answer_schema, a.assignees, \
         a.on_timeout, a.requested_at, a.deadline, a.decision, a.answer, a.decided_by, a.decided_at, \
         a.reason, a.timed_out FROM approvals a JOIN runs r ON r.id = a.run_id "
    };
}

const ONE: &str = concat!(columns!(), "WHERE a.run_id = $1 AND a.step = $2 AND a.item = $3");
const OF_RUN: &str = concat!(columns!(), "WHERE a.run_id = $1 ORDER BY a.requested_at, a.step, a.item");
/// The questions still waiting for an answer, in runs that have not ended.
const PENDING: &str = concat!(
    columns!(),
    "WHERE a.decided_at IS NULL AND r.status IN ('waiting', 'running') ORDER BY a.requested_at, a.run_id"
);

const DECIDE: &str = "UPDATE approvals SET decision = $1, answer = $2, decided_by = $3, decided_at = $4, \
     reason = $5, timed_out = 0 WHERE run_id = $6 AND step = $7 AND item = $8 AND decided_at IS NULL \
     RETURNING run_id";

#[cfg(test)]
pub(crate) const STATEMENTS: &[&str] = &[SETTLE_ALL, SETTLE_ONE, ONE, OF_RUN, PENDING, DECIDE];

/// How often a waiting run reads its question again when nothing tells it of an answer.
const POLL: Duration = Duration::from_millis(200);
/// How often it does on PostgreSQL, where a notification tells it.
#[cfg(feature = "postgres")]
const POLL_NOTIFIED: Duration = Duration::from_secs(5);

/// A question, by the run, step and item (-1 for none) that asks it.
#[derive(Clone, Copy, Debug)]
pub struct ApprovalKey<'a> {
    pub run_id: &'a str,
    pub step: &'a str,
    pub item: Option<usize>,
}

impl ApprovalKey<'_> {
    fn params(&self) -> Vec<Param> {
        vec![Param::text(self.run_id), Param::text(self.step), Param::Int(self.item.map_or(-1, |i| i as i64))]
    }
}

/// An answer given by a person.
#[derive(Clone, Debug)]
pub struct Given {
    /// Approved or rejected (a person does not let a question expire).
    pub approved: bool,
    pub value: Value,
    pub by: String,
    pub reason: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// How many of a store's runs are waiting for an answer now, in this process: a `weir run`
/// interrupted then leaves its run `waiting` instead of cancelling it.
#[derive(Clone, Debug, Default)]
pub struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    pub fn any(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }

    fn enter(&self) -> WaitGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        WaitGuard(self.0.clone())
    }
}

struct WaitGuard(Arc<AtomicUsize>);

impl Drop for WaitGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Settles every question whose deadline passed by `now_ms`.
pub(crate) async fn settle_expired(backend: &Backend, now_ms: u64) -> Result<(), Error> {
    backend.write(vec![Stmt { sql: SETTLE_ALL, params: vec![Param::Int(now_ms as i64)] }]).await
}

pub(crate) async fn pending(backend: &Backend, now_ms: u64) -> Result<Vec<StoredApproval>, Error> {
    settle_expired(backend, now_ms).await?;
    backend.query(PENDING, Vec::new()).await?.iter().map(stored).collect()
}

pub(crate) async fn of_run(
    backend: &Backend,
    run_id: &str,
    now_ms: u64,
) -> Result<Vec<StoredApproval>, Error> {
    settle_expired(backend, now_ms).await?;
    backend.query(OF_RUN, vec![Param::text(run_id)]).await?.iter().map(stored).collect()
}

async fn one(backend: &Backend, key: ApprovalKey<'_>) -> Result<Option<StoredApproval>, Error> {
    backend.query(ONE, key.params()).await?.first().map(stored).transpose()
}

/// Records `given` as the answer to `key`'s question, unless it has one already (or its
/// deadline passed, which settles it): whether it was taken.
pub(crate) async fn decide(backend: &Backend, key: ApprovalKey<'_>, given: &Given) -> Result<bool, Error> {
    settle_expired(backend, given.at_ms).await?;
    let decision = if given.approved { Decision::Approved } else { Decision::Rejected };
    let mut params = vec![
        Param::text(decision.as_str()),
        Param::Text(given.value.to_string()),
        Param::text(&given.by),
        Param::Int(given.at_ms as i64),
        Param::opt_text(given.reason.as_deref()),
    ];
    params.extend(key.params());
    let mut statements = vec![Stmt { sql: DECIDE, params }];
    statements.extend(backend.notify(CHANNEL, key.run_id));
    let out = backend.script(statements, crate::backend::Isolation::Write).await?;
    Ok(out.first().is_some_and(|rows| !rows.is_empty()))
}

/// The answer `key`'s question has, settling its timeout first if it passed by `now_ms`; and,
/// without one, how long until its deadline (none without a timeout).
async fn answered_at(
    backend: &Backend,
    key: ApprovalKey<'_>,
    now_ms: u64,
) -> Result<Result<Answer, Option<Duration>>, Error> {
    let Some(question) = one(backend, key).await? else {
        return Err(Error::Corrupt(format!(
            "the approval of step \"{}\" of run {} is not recorded",
            key.step, key.run_id
        )));
    };
    if let Some(answer) = answer(&question)? {
        return Ok(Ok(answer));
    }
    match question.deadline {
        Some(deadline) if deadline <= now_ms => {
            let mut params = vec![Param::Int(now_ms as i64)];
            params.extend(key.params());
            backend.write(vec![Stmt { sql: SETTLE_ONE, params }]).await?;
            let settled = one(backend, key).await?.as_ref().map(answer).transpose()?.flatten();
            settled.map(Ok).ok_or_else(|| Error::Corrupt("a timeout that passed did not settle".into()))
        }
        deadline => Ok(Err(deadline.map(|d| Duration::from_millis(d - now_ms)))),
    }
}

/// The answer `key`'s question has now, if it was asked and has one.
pub(crate) async fn answered(backend: &Backend, key: ApprovalKey<'_>) -> Result<Option<Answer>, Error> {
    if one(backend, key).await?.is_none() {
        return Ok(None);
    }
    Ok(answered_at(backend, key, now_ms()).await?.ok())
}

/// Waits until `key`'s question has an answer (settling its timeout when the deadline passes)
/// and returns it.
pub(crate) async fn wait(
    backend: &Backend,
    wakeups: Option<tokio::sync::watch::Receiver<u64>>,
    waiting: &Waiting,
    key: ApprovalKey<'_>,
) -> Result<Answer, Error> {
    let _waiting = waiting.enter();
    let mut wakeups = wakeups;
    loop {
        // Marked seen before reading, so an answer announced while we read wakes the next wait.
        if let Some(w) = &mut wakeups {
            w.borrow_and_update();
        }
        let left = match answered_at(backend, key, now_ms()).await? {
            Ok(answer) => return Ok(answer),
            Err(left) => left,
        };
        let poll = if wakeups.is_some() { poll_notified() } else { POLL };
        let pause = left.map_or(poll, |left| left.min(poll));
        match &mut wakeups {
            Some(w) => {
                let _ = tokio::time::timeout(pause, w.changed()).await;
            }
            None => tokio::time::sleep(pause).await,
        }
    }
}

#[cfg(feature = "postgres")]
fn poll_notified() -> Duration {
    POLL_NOTIFIED
}

#[cfg(not(feature = "postgres"))]
fn poll_notified() -> Duration {
    POLL
}

/// The answer a stored question has, if it has one.
fn answer(q: &StoredApproval) -> Result<Option<Answer>, Error> {
    let (Some(decided_at), Some(by)) = (q.decided_at, &q.by) else { return Ok(None) };
    let decision = Decision::parse(&q.decision)
        .ok_or_else(|| Error::Corrupt(format!("\"{}\" is not an approval's decision", q.decision)))?;
    Ok(Some(Answer {
        decision,
        value: q.answer.clone(),
        by: by.clone(),
        at: UNIX_EPOCH + Duration::from_millis(decided_at),
        reason: q.reason.clone(),
        timed_out: q.timed_out,
    }))
}

fn stored(row: &Row) -> Result<StoredApproval, Error> {
    let c = Cols(row);
    let json = |i: usize| -> Result<Option<Value>, Error> {
        c.opt_text(i)?
            .map(|t| serde_json::from_str(&t).map_err(|e| Error::Corrupt(format!("an approval's JSON: {e}"))))
            .transpose()
    };
    let item = c.int(4)?;
    Ok(StoredApproval {
        run_id: c.text(0)?,
        pipeline: c.text(1)?,
        run_status: crate::query::status(&c.text(2)?)?,
        step: c.text(3)?,
        item: (item >= 0).then_some(item as usize),
        prompt: c.text(5)?,
        schema: json(6)?,
        assignees: json(7)?.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default(),
        on_timeout: c.text(8)?,
        requested_at: c.int(9)? as u64,
        deadline: c.opt_int(10)?.map(|d| d as u64),
        decision: c.opt_text(11)?.unwrap_or_else(|| "pending".into()),
        answer: json(12)?.unwrap_or(Value::Null),
        by: c.opt_text(13)?,
        decided_at: c.opt_int(14)?.map(|d| d as u64),
        reason: c.opt_text(15)?,
        timed_out: c.int(16)? != 0,
    })
}
