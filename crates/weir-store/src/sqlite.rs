//! The SQLite backend: one connection on a thread of its own, in WAL mode. The thread takes the
//! writes waiting for it and commits them in one transaction (group commit); with
//! [`Durability::Full`] that is one fsync per group.
//!
//! Checkpoints (copying the WAL back into the database file, with an fsync of each even at
//! `synchronous=NORMAL`) run on a second connection and thread, once the WAL holds
//! [`CHECKPOINT_PAGES`]: a commit never waits for one.

use crate::backend::{self, Isolation, Job, Param, Query, Row, Script, Stmt};
use crate::schema;
use crate::{Durability, Error};
use rusqlite::{Connection, OpenFlags, params_from_iter};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// How long a statement waits for another process's lock on the file before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The WAL size, in pages, at which a checkpoint starts (SQLite's own default threshold).
const CHECKPOINT_PAGES: i32 = 1000;

#[derive(Clone, Debug)]
pub(crate) struct Sqlite {
    jobs: mpsc::Sender<Job>,
    /// The file, for the read-only connections of [`Isolation::Read`] scripts.
    path: PathBuf,
}

impl Sqlite {
    /// Opens (creating) the database at `path` and brings its schema up to date, then starts the
    /// writer thread.
    pub(crate) async fn open(path: &Path, durability: Durability) -> Result<Sqlite, Error> {
        let unreachable =
            |message: String| Error::Unreachable { location: path.display().to_string(), message };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| unreachable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| unreachable(e.to_string()))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| unreachable(e.to_string()))?;
        let synchronous = match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        conn.execute_batch(&format!("PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};"))
            .map_err(|e| unreachable(e.to_string()))?;
        migrate(&mut conn, &path.display().to_string())?;
        let checkpoints = checkpointer(path, flags).map_err(unreachable)?;
        // Setting the hook replaces SQLite's own checkpoints after commits.
        let hook = move |_: &mut rusqlite::hooks::Wal, pages: i32| {
            if pages >= CHECKPOINT_PAGES {
                let _ = checkpoints.try_send(());
            }
            Ok(())
        };
        conn.wal_hook(Some(hook)).map_err(|e| unreachable(e.to_string()))?;
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("weir-store".into())
            .spawn(move || writer(conn, &queue))
            .map_err(|e| unreachable(format!("cannot start the store's thread: {e}")))?;
        Ok(Sqlite { jobs, path: path.to_path_buf() })
    }

    /// Hands `job` to the writer thread, except a read-only script, which runs on a connection
    /// and thread of its own so that a long read (a backup) never holds up a commit.
    pub(crate) fn send(&self, job: Job) -> Result<(), Error> {
        match job {
            Job::Script(script) if script.isolation == Isolation::Read => {
                let path = self.path.clone();
                std::thread::Builder::new()
                    .name("weir-store-read".into())
                    .spawn(move || {
                        let result = read_only(&path).and_then(|mut conn| run_script(&mut conn, &script));
                        let _ = script.done.send(result);
                    })
                    .map(|_| ())
                    .map_err(|e| Error::Sql(format!("cannot start a thread to read the store: {e}")))
            }
            job => self.jobs.send(job).map_err(|_| backend::gone()),
        }
    }
}

/// A read-only connection to the file at `path`.
fn read_only(path: &Path) -> Result<Connection, Error> {
    let sql = |e: rusqlite::Error| Error::Sql(e.to_string());
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(sql)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    Ok(conn)
}

/// Runs a script's statements in one transaction: deferred for reads (the snapshot is taken at
/// the first read and kept to the end), immediate for writes (no other writer from the start).
fn run_script(conn: &mut Connection, script: &Script) -> Result<Vec<Vec<Row>>, Error> {
    let sql = |e: rusqlite::Error| Error::Sql(e.to_string());
    let behavior = match script.isolation {
        Isolation::Read => rusqlite::TransactionBehavior::Deferred,
        Isolation::Write => rusqlite::TransactionBehavior::Immediate,
    };
    let tx = conn.transaction_with_behavior(behavior).map_err(sql)?;
    let rows = script.statements.iter().map(|s| read(&tx, s)).collect::<Result<Vec<_>, _>>()?;
    tx.commit().map_err(sql)?;
    Ok(rows)
}

