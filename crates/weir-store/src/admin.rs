//! Maintenance of a store: deleting the runs that are old enough (`cleanup`), finding the rows
//! that do not hold together (`check`), and reading a table out whole (`export`). Backups are
//! `backup`'s.
//!
//! A cleanup decides what goes with the same SQL whether it deletes or only says what it would
//! (`--dry-run`), and its deletes report the rows they removed (`RETURNING`), so the two lists
//! can be compared. It runs in one transaction that no other writer changes (see
//! [`Isolation::Write`]): a run resumed meanwhile is either deleted whole or kept whole.

use crate::Error;
use crate::backend::{Backend, Isolation, Param, Row, Stmt};
use crate::query::Cols;
use serde_json::Value;
use weir_api::{CleanupReport, CleanupRows, Problem};
use weir_pipeline::Status;

/// Which runs [`crate::Store::cleanup`] deletes.
#[derive(Clone, Debug)]
pub struct CleanupFilter {
    /// Runs started before this time (milliseconds since the Unix epoch).
    pub before_ms: u64,
    /// Only runs that ended with this status (which must be a final one).
    pub status: Option<Status>,
    /// Say what would be deleted, and delete nothing.
    pub dry_run: bool,
}

/// The runs a cleanup deletes, as the CTE `doomed`: every run of each tree whose root started
/// before `$1` (with the status `$2`, when given) and whose runs have all ended. A run that is
/// still `running` or `waiting` keeps its whole tree, a sub-pipeline run goes only with its
/// root, and a root still in the queue (cancelled by a worker that stopped, to be resumed by
/// another) stays.
macro_rules! doomed {
    () => {
        "WITH RECURSIVE tree (id, root) AS ( \
           SELECT id, id FROM runs WHERE parent_run IS NULL \
           UNION ALL SELECT r.id, t.root FROM runs r JOIN tree t ON r.parent_run = t.id), \
         doomed AS (SELECT t.id FROM tree t JOIN runs root ON root.id = t.root \
           WHERE root.started_at < $1 AND (CAST($2 AS TEXT) IS NULL OR root.status = $2) \
           AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.run_id = t.root) \
           AND NOT EXISTS (SELECT 1 FROM tree u JOIN runs r ON r.id = u.id \
             WHERE u.root = t.root AND r.status NOT IN ('succeeded', 'failed', 'cancelled', 'skipped'))) "
    };
}

/// The blobs named by the rows that `$runs` selects in `runs`, and `$others` in `steps` and
/// `events` (a condition each, or nothing for every row).
macro_rules! blob_refs {
    ($runs:literal, $others:literal) => {
        concat!(
            "SELECT input_blob FROM runs WHERE input_blob IS NOT NULL ",
            $runs,
            " UNION SELECT output_blob FROM runs WHERE output_blob IS NOT NULL ",
            $runs,
            " UNION SELECT output_blob FROM steps WHERE output_blob IS NOT NULL ",
            $others,
            " UNION SELECT value_blob FROM events WHERE value_blob IS NOT NULL ",
            $others
        )
    };
}

const DOOMED_RUNS: &str = concat!(doomed!(), "SELECT id FROM doomed ORDER BY id");
const DOOMED_STEPS: &str =
    concat!(doomed!(), "SELECT COUNT(*) FROM steps WHERE run_id IN (SELECT id FROM doomed)");
const DOOMED_ATTEMPTS: &str =
    concat!(doomed!(), "SELECT COUNT(*) FROM attempts WHERE run_id IN (SELECT id FROM doomed)");
const DOOMED_EVENTS: &str =
    concat!(doomed!(), "SELECT COUNT(*) FROM events WHERE run_id IN (SELECT id FROM doomed)");
const DOOMED_APPROVALS: &str =
    concat!(doomed!(), "SELECT COUNT(*) FROM approvals WHERE run_id IN (SELECT id FROM doomed)");
