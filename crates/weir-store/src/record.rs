//! Events become rows: each event is appended to `events`, and the tables of runs, steps and
//! attempts are brought up to date from it, in the same transaction. Writing the same events
//! twice changes nothing (every insert is keyed), so a commit retried after an unclear failure is
//! safe.
//!
//! A step (or attempt) that starts and ends within one commit — most do — gets its row written
//! once, when it ends, with its start: fewer statements per step.

use crate::backend::{Param, Stmt};
use crate::{Error, RunMeta};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use weir_engine::{Event, EventKind};

/// Values whose JSON is longer than this are stored once in `blobs`, by SHA-256, and named by
/// their hash in the rows that hold them.
pub const INLINE_BYTES: usize = 1024;

const INSERT_PIPELINE: &str = "INSERT INTO pipelines (digest, name, text, stored_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (digest) DO NOTHING";

const INSERT_BUNDLE: &str = "INSERT INTO bundles (digest, manifest, stored_at) VALUES ($1, $2, $3) \
     ON CONFLICT (digest) DO NOTHING";

const INSERT_BLOB: &str = "INSERT INTO blobs (hash, value) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING";

const INSERT_EVENT: &str = "INSERT INTO events (run_id, seq, at, type, step, item, body, value, value_blob) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (run_id, seq) DO NOTHING";

/// A run submitted to the queue (`pending`) has its row already: it starts now, in its owner.
const RUN_STARTED: &str = "INSERT INTO runs (id, pipeline, digest, parent_run, parent_step, parent_item, status, \
     seed, input, input_blob, started_at, bundle, owner, replay_of, trace_id) \
     VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO UPDATE \
     SET status = 'running', started_at = excluded.started_at, owner = excluded.owner, \
     trace_id = excluded.trace_id WHERE runs.status = 'pending'";

/// A resumed run is running again, in another process; its last end, if any, is forgotten, and
/// so is a request to cancel it (which its end answered).
const RUN_RESUMED: &str = "UPDATE runs SET status = 'running', owner = $1, output = NULL, output_blob = NULL, \
     error = NULL, error_kind = NULL, finished_at = NULL, duration_ms = NULL, cancel_requested_at = NULL, \
     cancel_reason = NULL WHERE id = $2";

const RUN_FINISHED: &str = "UPDATE runs SET status = $1, output = $2, output_blob = $3, error = $4, \
     error_kind = $5, finished_at = $6, duration_ms = $7 WHERE id = $8";

/// The PostgreSQL channel a root run's end is announced on (also an end to be continued: a
/// drained worker's); its payload is the run id.
pub(crate) const ENDED_CHANNEL: &str = "weir_runs";

/// The run whose end `event` records, if it is a root run's (sub-pipeline runs end inside theirs).
pub(crate) fn root_run_ended(event: &Event) -> Option<&str> {
    let finished = matches!(event.kind, EventKind::RunFinished { .. }) && event.parent.is_none();
    finished.then_some(&*event.run_id)
}

/// A root run that ended for good leaves the queue in the commit that records its end.
const RUN_DEQUEUED: &str = "DELETE FROM queue WHERE run_id = $1";

/// A root run cancelled because `weir runs cancel` asked leaves it too; one cancelled otherwise
/// (a worker's drain) stays, for a worker to continue.
const RUN_CANCELLED_DEQUEUED: &str = "DELETE FROM queue WHERE run_id = $1 \
     AND EXISTS (SELECT 1 FROM runs WHERE id = $1 AND cancel_requested_at IS NOT NULL)";

const STEP_STARTED: &str = "INSERT INTO steps (run_id, step, item, kind, first_seq, status, attempts, started_at) \
     VALUES ($1, $2, $3, $4, $5, 'running', $6, $7) \
     ON CONFLICT (run_id, step, item) DO UPDATE SET status = 'running', attempts = excluded.attempts";

