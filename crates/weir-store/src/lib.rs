//! weir's store: the runs, steps, events and pipeline versions that make runs durable, in SQLite
//! (embedded, the default: a file under `WEIR_HOME`) or PostgreSQL (cargo feature `postgres`).
//!
//! One API over both backends, and it is the only way in: the binary, and later the server, read
//! and write through [`Store`]. Both run the same SQL, written once (`$1`-style parameters, which
//! SQLite numbers the same way when they first appear in order), so there is one migration
//! history (`schema`) and one mapping of events to rows (`record`). A backend only runs
//! statements: each owns one connection on a writer of its own (a thread for SQLite, a task for
//! PostgreSQL) that takes every commit waiting when it gets to them and writes them in one
//! transaction, which is the group commit a fan-out of steps needs.
//!
//! The engine hands the store its events ([`weir_engine::RunStore`]); the tables are derived from
//! them as they are written: `runs`, `steps` (one row per step, and per `foreach` item), `attempts`,
//! the append-only `events`, `pipelines` (every version by content hash) and `blobs` (a value
//! larger than [`record::INLINE_BYTES`] is stored once, by its hash, however many rows name it).
//!
//! Maintenance goes through the same API: `admin` deletes old runs, checks that the rows hold
//! together and exports tables; `backup` writes and restores an archive of every table
//! (`archive`), in a format both backends read. `metrics` reads what `weir status` and `weir
//! metrics` report, computing percentiles from the durations it reads.

mod admin;
mod approval;
mod archive;
mod backend;
mod backup;
mod bench;
mod cancel;
pub mod cron;
mod health;
mod metrics;
mod query;
mod queue;
mod record;
mod resume;
mod schedule;
mod schema;
mod sqlite;

#[cfg(feature = "postgres")]
mod postgres;

use backend::Backend;
use futures_util::future::BoxFuture;
use std::path::PathBuf;
use weir_pipeline::Status;

pub use admin::{CleanupFilter, ExportWhat, Exported};
pub use approval::{ApprovalKey, Given, Waiting};
pub use backup::BackupSummary;
pub use bench::SavedBench;
pub use health::{Integrity, Worker};
pub use query::{RunFilter, RunState};
pub use queue::{Answered, Claimed, Queued, Submission, Submitted};
pub use resume::{Interrupted, StoredBundle, StoredPlan};
pub use schedule::{Added, CatchUp, Fired, GRACE_MS, MAX_CATCH_UP, NewSchedule};
pub use schema::SCHEMA_VERSION;

/// Where a store is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An SQLite database file (created with its directory when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user:password@host/db`); an `options` parameter
    /// such as `?options=-csearch_path%3Dweir` chooses the schema.
    Postgres(String),
}

impl Location {
    /// A `postgres://` or `postgresql://` URL names PostgreSQL; anything else is an SQLite path
    /// (`sqlite://` stripped).
    pub fn parse(s: &str) -> Location {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Location::Postgres(s.to_owned())
        } else {
            Location::Sqlite(PathBuf::from(s.strip_prefix("sqlite://").unwrap_or(s)))
        }
    }
}

/// The location as messages show it: a URL's password is hidden.
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&redact_url(url)),
        }
    }
}

/// `url` with the password of its user info replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// What a commit survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// A crash of weir: SQLite in WAL mode with `synchronous=NORMAL`; PostgreSQL with the
    /// writer's `synchronous_commit = off`. A crash of what holds the data (a power loss; on
    /// PostgreSQL, of its server) may lose the last commits (on PostgreSQL, at most three times
    /// the server's `wal_writer_delay`: 0.6 s by default), never consistency.
    #[default]
    Normal,
    /// That crash too: SQLite with `synchronous=FULL`, one fsync per group of commits; PostgreSQL
    /// with the server's own `synchronous_commit` (`on` unless configured otherwise: a commit
    /// returns once the server has flushed it).
    Full,
}

