//! The one migration history of both backends. Migration `n` (1-based) takes a store from schema
//! version `n - 1` to `n`; the version is kept in `weir_meta` (as is the `metrics_since` mark of
//! `weir metrics reset`, which needed no migration). A store at a version newer than
//! [`SCHEMA_VERSION`] was written by a newer weir and is refused, untouched.
//!
//! The SQL is portable: `TEXT`, `BIGINT` and `DOUBLE PRECISION` columns, `ON CONFLICT` upserts.
//! The one dialect mark is [`WITHOUT_ROWID`], a comment to PostgreSQL that the SQLite backend
//! makes real: the tables written at every step are then clustered on their primary key, one
//! b-tree each instead of a table and its key's index, so a commit writes about a quarter fewer
//! pages. (Stores created before it have the plain tables; the SQL reads both the same.)
//! A step row's `item` is -1 for the step itself and the index of a `foreach` item otherwise (a
//! primary key cannot hold NULL in PostgreSQL).

/// The schema version this weir writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Creates the table that holds the version, when it is missing.
pub(crate) const META: &str =
    "CREATE TABLE IF NOT EXISTS weir_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

/// See the module's documentation.
pub(crate) const WITHOUT_ROWID: &str = "/*WITHOUT ROWID*/";

pub(crate) const READ_VERSION: &str = "SELECT value FROM weir_meta WHERE key = 'schema_version'";