const DOOMED_TICKS: &str =
    concat!(doomed!(), "SELECT COUNT(*) FROM schedule_ticks WHERE run_id IN (SELECT id FROM doomed)");
/// The blobs that no row outside the doomed runs names (some may be named by nothing already).
const DOOMED_BLOBS: &str = concat!(
    doomed!(),
    "SELECT COUNT(*) FROM blobs WHERE hash NOT IN (",
    blob_refs!("AND id NOT IN (SELECT id FROM doomed)", "AND run_id NOT IN (SELECT id FROM doomed)"),
    ")"
);

const DELETE_EVENTS: &str =
    concat!(doomed!(), "DELETE FROM events WHERE run_id IN (SELECT id FROM doomed) RETURNING run_id");
const DELETE_ATTEMPTS: &str =
    concat!(doomed!(), "DELETE FROM attempts WHERE run_id IN (SELECT id FROM doomed) RETURNING run_id");
const DELETE_APPROVALS: &str =
    concat!(doomed!(), "DELETE FROM approvals WHERE run_id IN (SELECT id FROM doomed) RETURNING run_id");
const DELETE_STEPS: &str =
    concat!(doomed!(), "DELETE FROM steps WHERE run_id IN (SELECT id FROM doomed) RETURNING run_id");
/// A tick's row goes with its run: the schedule's `next_at` has long moved past it.
const DELETE_TICKS: &str =
    concat!(doomed!(), "DELETE FROM schedule_ticks WHERE run_id IN (SELECT id FROM doomed) RETURNING run_id");
/// Last of the deletes that name `doomed`, which is read from `runs`.
const DELETE_RUNS: &str =
    concat!(doomed!(), "DELETE FROM runs WHERE id IN (SELECT id FROM doomed) RETURNING id");
/// After the runs: the blobs no remaining row names.
const DELETE_BLOBS: &str =
    concat!("DELETE FROM blobs WHERE hash NOT IN (", blob_refs!("", ""), ") RETURNING hash");

pub(crate) async fn cleanup(backend: &Backend, filter: &CleanupFilter) -> Result<CleanupReport, Error> {
    let params =
        vec![Param::Int(filter.before_ms as i64), Param::opt_text(filter.status.map(Status::as_str))];
    let stmt = |sql: &'static str| Stmt { sql, params: params.clone() };
    let blobs = |sql: &'static str| Stmt { sql, params: Vec::new() };
    let (runs, rows) = if filter.dry_run {
        let script = vec![
            stmt(DOOMED_RUNS),
            stmt(DOOMED_STEPS),
            stmt(DOOMED_ATTEMPTS),
            stmt(DOOMED_EVENTS),
            stmt(DOOMED_BLOBS),
            stmt(DOOMED_APPROVALS),
            stmt(DOOMED_TICKS),
        ];
        let out = backend.script(script, Isolation::Read).await?;
        let runs = ids(&out[0])?;
        let count = |i: usize| first_int(&out[i]);
        let rows = CleanupRows {
            runs: runs.len() as u64,
            steps: count(1)?,
            attempts: count(2)?,
            events: count(3)?,
            blobs: count(4)?,
            approvals: count(5)?,
            schedule_ticks: count(6)?,
        };
        (runs, rows)
    } else {
        let script = vec![
            stmt(DELETE_EVENTS),
            stmt(DELETE_ATTEMPTS),
            stmt(DELETE_STEPS),
            stmt(DELETE_APPROVALS),
            stmt(DELETE_TICKS),
            stmt(DELETE_RUNS),
            blobs(DELETE_BLOBS),
        ];
        let out = backend.script(script, Isolation::Write).await?;
        let mut runs = ids(&out[5])?;
        runs.sort();
        let rows = CleanupRows {
            runs: runs.len() as u64,
            steps: out[2].len() as u64,
            attempts: out[1].len() as u64,
            events: out[0].len() as u64,
            blobs: out[6].len() as u64,
            approvals: out[3].len() as u64,
            schedule_ticks: out[4].len() as u64,
        };
        (runs, rows)
    };
    Ok(CleanupReport { dry_run: filter.dry_run, before: filter.before_ms, runs, rows })
}