/// Why the store could not do what was asked.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// The store cannot be opened or reached.
    #[error("cannot open the store at {location}: {message}")]
    Unreachable { location: String, message: String },
    /// The store was written by a newer weir.
    #[error(
        "the store at {location} has schema version {found}, newer than this weir knows ({known}); use a newer weir"
    )]
    TooNew { location: String, found: i64, known: i64 },
    /// The disk (or the database server) has no room for a write. The write is not made; what
    /// was committed before is kept.
    #[error("the store at {location} is out of space ({message}); nothing was written past its last commit")]
    Full { location: String, message: String },
    /// Another process kept the SQLite file locked for longer than the store waits.
    #[error("the store at {location} stayed locked by another process for {} s: {}", waited.as_secs(), holders_text(holders))]
    Locked { location: String, waited: std::time::Duration, holders: Vec<String> },
    /// A statement failed.
    #[error("store: {0}")]
    Sql(String),
    /// A run id prefix that more than one run starts with.
    #[error("\"{0}\" is the start of more than one run id; give more of it")]
    Ambiguous(String),
    /// What the store holds does not read back as weir wrote it.
    #[error("store: {0}")]
    Corrupt(String),
    /// A backup that cannot be restored as it is: damaged, truncated, or not a weir backup.
    #[error("the backup is not valid: {0}")]
    InvalidBackup(String),
    /// A backup written by a newer weir.
    #[error("the backup has schema version {found}, newer than this weir knows ({known}); use a newer weir")]
    BackupTooNew { found: i64, known: i64 },
    /// A restore into a store that already holds rows, not asked to replace them.
    #[error("the store at {location} is not empty")]
    NotEmpty { location: String },
}

/// Who holds a lock, as [`Error::Locked`] says it.
fn holders_text(holders: &[String]) -> String {
    if holders.is_empty() {
        "the process holding it could not be found (it may run on another machine or in another container)"
            .into()
    } else {
        format!("held by {}; wait for it to finish, or stop it", holders.join(", "))
    }
}

/// What the runs a store records are started with, besides their events.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunMeta {
    /// The digest of the bundle (see [`Store::put_bundle`]) a root run starts with.
    bundle: Option<String>,
    /// The process that runs them (see [`Store::recording`]).
    owner: Option<String>,
    /// The run a root run replays (see [`Store::replaying`]).
    replay_of: Option<String>,
}

/// A store, open. Cheap to clone: clones share the backend's writer.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    location: Location,
    meta: std::sync::Arc<RunMeta>,
    waiting: Waiting,
    /// Told of answers to approvals, on PostgreSQL; opened by the first wait for one.
    #[cfg(feature = "postgres")]
    listener: std::sync::Arc<tokio::sync::OnceCell<postgres::Listener>>,
}

impl Store {
    /// Opens the store at `location`, creating or migrating its schema.
    pub async fn open(location: Location, durability: Durability) -> Result<Store, Error> {
        let backend = match &location {
            Location::Sqlite(path) => Backend::Sqlite(sqlite::Sqlite::open(path, durability).await?),
            #[cfg(feature = "postgres")]
            Location::Postgres(url) => Backend::Postgres(postgres::Postgres::open(url, durability).await?),
            #[cfg(not(feature = "postgres"))]
            Location::Postgres(_) => {
                return Err(Error::Unreachable {
                    location: location.to_string(),
                    message: "this weir was built without PostgreSQL (cargo feature `postgres`)".into(),
                });
            }
        };
        Ok(Store {
            backend,
            location,
            meta: Default::default(),
            waiting: Waiting::default(),
            #[cfg(feature = "postgres")]
            listener: Default::default(),
        })
    }

    /// This store, recording the runs it is given as started with `bundle` (a digest from
    /// [`Store::put_bundle`], which `weir resume` rebuilds the run from) by the process `owner`
    /// (which `weir resume` checks is gone before it continues a run that is still `running`).
    /// Its [`Store::waiting`] counts the waits of those runs only.
    pub fn recording(mut self, bundle: Option<String>, owner: Option<String>) -> Store {
        self.meta = std::sync::Arc::new(RunMeta { bundle, owner, replay_of: None });
        self.waiting = Waiting::default();
        self
    }

