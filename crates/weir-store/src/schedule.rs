//! Schedules: a pinned pipeline version, an input and a cron expression; workers fire their
//! ticks.
//!
//! A tick fires **exactly once** however many processes look: firing inserts the row
//! `(schedule, tick_at)` into `schedule_ticks`, whose primary key lets one insert through, and
//! only the process whose run id that row holds enqueues the run, in the same transaction. The
//! schedule's `next_at` moves on by compare-and-set on its old value, so a process that read it
//! before another fired neither fires again nor counts a tick twice.
//!
//! Ticks missed while no worker ran follow the schedule's [`CatchUp`] policy; the ticks of a
//! paused schedule are missed too, and resuming it starts from the next tick after the resume.

use crate::Error;
use crate::backend::{Backend, Isolation, Param, Row, Stmt};
use crate::cron::Cron;
use crate::query::Cols;
use crate::queue::Submission;
use serde_json::Value;
use weir_api::StoredSchedule;

/// What becomes of the ticks a schedule missed while no worker looked at it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CatchUp {
    /// One run, for the most recent missed tick; the older ones are counted as missed.
    #[default]
    Latest,
    /// A run for every missed tick, oldest first (at most [`MAX_CATCH_UP`] at a time).
    All,
    /// No runs for missed ticks: a tick fires only if a worker sees it within [`GRACE_MS`].
    Skip,
}

/// The most ticks one look fires for one schedule with [`CatchUp::All`]; the rest wait for the
/// next look.
pub const MAX_CATCH_UP: usize = 100;

/// How late a tick may be seen and still fire under [`CatchUp::Skip`].
pub const GRACE_MS: i64 = 60_000;

impl CatchUp {
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Latest => "latest",
            CatchUp::All => "all",
            CatchUp::Skip => "skip",
        }
    }

    fn parse(text: &str) -> Result<CatchUp, Error> {
        match text {
            "latest" => Ok(CatchUp::Latest),
            "all" => Ok(CatchUp::All),
            "skip" => Ok(CatchUp::Skip),
            other => Err(Error::Corrupt(format!("a schedule's catch-up policy is \"{other}\""))),
        }
    }

    /// Of the ticks that are due — the first `due` of them in order, `count` in all, the last at
    /// `last` — those that fire at `now_ms`.
    fn firing(self, due: &[i64], count: usize, last: i64, now_ms: i64) -> Vec<i64> {
        match self {
            _ if count == 0 => Vec::new(),
            CatchUp::All => due[..due.len().min(MAX_CATCH_UP)].to_vec(),
            CatchUp::Latest => vec![last],
            CatchUp::Skip if now_ms - last <= GRACE_MS => vec![last],
            CatchUp::Skip => Vec::new(),
        }
    }
}

/// A schedule to add.
#[derive(Clone, Debug)]
pub struct NewSchedule<'a> {
    pub name: &'a str,
    pub cron: &'a Cron,
    pub pipeline: &'a str,
    pub file: &'a str,
    /// The root pipeline's digest, and the bundle's from [`crate::Store::put_bundle`].
    pub digest: &'a str,
    pub bundle: &'a str,
    pub input: &'a Value,
    pub catch_up: CatchUp,
}

/// What adding a schedule did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    New,
    /// A schedule of that name was replaced (asked for with `replace`).
    Replaced,
    /// A schedule of that name exists, and was left as it was.
    Exists,
}

/// A tick this process fired: the run it enqueued for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    pub schedule: String,
    pub tick_at: i64,
    pub run_id: String,
}

macro_rules! columns {
    () => {
        "SELECT s.name, s.cron, s.pipeline, s.file, s.bundle, s.input, s.catch_up, s.paused, s.next_at, \
         s.missed, s.created_at, t.tick_at, t.run_id, r.status, s.digest FROM schedules s \
         LEFT JOIN schedule_ticks t ON t.schedule = s.name \
         AND t.tick_at = (SELECT MAX(tick_at) FROM schedule_ticks WHERE schedule = s.name) \
         LEFT JOIN runs r ON r.id = t.run_id "
    };
}

const ALL: &str = concat!(columns!(), "ORDER BY s.name");
const ONE: &str = concat!(columns!(), "WHERE s.name = $1");
const DUE: &str = concat!(columns!(), "WHERE s.paused = 0 AND s.next_at <= $1 ORDER BY s.next_at, s.name");

macro_rules! insert {
    ($conflict:literal) => {
        concat!(
            "INSERT INTO schedules (name, cron, pipeline, file, digest, bundle, input, catch_up, paused, \
             next_at, missed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, 0, $10) \
             ON CONFLICT (name) ",
            $conflict
        )
    };
}