/// Starts the thread that checkpoints the WAL of the database at `path` when asked (a request
/// made while one runs is dropped: that one covers it), until the sender is gone.
fn checkpointer(path: &Path, flags: OpenFlags) -> Result<mpsc::SyncSender<()>, String> {
    let conn = Connection::open_with_flags(path, flags).map_err(|e| e.to_string())?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    let (asks, asked) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("weir-store-checkpoint".into())
        .spawn(move || {
            while asked.recv().is_ok() {
                // PASSIVE: copies what no reader still needs, without blocking the writer. A
                // failure (the file busy) leaves the WAL to the next checkpoint.
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        })
        .map_err(|e| format!("cannot start the store's checkpoint thread: {e}"))?;
    Ok(asks)
}

/// Applies the migrations the file lacks, in one immediate transaction (a second process opening
/// the same file waits for it).
fn migrate(conn: &mut Connection, location: &str) -> Result<(), Error> {
    let sql = |e: rusqlite::Error| Error::Sql(e.to_string());
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql)?;
    tx.execute_batch(schema::META).map_err(sql)?;
    let found: Option<String> = tx.query_row(schema::READ_VERSION, [], |r| r.get(0)).ok();
    let pending = schema::pending(found.as_deref(), location)?;
    if pending.is_empty() {
        return Ok(());
    }
    for migration in pending {
        tx.execute_batch(migration).map_err(sql)?;
    }
    tx.execute(schema::WRITE_VERSION, [schema::SCHEMA_VERSION.to_string()]).map_err(sql)?;
    tx.commit().map_err(sql)
}

/// The writer thread: answers jobs until every sender is gone.
fn writer(mut conn: Connection, queue: &mpsc::Receiver<Job>) {
    while let Ok(job) = queue.recv() {
        let query = match job {
            Job::Write(first) => {
                let (writes, query) = backend::batch(first, || queue.try_recv().ok());
                let together = write(&mut conn, &backend::statements(&writes));
                for alone in backend::answer_group(writes, together) {
                    let result = write(&mut conn, &backend::statements(std::slice::from_ref(&alone)));
                    backend::answer(alone, result);
                }
                query
            }
            other => Some(other),
        };
        match query {
            Some(Job::Query(Query { statement, done })) => {
                let _ = done.send(read(&conn, &statement));
            }
            Some(Job::Script(script)) => {
                let result = run_script(&mut conn, &script);
                let _ = script.done.send(result);
            }
            Some(Job::Write(_)) | None => {}
        }
    }
}

fn write(conn: &mut Connection, statements: &[&Stmt]) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    for s in statements {
        tx.prepare_cached(s.sql)?.execute(params_from_iter(s.params.iter().map(to_sql)))?;
    }
    tx.commit()
}

fn read(conn: &Connection, s: &Stmt) -> Result<Vec<Row>, Error> {
    let sql = |e: rusqlite::Error| Error::Sql(e.to_string());
    let mut statement = conn.prepare_cached(s.sql).map_err(sql)?;
    let columns = statement.column_count();
    let mut rows = statement.query(params_from_iter(s.params.iter().map(to_sql))).map_err(sql)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sql)? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(match row.get_ref(i).map_err(sql)? {
                rusqlite::types::ValueRef::Null => Param::Null,
                rusqlite::types::ValueRef::Integer(n) => Param::Int(n),
                rusqlite::types::ValueRef::Real(x) => Param::Real(x),
                rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                    Param::Text(String::from_utf8_lossy(t).into_owned())
                }
            });
        }
        out.push(values);
    }
    Ok(out)
}

fn to_sql(p: &Param) -> rusqlite::types::ToSqlOutput<'_> {
    use rusqlite::types::{ToSqlOutput, ValueRef};
    ToSqlOutput::Borrowed(match p {
        Param::Null => ValueRef::Null,
        Param::Int(n) => ValueRef::Integer(*n),
        Param::Real(x) => ValueRef::Real(*x),
        Param::Text(s) => ValueRef::Text(s.as_bytes()),
    })
}