const ATTEMPT_STARTED: &str = "INSERT INTO attempts (run_id, step, item, attempt, status, started_at) \
     VALUES ($1, $2, $3, $4, 'running', $5) ON CONFLICT (run_id, step, item, attempt) DO NOTHING";

const ATTEMPT_ENDED: &str = "INSERT INTO attempts (run_id, step, item, attempt, status, started_at, finished_at, \
     error, error_kind) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (run_id, step, item, attempt) DO UPDATE SET status = excluded.status, \
     finished_at = excluded.finished_at, error = excluded.error, error_kind = excluded.error_kind";

/// A step cancelled mid-attempt: its running attempt ends cancelled.
const ATTEMPT_CANCELLED: &str = "UPDATE attempts SET status = 'cancelled', finished_at = $1 \
     WHERE run_id = $2 AND step = $3 AND item = $4 AND status = 'running'";

const STEP_ENDED: &str = "INSERT INTO steps (run_id, step, item, kind, first_seq, status, attempts, started_at, \
     finished_at, duration_ms, output, output_blob, error, error_kind) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
     ON CONFLICT (run_id, step, item) DO UPDATE SET status = excluded.status, attempts = excluded.attempts, \
     finished_at = excluded.finished_at, duration_ms = excluded.duration_ms, output = excluded.output, \
     output_blob = excluded.output_blob, error = excluded.error, error_kind = excluded.error_kind";

/// An approval's question; asked again after a resume, the first stands (with any answer).
const APPROVAL_REQUESTED: &str = "INSERT INTO approvals (run_id, step, item, prompt, answer_schema, assignees, \
     on_timeout, requested_at, deadline) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (run_id, step, item) DO NOTHING";

/// A run whose step asks a question that has no answer yet is waiting.
const RUN_WAITING: &str = "UPDATE runs SET status = 'waiting' WHERE id = $1 AND status = 'running' \
     AND EXISTS (SELECT 1 FROM approvals WHERE run_id = $1 AND step = $2 AND item = $3 AND decided_at IS NULL)";

/// A waiting run runs again once none of its questions waits for an answer.
const RUN_ANSWERED: &str = "UPDATE runs SET status = 'running' WHERE id = $1 AND status = 'waiting' \
     AND NOT EXISTS (SELECT 1 FROM approvals WHERE run_id = $1 AND decided_at IS NULL)";

/// The statements that store the text of every pipeline of `bundle` and its manifest (each plan's
/// digest and file, and the links between them), and the manifest's digest, which names it.
pub(crate) fn bundle(bundle: &weir_pipeline::Bundle, now_ms: u64) -> (Vec<Stmt>, String) {
    let now = Param::Int(now_ms as i64);
    let mut out: Vec<Stmt> = bundle
        .plans()
        .iter()
        .map(|p| Stmt {
            sql: INSERT_PIPELINE,
            params: vec![
                Param::text(p.digest()),
                Param::text(p.name()),
                Param::text(p.source().text()),
                now.clone(),
            ],
        })
        .collect();
    let plans: Vec<Value> =
        bundle.plans().iter().map(|p| json!({"digest": p.digest(), "file": p.source().name()})).collect();
    let links: Vec<Value> =
        bundle.links().into_iter().map(|(from, file, to)| json!([from, file, to])).collect();
    let manifest = json!({"plans": plans, "links": links}).to_string();
    let digest = hash(&manifest);
    out.push(Stmt {
        sql: INSERT_BUNDLE,
        params: vec![Param::text(digest.clone()), Param::Text(manifest), now],
    });
    (out, digest)
}

/// The statements that record `events`, of runs described by `meta`.
pub(crate) fn events(events: &[Event], meta: &RunMeta) -> Result<Vec<Stmt>, Error> {
    let mut out = Vec::with_capacity(events.len() * 3);
    let batch = Batch::of(events);
    for event in events {
        record(event, meta, &batch, &mut out)?;
    }
    Ok(out)
}