const INSERT: &str = insert!("DO NOTHING");
const REPLACE: &str = insert!(
    "DO UPDATE SET cron = excluded.cron, pipeline = excluded.pipeline, file = excluded.file, \
     digest = excluded.digest, bundle = excluded.bundle, input = excluded.input, catch_up = excluded.catch_up, \
     next_at = excluded.next_at"
);
const EXISTS: &str = "SELECT name FROM schedules WHERE name = $1";
const REMOVE_TICKS: &str = "DELETE FROM schedule_ticks WHERE schedule = $1 RETURNING schedule";
const REMOVE: &str = "DELETE FROM schedules WHERE name = $1 RETURNING name";
const PAUSE: &str = "UPDATE schedules SET paused = 1 WHERE name = $1 AND paused = 0 RETURNING name";
/// Resuming: the ticks while it was paused are missed; it goes on from the next one.
const RESUME: &str = "UPDATE schedules SET paused = 0, next_at = $1, missed = missed + $2 \
     WHERE name = $3 AND paused = 1 AND next_at = $4 RETURNING name";
const TICK: &str = "INSERT INTO schedule_ticks (schedule, tick_at, run_id, fired_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (schedule, tick_at) DO NOTHING";
const ADVANCE: &str =
    "UPDATE schedules SET next_at = $1, missed = missed + $2 WHERE name = $3 AND next_at = $4";
const WINNER: &str = "SELECT run_id FROM schedule_ticks WHERE schedule = $1 AND tick_at = $2";

#[cfg(test)]
pub(crate) const STATEMENTS: &[&str] =
    &[ALL, ONE, DUE, INSERT, REPLACE, EXISTS, REMOVE_TICKS, REMOVE, PAUSE, RESUME, TICK, ADVANCE, WINNER];

pub(crate) async fn add(
    backend: &Backend,
    new: &NewSchedule<'_>,
    replace: bool,
    now_ms: i64,
) -> Result<Added, Error> {
    let next = first_tick(new.cron, now_ms)?;
    let params = vec![
        Param::text(new.name),
        Param::text(new.cron.as_str()),
        Param::text(new.pipeline),
        Param::text(new.file),
        Param::text(new.digest),
        Param::text(new.bundle),
        Param::Text(new.input.to_string()),
        Param::text(new.catch_up.as_str()),
        Param::Int(next),
        Param::Int(now_ms),
    ];
    let insert = Stmt { sql: if replace { REPLACE } else { INSERT }, params };
    let exists = Stmt { sql: EXISTS, params: vec![Param::text(new.name)] };
    let out = backend.script(vec![exists, insert], Isolation::Write).await?;
    Ok(match (out[0].is_empty(), replace) {
        (true, _) => Added::New,
        (false, true) => Added::Replaced,
        (false, false) => Added::Exists,
    })
}

pub(crate) async fn list(backend: &Backend) -> Result<Vec<StoredSchedule>, Error> {
    backend.query(ALL, Vec::new()).await?.iter().map(stored).collect()
}

pub(crate) async fn one(backend: &Backend, name: &str) -> Result<Option<StoredSchedule>, Error> {
    backend.query(ONE, vec![Param::text(name)]).await?.first().map(stored).transpose()
}

/// Deletes the schedule `name` and the record of its ticks (the runs stay); whether it was there.
pub(crate) async fn remove(backend: &Backend, name: &str) -> Result<bool, Error> {
    let statements = [REMOVE_TICKS, REMOVE].map(|sql| Stmt { sql, params: vec![Param::text(name)] });
    let out = backend.script(statements.into(), Isolation::Write).await?;
    Ok(!out[1].is_empty())
}

/// Pauses or resumes `name`; `None` when there is no such schedule, else whether it changed
/// (pausing a paused schedule does not).
pub(crate) async fn set_paused(
    backend: &Backend,
    name: &str,
    paused: bool,
    now_ms: i64,
) -> Result<Option<bool>, Error> {
    let Some(found) = one(backend, name).await? else { return Ok(None) };
    let changed = if paused {
        backend.script(vec![Stmt { sql: PAUSE, params: vec![Param::text(name)] }], Isolation::Write).await?
    } else {
        let cron = cron(&found)?;
        let next = first_tick(&cron, now_ms)?;
        // The tick it was waiting for, and every one after it up to now.
        let skipped = if found.next_at as i64 <= now_ms {
            1 + ticks(&cron, found.next_at as i64, now_ms).count() as i64
        } else {
            0
        };
        let params =
            vec![Param::Int(next), Param::Int(skipped), Param::text(name), Param::Int(found.next_at as i64)];
        backend.script(vec![Stmt { sql: RESUME, params }], Isolation::Write).await?
    };
    Ok(Some(!changed[0].is_empty()))
}

