//! The queue of submitted runs (`weir submit`) and the workers that take them (`weir worker`).
//!
//! A submitted run is a `runs` row with the status `pending` and a `queue` row. A worker claims
//! queue rows whose `lease_until` has passed — a row holds the time it was queued until a worker
//! claims it, and then the end of that worker's lease — by setting its own id and a new end in
//! one statement: on PostgreSQL the rows are chosen `FOR UPDATE SKIP LOCKED` in a `READ
//! COMMITTED` transaction, so workers claiming at once pass over each other's rows instead of
//! waiting for them; on SQLite the claim holds the file's write lock from its start (`BEGIN
//! IMMEDIATE`). Either way a row goes to one worker. Heartbeats push the lease on; a worker that
//! stops beating loses its runs to the next claim once the lease has passed, and they resume
//! from what they committed.
//!
//! A root run that ends for good (succeeded, or failed otherwise than by its store) leaves the
//! queue in the commit that records its end (`record`), so the queue holds only the runs still
//! to do. A run whose approval waits for an answer is not claimed until the answer comes.

use crate::Error;
use crate::backend::{Backend, Isolation, Param, Stmt};
use crate::query::Cols;
use serde_json::Value;

/// The PostgreSQL channel that tells idle workers a run is claimable: put in the queue, or
/// given back by a worker that stopped.
pub(crate) const CHANNEL: &str = "weir_queue";

const ENQUEUE_RUN: &str = "INSERT INTO runs (id, pipeline, digest, status, seed, input, input_blob, started_at, \
     bundle, trace_parent) VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9)";

const ENQUEUE: &str = "INSERT INTO queue (run_id, enqueued_at, lease_until) VALUES ($1, $2, $2)";

/// [`ENQUEUE_RUN`] and [`ENQUEUE`] for the run of a schedule's tick: only when the tick's row
/// names this run, that is, in the transaction whose tick row got in (see `schedule`).
const ENQUEUE_TICK_RUN: &str = "INSERT INTO runs (id, pipeline, digest, status, seed, input, input_blob, \
     started_at, bundle, trace_parent) SELECT $1, $2, $3, 'pending', $4, $5, $6, CAST($7 AS BIGINT), $8, $9 \
     WHERE EXISTS (SELECT 1 FROM schedule_ticks WHERE run_id = $1)";
const ENQUEUE_TICK: &str = "INSERT INTO queue (run_id, enqueued_at, lease_until) \
     SELECT $1, CAST($2 AS BIGINT), CAST($2 AS BIGINT) WHERE EXISTS (SELECT 1 FROM schedule_ticks WHERE run_id = $1)";

/// The rows a claim takes: claimable, and not waiting for an answer, the longest claimable
/// first. `$3` is now and `$4` how many.
macro_rules! claimable {
    ($lock:literal) => {
        concat!(
            "UPDATE queue SET worker = $1, lease_until = $2, claims = claims + 1 WHERE run_id IN (\
             SELECT q.run_id FROM queue q WHERE q.lease_until <= $3 AND NOT EXISTS (\
             SELECT 1 FROM approvals a WHERE a.run_id = q.run_id AND a.decided_at IS NULL) \
             ORDER BY q.lease_until LIMIT $4",
            $lock,
            ") RETURNING run_id, claims"
        )
    };
}

const CLAIM: &str = claimable!("");
/// PostgreSQL's: rows another worker is claiming are passed over, not waited for.
#[cfg(feature = "postgres")]
const CLAIM_SKIP_LOCKED: &str = claimable!(" FOR UPDATE SKIP LOCKED");

const REGISTER: &str = "INSERT INTO workers (id, owner, started_at, heartbeat) VALUES ($1, $2, $3, $3) \
     ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat";

const HEARTBEAT: &str = "UPDATE workers SET heartbeat = $1 WHERE id = $2";

const RENEW: &str = "UPDATE queue SET lease_until = $1 WHERE worker = $2 RETURNING run_id";

/// Rows of workers that have not beaten for a day: they stopped without saying so.
const FORGET_WORKERS: &str = "DELETE FROM workers WHERE heartbeat < $1";

const RELEASE: &str = "UPDATE queue SET worker = NULL, lease_until = $1 WHERE run_id = $2 AND worker = $3";

const RELEASE_ALL: &str = "UPDATE queue SET worker = NULL, lease_until = $1 WHERE worker = $2";

const RETIRE: &str = "DELETE FROM workers WHERE id = $1";

const DEQUEUE: &str = "DELETE FROM queue WHERE run_id = $1";

const QUEUED: &str = "SELECT worker FROM queue WHERE run_id = $1";

const SUBMITTED: &str =
    "SELECT status, seed, input, input_blob, bundle, error_kind, trace_parent FROM runs WHERE id = $1";

