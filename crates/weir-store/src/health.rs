//! What `weir health` asks of a store: that it answers at all, the schema version it holds, an
//! integrity check of its file where the backend has a cheap one, and the workers that say they
//! are alive. Nothing here judges the answers; the binary decides what is healthy.

use crate::Error;
use crate::backend::Backend;
use crate::query::Cols;

/// The cheapest statement that makes the backend answer.
const PING: &str = "SELECT 1";

/// SQLite's check of the file's b-trees and pages, without the slower index cross-checks of
/// `integrity_check`: one row `ok`, or a row per problem.
const QUICK_CHECK: &str = "PRAGMA quick_check";

const WORKERS: &str = "SELECT id, owner, started_at, heartbeat FROM workers ORDER BY id";

/// Every statement, for the test that checks their parameters.
#[cfg(test)]
pub(crate) const STATEMENTS: &[&str] = &[PING, QUICK_CHECK, WORKERS, crate::schema::READ_VERSION];

/// A worker registered in the store (`weir worker`), as its last heartbeat left it. A worker
/// that stops cleanly removes its row; one that died keeps it for a day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    pub id: String,
    /// The process that runs it (`host:boot:pid:start`).
    pub owner: String,
    /// Milliseconds since the Unix epoch.
    pub started_at: u64,
    pub heartbeat: u64,
}

/// What an integrity check of the store found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Integrity {
    /// The check ran and found nothing wrong.
    Ok,
    /// The check ran and found these problems, as the database says them.
    Problems(Vec<String>),
    /// The backend has no cheap check; why.
    Unsupported(&'static str),
}

pub(crate) async fn ping(backend: &Backend) -> Result<(), Error> {
    backend.query(PING, Vec::new()).await.map(drop)
}

/// The stored schema version (none in a store with no version row).
pub(crate) async fn schema_version(backend: &Backend) -> Result<Option<i64>, Error> {
    let rows = backend.query(crate::schema::READ_VERSION, Vec::new()).await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let text = Cols(row).text(0)?;
    let version =
        text.parse().map_err(|_| Error::Corrupt(format!("schema version \"{text}\" is not a number")))?;
    Ok(Some(version))
}

pub(crate) async fn quick_check(backend: &Backend) -> Result<Integrity, Error> {
    match backend {
        Backend::Sqlite(_) => {
            let rows = backend.query(QUICK_CHECK, Vec::new()).await?;
            let found: Vec<String> = rows.iter().map(|r| Cols(r).text(0)).collect::<Result<_, _>>()?;
            Ok(if found.iter().all(|f| f == "ok") { Integrity::Ok } else { Integrity::Problems(found) })
        }
        // PostgreSQL checks pages as it reads them (and checksums them when the cluster was
        // initialised with them); a whole check (`amcheck`) is an extension, and slow.
        #[cfg(feature = "postgres")]
        Backend::Postgres(_) => Ok(Integrity::Unsupported(
            "PostgreSQL has no quick check of its own (amcheck is an extension, and reads every index)",
        )),
    }
}

pub(crate) async fn workers(backend: &Backend) -> Result<Vec<Worker>, Error> {
    let rows = backend.query(WORKERS, Vec::new()).await?;
    rows.iter()
        .map(|row| {
            let c = Cols(row);
            Ok(Worker {
                id: c.text(0)?,
                owner: c.text(1)?,
                started_at: c.int(2)?.max(0) as u64,
                heartbeat: c.int(3)?.max(0) as u64,
            })
        })
        .collect()
}