fn ids(rows: &[Row]) -> Result<Vec<String>, Error> {
    rows.iter().map(|r| Cols(r).text(0)).collect()
}

fn first_int(rows: &[Row]) -> Result<u64, Error> {
    let row = rows.first().ok_or_else(|| Error::Corrupt("a count returned no row".into()))?;
    Ok(Cols(row).opt_int(0)?.unwrap_or(0).max(0) as u64)
}

/// A check that SQL answers: each row is a problem, its key and the one detail the message
/// names (`{}` in `problem`).
struct SqlCheck {
    table: &'static str,
    problem: &'static str,
    sql: &'static str,
}

/// `run/step` of a step row, `/item` added for a `foreach` item.
macro_rules! step_key {
    () => {
        "run_id || '/' || step || CASE WHEN item >= 0 THEN '/' || CAST(item AS TEXT) ELSE '' END"
    };
}

const SQL_CHECKS: &[SqlCheck] = &[
    SqlCheck {
        table: "steps",
        problem: "its run {} is missing",
        sql: concat!(
            "SELECT ",
            step_key!(),
            ", run_id FROM steps WHERE run_id NOT IN (SELECT id FROM runs) ORDER BY 1"
        ),
    },
    SqlCheck {
        table: "attempts",
        problem: "its run {} is missing",
        sql: concat!(
            "SELECT ",
            step_key!(),
            " || '/attempt ' || CAST(attempt AS TEXT), run_id FROM attempts \
             WHERE run_id NOT IN (SELECT id FROM runs) ORDER BY 1"
        ),
    },
    SqlCheck {
        table: "events",
        problem: "its run {} is missing",
        sql: "SELECT run_id || '/' || CAST(seq AS TEXT), run_id FROM events \
              WHERE run_id NOT IN (SELECT id FROM runs) ORDER BY run_id, seq",
    },
    SqlCheck {
        table: "approvals",
        problem: "its run {} is missing",
        sql: concat!(
            "SELECT ",
            step_key!(),
            ", run_id FROM approvals WHERE run_id NOT IN (SELECT id FROM runs) ORDER BY 1"
        ),
    },
    SqlCheck {
        table: "queue",
        problem: "its run {} is missing",
        sql: "SELECT run_id, run_id FROM queue WHERE run_id NOT IN (SELECT id FROM runs) ORDER BY run_id",
    },
    SqlCheck {
        table: "runs",
        problem: "its parent run {} is missing",
        sql: "SELECT id, parent_run FROM runs WHERE parent_run IS NOT NULL \
              AND parent_run NOT IN (SELECT id FROM runs) ORDER BY id",
    },
    SqlCheck {
        table: "runs",
        problem: "it names bundle {}, which is not in bundles",
        sql: "SELECT id, bundle FROM runs WHERE bundle IS NOT NULL \
              AND bundle NOT IN (SELECT digest FROM bundles) ORDER BY id",
    },
    SqlCheck {
        table: "schedules",
        problem: "it names bundle {}, which is not in bundles",
        sql: "SELECT name, bundle FROM schedules WHERE bundle NOT IN (SELECT digest FROM bundles) ORDER BY name",
    },
    SqlCheck {
        table: "runs",
        problem: "it names pipeline version {}, which is not in pipelines",
        sql: "SELECT id, digest FROM runs WHERE digest NOT IN (SELECT digest FROM pipelines) ORDER BY id",
    },
    SqlCheck {
        table: "runs",
        problem: "its input is blob {}, which is not in blobs",
        sql: "SELECT id, input_blob FROM runs WHERE input_blob IS NOT NULL \
              AND input_blob NOT IN (SELECT hash FROM blobs) ORDER BY id",
    },
    SqlCheck {
        table: "runs",
        problem: "its output is blob {}, which is not in blobs",
        sql: "SELECT id, output_blob FROM runs WHERE output_blob IS NOT NULL \
              AND output_blob NOT IN (SELECT hash FROM blobs) ORDER BY id",
    },
    SqlCheck {
        table: "steps",
        problem: "its output is blob {}, which is not in blobs",
        sql: concat!(
            "SELECT ",
            step_key!(),
            ", output_blob FROM steps WHERE output_blob IS NOT NULL \
             AND output_blob NOT IN (SELECT hash FROM blobs) ORDER BY 1"
        ),
    },
    SqlCheck {
        table: "events",
        problem: "its value is blob {}, which is not in blobs",
        sql: "SELECT run_id || '/' || CAST(seq AS TEXT), value_blob FROM events WHERE value_blob IS NOT NULL \
              AND value_blob NOT IN (SELECT hash FROM blobs) ORDER BY run_id, seq",
    },
];