/// Root runs left `waiting` whose questions all have an answer, with the process that ran them,
/// that no worker holds.
const ANSWERED: &str = "SELECT r.id, r.owner FROM runs r WHERE r.status = 'waiting' AND r.parent_run IS NULL \
     AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.run_id = r.id) \
     AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.run_id = r.id AND a.decided_at IS NULL) \
     ORDER BY r.id LIMIT $1";

/// Takes a run that is in no queue for a worker; nothing when another worker took it first.
const ADOPT: &str = "INSERT INTO queue (run_id, enqueued_at, worker, lease_until, claims) \
     VALUES ($1, $2, $3, $4, 1) ON CONFLICT (run_id) DO NOTHING RETURNING run_id, claims";

/// Every statement, for the test that checks their parameters.
#[cfg(test)]
pub(crate) const STATEMENTS: &[&str] = &[
    ENQUEUE_RUN,
    ENQUEUE,
    ENQUEUE_TICK_RUN,
    ENQUEUE_TICK,
    CLAIM,
    REGISTER,
    HEARTBEAT,
    RENEW,
    FORGET_WORKERS,
    RELEASE,
    RELEASE_ALL,
    RETIRE,
    DEQUEUE,
    QUEUED,
    SUBMITTED,
    ANSWERED,
    ADOPT,
];

/// How long a worker's row stays after its last heartbeat.
const FORGET_AFTER_MS: u64 = 24 * 3600 * 1000;

/// A run to put in the queue.
#[derive(Clone, Debug)]
pub struct Submission {
    /// Its id, made by the one submitting it (`weir_engine::new_run_id`).
    pub run_id: String,
    /// The root pipeline's name and digest.
    pub pipeline: String,
    pub digest: String,
    /// The bundle of versions it runs on (see [`crate::Store::put_bundle`]).
    pub bundle: String,
    pub seed: u64,
    pub input: Value,
    /// The W3C `traceparent` whose trace the run joins, if any (the submitter's).
    pub trace_parent: Option<String>,
}

/// A run a worker holds now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub run_id: String,
    /// How many times a worker has claimed it: more than one after a worker lost it (it died,
    /// or stopped before the run ended) and another took it over.
    pub claims: u64,
}

/// A run left `waiting` that has all its answers, with the process that ran it last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answered {
    pub run_id: String,
    pub owner: Option<String>,
}

/// What a worker starts a run with, read in one query: enough for a run that has not started.
#[derive(Clone, Debug, PartialEq)]
pub struct Submitted {
    pub status: weir_pipeline::Status,
    pub seed: String,
    pub input: Value,
    /// The digest of its bundle; none for a run stored by an older weir.
    pub bundle: Option<String>,
    /// The kind of the error it ended with, if it failed.
    pub error_kind: Option<String>,
    /// The `traceparent` of its submitter, whose trace it joins.
    pub trace_parent: Option<String>,
}

/// Where a run is in the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Queued {
    /// Not in the queue: never submitted, or ended.
    No,
    /// Waiting for a worker.
    Waiting,
    /// Held by this worker.
    By(String),
}

/// `statements`, with the announcement of claimable runs on a backend that can.
fn announced(backend: &Backend, mut statements: Vec<Stmt>) -> Vec<Stmt> {
    statements.extend(backend.notify(CHANNEL, ""));
    statements
}

fn int(n: u64) -> Param {
    Param::Int(n.min(i64::MAX as u64) as i64)
}

pub(crate) async fn enqueue(backend: &Backend, runs: &[Submission], now_ms: u64) -> Result<(), Error> {
    let mut statements = Vec::with_capacity(runs.len() * 2);
    for run in runs {
        submit(run, now_ms, [ENQUEUE_RUN, ENQUEUE], &mut statements);
    }
    backend.write(announced(backend, statements)).await
}

/// The statements that enqueue `run` for a schedule's tick, in the transaction that records the
/// tick: they enqueue it only if the tick's row names it.
pub(crate) fn enqueue_tick(backend: &Backend, run: &Submission, now_ms: u64) -> Vec<Stmt> {
    let mut statements = Vec::with_capacity(3);
    submit(run, now_ms, [ENQUEUE_TICK_RUN, ENQUEUE_TICK], &mut statements);
    announced(backend, statements)
}