/// Fires the ticks of every active schedule that are due at `now_ms`, as its catch-up policy
/// says: each fired tick's run is queued (`pending`, for a worker) in the transaction that
/// records the tick, and only where this process's tick row is the one that got in. Returns the
/// ticks this process fired.
pub(crate) async fn fire_due(backend: &Backend, now_ms: i64) -> Result<Vec<Fired>, Error> {
    let mut fired = Vec::new();
    for schedule in backend.query(DUE, vec![Param::Int(now_ms)]).await?.iter().map(stored) {
        let schedule = schedule?;
        let cron = cron(&schedule)?;
        let old = schedule.next_at as i64;
        let (mut due, mut count, mut last) = (vec![old], 1, old);
        for tick in ticks(&cron, old, now_ms) {
            (count, last) = (count + 1, tick);
            if due.len() < MAX_CATCH_UP {
                due.push(tick);
            }
        }
        let catch_up = CatchUp::parse(&schedule.catch_up)?;
        let firing = catch_up.firing(&due, count, last, now_ms);
        // Under `all`, ticks past the first MAX_CATCH_UP are left for the next look, not missed.
        let (missed, through) = match catch_up {
            CatchUp::All => (0, *firing.last().unwrap_or(&last)),
            _ => ((count - firing.len()) as i64, last),
        };
        let next = cron.next_after(through).ok_or_else(|| never(&schedule))?;
        let mut statements = Vec::new();
        let mut mine = Vec::new();
        for tick_at in firing {
            let run_id = weir_engine::new_run_id(&weir_engine::SystemClock::default());
            let tick = Fired { schedule: schedule.name.clone(), tick_at, run_id };
            statements.push(Stmt {
                sql: TICK,
                params: vec![
                    Param::text(&tick.schedule),
                    Param::Int(tick_at),
                    Param::text(&tick.run_id),
                    Param::Int(now_ms),
                ],
            });
            let run = Submission {
                run_id: tick.run_id.clone(),
                pipeline: schedule.pipeline.clone(),
                digest: schedule.digest.clone(),
                bundle: schedule.bundle.clone(),
                seed: fastrand::u64(..),
                input: schedule.input.clone(),
                trace_parent: None,
            };
            statements.extend(crate::queue::enqueue_tick(backend, &run, now_ms as u64));
            mine.push(tick);
        }
        statements.push(Stmt {
            sql: ADVANCE,
            params: vec![Param::Int(next), Param::Int(missed), Param::text(&schedule.name), Param::Int(old)],
        });
        backend.write(statements).await?;
        for tick in mine {
            let rows =
                backend.query(WINNER, vec![Param::text(&tick.schedule), Param::Int(tick.tick_at)]).await?;
            if rows.first().map(|r| Cols(r).text(0)).transpose()?.as_deref() == Some(tick.run_id.as_str()) {
                fired.push(tick);
            }
        }
    }
    Ok(fired)
}

/// The ticks of `cron` after `after_ms`, up to `until_ms`.
fn ticks(cron: &Cron, after_ms: i64, until_ms: i64) -> impl Iterator<Item = i64> + '_ {
    std::iter::successors(cron.next_after(after_ms), |&t| cron.next_after(t))
        .take_while(move |&t| t <= until_ms)
}

fn first_tick(cron: &Cron, now_ms: i64) -> Result<i64, Error> {
    cron.next_after(now_ms).ok_or_else(|| Error::Sql(format!("the cron expression \"{cron}\" never fires")))
}

fn cron(schedule: &StoredSchedule) -> Result<Cron, Error> {
    Cron::parse(&schedule.cron).map_err(|e| Error::Corrupt(format!("schedule {}: {e}", schedule.name)))
}

fn never(schedule: &StoredSchedule) -> Error {
    Error::Corrupt(format!(
        "schedule {}: its cron expression \"{}\" fires no more",
        schedule.name, schedule.cron
    ))
}

fn stored(row: &Row) -> Result<StoredSchedule, Error> {
    let c = Cols(row);
    let input = serde_json::from_str(&c.text(5)?).map_err(|e| {
        Error::Corrupt(format!("the input of schedule {}: {e}", c.text(0).unwrap_or_default()))
    })?;
    Ok(StoredSchedule {
        name: c.text(0)?,
        cron: c.text(1)?,
        pipeline: c.text(2)?,
        file: c.text(3)?,
        digest: c.text(14)?,
        bundle: c.text(4)?,
        input,
        catch_up: c.text(6)?,
        paused: c.int(7)? != 0,
        next_at: c.int(8)? as u64,
        missed: c.int(9)? as u64,
        created_at: c.int(10)? as u64,
        last_tick_at: c.opt_int(11)?.map(|t| t as u64),
        last_run_id: c.opt_text(12)?,
        last_status: c.opt_text(13)?.map(|s| crate::query::status(&s)).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_up_policies_choose_the_ticks_that_fire() {
        let due = [60_000, 120_000, 180_000];
        assert_eq!(CatchUp::Latest.firing(&due, 3, 180_000, 200_000), [180_000]);
        assert_eq!(CatchUp::All.firing(&due, 3, 180_000, 200_000), due);
        assert_eq!(CatchUp::Skip.firing(&due, 3, 180_000, 200_000), [180_000], "seen within the grace");
        assert!(CatchUp::Skip.firing(&due, 3, 180_000, 180_000 + GRACE_MS + 1).is_empty());
        assert!(CatchUp::Latest.firing(&[], 0, 0, 0).is_empty());
        let many: Vec<i64> = (0..500).collect();
        assert_eq!(CatchUp::All.firing(&many, 500, 499, 1_000).len(), MAX_CATCH_UP);
    }
}
