//! Reading back what resuming a run needs: the bundle of pipeline versions it started with, and
//! what it (and each of its sub-pipeline runs) recorded, as the engine's [`Resume`].

use crate::Error;
use crate::backend::{Backend, Param};
use crate::query::{self, Cols};
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};
use weir_api::{StoredRunDetail, StoredStep};
use weir_engine::resume::{Ended, Prior, PriorRun, PriorStep, Resume};
use weir_engine::{ErrorKind, StepError};
use weir_pipeline::Status;

const BUNDLE: &str = "SELECT manifest FROM bundles WHERE digest = $1";

const RUN_META: &str = "SELECT bundle, owner FROM runs WHERE id = $1";

const LAST_SEQ: &str = "SELECT MAX(seq) FROM events WHERE run_id = $1";

/// Every query, for the test that checks their parameters.
#[cfg(test)]
pub(crate) const STATEMENTS: &[&str] = &[BUNDLE, RUN_META, LAST_SEQ];

/// The pipeline versions a run started with: every file it could run, as it was then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBundle {
    /// The root first, as `weir_pipeline::Bundle::plans` had them.
    pub plans: Vec<StoredPlan>,
    /// `(from, file as written, to)` by index into `plans`, as `weir_pipeline::Bundle::new`
    /// takes them.
    pub links: Vec<(usize, String, usize)>,
}

/// One pipeline version of a [`StoredBundle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPlan {
    pub digest: String,
    /// The file it was read from, as messages named it.
    pub file: String,
    pub text: String,
}

/// A run as `weir resume` finds it.
#[derive(Clone, Debug)]
pub struct Interrupted {
    pub run: StoredRunDetail,
    /// The versions it started with; none for a run stored before the store kept them.
    pub bundle: Option<StoredBundle>,
    /// The process that ran it last (see [`crate::Store::recording`]).
    pub owner: Option<String>,
    /// What the engine continues from.
    pub resume: Resume,
}

pub(crate) async fn bundle(backend: &Backend, digest: &str) -> Result<Option<StoredBundle>, Error> {
    let rows = backend.query(BUNDLE, vec![Param::text(digest)]).await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let manifest: Value = serde_json::from_str(&Cols(row).text(0)?)
        .map_err(|e| Error::Corrupt(format!("the manifest of bundle {digest} does not parse: {e}")))?;
    let bad = || Error::Corrupt(format!("the manifest of bundle {digest} is not as weir writes it"));
    let mut plans = Vec::new();
    for plan in manifest["plans"].as_array().ok_or_else(bad)? {
        let (Some(digest), Some(file)) = (plan["digest"].as_str(), plan["file"].as_str()) else {
            return Err(bad());
        };
        let text = query::pipeline(backend, digest)
            .await?
            .ok_or_else(|| Error::Corrupt(format!("pipeline version {digest} is missing")))?;
        plans.push(StoredPlan { digest: digest.to_owned(), file: file.to_owned(), text });
    }
    let mut links = Vec::new();
    for link in manifest["links"].as_array().ok_or_else(bad)? {
        let (Some(from), Some(file), Some(to)) = (link[0].as_u64(), link[1].as_str(), link[2].as_u64())
        else {
            return Err(bad());
        };
        links.push((from as usize, file.to_owned(), to as usize));
    }
    Ok(Some(StoredBundle { plans, links }))
}

pub(crate) async fn interrupted(backend: &Backend, id: &str) -> Result<Option<Interrupted>, Error> {
    let Some(run) = query::run(backend, id).await? else { return Ok(None) };
    let rows = backend.query(RUN_META, vec![Param::text(&run.run.run_id)]).await?;
    let (digest, owner) = match rows.first() {
        Some(row) => (Cols(row).opt_text(0)?, Cols(row).opt_text(1)?),
        None => (None, None),
    };
    let bundle = match digest {
        Some(digest) => bundle(backend, &digest).await?,
        None => None,
    };
    let mut last_seq = None;
    let prior = prior(backend, &run, &mut last_seq).await?;
    let next_seq = last_seq.map_or(0, |s: i64| s as u64 + 1);
    Ok(Some(Interrupted { run, bundle, owner, resume: Resume { run: prior, next_seq } }))
}

/// What `run` and its sub-pipeline runs recorded; `last_seq` becomes the highest `seq` of them.
fn prior<'a>(
    backend: &'a Backend,
    run: &'a StoredRunDetail,
    last_seq: &'a mut Option<i64>,
) -> BoxFuture<'a, Result<Prior, Error>> {
    Box::pin(async move {
        let id = &run.run.run_id;
        let rows = backend.query(LAST_SEQ, vec![Param::text(id)]).await?;
        if let Some(seq) = rows.first().map(|row| Cols(row).opt_int(0)).transpose()?.flatten() {
            *last_seq = Some(last_seq.map_or(seq, |s| s.max(seq)));
        }
        let seed = run
            .seed
            .parse()
            .map_err(|_| Error::Corrupt(format!("run {id} has the seed \"{}\", not a number", run.seed)))?;
        let mut steps: HashMap<String, PriorStep> = HashMap::new();
        for row in &run.steps {
            let step = steps.entry(row.step.clone()).or_default();
            match (row.item, ended(row)) {
                (None, Some(ended)) => step.ended = Some(ended),
                (None, None) => step.begun = row.attempts,
                (Some(i), Some(ended)) => {
                    step.items.insert(i, ended);
                }
                (Some(i), None) => {
                    step.items_begun.insert(i, row.attempts);
                }
            }
        }
        // The latest sub-pipeline run of each step and item; one that failed is not continued
        // (the attempt that ran it failed, and a new attempt starts a new run).
        for child in &run.children {
            let Some(parent) = &child.parent else { continue };
            let runs = &mut steps.entry(parent.step.clone()).or_default().runs;
            if child.status == Status::Failed {
                runs.remove(&parent.item);
                continue;
            }
            let Some(detail) = query::run(backend, &child.run_id).await? else { continue };
            let continued = match child.status {
                Status::Succeeded => {
                    PriorRun::Succeeded { run_id: child.run_id.clone(), output: detail.output }
                }
                _ => PriorRun::Unfinished(Box::new(prior(backend, &detail, last_seq).await?)),
            };
            runs.insert(parent.item, continued);
        }
        let started_at = SystemTime::UNIX_EPOCH + Duration::from_millis(run.run.started_at);
        let trace_id = run.trace_id.as_deref().and_then(weir_engine::TraceId::parse);
        Ok(Prior { run_id: id.clone(), seed, started_at, trace_id, steps })
    })
}

/// How a step (or item) row ended, if it did in a way that stands after a resume: cancelled
/// and running steps run again.
fn ended(row: &StoredStep) -> Option<Ended> {
    let duration = Duration::from_secs_f64(row.duration_ms.unwrap_or(0.0).max(0.0) / 1e3);
    let attempts = row.attempts;
    match row.status {
        Status::Succeeded => Some(Ended::Succeeded { output: row.output.clone(), attempts, duration }),
        Status::Failed => {
            let (kind, message) = row.error.as_ref().map_or((ErrorKind::Step, String::new()), |e| {
                (ErrorKind::parse(&e.kind).unwrap_or(ErrorKind::Step), e.message.clone())
            });
            Some(Ended::Failed { error: StepError::new(kind, message), attempts, duration })
        }
        Status::Skipped => Some(Ended::Skipped),
        _ => None,
    }
}