/// Tables whose key is the `sha256:` of a column, as the store computes it when it writes the
/// row: a pipeline version's text, a bundle's manifest, a large value.
const HASHED: &[(&str, &str, &str)] = &[
    ("pipelines", "text", "SELECT digest, text FROM pipelines ORDER BY digest"),
    ("bundles", "manifest", "SELECT digest, manifest FROM bundles ORDER BY digest"),
    ("blobs", "value", "SELECT hash, value FROM blobs ORDER BY hash"),
];

pub(crate) async fn check(backend: &Backend) -> Result<Vec<Problem>, Error> {
    let mut script: Vec<Stmt> = SQL_CHECKS.iter().map(|c| Stmt { sql: c.sql, params: Vec::new() }).collect();
    script.extend(HASHED.iter().map(|(_, _, sql)| Stmt { sql, params: Vec::new() }));
    let out = backend.script(script, Isolation::Read).await?;
    let mut problems = Vec::new();
    for (check, rows) in SQL_CHECKS.iter().zip(&out) {
        for row in rows {
            let c = Cols(row);
            problems.push(Problem {
                table: check.table.to_owned(),
                key: c.text(0)?,
                problem: check.problem.replace("{}", &c.text(1)?),
            });
        }
    }
    for ((table, column, _), rows) in HASHED.iter().zip(&out[SQL_CHECKS.len()..]) {
        for row in rows {
            let c = Cols(row);
            let (key, text) = (c.text(0)?, c.text(1)?);
            let actual = crate::record::hash(&text);
            if actual != key {
                let problem = format!("its {column} hashes to {actual}, not to its key");
                problems.push(Problem { table: (*table).to_owned(), key, problem });
            }
        }
    }
    Ok(problems)
}

/// What [`crate::Store::export`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportWhat {
    Runs,
    Steps,
    Events,
}

/// Rows of one table as values: the columns' names, and per row a value per column (a number,
/// a string, null, or the JSON a column holds for `input`, `output`, `body` and `value`).
#[derive(Clone, Debug, PartialEq)]
pub struct Exported {
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<Value>>,
}

struct ExportSql {
    columns: &'static [&'static str],
    /// The columns that hold JSON text.
    json: &'static [&'static str],
    sql: &'static str,
}

const EXPORT_RUNS: ExportSql = ExportSql {
    columns: &[
        "run_id",
        "pipeline",
        "digest",
        "status",
        "parent_run",
        "parent_step",
        "parent_item",
        "started_at",
        "finished_at",
        "duration_ms",
        "error",
        "error_kind",
        "input",
        "output",
    ],
    json: &["input", "output"],
    sql: "SELECT r.id, r.pipeline, r.digest, r.status, r.parent_run, r.parent_step, r.parent_item, r.started_at, \
          r.finished_at, r.duration_ms, r.error, r.error_kind, COALESCE(r.input, i.value), COALESCE(r.output, o.value) \
          FROM runs r LEFT JOIN blobs i ON i.hash = r.input_blob LEFT JOIN blobs o ON o.hash = r.output_blob \
          WHERE (CAST($1 AS BIGINT) IS NULL OR r.started_at >= $1) ORDER BY r.started_at, r.id",
};

