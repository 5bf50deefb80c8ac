//! The SQLite backend: one connection, in WAL mode, with a thread of its own. The thread takes
//! the writes waiting for it and commits them in one transaction (group commit); with
//! [`Durability::Full`] that is one fsync per group. A write made while the connection is idle
//! and nothing waits for the thread is committed on the caller's thread instead: the two thread
//! wake-ups of a hand-off cost more than a small commit, and a run whose steps follow each other
//! commits one at a time. Commits keep the order they were asked in either way: a write goes
//! inline only when no job is queued before it (`pending`, counted down by the thread while it
//! still holds the connection).
//!
//! Checkpoints (copying the WAL back into the database file, with an fsync of each even at
//! `synchronous=NORMAL`) run on a second connection and thread, once the WAL holds
//! [`CHECKPOINT_PAGES`]: a commit does not wait for one. Processes too short-lived for that
//! thread to finish (a `weir run` each) leave the WAL growing, and each process that opens the
//! file reads all of it (SQLite's recovery of the WAL index). So a process's first commit
//! checkpoints itself when it finds the WAL past [`OPENING_CHECKPOINT_PAGES`], and any commit
//! does past [`INLINE_CHECKPOINT_PAGES`], which bounds the WAL of a process the thread cannot
//! keep up with.

use crate::backend::{self, Isolation, Job, Param, Query, Row, Script, Stmt};
use crate::schema;
use crate::{Durability, Error};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, params_from_iter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// How many prepared statements a connection keeps.
const STATEMENT_CACHE: usize = 128;

/// How long a statement waits for another process's lock on the file before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The WAL size, in pages, at which a checkpoint starts (SQLite's own default threshold).
const CHECKPOINT_PAGES: i32 = 1000;

/// The WAL size, in pages, past which the writer checkpoints after a commit itself.
const INLINE_CHECKPOINT_PAGES: i32 = 4 * CHECKPOINT_PAGES;

/// The WAL size, in pages, past which a process's first commit checkpoints after it. Opening
/// the file reads each page of the WAL, and a checkpoint costs a few fsyncs: at this size, short
/// processes writing about 21 pages each (`weir run examples/hello.yaml`) read at most about 530
/// pages when they open the file and one in about 25 pays a checkpoint. Left to grow to the
/// 4,000 pages of [`INLINE_CHECKPOINT_PAGES`], the WAL made hello take 13.4 ms instead of 8.9
/// (docs/performance.md).
const OPENING_CHECKPOINT_PAGES: i32 = 512;

/// What the WAL file is cut back to when a write starts it over after a checkpoint.
const WAL_LIMIT_BYTES: u64 = 4 << 20;

#[derive(Clone, Debug)]
pub(crate) struct Sqlite {
    jobs: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    /// The file, for the read-only connections of [`Isolation::Read`] scripts.
    path: PathBuf,
}

/// What the writer thread and the callers that commit inline share.
#[derive(Debug)]
struct Shared {
    conn: Mutex<Connection>,
    /// Jobs handed to the thread and not yet answered.
    pending: AtomicUsize,
}

