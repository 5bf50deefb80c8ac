//! Reading the store: runs, their steps and child runs, their events, pipeline versions.

use crate::Error;
use crate::backend::{Backend, Param, Row};
use crate::record::value_key;
use serde_json::Value;
use weir_api::{Parent, StepError, StoredRun, StoredRunDetail, StoredStep};
use weir_pipeline::Status;

/// Which runs [`crate::Store::runs`] returns.
#[derive(Clone, Debug)]
pub struct RunFilter {
    pub pipeline: Option<String>,
    pub status: Option<Status>,
    /// Runs started at or after this time (milliseconds since the Unix epoch).
    pub since_ms: Option<u64>,
    /// Sub-pipeline runs too, not only the runs that were started by a user.
    pub children: bool,
    pub limit: usize,
}

impl Default for RunFilter {
    fn default() -> Self {
        Self { pipeline: None, status: None, since_ms: None, children: false, limit: 20 }
    }
}

/// The columns [`stored_run`] reads, in its order.
macro_rules! run_columns {
    () => {
        "id, pipeline, digest, status, parent_run, parent_step, parent_item, started_at, finished_at, \
         duration_ms, error, error_kind"
    };
}

const RUNS: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE (CAST($1 AS TEXT) IS NULL OR pipeline = $1) \
     AND (CAST($2 AS TEXT) IS NULL OR status = $2) AND (CAST($3 AS BIGINT) IS NULL OR started_at >= $3) AND (CAST($4 AS BIGINT) = 1 OR parent_run IS NULL) \
     ORDER BY started_at DESC, id DESC LIMIT $5"
);

const RUN_BY_PREFIX: &str = "SELECT id FROM runs WHERE id = $1 OR id LIKE $2 ORDER BY id LIMIT 2";

const RUN: &str = concat!(
    "SELECT ",
    run_columns!(),
    ", seed, input, input_blob, output, output_blob, replay_of, cancel_reason, trace_id, trace_parent FROM runs WHERE id = $1"
);

const CHILDREN: &str =
    concat!("SELECT ", run_columns!(), " FROM runs WHERE parent_run = $1 ORDER BY started_at, id");

const STEPS: &str = "SELECT step, kind, item, status, attempts, started_at, finished_at, duration_ms, output, \
     output_blob, error, error_kind FROM steps WHERE run_id = $1 ORDER BY first_seq, item";

/// The events of a run and of its sub-pipeline runs at any depth (`seq` is one sequence across
/// a run tree).
const EVENTS: &str = "WITH RECURSIVE tree (id) AS (SELECT CAST($1 AS TEXT) \
     UNION ALL SELECT r.id FROM runs r JOIN tree t ON r.parent_run = t.id) \
     SELECT body, value, value_blob FROM events WHERE run_id IN (SELECT id FROM tree) AND seq >= $2 ORDER BY seq";

const RUN_STATE: &str = "SELECT status, owner, cancel_requested_at, cancel_reason FROM runs WHERE id = $1";

const BLOB: &str = "SELECT value FROM blobs WHERE hash = $1";

const PIPELINE: &str = "SELECT text FROM pipelines WHERE digest = $1";

/// Every query, for the test that checks their parameters.
#[cfg(test)]
pub(crate) const STATEMENTS: &[&str] =
    &[RUNS, RUN_BY_PREFIX, RUN, CHILDREN, STEPS, EVENTS, RUN_STATE, BLOB, PIPELINE];

pub(crate) async fn pipeline(backend: &Backend, digest: &str) -> Result<Option<String>, Error> {
    let rows = backend.query(PIPELINE, vec![Param::text(digest)]).await?;
    rows.first().map(|row| Cols(row).text(0)).transpose()
}

pub(crate) async fn runs(backend: &Backend, filter: &RunFilter) -> Result<Vec<StoredRun>, Error> {
    let params = vec![
        Param::opt_text(filter.pipeline.as_deref()),
        Param::opt_text(filter.status.map(Status::as_str)),
        Param::opt_int(filter.since_ms.map(|t| t as i64)),
        Param::Int(i64::from(filter.children)),
        Param::Int(filter.limit.min(i64::MAX as usize) as i64),
    ];
    let rows = backend.query(RUNS, params).await?;
    rows.iter().map(|row| stored_run(&Cols(row))).collect()
}