    /// This store, recording the root run it is given as a replay of run `of` (`weir replay`).
    pub fn replaying(mut self, of: &str) -> Store {
        let meta = RunMeta { replay_of: Some(of.to_owned()), ..(*self.meta).clone() };
        self.meta = std::sync::Arc::new(meta);
        self
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Runs the cheapest statement there is: whether the store answers now.
    pub async fn ping(&self) -> Result<(), Error> {
        health::ping(&self.backend).await
    }

    /// The schema version the store holds. Opening a store migrates it, so an open store holds
    /// [`SCHEMA_VERSION`] unless another weir changed it since.
    pub async fn schema_version(&self) -> Result<Option<i64>, Error> {
        health::schema_version(&self.backend).await
    }

    /// SQLite's `PRAGMA quick_check`; on PostgreSQL, [`Integrity::Unsupported`].
    pub async fn quick_check(&self) -> Result<Integrity, Error> {
        health::quick_check(&self.backend).await
    }

    /// The registered workers, by id.
    pub async fn workers(&self) -> Result<Vec<Worker>, Error> {
        health::workers(&self.backend).await
    }

    /// Keeps the text of each pipeline version of `bundle` (once per digest) and how they run
    /// each other, and returns the digest that names that whole set of versions.
    pub async fn put_bundle(&self, bundle: &weir_pipeline::Bundle, now_ms: u64) -> Result<String, Error> {
        let (statements, digest) = record::bundle(bundle, now_ms);
        self.backend.write(statements).await?;
        Ok(digest)
    }

    /// The pipeline versions stored as bundle `digest`, if the store has them.
    pub async fn bundle(&self, digest: &str) -> Result<Option<StoredBundle>, Error> {
        resume::bundle(&self.backend, digest).await
    }

    /// What resuming run `id` (or a unique prefix of it) needs: its record, the versions it
    /// started with, and the state the engine continues from. Whether it may be resumed (its
    /// status, its owner) is for the caller to decide.
    pub async fn interrupted(&self, id: &str) -> Result<Option<Interrupted>, Error> {
        resume::interrupted(&self.backend, id).await
    }

    /// The text of the pipeline version `digest`, if the store has it.
    pub async fn pipeline(&self, digest: &str) -> Result<Option<String>, Error> {
        query::pipeline(&self.backend, digest).await
    }

    /// The runs `filter` selects, the newest first.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<weir_api::StoredRun>, Error> {
        query::runs(&self.backend, filter).await
    }

    /// A run with its values, steps and child runs. `id` may be a unique prefix of a run id.
    pub async fn run(&self, id: &str) -> Result<Option<weir_api::StoredRunDetail>, Error> {
        query::run(&self.backend, id).await
    }

    /// Deletes the runs `filter` selects that have ended, with their sub-pipeline runs, steps,
    /// attempts, events, and the values no remaining row names, in one transaction; or, with
    /// `dry_run`, says what that would delete (the same set, from the same SQL).
    pub async fn cleanup(&self, filter: &CleanupFilter) -> Result<weir_api::CleanupReport, Error> {
        admin::cleanup(&self.backend, filter).await
    }

    /// Every row that does not hold together, read in one snapshot: rows of a missing run or
    /// parent, names of a missing bundle, pipeline version or value, keys that are not the hash
    /// of what they name. Empty for a sound store.
    pub async fn check(&self) -> Result<Vec<weir_api::Problem>, Error> {
        admin::check(&self.backend).await
    }

    /// The rows of `what`, at or after `since_ms` when given, in time order.
    pub async fn export(&self, what: ExportWhat, since_ms: Option<u64>) -> Result<Exported, Error> {
        admin::export(&self.backend, what, since_ms).await
    }

