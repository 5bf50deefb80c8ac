//! What the backends share: statements as data, and the dispatch to the backend a store has.

use crate::Error;

/// A value bound to a statement, or read from a row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Param {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Param {
    pub(crate) fn text(s: impl Into<String>) -> Param {
        Param::Text(s.into())
    }

    pub(crate) fn opt_text(s: Option<impl Into<String>>) -> Param {
        s.map_or(Param::Null, |s| Param::Text(s.into()))
    }

    pub(crate) fn opt_int(i: Option<i64>) -> Param {
        i.map_or(Param::Null, Param::Int)
    }
}

/// One statement of the portable SQL both backends run, with its parameters (`$1`, `$2`, … in
/// the order they first appear).
#[derive(Clone, Debug)]
pub(crate) struct Stmt {
    pub(crate) sql: &'static str,
    pub(crate) params: Vec<Param>,
}

/// A row of a query's result.
pub(crate) type Row = Vec<Param>;

/// A write waiting for its backend's writer: its statements, in one transaction, and where the
/// writer says how it went.
pub(crate) struct Write {
    pub(crate) statements: Vec<Stmt>,
    pub(crate) done: tokio::sync::oneshot::Sender<Result<(), Error>>,
}

/// A query waiting for its backend's writer.
pub(crate) struct Query {
    pub(crate) statement: Stmt,
    pub(crate) done: tokio::sync::oneshot::Sender<Result<Vec<Row>, Error>>,
}

/// How a script's transaction sees the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isolation {
    /// Reads and writes, on one snapshot that no other writer changes until the commit: SQLite's
    /// `BEGIN IMMEDIATE` (the file's write lock from the start), PostgreSQL's `REPEATABLE READ`
    /// (a concurrent change to a row the script writes fails the script, whole).
    Write,
    /// Reads and writes, each statement on the latest commits, with the rows it changes locked
    /// until the commit: SQLite's `BEGIN IMMEDIATE` again, PostgreSQL's `READ COMMITTED`, where
    /// `FOR UPDATE SKIP LOCKED` passes over the rows another transaction holds instead of
    /// failing on them (claiming queued runs).
    Committed,
    /// Reads only, on one snapshot, without holding up the writer: SQLite on a connection of its
    /// own (in WAL mode a reader sees the commits made before it started, and no later ones),
    /// PostgreSQL in a `REPEATABLE READ READ ONLY` transaction.
    Read,
}

/// Statements that must see the store the same way, in one transaction, each answered with its
/// rows (a `DELETE … RETURNING` too): what maintenance needs, where the group commit's writes
/// return nothing and a query stands alone.
pub(crate) struct Script {
    pub(crate) statements: Vec<Stmt>,
    pub(crate) isolation: Isolation,
    pub(crate) done: tokio::sync::oneshot::Sender<Result<Vec<Vec<Row>>, Error>>,
}

/// What a backend's writer is asked to do.
pub(crate) enum Job {
    Write(Write),
    Query(Query),
    Script(Script),
}

/// `pg_notify` (which returns nothing a row can hold) as a statement with a row.
#[cfg(feature = "postgres")]
const NOTIFY: &str = "SELECT CAST(1 AS BIGINT) FROM (SELECT pg_notify($1, $2)) AS announced";

#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Sqlite(crate::sqlite::Sqlite),
    #[cfg(feature = "postgres")]
    Postgres(crate::postgres::Postgres),
}

impl Backend {
    /// Runs `statements` in one transaction (with the other writes waiting at the time).
    pub(crate) async fn write(&self, statements: Vec<Stmt>) -> Result<(), Error> {
        if statements.is_empty() {
            return Ok(());
        }
        let (done, answer) = tokio::sync::oneshot::channel();
        self.send(Job::Write(Write { statements, done }))?;
        answer.await.map_err(|_| gone())?
    }

    pub(crate) async fn query(&self, sql: &'static str, params: Vec<Param>) -> Result<Vec<Row>, Error> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.send(Job::Query(Query { statement: Stmt { sql, params }, done }))?;
        answer.await.map_err(|_| gone())?
    }

    /// Runs `statements` in one transaction isolated as `isolation` says, and returns the rows of
    /// each.
    pub(crate) async fn script(
        &self,
        statements: Vec<Stmt>,
        isolation: Isolation,
    ) -> Result<Vec<Vec<Row>>, Error> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.send(Job::Script(Script { statements, isolation, done }))?;
        answer.await.map_err(|_| gone())?
    }

    /// The statement that sends `payload` on channel `channel` at its transaction's commit, on a
    /// backend that can (PostgreSQL; on SQLite, waits read the store again).
    #[cfg_attr(not(feature = "postgres"), expect(unused_variables, reason = "only PostgreSQL notifies"))]
    pub(crate) fn notify(&self, channel: &'static str, payload: &str) -> Option<Stmt> {
        match self {
            Backend::Sqlite(_) => None,
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => {
                Some(Stmt { sql: NOTIFY, params: vec![Param::text(channel), Param::text(payload)] })
            }
        }
    }

    fn send(&self, job: Job) -> Result<(), Error> {
        match self {
            Backend::Sqlite(b) => b.send(job),
            #[cfg(feature = "postgres")]
            Backend::Postgres(b) => b.send(job),
        }
    }
}

/// The writer ended (it failed to start, or its connection broke for good).
pub(crate) fn gone() -> Error {
    Error::Sql("the store's connection is closed".into())
}

/// Takes the writes that wait behind `first` (up to a query or a script, which is answered after
/// them), so they commit together; returns them and the job that stopped the batch, if one did
/// (never a write).
pub(crate) fn batch(first: Write, mut next: impl FnMut() -> Option<Job>) -> (Vec<Write>, Option<Job>) {
    let mut writes = vec![first];
    while let Some(job) = next() {
        match job {
            Job::Write(w) => writes.push(w),
            other => return (writes, Some(other)),
        }
    }
    (writes, None)
}

/// The statements of `writes`, in order, for one transaction.
pub(crate) fn statements(writes: &[Write]) -> Vec<&Stmt> {
    writes.iter().flat_map(|w| &w.statements).collect()
}

/// Answers the writes of a group commit that ended with `together`. When it failed and the group
/// holds more than one write, they are returned to be committed each on its own, so that one
/// bad write fails alone.
pub(crate) fn answer_group(writes: Vec<Write>, together: Result<(), Error>) -> Vec<Write> {
    match together {
        Ok(()) => {
            for w in writes {
                let _ = w.done.send(Ok(()));
            }
            Vec::new()
        }
        Err(_) if writes.len() > 1 => writes,
        Err(e) => {
            for w in writes {
                let _ = w.done.send(Err(e.clone()));
            }
            Vec::new()
        }
    }
}

/// Answers a write committed on its own.
pub(crate) fn answer(write: Write, result: Result<(), Error>) {
    let _ = write.done.send(result);
}