impl Sqlite {
    /// Opens (creating) the database at `path` and brings its schema up to date, then starts the
    /// writer thread.
    pub(crate) async fn open(path: &Path, durability: Durability) -> Result<Sqlite, Error> {
        let unreachable =
            |message: String| Error::Unreachable { location: path.display().to_string(), message };
        // A full disk or a held lock is said as such; any other failure means no store here.
        let failed = |e: rusqlite::Error| match error(e, path) {
            Error::Sql(message) => unreachable(message),
            named => named,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| unreachable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(failed)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
        // Every statement the store runs stays prepared (rusqlite keeps 16 by default: fewer than a
        // run's writes and the queue's and schedules' reads together, which would prepare again).
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let synchronous = match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        conn.execute_batch(&format!("PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA journal_size_limit = {WAL_LIMIT_BYTES};"))
            .map_err(failed)?;
        // The last connection to close would checkpoint the WAL, with two fsyncs, at the end of
        // every `weir run`; the WAL stays instead (commits in it are as safe as in the file) and
        // the checkpoint thread copies it back once it is large.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(failed)?;
        migrate(&mut conn, path)?;
        let checkpoints = checkpointer(path, flags).map_err(unreachable)?;
        // Setting the hook replaces SQLite's own checkpoints after commits.
        // A checkpoint is asked for once each time the WAL grows by CHECKPOINT_PAGES: until the
        // WAL starts over, it stays past the threshold, and asking after every commit would
        // checkpoint (with two fsyncs) nearly as often as it commits.
        let mut asked_at = 0;
        let mut first = true;
        let hook = move |wal: &mut rusqlite::hooks::Wal, pages: i32| {
            if pages < asked_at {
                asked_at = 0;
            }
            let inline_at = if first { OPENING_CHECKPOINT_PAGES } else { INLINE_CHECKPOINT_PAGES };
            first = false;
            if pages >= inline_at {
                // Passive, as the thread's: a reader in the way leaves the rest to the next one.
                let _ = wal.checkpoint();
            } else if pages >= asked_at + CHECKPOINT_PAGES {
                asked_at = pages;
                let _ = checkpoints.try_send(());
            }
            Ok(())
        };
        conn.wal_hook(Some(hook)).map_err(failed)?;
        let (jobs, queue) = mpsc::channel();
        let writes_to = path.to_owned();
        let shared = Arc::new(Shared { conn: Mutex::new(conn), pending: AtomicUsize::new(0) });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("weir-store".into())
            .spawn(move || writer(&thread_shared, &queue, &writes_to))
            .map_err(|e| unreachable(format!("cannot start the store's thread: {e}")))?;
        Ok(Sqlite { jobs, shared, path: path.to_path_buf() })
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
                        let result =
                            read_only(&path).and_then(|mut conn| run_script(&mut conn, &script, &path));
                        let _ = script.done.send(result);
                    })
                    .map(|_| ())
                    .map_err(|e| Error::Sql(format!("cannot start a thread to read the store: {e}")))
            }
            Job::Write(write) => match self.inline(write) {
                None => Ok(()),
                Some(write) => self.queue(Job::Write(write)),
            },
            job => self.queue(job),
        }
    }

    /// Commits `w` on this thread if the connection is free and no job waits before it;
    /// otherwise gives it back, to be queued.
    fn inline(&self, w: backend::Write) -> Option<backend::Write> {
        let Ok(mut conn) = self.shared.conn.try_lock() else { return Some(w) };
        if self.shared.pending.load(Ordering::Acquire) > 0 {
            return Some(w);
        }
        let result = write(&mut conn, &backend::statements(std::slice::from_ref(&w)));
        backend::answer(w, result.map_err(|e| error(e, &self.path)));
        None
    }

    fn queue(&self, job: Job) -> Result<(), Error> {
        self.shared.pending.fetch_add(1, Ordering::AcqRel);
        self.jobs.send(job).map_err(|_| {
            self.shared.pending.fetch_sub(1, Ordering::AcqRel);
            backend::gone()
        })
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
fn run_script(conn: &mut Connection, script: &Script, path: &Path) -> Result<Vec<Vec<Row>>, Error> {
    let sql = |e| error(e, path);
    let behavior = match script.isolation {
        Isolation::Read => rusqlite::TransactionBehavior::Deferred,
        Isolation::Write | Isolation::Committed => rusqlite::TransactionBehavior::Immediate,
    };
    let tx = conn.transaction_with_behavior(behavior).map_err(sql)?;
    let rows = script.statements.iter().map(|s| read(&tx, s)).collect::<Result<Vec<_>, _>>().map_err(sql)?;
    tx.commit().map_err(sql)?;
    Ok(rows)
}

/// Starts the thread that checkpoints the WAL of the database at `path` when asked (a request
/// made while one runs is dropped: that one covers it), until the sender is gone. Its connection
/// is opened at the first request, so a short run never pays for it.
fn checkpointer(path: &Path, flags: OpenFlags) -> Result<mpsc::SyncSender<()>, String> {
    let path = path.to_owned();
    let (asks, asked) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("weir-store-checkpoint".into())
        .spawn(move || {
            let mut conn = None;
            while asked.recv().is_ok() {
                if conn.is_none() {
                    conn = Connection::open_with_flags(&path, flags)
                        .and_then(|c| c.busy_timeout(BUSY_TIMEOUT).map(|()| c))
                        .and_then(|c| {
                            c.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map(|_| c)
                        })
                        .ok();
                }
                // PASSIVE: copies what no reader still needs, without blocking the writer. A
                // failure (the file busy, or not opened) leaves the WAL to the next checkpoint.
                if let Some(conn) = &conn {
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            }
        })
        .map_err(|e| format!("cannot start the store's checkpoint thread: {e}"))?;
    Ok(asks)
}

/// Applies the migrations the file lacks, in one immediate transaction (a second process opening
/// the same file waits for it). A file found current by one read (the common case) takes no
/// lock: processes that only read (`weir runs list`, `weir status`) never hold up a writer.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), Error> {
    let sql = |e| error(e, path);
    let location = path.display().to_string();
    let stored: Option<String> = conn.query_row(schema::READ_VERSION, [], |r| r.get(0)).ok();
    if let Some(version) = stored
        && schema::pending(Some(&version), &location)?.is_empty()
    {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql)?;
    tx.execute_batch(schema::META).map_err(sql)?;
    let found: Option<String> = tx.query_row(schema::READ_VERSION, [], |r| r.get(0)).ok();
    let pending = schema::pending(found.as_deref(), &location)?;
    if pending.is_empty() {
        return Ok(());
    }
    for migration in pending {
        tx.execute_batch(&migration.replace(schema::WITHOUT_ROWID, "WITHOUT ROWID")).map_err(sql)?;
    }
    tx.execute(schema::WRITE_VERSION, [schema::SCHEMA_VERSION.to_string()]).map_err(sql)?;
    tx.commit().map_err(sql)
}

/// The writer thread: answers jobs until every sender is gone.
fn writer(shared: &Shared, queue: &mpsc::Receiver<Job>, path: &Path) {
    while let Ok(job) = queue.recv() {
        let mut conn = shared.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = 1;
        let query = match job {
            Job::Write(first) => {
                let (writes, query) = backend::batch(first, || {
                    let next = queue.try_recv().ok();
                    taken += usize::from(next.is_some());
                    next
                });
                let together = write(&mut conn, &backend::statements(&writes));
                for alone in backend::answer_group(writes, together.map_err(|e| error(e, path))) {
                    let result = write(&mut conn, &backend::statements(std::slice::from_ref(&alone)));
                    backend::answer(alone, result.map_err(|e| error(e, path)));
                }
                query
            }
            other => Some(other),
        };
        match query {
            Some(Job::Query(Query { statement, done })) => {
                let _ = done.send(read(&conn, &statement).map_err(|e| error(e, path)));
            }
            Some(Job::Script(script)) => {
                let result = run_script(&mut conn, &script, path);
                let _ = script.done.send(result);
            }
            Some(Job::Write(_)) | None => {}
        }
        // Counted down while the connection is still held: an inline write that finds the count
        // at zero comes after every job queued before it.
        shared.pending.fetch_sub(taken, Ordering::AcqRel);
    }
}

fn write(conn: &mut Connection, statements: &[&Stmt]) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    for s in statements {
        tx.prepare_cached(s.sql)?.execute(params_from_iter(s.params.iter().map(to_sql)))?;
    }
    tx.commit()
}