pub(crate) async fn run(backend: &Backend, id: &str) -> Result<Option<StoredRunDetail>, Error> {
    let Some(id) = resolve(backend, id).await? else { return Ok(None) };
    let rows = backend.query(RUN, vec![Param::text(&id)]).await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let cols = Cols(row);
    let run = stored_run(&cols)?;
    let seed = cols.text(12)?;
    let input = value(backend, &cols, 13).await?;
    let output = value(backend, &cols, 15).await?;
    let (replay_of, cancel_reason) = (cols.opt_text(17)?, cols.opt_text(18)?);
    let (trace_id, trace_parent) = (cols.opt_text(19)?, cols.opt_text(20)?);
    let mut steps = Vec::new();
    for row in backend.query(STEPS, vec![Param::text(&id)]).await? {
        let c = Cols(&row);
        let error = error(&c, 10)?;
        let item = c.int(2)?;
        steps.push(StoredStep {
            step: c.text(0)?,
            kind: c.text(1)?,
            item: (item >= 0).then_some(item as usize),
            status: status(&c.text(3)?)?,
            attempts: c.int(4)? as u32,
            started_at: c.opt_int(5)?.map(|t| t as u64),
            finished_at: c.opt_int(6)?.map(|t| t as u64),
            duration_ms: c.opt_real(7)?,
            output: value(backend, &c, 8).await?,
            error,
        });
    }
    let children = backend.query(CHILDREN, vec![Param::text(&id)]).await?;
    let children = children.iter().map(|row| stored_run(&Cols(row))).collect::<Result<_, _>>()?;
    Ok(Some(StoredRunDetail {
        run,
        seed,
        input,
        output,
        steps,
        children,
        replay_of,
        cancel_reason,
        trace_id,
        trace_parent,
    }))
}

/// The id of the one run `id` is, or a unique prefix of.
async fn resolve(backend: &Backend, id: &str) -> Result<Option<String>, Error> {
    let escaped: String = id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    if escaped != id || id.is_empty() {
        return Ok(None);
    }
    let rows = backend.query(RUN_BY_PREFIX, vec![Param::text(id), Param::Text(format!("{id}%"))]).await?;
    match &rows[..] {
        [one] => Ok(Some(Cols(one).text(0)?)),
        [] => Ok(None),
        [first, ..] => {
            let exact = Cols(first).text(0)?;
            if exact == id { Ok(Some(exact)) } else { Err(Error::Ambiguous(id.to_owned())) }
        }
    }
}

/// Where a run is now, as a process following or cancelling it needs to know: its status, the
/// process that runs it, and whether it was asked to stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunState {
    pub status: Status,
    /// See [`crate::Store::recording`].
    pub owner: Option<String>,
    /// When `weir runs cancel` asked the process running it to stop (ms since the epoch).
    pub cancel_requested_at: Option<u64>,
    pub cancel_reason: Option<String>,
}

pub(crate) async fn state(backend: &Backend, run_id: &str) -> Result<Option<RunState>, Error> {
    let rows = backend.query(RUN_STATE, vec![Param::text(run_id)]).await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let c = Cols(row);
    Ok(Some(RunState {
        status: status(&c.text(0)?)?,
        owner: c.opt_text(1)?,
        cancel_requested_at: c.opt_int(2)?.map(|t| t as u64),
        cancel_reason: c.opt_text(3)?,
    }))
}

pub(crate) async fn events(
    backend: &Backend,
    run_id: &str,
    from_seq: u64,
) -> Result<Vec<weir_api::Event>, Error> {
    let params = vec![Param::text(run_id), Param::Int(from_seq.min(i64::MAX as u64) as i64)];
    let rows = backend.query(EVENTS, params).await?;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        let c = Cols(row);
        let body = c.text(0)?;
        let mut body: serde_json::Map<String, Value> = serde_json::from_str(&body)
            .map_err(|e| Error::Corrupt(format!("an event of run {run_id} does not parse: {e}")))?;
        let event_type = body.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        if let Some(key) = value_key(&event_type) {
            body.insert(key.to_owned(), value(backend, &c, 1).await?);
        }
        let event = serde_json::from_value(Value::Object(body))
            .map_err(|e| Error::Corrupt(format!("an event of run {run_id} does not read back: {e}")))?;
        events.push(event);
    }
    Ok(events)
}