    /// Every table, read in one snapshot, as a backup archive (see `backup`).
    pub async fn backup(
        &self,
        created_at: u64,
        weir_version: &str,
    ) -> Result<(Vec<u8>, BackupSummary), Error> {
        let backend = match self.location {
            Location::Sqlite(_) => "sqlite",
            Location::Postgres(_) => "postgres",
        };
        let info = backup::BackupInfo { backend, weir_version: weir_version.to_owned(), created_at };
        backup::backup(&self.backend, &info).await
    }

    /// Restores the backup `archive` after checking all of it (every checksum, the manifest, the
    /// schema version); nothing is written unless it passes. A store that holds anything is
    /// refused unless `replace`, which deletes what it holds in the restore's transaction.
    pub async fn restore(&self, archive: &[u8], replace: bool) -> Result<BackupSummary, Error> {
        let verified = backup::verify(archive)?;
        let summary = verified.summary.clone();
        backup::restore(&self.backend, &self.location.to_string(), verified, replace).await?;
        Ok(summary)
    }

    /// Asks the process running run `id` (a full id) to cancel it, for `reason`: whether the run
    /// was still going, so there was something to ask. The process finds the request through
    /// [`Store::cancel_requests`].
    pub async fn request_cancel(&self, id: &str, reason: Option<&str>, now_ms: u64) -> Result<bool, Error> {
        cancel::request(&self.backend, id, reason, now_ms).await
    }

    /// The root runs that process `owner` runs and was asked to cancel; a process running a run
    /// asks every second or so.
    pub async fn cancel_requests(&self, owner: &str) -> Result<Vec<String>, Error> {
        cancel::requests(&self.backend, owner).await
    }

    /// Ends run `id` as cancelled in the store itself, for a run no process runs any more: its
    /// unfinished steps, items and sub-pipeline runs get their cancellation events, and its
    /// approvals are settled as rejected, in one transaction. `None` without such a run; else
    /// its status after (the one it had, when it had ended).
    pub async fn cancel(&self, id: &str, reason: Option<&str>, now_ms: u64) -> Result<Option<Status>, Error> {
        cancel::cancel(&self.backend, id, reason, now_ms).await
    }

    /// Whether a run of this store waits for an answer in this process now.
    pub fn waiting(&self) -> Waiting {
        self.waiting.clone()
    }

    /// The questions of `approval` steps that wait for an answer, the oldest first. Timeouts
    /// that passed by `now_ms` are settled first.
    pub async fn pending_approvals(&self, now_ms: u64) -> Result<Vec<weir_api::StoredApproval>, Error> {
        approval::pending(&self.backend, now_ms).await
    }

    /// The questions one run asked, answered or not (timeouts settled as by
    /// [`Store::pending_approvals`]).
    pub async fn approvals(&self, run_id: &str, now_ms: u64) -> Result<Vec<weir_api::StoredApproval>, Error> {
        approval::of_run(&self.backend, run_id, now_ms).await
    }

    /// Records a person's answer to a question, unless it has one already: whether it was
    /// taken. A waiting run continues with it (a run no process runs, once it is resumed).
    pub async fn answer(&self, key: ApprovalKey<'_>, given: &Given) -> Result<bool, Error> {
        approval::decide(&self.backend, key, given).await
    }

    /// Adds a schedule (or, with `replace`, replaces the one of that name); its first tick is
    /// the first after `now_ms`.
    pub async fn add_schedule(
        &self,
        new: &NewSchedule<'_>,
        replace: bool,
        now_ms: u64,
    ) -> Result<Added, Error> {
        schedule::add(&self.backend, new, replace, now_ms as i64).await
    }

    /// Every schedule, by name, with its last tick.
    pub async fn schedules(&self) -> Result<Vec<weir_api::StoredSchedule>, Error> {
        schedule::list(&self.backend).await
    }

    pub async fn schedule(&self, name: &str) -> Result<Option<weir_api::StoredSchedule>, Error> {
        schedule::one(&self.backend, name).await
    }

    /// Deletes a schedule and the record of its ticks (not their runs); whether there was one.
    /// Saves a `weir bench` report (`--save NAME`).
    pub async fn save_bench(&self, saved: &SavedBench) -> Result<(), Error> {
        bench::save(&self.backend, saved).await
    }