/// A step or item of a run: run id, step id and item (-1 for the step itself).
type StepKey<'e> = (&'e str, &'e str, i64);

fn step_key(event: &Event) -> Option<StepKey<'_>> {
    let at = event.kind.step()?;
    Some((&*event.run_id, &*at.step, at.item.map_or(-1, |i| i as i64)))
}

/// What the events of one commit say of the steps they start, so that a step (or attempt) that
/// also ends within the commit is written once, when it ends.
#[derive(Default)]
struct Batch<'e> {
    /// The first start in the commit of each step: its `seq` and time.
    started: HashMap<StepKey<'e>, (u64, i64)>,
    /// The steps that end in the commit.
    ended: HashSet<StepKey<'e>>,
    /// The start of each attempt that starts in the commit.
    attempt_started: HashMap<(StepKey<'e>, u32), i64>,
    /// The attempts that end in the commit.
    attempt_ended: HashSet<(StepKey<'e>, u32)>,
}

impl<'e> Batch<'e> {
    fn of(events: &'e [Event]) -> Batch<'e> {
        let mut batch = Batch::default();
        for e in events {
            let Some(key) = step_key(e) else { continue };
            match &e.kind {
                EventKind::StepStarted { attempt, .. } => {
                    batch.started.entry(key).or_insert((e.seq, millis(e.at)));
                    batch.attempt_started.insert((key, *attempt), millis(e.at));
                }
                EventKind::StepRetrying { attempt, .. } => {
                    batch.attempt_ended.insert((key, *attempt));
                }
                EventKind::StepSucceeded { attempts, .. } | EventKind::StepFailed { attempts, .. } => {
                    batch.attempt_ended.insert((key, *attempts));
                    batch.ended.insert(key);
                }
                EventKind::StepSkipped { .. } | EventKind::StepCancelled { .. } => {
                    batch.ended.insert(key);
                }
                _ => {}
            }
        }
        batch
    }
}

/// A value as a row holds it: inline JSON, or the hash of a blob (whose insert is added to `out`).
pub(crate) struct Stored {
    pub(crate) inline: Param,
    pub(crate) blob: Param,
}

pub(crate) fn store_value(value: &Value, out: &mut Vec<Stmt>) -> Stored {
    let json = value.to_string();
    if json.len() <= INLINE_BYTES {
        return Stored { inline: Param::Text(json), blob: Param::Null };
    }
    let hash = hash(&json);
    out.push(Stmt { sql: INSERT_BLOB, params: vec![Param::text(hash.clone()), Param::Text(json)] });
    Stored { inline: Param::Null, blob: Param::Text(hash) }
}

pub(crate) fn hash(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for byte in digest {
        use std::fmt::Write;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The key of the event's value in its JSON (`weir_api::Event`), for the events that carry one:
/// it is stored in the event row's `value` column (or as a blob), not in its body.
pub(crate) fn value_key(event_type: &str) -> Option<&'static str> {
    match event_type {
        "run_started" => Some("input"),
        "step_mocked" => Some("config"),
        "step_succeeded" | "run_finished" => Some("output"),
        _ => None,
    }
}

fn millis(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn ms(d: std::time::Duration) -> Param {
    Param::Real((d.as_secs_f64() * 1e6).round() / 1e3)
}

fn record(event: &Event, meta: &RunMeta, batch: &Batch<'_>, out: &mut Vec<Stmt>) -> Result<(), Error> {
    let run_id = Param::text(&*event.run_id);
    let at = millis(event.at);
    let seq = Param::Int(event.seq as i64);
    let api = weir_api::Event::from(event);
    let mut body = match serde_json::to_value(&api) {
        Ok(Value::Object(body)) => body,
        Ok(_) | Err(_) => return Err(Error::Corrupt(format!("event {} does not serialize", event.seq))),
    };
    let event_type = body.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
    let value = value_key(&event_type).and_then(|key| body.remove(key));
    let stored = value.as_ref().map(|v| store_value(v, out));
    let key = step_key(event);
    let (step, item) = match key {
        Some((_, step, item)) => (Param::text(step), Param::Int(item)),
        None => (Param::Null, Param::Null),
    };
    // Where the step's row starts when it started in this commit: its first `seq` and time.
    let start = key.and_then(|k| batch.started.get(&k)).copied();
    let row = Row {
        first_seq: start.map_or_else(|| seq.clone(), |(s, _)| Param::Int(s as i64)),
        started_at: start.map_or(Param::Null, |(_, at)| Param::Int(at)),
    };
    // When an attempt that ends with this event started, for its row if it has none yet.
    let attempt_start = |attempt: u32| {
        let started = key.and_then(|k| batch.attempt_started.get(&(k, attempt)));
        started.copied().unwrap_or(at)
    };
    let (value_inline, value_blob) = match &stored {
        Some(s) => (s.inline.clone(), s.blob.clone()),
        None => (Param::Null, Param::Null),
    };
    out.push(Stmt {
        sql: INSERT_EVENT,
        params: vec![
            run_id.clone(),
            seq.clone(),
            Param::Int(at),
            Param::text(event_type),
            step.clone(),
            item.clone(),
            Param::Text(Value::Object(body).to_string()),
            value_inline,
            value_blob,
        ],
    });
    let stored = stored.unwrap_or(Stored { inline: Param::Null, blob: Param::Null });
    match &event.kind {
        EventKind::RunStarted { pipeline, digest, seed, trace, .. } => {
            let parent = event.parent.as_deref();
            out.push(Stmt {
                sql: RUN_STARTED,
                params: vec![
                    run_id,
                    Param::text(pipeline),
                    Param::text(digest),
                    Param::opt_text(parent.map(|p| &*p.run_id)),
                    Param::opt_text(parent.map(|p| p.step.as_str())),
                    Param::opt_int(parent.and_then(|p| p.item).map(|i| i as i64)),
                    Param::Text(seed.to_string()),
                    stored.inline,
                    stored.blob,
                    Param::Int(at),
                    // The bundle is the root run's: a sub-pipeline run's version is its digest.
                    Param::opt_text(meta.bundle.as_deref().filter(|_| parent.is_none())),
                    Param::opt_text(meta.owner.as_deref()),
                    Param::opt_text(meta.replay_of.as_deref().filter(|_| parent.is_none())),
                    Param::Text(trace.trace_id.hex()),
                ],
            });
        }
        EventKind::RunResumed { .. } => {
            out.push(Stmt { sql: RUN_RESUMED, params: vec![Param::opt_text(meta.owner.as_deref()), run_id] });
        }
        EventKind::RunFinished { status, error, error_kind, duration, .. } => {
            out.push(Stmt {
                sql: RUN_FINISHED,
                params: vec![
                    Param::text(status.as_str()),
                    stored.inline,
                    stored.blob,
                    Param::opt_text(error.as_deref()),
                    Param::opt_text(error_kind.map(|k| k.as_str())),
                    Param::Int(at),
                    ms(*duration),
                    run_id.clone(),
                ],
            });
            // A cancelled run, or one stopped by its store, is continued by a worker later.
            let ended = *status == weir_pipeline::Status::Succeeded
                || (*status == weir_pipeline::Status::Failed
                    && *error_kind != Some(weir_engine::ErrorKind::Store));
            if event.parent.is_none() {
                if ended {
                    out.push(Stmt { sql: RUN_DEQUEUED, params: vec![run_id] });
                } else if *status == weir_pipeline::Status::Cancelled {
                    out.push(Stmt { sql: RUN_CANCELLED_DEQUEUED, params: vec![run_id] });
                }
            }
        }
        EventKind::StepStarted { at: step_at, attempt, .. } => {
            let key = key.unwrap_or_default();
            if !batch.ended.contains(&key) {
                out.push(Stmt {
                    sql: STEP_STARTED,
                    params: vec![
                        run_id.clone(),
                        step.clone(),
                        item.clone(),
                        Param::text(&*step_at.kind),
                        seq,
                        Param::Int(i64::from(*attempt)),
                        Param::Int(at),
                    ],
                });
            }
            if !batch.attempt_ended.contains(&(key, *attempt)) {
                out.push(Stmt {
                    sql: ATTEMPT_STARTED,
                    params: vec![run_id, step, item, Param::Int(i64::from(*attempt)), Param::Int(at)],
                });
            }
        }
        EventKind::StepRetrying { attempt, error, error_kind, .. } => {
            out.push(attempt_ended(
                run_id,
                step,
                item,
                *attempt,
                attempt_start(*attempt),
                "failed",
                at,
                Some((error, error_kind.as_str())),
            ));
        }
        EventKind::StepSucceeded { at: step_at, attempts, duration, .. } => {
            if *attempts > 0 {
                out.push(attempt_ended(
                    run_id.clone(),
                    step.clone(),
                    item.clone(),
                    *attempts,
                    attempt_start(*attempts),
                    "succeeded",
                    at,
                    None,
                ));
            }
            let ended =
                Ended { status: "succeeded", attempts: *attempts, duration: Some(*duration), error: None };
            out.push(step_ended(run_id, step, item, &step_at.kind, row, at, ended, stored));
        }
        EventKind::StepFailed { at: step_at, attempts, error, error_kind, duration, .. } => {
            let error = Some((error.as_str(), error_kind.as_str()));
            if *attempts > 0 {
                out.push(attempt_ended(
                    run_id.clone(),
                    step.clone(),
                    item.clone(),
                    *attempts,
                    attempt_start(*attempts),
                    "failed",
                    at,
                    error,
                ));
            }
            let ended = Ended { status: "failed", attempts: *attempts, duration: Some(*duration), error };
            out.push(step_ended(run_id, step, item, &step_at.kind, row, at, ended, stored));
        }
        EventKind::StepSkipped { at: step_at, .. } => {
            let ended = Ended { status: "skipped", attempts: 0, duration: None, error: None };
            out.push(step_ended(run_id, step, item, &step_at.kind, row, at, ended, stored));
        }
        EventKind::StepCancelled { at: step_at } => {
            out.push(Stmt {
                sql: ATTEMPT_CANCELLED,
                params: vec![Param::Int(at), run_id.clone(), step.clone(), item.clone()],
            });
            let ended = Ended { status: "cancelled", attempts: 0, duration: None, error: None };
            out.push(step_ended(run_id, step, item, &step_at.kind, row, at, ended, stored));
        }
        EventKind::ApprovalRequested { request, .. } => {
            let timeout =
                request.timeout.map(|t| at.saturating_add(t.as_millis().min(i64::MAX as u128) as i64));
            out.push(Stmt {
                sql: APPROVAL_REQUESTED,
                params: vec![
                    run_id.clone(),
                    step.clone(),
                    item.clone(),
                    Param::text(&request.prompt),
                    Param::opt_text(request.schema.as_ref().map(Value::to_string)),
                    Param::Text(json!(request.assignees).to_string()),
                    Param::text(request.on_timeout.as_str()),
                    Param::Int(at),
                    Param::opt_int(timeout),
                ],
            });
            out.push(Stmt { sql: RUN_WAITING, params: vec![run_id, step, item] });
        }
        EventKind::ApprovalAnswered { .. } => out.push(Stmt { sql: RUN_ANSWERED, params: vec![run_id] }),
        // The event row is all there is of these.
        EventKind::StepMocked { .. } | EventKind::StepLog { .. } => {}
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn attempt_ended(
    run_id: Param,
    step: Param,
    item: Param,
    attempt: u32,
    started_at: i64,
    status: &str,
    at: i64,
    error: Option<(&str, &str)>,
) -> Stmt {
    Stmt {
        sql: ATTEMPT_ENDED,
        params: vec![
            run_id,
            step,
            item,
            Param::Int(i64::from(attempt)),
            Param::text(status),
            Param::Int(started_at),
            Param::Int(at),
            Param::opt_text(error.map(|e| e.0)),
            Param::opt_text(error.map(|e| e.1)),
        ],
    }
}

/// Where a step's row begins, for the statement that ends it: the `seq` of its first event and
/// its start, when they are in the same commit (else the row exists already and keeps its own).
struct Row {
    first_seq: Param,
    started_at: Param,
}

/// How a step (or item) ended.
struct Ended<'a> {
    status: &'static str,
    attempts: u32,
    duration: Option<std::time::Duration>,
    error: Option<(&'a str, &'a str)>,
}

#[allow(clippy::too_many_arguments)]
fn step_ended(
    run_id: Param,
    step: Param,
    item: Param,
    kind: &str,
    row: Row,
    at: i64,
    ended: Ended<'_>,
    output: Stored,
) -> Stmt {
    Stmt {
        sql: STEP_ENDED,
        params: vec![
            run_id,
            step,
            item,
            Param::text(kind),
            row.first_seq,
            Param::text(ended.status),
            Param::Int(i64::from(ended.attempts)),
            row.started_at,
            Param::Int(at),
            ended.duration.map_or(Param::Null, ms),
            output.inline,
            output.blob,
            Param::opt_text(ended.error.map(|e| e.0)),
            Param::opt_text(ended.error.map(|e| e.1)),
        ],
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// SQLite numbers `$n` parameters in the order they first appear, PostgreSQL by `n`: the two
    /// agree only when every statement introduces `$1`, `$2`, … in that order.
    pub(crate) fn parameters_in_order(sql: &str) -> bool {
        let mut seen = 0;
        let mut rest = sql;
        while let Some(i) = rest.find('$') {
            let digits: String = rest[i + 1..].chars().take_while(char::is_ascii_digit).collect();
            rest = &rest[i + 1 + digits.len()..];
            let Ok(n) = digits.parse::<usize>() else { continue };
            if n > seen + 1 {
                return false;
            }
            seen = seen.max(n);
        }
        true
    }

    #[test]
    fn every_statement_introduces_its_parameters_in_order() {
        let all = [
            INSERT_PIPELINE,
            INSERT_BUNDLE,
            INSERT_BLOB,
            RUN_RESUMED,
            INSERT_EVENT,
            RUN_STARTED,
            RUN_FINISHED,
            RUN_DEQUEUED,
            RUN_CANCELLED_DEQUEUED,
            STEP_STARTED,
            ATTEMPT_STARTED,
            ATTEMPT_ENDED,
            ATTEMPT_CANCELLED,
            STEP_ENDED,
            APPROVAL_REQUESTED,
            RUN_WAITING,
            RUN_ANSWERED,
            crate::schema::WRITE_VERSION,
        ];
        let queries = crate::query::STATEMENTS
            .iter()
            .chain(crate::resume::STATEMENTS)
            .chain(crate::admin::STATEMENTS)
            .chain(crate::approval::STATEMENTS)
            .chain(crate::schedule::STATEMENTS)
            .chain(crate::cancel::STATEMENTS)
            .chain(crate::queue::STATEMENTS)
            .chain(crate::bench::STATEMENTS)
            .chain(crate::health::STATEMENTS)
            .chain(crate::metrics::STATEMENTS);
        for sql in all.into_iter().chain(queries.copied()) {
            assert!(parameters_in_order(sql), "{sql}");
        }
        assert!(!parameters_in_order("UPDATE t SET a = $2 WHERE b = $1"));
        assert!(parameters_in_order("SELECT $1 WHERE $1 IS NULL OR $2 = $1"));
    }
}