/// The statements `sql` (the run's row, then its queue row) that queue `run`, with its input.
fn submit(run: &Submission, now_ms: u64, sql: [&'static str; 2], statements: &mut Vec<Stmt>) {
    let input = crate::record::store_value(&run.input, statements);
    statements.push(Stmt {
        sql: sql[0],
        params: vec![
            Param::text(&run.run_id),
            Param::text(&run.pipeline),
            Param::text(&run.digest),
            Param::Text(run.seed.to_string()),
            input.inline,
            input.blob,
            int(now_ms),
            Param::text(&run.bundle),
            Param::opt_text(run.trace_parent.as_deref()),
        ],
    });
    statements.push(Stmt { sql: sql[1], params: vec![Param::text(&run.run_id), int(now_ms)] });
}

fn claimed(rows: &[crate::backend::Row]) -> Result<Vec<Claimed>, Error> {
    rows.iter()
        .map(|row| Ok(Claimed { run_id: Cols(row).text(0)?, claims: Cols(row).int(1)?.max(0) as u64 }))
        .collect()
}

pub(crate) async fn claim(
    backend: &Backend,
    worker: &str,
    limit: usize,
    lease_until: u64,
    now_ms: u64,
) -> Result<Vec<Claimed>, Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let sql = match backend {
        Backend::Sqlite(_) => CLAIM,
        #[cfg(feature = "postgres")]
        Backend::Postgres(_) => CLAIM_SKIP_LOCKED,
    };
    let params = vec![Param::text(worker), int(lease_until), int(now_ms), int(limit as u64)];
    let out = backend.script(vec![Stmt { sql, params }], Isolation::Committed).await?;
    let mut runs = claimed(out.first().map_or(&[][..], Vec::as_slice))?;
    // Oldest first, as they were chosen (`RETURNING` keeps no order).
    runs.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    Ok(runs)
}

pub(crate) async fn register(backend: &Backend, worker: &str, owner: &str, now_ms: u64) -> Result<(), Error> {
    let params = vec![Param::text(worker), Param::text(owner), int(now_ms)];
    backend.write(vec![Stmt { sql: REGISTER, params }]).await
}

/// Records a heartbeat of `worker` and pushes the leases it holds on to `lease_until`; returns
/// the runs it still holds (a run it lost to another worker is not among them).
pub(crate) async fn heartbeat(
    backend: &Backend,
    worker: &str,
    lease_until: u64,
    now_ms: u64,
) -> Result<Vec<String>, Error> {
    let statements = vec![
        Stmt { sql: HEARTBEAT, params: vec![int(now_ms), Param::text(worker)] },
        Stmt { sql: RENEW, params: vec![int(lease_until), Param::text(worker)] },
        Stmt { sql: FORGET_WORKERS, params: vec![int(now_ms.saturating_sub(FORGET_AFTER_MS))] },
    ];
    let out = backend.script(statements, Isolation::Committed).await?;
    out.get(1).map_or(&[][..], Vec::as_slice).iter().map(|row| Cols(row).text(0)).collect()
}

pub(crate) async fn release(backend: &Backend, worker: &str, run_id: &str, now_ms: u64) -> Result<(), Error> {
    let params = vec![int(now_ms), Param::text(run_id), Param::text(worker)];
    backend.write(announced(backend, vec![Stmt { sql: RELEASE, params }])).await
}

pub(crate) async fn retire(backend: &Backend, worker: &str, now_ms: u64) -> Result<(), Error> {
    let statements = vec![
        Stmt { sql: RELEASE_ALL, params: vec![int(now_ms), Param::text(worker)] },
        Stmt { sql: RETIRE, params: vec![Param::text(worker)] },
    ];
    backend.write(announced(backend, statements)).await
}

pub(crate) async fn dequeue(backend: &Backend, run_id: &str) -> Result<(), Error> {
    backend.write(vec![Stmt { sql: DEQUEUE, params: vec![Param::text(run_id)] }]).await
}

pub(crate) async fn queued(backend: &Backend, run_id: &str) -> Result<Queued, Error> {
    let rows = backend.query(QUEUED, vec![Param::text(run_id)]).await?;
    Ok(match rows.first() {
        None => Queued::No,
        Some(row) => Cols(row).opt_text(0)?.map_or(Queued::Waiting, Queued::By),
    })
}

pub(crate) async fn answered(backend: &Backend, limit: usize) -> Result<Vec<Answered>, Error> {
    let rows = backend.query(ANSWERED, vec![int(limit as u64)]).await?;
    rows.iter()
        .map(|row| Ok(Answered { run_id: Cols(row).text(0)?, owner: Cols(row).opt_text(1)? }))
        .collect()
}

pub(crate) async fn adopt(
    backend: &Backend,
    worker: &str,
    run_id: &str,
    lease_until: u64,
    now_ms: u64,
) -> Result<Option<Claimed>, Error> {
    let params = vec![Param::text(run_id), int(now_ms), Param::text(worker), int(lease_until)];
    let out = backend.script(vec![Stmt { sql: ADOPT, params }], Isolation::Committed).await?;
    Ok(claimed(out.first().map_or(&[][..], Vec::as_slice))?.into_iter().next())
}

pub(crate) async fn submitted(backend: &Backend, run_id: &str) -> Result<Option<Submitted>, Error> {
    let rows = backend.query(SUBMITTED, vec![Param::text(run_id)]).await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let c = Cols(row);
    Ok(Some(Submitted {
        status: crate::query::status(&c.text(0)?)?,
        seed: c.text(1)?,
        input: crate::query::value(backend, &c, 2).await?,
        bundle: c.opt_text(4)?,
        error_kind: c.opt_text(5)?,
        trace_parent: c.opt_text(6)?,
    }))
}