    /// The newest `limit` reports saved as `name`, oldest first.
    pub async fn bench_history(&self, name: &str, limit: usize) -> Result<Vec<SavedBench>, Error> {
        bench::history(&self.backend, name, limit).await
    }

    /// Every name reports were saved as, with how many and when the newest was saved.
    pub async fn bench_names(&self) -> Result<Vec<(String, u64, u64)>, Error> {
        bench::names(&self.backend).await
    }

    pub async fn remove_schedule(&self, name: &str) -> Result<bool, Error> {
        schedule::remove(&self.backend, name).await
    }

    /// Pauses a schedule, or resumes it from its first tick after `now_ms` (the ticks in between
    /// are missed): `None` when there is no such schedule, else whether this changed it.
    pub async fn pause_schedule(&self, name: &str, paused: bool, now_ms: u64) -> Result<Option<bool>, Error> {
        schedule::set_paused(&self.backend, name, paused, now_ms as i64).await
    }

    /// Fires the due ticks of every active schedule, each exactly once across every process
    /// that calls this: its run is queued, `pending`, for a worker. Returns the ticks this call
    /// fired, with the ids of their runs.
    pub async fn fire_schedules(&self, now_ms: u64) -> Result<Vec<Fired>, Error> {
        schedule::fire_due(&self.backend, now_ms as i64).await
    }

    /// Per pipeline (its `name`; all of them without `pipeline`), the root runs started at or
    /// after `since_ms` and their steps: counts by status, failure rate, duration percentiles.
    pub async fn metrics(
        &self,
        since_ms: u64,
        pipeline: Option<&str>,
    ) -> Result<Vec<weir_api::PipelineMetrics>, Error> {
        metrics::pipelines(&self.backend, since_ms, pipeline).await
    }

    /// Root runs that have not ended (`pending`, `running`, `waiting`), oldest first.
    pub async fn in_flight(&self, now_ms: u64) -> Result<Vec<weir_api::InFlight>, Error> {
        metrics::in_flight(&self.backend, now_ms).await
    }

    /// How many approval questions wait for an answer, and the oldest's time (read only).
    pub async fn approvals_waiting(&self) -> Result<weir_api::ApprovalsWaiting, Error> {
        metrics::approvals(&self.backend).await
    }

    /// The room the store takes: SQLite's file and its write-ahead log, or PostgreSQL's
    /// `pg_database_size` of the database the store is in (its tables share it with nothing
    /// else in a database of its own; a shared database counts everything in it).
    pub async fn size(&self) -> Result<weir_api::StoreSize, Error> {
        match &self.location {
            Location::Sqlite(path) => {
                let len = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
                let mut wal = path.clone().into_os_string();
                wal.push("-wal");
                let bytes = len(path) + len(std::path::Path::new(&wal));
                Ok(weir_api::StoreSize { backend: "sqlite".into(), bytes, measured: "file + WAL".into() })
            }
            Location::Postgres(_) => Ok(weir_api::StoreSize {
                backend: "postgres".into(),
                bytes: metrics::database_size(&self.backend).await?,
                measured: "pg_database_size".into(),
            }),
        }
    }

    /// When `weir metrics reset` last started a reporting window, if it did.
    pub async fn metrics_since(&self) -> Result<Option<u64>, Error> {
        metrics::since(&self.backend).await
    }

    /// Starts a reporting window at `now_ms` (nothing is deleted).
    pub async fn reset_metrics(&self, now_ms: u64) -> Result<(), Error> {
        metrics::reset(&self.backend, now_ms).await
    }

    /// What tells a wait for an answer that one may have come, if anything does (PostgreSQL's
    /// notifications; SQLite's waits read their question again).
    async fn wakeups(&self) -> Result<Option<tokio::sync::watch::Receiver<u64>>, Error> {
        self.notifications(approval::CHANNEL).await
    }