pub(crate) const WRITE_VERSION: &str = "INSERT INTO weir_meta (key, value) VALUES ('schema_version', $1) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: runs, their steps and attempts, the event log, pipeline versions, values by hash.
    "CREATE TABLE pipelines (
        digest TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        text TEXT NOT NULL,
        stored_at BIGINT NOT NULL
    );
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        pipeline TEXT NOT NULL,
        digest TEXT NOT NULL,
        parent_run TEXT,
        parent_step TEXT,
        parent_item BIGINT,
        status TEXT NOT NULL,
        seed TEXT NOT NULL,
        input TEXT,
        input_blob TEXT,
        output TEXT,
        output_blob TEXT,
        error TEXT,
        error_kind TEXT,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        duration_ms DOUBLE PRECISION
    );
    CREATE INDEX runs_by_start ON runs (started_at);
    CREATE INDEX runs_by_parent ON runs (parent_run);
    CREATE TABLE steps (
        run_id TEXT NOT NULL,
        step TEXT NOT NULL,
        item BIGINT NOT NULL,
        kind TEXT NOT NULL,
        first_seq BIGINT NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        started_at BIGINT,
        finished_at BIGINT,
        duration_ms DOUBLE PRECISION,
        output TEXT,
        output_blob TEXT,
        error TEXT,
        error_kind TEXT,
        PRIMARY KEY (run_id, step, item)
    ) /*WITHOUT ROWID*/;
    CREATE TABLE attempts (
        run_id TEXT NOT NULL,
        step TEXT NOT NULL,
        item BIGINT NOT NULL,
        attempt BIGINT NOT NULL,
        status TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        error TEXT,
        error_kind TEXT,
        PRIMARY KEY (run_id, step, item, attempt)
    ) /*WITHOUT ROWID*/;
    CREATE TABLE events (
        run_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        at BIGINT NOT NULL,
        type TEXT NOT NULL,
        step TEXT,
        item BIGINT,
        body TEXT NOT NULL,
        value TEXT,
        value_blob TEXT,
        PRIMARY KEY (run_id, seq)
    ) /*WITHOUT ROWID*/;",
    // 2: what resuming a run needs: the bundle of pipeline versions a run started with (its
    // files and how they run each other), and the process that runs it.
    "CREATE TABLE bundles (
        digest TEXT PRIMARY KEY,
        manifest TEXT NOT NULL,
        stored_at BIGINT NOT NULL
    );
    ALTER TABLE runs ADD COLUMN bundle TEXT;
    ALTER TABLE runs ADD COLUMN owner TEXT;",
    // 3: the questions of `approval` steps, and their answers. The question is recorded from
    // its event; the answer by whoever gives it (`weir approve`), at most once (`decided_at`).
    // `deadline` is when its timeout passes; `assignees` a JSON array.
    "CREATE TABLE approvals (
        run_id TEXT NOT NULL,
        step TEXT NOT NULL,
        item BIGINT NOT NULL,
        prompt TEXT NOT NULL,
        answer_schema TEXT,
        assignees TEXT NOT NULL,
        on_timeout TEXT NOT NULL,
        requested_at BIGINT NOT NULL,
        deadline BIGINT,
        decision TEXT,
        answer TEXT,
        decided_by TEXT,
        decided_at BIGINT,
        reason TEXT,
        timed_out BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, step, item)
    );
    CREATE INDEX approvals_undecided ON approvals (decided_at, deadline);",
    // 4: schedules, and the ticks they fired. A tick's primary key is what lets it fire once
    // however many workers look; `next_at` is the next tick due (milliseconds since the Unix
    // epoch), `missed` the ticks that passed without a run; `input` is JSON.
    "CREATE TABLE schedules (
        name TEXT PRIMARY KEY,
        cron TEXT NOT NULL,
        pipeline TEXT NOT NULL,
        file TEXT NOT NULL,
        digest TEXT NOT NULL,
        bundle TEXT NOT NULL,
        input TEXT NOT NULL,
        catch_up TEXT NOT NULL,
        paused BIGINT NOT NULL,
        next_at BIGINT NOT NULL,
        missed BIGINT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX schedules_due ON schedules (paused, next_at);
    CREATE TABLE schedule_ticks (
        schedule TEXT NOT NULL,
        tick_at BIGINT NOT NULL,
        run_id TEXT NOT NULL,
        fired_at BIGINT NOT NULL,
        PRIMARY KEY (schedule, tick_at)
    );
    CREATE INDEX schedule_ticks_by_run ON schedule_ticks (run_id);",
    // 5: history: the run a replay (`weir replay`) ran again, and a request to cancel a run
    // (`weir runs cancel`) that the process running it, on another machine, acts on. The
    // processes running runs look for requests by `owner`.
    "ALTER TABLE runs ADD COLUMN replay_of TEXT;
    ALTER TABLE runs ADD COLUMN cancel_requested_at BIGINT;
    ALTER TABLE runs ADD COLUMN cancel_reason TEXT;
    CREATE INDEX runs_by_owner ON runs (owner);",
    // 6: the queue of submitted runs and the workers that take them. A row is claimable once
    // `lease_until` has passed: it holds the time it was queued until a worker claims it, then
    // the end of that worker's lease, which its heartbeats push on. A root run that ends leaves
    // the queue in the commit of its end. Runs waiting for a person are indexed apart, for the
    // workers that continue them once they are answered.
    "CREATE TABLE queue (
        run_id TEXT PRIMARY KEY,
        enqueued_at BIGINT NOT NULL,
        worker TEXT,
        lease_until BIGINT NOT NULL,
        claims BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX queue_by_lease ON queue (lease_until);
    CREATE INDEX queue_by_worker ON queue (worker);
    CREATE TABLE workers (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        heartbeat BIGINT NOT NULL
    );
    CREATE INDEX runs_waiting ON runs (id) WHERE status = 'waiting';",
    // 7: results of `weir bench --save NAME`: each report's JSON document whole, by name and time.
    "CREATE TABLE bench_results (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        saved_at BIGINT NOT NULL,
        git_commit TEXT,
        report TEXT NOT NULL
    );
    CREATE INDEX bench_results_by_name ON bench_results (name, saved_at);",
    // 8: traces: the trace a run is in (from its `run_started`), and the `traceparent` a run
    // submitted to the queue joins (the submitter's), for the worker that runs it.
    "ALTER TABLE runs ADD COLUMN trace_id TEXT;
    ALTER TABLE runs ADD COLUMN trace_parent TEXT;",
];

/// The migrations a store at `location` needs, given the version it holds (`found`, as stored;
/// none for a new store), or why it cannot be opened: a version that is not a number, or one
/// newer than this weir knows.
pub(crate) fn pending(found: Option<&str>, location: &str) -> Result<&'static [&'static str], crate::Error> {
    let found = match found {
        None => 0,
        Some(text) => text
            .parse()
            .map_err(|_| crate::Error::Corrupt(format!("schema version \"{text}\" is not a number")))?,
    };
    if found > SCHEMA_VERSION {
        return Err(crate::Error::TooNew { location: location.to_owned(), found, known: SCHEMA_VERSION });
    }
    Ok(&MIGRATIONS[found.max(0) as usize..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_migrations_follow_the_stored_version() {
        assert_eq!(pending(None, "db").unwrap().len(), MIGRATIONS.len());
        assert!(pending(Some(&SCHEMA_VERSION.to_string()), "db").unwrap().is_empty());
        let newer = pending(Some(&(SCHEMA_VERSION + 1).to_string()), "db").unwrap_err();
        assert!(matches!(newer, crate::Error::TooNew { found, .. } if found == SCHEMA_VERSION + 1));
        assert!(matches!(pending(Some("x"), "db"), Err(crate::Error::Corrupt(_))));
    }
}
