//! Results of `weir bench … --save NAME`: each report whole (the JSON document of
//! `weir_api::bench`, which this crate stores without reading), by name and time, for
//! `weir bench history NAME` and for comparisons against a saved baseline.

use crate::Error;
use crate::backend::{Backend, Param, Row, Stmt};
use crate::query::Cols;

/// A saved report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedBench {
    pub id: String,
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub saved_at: u64,
    pub git_commit: Option<String>,
    /// The report's JSON document, as it was saved.
    pub report: String,
}

const INSERT: &str =
    "INSERT INTO bench_results (id, name, saved_at, git_commit, report) VALUES ($1, $2, $3, $4, $5)";
/// The newest `$2` results of `$1`, newest first (the caller turns them oldest first).
const HISTORY: &str = "SELECT id, name, saved_at, git_commit, report FROM bench_results WHERE name = $1 \
     ORDER BY saved_at DESC, id DESC LIMIT $2";
const NAMES: &str = "SELECT name, COUNT(*), MAX(saved_at) FROM bench_results GROUP BY name ORDER BY name";

#[cfg(test)]
pub(crate) const STATEMENTS: &[&str] = &[INSERT, HISTORY, NAMES];

pub(crate) async fn save(backend: &Backend, saved: &SavedBench) -> Result<(), Error> {
    let params = vec![
        Param::text(saved.id.as_str()),
        Param::text(saved.name.as_str()),
        Param::Int(saved.saved_at as i64),
        Param::opt_text(saved.git_commit.as_deref()),
        Param::text(saved.report.as_str()),
    ];
    backend.write(vec![Stmt { sql: INSERT, params }]).await
}

/// The newest `limit` results saved as `name`, oldest first.
pub(crate) async fn history(backend: &Backend, name: &str, limit: usize) -> Result<Vec<SavedBench>, Error> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = backend.query(HISTORY, vec![Param::text(name), Param::Int(limit)]).await?;
    let mut saved = rows.iter().map(saved).collect::<Result<Vec<_>, _>>()?;
    saved.reverse();
    Ok(saved)
}

/// Every name results were saved as: how many, and when the last was.
pub(crate) async fn names(backend: &Backend) -> Result<Vec<(String, u64, u64)>, Error> {
    let rows = backend.query(NAMES, Vec::new()).await?;
    rows.iter()
        .map(|row| {
            let c = Cols(row);
            Ok((c.text(0)?, c.int(1)? as u64, c.int(2)? as u64))
        })
        .collect()
}

fn saved(row: &Row) -> Result<SavedBench, Error> {
    let c = Cols(row);
    Ok(SavedBench {
        id: c.text(0)?,
        name: c.text(1)?,
        saved_at: c.int(2)? as u64,
        git_commit: c.opt_text(3)?,
        report: c.text(4)?,
    })
}