    /// What tells a wait for the end of runs that one may have ended, if anything does
    /// (PostgreSQL's notifications, listened for from this call on; on SQLite, waits read the
    /// run again). The value changes when a root run ends (or stops, to be continued).
    pub async fn run_ends(&self) -> Result<Option<tokio::sync::watch::Receiver<u64>>, Error> {
        self.notifications(record::ENDED_CHANNEL).await
    }

    /// A receiver of PostgreSQL channel `channel`'s notifications, on the store's one listening
    /// connection (opened by the first); none on SQLite.
    #[cfg_attr(not(feature = "postgres"), expect(unused_variables, reason = "only PostgreSQL notifies"))]
    async fn notifications(
        &self,
        channel: &'static str,
    ) -> Result<Option<tokio::sync::watch::Receiver<u64>>, Error> {
        match &self.location {
            #[cfg(feature = "postgres")]
            Location::Postgres(url) => {
                let listener = self.listener.get_or_try_init(|| postgres::Listener::open(url)).await?;
                Ok(Some(listener.listen(channel).await?))
            }
            _ => Ok(None),
        }
    }

    /// Puts `runs` in the queue, `pending`, in one transaction (their bundles must be stored
    /// already: [`Store::put_bundle`]).
    pub async fn enqueue(&self, runs: &[Submission], now_ms: u64) -> Result<(), Error> {
        queue::enqueue(&self.backend, runs, now_ms).await
    }

    /// Records that the worker `worker`, the process `owner`, takes runs from the queue.
    pub async fn register_worker(&self, worker: &str, owner: &str, now_ms: u64) -> Result<(), Error> {
        queue::register(&self.backend, worker, owner, now_ms).await
    }

    /// Claims up to `limit` queued runs for `worker`, each leased until `lease_until`: runs
    /// never claimed, released, or whose last lease passed by `now_ms`, and none that waits
    /// for an answer. No two claims get the same run while its lease lasts.
    pub async fn claim(
        &self,
        worker: &str,
        limit: usize,
        lease_until: u64,
        now_ms: u64,
    ) -> Result<Vec<Claimed>, Error> {
        queue::claim(&self.backend, worker, limit, lease_until, now_ms).await
    }

    /// A heartbeat of `worker`: its leases last until `lease_until` now. Returns the runs it
    /// still holds; one it lost (its lease passed and another worker claimed it) is not there.
    pub async fn heartbeat(&self, worker: &str, lease_until: u64, now_ms: u64) -> Result<Vec<String>, Error> {
        queue::heartbeat(&self.backend, worker, lease_until, now_ms).await
    }

    /// Gives run `run_id` back to the queue, to be claimed at once, if `worker` holds it.
    pub async fn release(&self, worker: &str, run_id: &str, now_ms: u64) -> Result<(), Error> {
        queue::release(&self.backend, worker, run_id, now_ms).await
    }

    /// `worker` stops: the runs it holds go back to the queue and its row goes.
    pub async fn retire_worker(&self, worker: &str, now_ms: u64) -> Result<(), Error> {
        queue::retire(&self.backend, worker, now_ms).await
    }

    /// Takes run `run_id` out of the queue (a run found ended when claimed).
    pub async fn dequeue(&self, run_id: &str) -> Result<(), Error> {
        queue::dequeue(&self.backend, run_id).await
    }

    /// The status, seed, input and bundle of run `run_id`, in one read.
    pub async fn submitted(&self, run_id: &str) -> Result<Option<Submitted>, Error> {
        queue::submitted(&self.backend, run_id).await
    }

    /// Whether run `run_id` is in the queue, and who holds it.
    pub async fn queued(&self, run_id: &str) -> Result<Queued, Error> {
        queue::queued(&self.backend, run_id).await
    }

    /// Up to `limit` root runs left `waiting` by a process that no longer runs them (none holds
    /// them in the queue), whose questions all have an answer. Timeouts that passed by `now_ms`
    /// are settled first.
    pub async fn answered_runs(&self, limit: usize, now_ms: u64) -> Result<Vec<Answered>, Error> {
        approval::settle_expired(&self.backend, now_ms).await?;
        queue::answered(&self.backend, limit).await
    }