const EXPORT_STEPS: ExportSql = ExportSql {
    columns: &[
        "run_id",
        "step",
        "item",
        "kind",
        "status",
        "attempts",
        "started_at",
        "finished_at",
        "duration_ms",
        "error",
        "error_kind",
        "output",
    ],
    json: &["output"],
    sql: "SELECT s.run_id, s.step, CASE WHEN s.item >= 0 THEN s.item END, s.kind, s.status, s.attempts, \
          s.started_at, s.finished_at, s.duration_ms, s.error, s.error_kind, COALESCE(s.output, b.value) \
          FROM steps s LEFT JOIN blobs b ON b.hash = s.output_blob \
          WHERE (CAST($1 AS BIGINT) IS NULL OR s.started_at >= $1) ORDER BY s.started_at, s.run_id, s.first_seq, s.item",
};

const EXPORT_EVENTS: ExportSql = ExportSql {
    columns: &["run_id", "seq", "at", "type", "step", "item", "body", "value"],
    json: &["body", "value"],
    sql: "SELECT e.run_id, e.seq, e.at, e.type, e.step, e.item, e.body, COALESCE(e.value, b.value) \
          FROM events e LEFT JOIN blobs b ON b.hash = e.value_blob \
          WHERE (CAST($1 AS BIGINT) IS NULL OR e.at >= $1) ORDER BY e.at, e.run_id, e.seq",
};

/// Every statement, for the test that checks their parameters.
#[cfg(test)]
pub(crate) const STATEMENTS: &[&str] = &[
    DOOMED_RUNS,
    DOOMED_STEPS,
    DOOMED_ATTEMPTS,
    DOOMED_EVENTS,
    DOOMED_BLOBS,
    DOOMED_APPROVALS,
    DOOMED_TICKS,
    DELETE_EVENTS,
    DELETE_ATTEMPTS,
    DELETE_STEPS,
    DELETE_APPROVALS,
    DELETE_TICKS,
    DELETE_RUNS,
    DELETE_BLOBS,
    EXPORT_RUNS.sql,
    EXPORT_STEPS.sql,
    EXPORT_EVENTS.sql,
];

/// The rows of `what` (runs and steps by their start, events by their time) at or after
/// `since_ms`, when given.
pub(crate) async fn export(
    backend: &Backend,
    what: ExportWhat,
    since_ms: Option<u64>,
) -> Result<Exported, Error> {
    let spec = match what {
        ExportWhat::Runs => &EXPORT_RUNS,
        ExportWhat::Steps => &EXPORT_STEPS,
        ExportWhat::Events => &EXPORT_EVENTS,
    };
    let rows = backend.query(spec.sql, vec![Param::opt_int(since_ms.map(|t| t as i64))]).await?;
    let rows = rows.into_iter().map(|row| values(spec, row)).collect::<Result<_, _>>()?;
    Ok(Exported { columns: spec.columns, rows })
}

fn values(spec: &ExportSql, row: Row) -> Result<Vec<Value>, Error> {
    row.into_iter()
        .zip(spec.columns)
        .map(|(p, column)| {
            Ok(match p {
                Param::Null => Value::Null,
                Param::Int(n) => Value::from(n),
                Param::Real(x) => Value::from(x),
                Param::Text(t) if spec.json.contains(column) => serde_json::from_str(&t)
                    .map_err(|e| Error::Corrupt(format!("a stored {column} does not parse: {e}")))?,
                Param::Text(t) => Value::String(t),
            })
        })
        .collect()
}