fn stored_run(c: &Cols<'_>) -> Result<StoredRun, Error> {
    let parent = match c.opt_text(4)? {
        Some(run_id) => Some(Parent {
            run_id,
            step: c.opt_text(5)?.unwrap_or_default(),
            item: c.opt_int(6)?.map(|i| i as usize),
        }),
        None => None,
    };
    Ok(StoredRun {
        run_id: c.text(0)?,
        pipeline: c.text(1)?,
        digest: c.text(2)?,
        status: status(&c.text(3)?)?,
        parent,
        started_at: c.int(7)? as u64,
        finished_at: c.opt_int(8)?.map(|t| t as u64),
        duration_ms: c.opt_real(9)?,
        error: error(c, 10)?,
    })
}

/// The error in columns `i` (message) and `i + 1` (kind).
fn error(c: &Cols<'_>, i: usize) -> Result<Option<StepError>, Error> {
    Ok(c.opt_text(i)?
        .map(|message| StepError { kind: c.opt_text(i + 1).ok().flatten().unwrap_or_default(), message }))
}

pub(crate) fn status(s: &str) -> Result<Status, Error> {
    Status::ALL
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| Error::Corrupt(format!("\"{s}\" is not a status")))
}

/// The value in column `i` (inline JSON) or `i + 1` (a blob's hash); null when neither is set.
pub(crate) async fn value(backend: &Backend, c: &Cols<'_>, i: usize) -> Result<Value, Error> {
    let json = match (c.opt_text(i)?, c.opt_text(i + 1)?) {
        (Some(json), _) => json,
        (None, Some(hash)) => {
            let rows = backend.query(BLOB, vec![Param::text(&hash)]).await?;
            match rows.first() {
                Some(row) => Cols(row).text(0)?,
                None => return Err(Error::Corrupt(format!("blob {hash} is missing"))),
            }
        }
        (None, None) => return Ok(Value::Null),
    };
    serde_json::from_str(&json).map_err(|e| Error::Corrupt(format!("a stored value does not parse: {e}")))
}

/// The columns of a row, read by type.
pub(crate) struct Cols<'r>(pub(crate) &'r Row);

impl Cols<'_> {
    fn get(&self, i: usize) -> Result<&Param, Error> {
        self.0.get(i).ok_or_else(|| Error::Corrupt(format!("a row has no column {i}")))
    }

    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, Error> {
        match self.get(i)? {
            Param::Null => Ok(None),
            Param::Text(s) => Ok(Some(s.clone())),
            other => Err(Error::Corrupt(format!("column {i} holds {other:?}, not text"))),
        }
    }

    pub(crate) fn text(&self, i: usize) -> Result<String, Error> {
        self.opt_text(i)?.ok_or_else(|| Error::Corrupt(format!("column {i} is null")))
    }

    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>, Error> {
        match self.get(i)? {
            Param::Null => Ok(None),
            Param::Int(n) => Ok(Some(*n)),
            other => Err(Error::Corrupt(format!("column {i} holds {other:?}, not an integer"))),
        }
    }

    pub(crate) fn int(&self, i: usize) -> Result<i64, Error> {
        self.opt_int(i)?.ok_or_else(|| Error::Corrupt(format!("column {i} is null")))
    }

    pub(crate) fn opt_real(&self, i: usize) -> Result<Option<f64>, Error> {
        match self.get(i)? {
            Param::Null => Ok(None),
            Param::Real(x) => Ok(Some(*x)),
            Param::Int(n) => Ok(Some(*n as f64)),
            other => Err(Error::Corrupt(format!("column {i} holds {other:?}, not a number"))),
        }
    }
}