    /// Claims for `worker` a run that is in no queue (one of [`Store::answered_runs`]), unless
    /// another worker did first.
    pub async fn adopt(
        &self,
        worker: &str,
        run_id: &str,
        lease_until: u64,
        now_ms: u64,
    ) -> Result<Option<Claimed>, Error> {
        queue::adopt(&self.backend, worker, run_id, lease_until, now_ms).await
    }

    /// What tells an idle worker that runs were queued or given back, if anything does
    /// (PostgreSQL's notifications; on SQLite workers poll).
    pub async fn queue_wakeups(&self) -> Result<Option<tokio::sync::watch::Receiver<u64>>, Error> {
        self.notifications(queue::CHANNEL).await
    }

    /// The run's events, and its sub-pipeline runs', in `seq` order, from `from_seq` on (0 for
    /// all of them; the `seq` after the last one seen to follow a run as it goes).
    pub async fn events(&self, run_id: &str, from_seq: u64) -> Result<Vec<weir_api::Event>, Error> {
        query::events(&self.backend, run_id, from_seq).await
    }

    /// Run `run_id`'s status, owner and cancel request, read in one row: cheap enough to ask
    /// every few hundred milliseconds.
    pub async fn run_state(&self, run_id: &str) -> Result<Option<RunState>, Error> {
        query::state(&self.backend, run_id).await
    }
}

impl weir_engine::RunStore for Store {
    fn commit<'a>(
        &'a self,
        events: &'a [weir_engine::Event],
    ) -> BoxFuture<'a, Result<(), weir_engine::StoreError>> {
        Box::pin(async move {
            let mut statements = record::events(events, &self.meta)
                .map_err(|e| weir_engine::StoreError::new(e.to_string()))?;
            let ended = events.iter().filter_map(record::root_run_ended);
            statements.extend(ended.filter_map(|run_id| self.backend.notify(record::ENDED_CHANNEL, run_id)));
            self.backend.write(statements).await.map_err(|e| weir_engine::StoreError::new(e.to_string()))
        })
    }

    fn answer<'a>(
        &'a self,
        run_id: &'a str,
        at: &'a weir_engine::StepAt,
    ) -> BoxFuture<'a, Result<weir_engine::Answer, weir_engine::StoreError>> {
        Box::pin(async move {
            let failed = |e: Error| weir_engine::StoreError::new(e.to_string());
            let wakeups = self.wakeups().await.map_err(failed)?;
            let key = ApprovalKey { run_id, step: &at.step, item: at.item };
            approval::wait(&self.backend, wakeups, &self.waiting, key).await.map_err(failed)
        })
    }

    fn answered<'a>(
        &'a self,
        run_id: &'a str,
        at: &'a weir_engine::StepAt,
    ) -> BoxFuture<'a, Result<Option<weir_engine::Answer>, weir_engine::StoreError>> {
        Box::pin(async move {
            let key = ApprovalKey { run_id, step: &at.step, item: at.item };
            approval::answered(&self.backend, key)
                .await
                .map_err(|e| weir_engine::StoreError::new(e.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_hide_passwords() {
        assert_eq!(Location::parse("sqlite://runs.db"), Location::Sqlite("runs.db".into()));
        assert_eq!(Location::parse(".weir/weir.db"), Location::Sqlite(".weir/weir.db".into()));
        let pg = Location::parse("postgres://ada:s3cret@db.example:5432/weir?sslmode=disable");
        assert_eq!(pg.to_string(), "postgres://ada:***@db.example:5432/weir?sslmode=disable");
        assert!(!pg.to_string().contains("s3cret"));
        assert_eq!(Location::parse("postgresql://ada@db/weir").to_string(), "postgresql://ada@db/weir");
        assert_eq!(redact_url("postgres://a:b:c@h/d"), "postgres://a:***@h/d");
    }
}