fn read(conn: &Connection, s: &Stmt) -> Result<Vec<Row>, rusqlite::Error> {
    let mut statement = conn.prepare_cached(s.sql)?;
    let columns = statement.column_count();
    let mut rows = statement.query(params_from_iter(s.params.iter().map(to_sql)))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(match row.get_ref(i)? {
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

/// What a failed statement on the database at `path` means for its user: a full disk and a lock
/// held past [`BUSY_TIMEOUT`] (with who holds it) are named; anything else is SQLite's message.
fn error(e: rusqlite::Error, path: &Path) -> Error {
    let location = path.display().to_string();
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => Error::Full { location, message: e.to_string() },
        Some(rusqlite::ErrorCode::DatabaseBusy) => {
            Error::Locked { location, waited: BUSY_TIMEOUT, holders: lock_holders(path) }
        }
        _ => Error::Sql(e.to_string()),
    }
}

/// The other processes holding a write lock on the database at `path` or on its WAL index
/// (`-shm`, where WAL mode takes its writer's lock), each as `pid 4242 (its command line)`.
/// Read from `/proc/locks`, so on Linux only; empty where that cannot tell.
#[cfg(target_os = "linux")]
fn lock_holders(path: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut shm = path.as_os_str().to_owned();
    shm.push("-shm");
    // Each file as `/proc/locks` names it: major and minor device number in hex, then the inode.
    let files: Vec<String> = [path.as_os_str(), shm.as_os_str()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| {
            let dev = m.dev();
            let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff);
            let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0xff);
            format!("{major:02x}:{minor:02x}:{}", m.ino())
        })
        .collect();
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else { return Vec::new() };
    let mut pids: Vec<u32> = locks
        .lines()
        .filter_map(|line| {
            // `1: POSIX  ADVISORY  WRITE 4242 08:01:1234 120 120`; waiters (`->`) hold nothing.
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [_, "POSIX", _, "WRITE", pid, file, ..] if files.iter().any(|f| f == file) => {
                    pid.parse().ok()
                }
                _ => None,
            }
        })
        .filter(|&pid| pid != std::process::id())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids.into_iter()
        .map(|pid| {
            let command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let command = String::from_utf8_lossy(&command).replace('\0', " ");
            let command = command.split_whitespace().collect::<Vec<_>>().join(" ");
            match command.as_str() {
                "" => format!("pid {pid}"),
                command => format!("pid {pid} ({})", truncate(command, 80)),
            }
        })
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn lock_holders(_: &Path) -> Vec<String> {
    Vec::new()
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
#[cfg(target_os = "linux")]
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
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
