//! `weir schedule`: pipelines that run at the ticks of a cron expression, fired by `weir worker`.

use super::runs::{PROMISE, coarse, now_ms, open, store_failure};
use crate::exit::{EXIT_INVALID, Failure};
use crate::input::InputArgs;
use crate::settings::Settings;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use weir_api::StoredSchedule;
use weir_store::cron::{Cron, utc_minute};
use weir_store::{Added, CatchUp, Durability, NewSchedule, Store};

/// Run pipelines on a schedule
///
/// A schedule keeps the pipeline's versions as they are when it is added (edit the file, then
/// `weir schedule add --replace` to move it on), an input, and a cron expression read in UTC:
/// `minute hour day-of-month month day-of-week`, with `*`, lists, ranges, steps (`*/15`),
/// names (`mon-fri`, `jan`) and the macros `@hourly`, `@daily`, `@weekly`, `@monthly`,
/// `@yearly`.
///
/// `weir worker` fires the ticks: each one exactly once, however many workers run. Ticks that
/// pass while no worker runs are caught up as `--catch-up` says; the ticks of a paused schedule
/// are skipped.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir schedule add report.yaml --cron '*/5 * * * *'\n  weir schedule add report.yaml --cron '0 9 * * mon-fri' --name morning -i '{\"team\": \"ops\"}'\n  weir schedule list\n  weir schedule pause morning\n  weir schedule remove morning"
)]
pub struct Args {
    #[command(subcommand)]
    command: ScheduleCommand,
}

#[derive(clap::Subcommand)]
enum ScheduleCommand {
    /// Add a schedule (or replace one, with --replace)
    Add(AddArgs),
    /// The schedules, with their next and last ticks
    List(ListArgs),
    /// Delete a schedule (the runs it started stay)
    Remove(NameArgs),
    /// Stop firing a schedule's ticks until it is resumed
    Pause(NameArgs),
    /// Fire a paused schedule's ticks again, from the next one
    Resume(NameArgs),
}

#[derive(clap::Args)]
struct AddArgs {
    /// The pipeline file (YAML or JSON).
    file: PathBuf,
    /// When it runs: a cron expression, in UTC, such as `*/5 * * * *` or `@daily`.
    #[arg(long, value_name = "EXPR", value_parser = parse_cron)]
    cron: Cron,
    #[command(flatten)]
    input: InputArgs,
    /// The schedule's name (default: the pipeline's `name`).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Ticks missed while no worker ran: `latest` runs once for the most recent of them, `all`
    /// runs each (up to 100 at a time, oldest first), `skip` runs none (a tick fires only when a
    /// worker sees it within a minute).
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = CatchUpArg::Latest)]
    catch_up: CatchUpArg,
    /// Replace the schedule of that name, if there is one (its next tick is computed anew).
    #[arg(long)]
    replace: bool,
    /// Print the schedule as JSON, as `list --json` does.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ListArgs {
    /// Print a JSON array of `{name, cron, pipeline, file, bundle, input, catch_up, paused,
    /// next_at, missed, created_at, last_tick_at, last_run_id, last_status}` (times in
    /// milliseconds since the Unix epoch).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct NameArgs {
    /// The schedule's name (`weir schedule list` shows them).
    name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum CatchUpArg {
    Latest,
    All,
    Skip,
}

impl From<CatchUpArg> for CatchUp {
    fn from(c: CatchUpArg) -> CatchUp {
        match c {
            CatchUpArg::Latest => CatchUp::Latest,
            CatchUpArg::All => CatchUp::All,
            CatchUpArg::Skip => CatchUp::Skip,
        }
    }
}

fn parse_cron(text: &str) -> Result<Cron, String> {
    Cron::parse(text).map_err(|e| e.to_string())
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let runtime = super::runtime(super::Threads::One)?;
    runtime.block_on(async {
        match args.command {
            ScheduleCommand::Add(add_args) => add(add_args, settings).await,
            ScheduleCommand::List(list_args) => {
                list(&open(settings, Durability::Normal).await?, &list_args).await
            }
            ScheduleCommand::Remove(NameArgs { name }) => {
                let store = open(settings, Durability::Normal).await?;
                if !store.remove_schedule(&name).await.map_err(store_failure)? {
                    return Err(no_such_schedule(&store, &name).await);
                }
                if !settings.quiet {
                    eprintln!("removed schedule {name}; the runs it started stay in `weir runs list`");
                }
                Ok(ExitCode::SUCCESS)
            }
            ScheduleCommand::Pause(NameArgs { name }) => pause(settings, &name, true).await,
            ScheduleCommand::Resume(NameArgs { name }) => pause(settings, &name, false).await,
        }
    })
}

async fn add(args: AddArgs, settings: &Settings) -> Result<ExitCode> {
    let registry = super::registry();
    let Some(bundle) = crate::load::bundle_for_run(&args.file, &registry, settings)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let input = args.input.value()?;
    if let Err(problems) = bundle.root().check_input(&input) {
        anyhow::bail!("{}", weir_engine::InputError { problems });
    }
    let store = open(settings, PROMISE).await?;
    let now = now_ms();
    let digest = store
        .put_bundle(&bundle, now)
        .await
        .context("cannot store the pipeline")
        .map_err(|e| Failure::Infrastructure.wrap(e))?;
    let pipeline = bundle.root().name().to_owned();
    let name = args.name.unwrap_or_else(|| pipeline.clone());
    let file = args.file.display().to_string();
    let new = NewSchedule {
        name: &name,
        cron: &args.cron,
        pipeline: &pipeline,
        file: &file,
        digest: bundle.root().digest(),
        bundle: &digest,
        input: &input,
        catch_up: args.catch_up.into(),
    };
    let added = store.add_schedule(&new, args.replace, now).await.map_err(store_failure)?;
    if added == Added::Exists {
        anyhow::bail!(
            "a schedule named \"{name}\" exists already: `--replace` replaces it, `--name` gives this one another name"
        );
    }
    let schedule =
        store.schedule(&name).await.map_err(store_failure)?.context("the schedule just added is gone")?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&schedule)?);
    }
    if !settings.quiet {
        let verb = if added == Added::Replaced { "replaced" } else { "added" };
        eprintln!(
            "{verb} schedule {name} ({}): next tick {}; `weir worker` runs it",
            schedule.cron,
            when(schedule.next_at, now)
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(store: &Store, args: &ListArgs) -> Result<ExitCode> {
    let schedules = store.schedules().await.map_err(store_failure)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&schedules)?);
        return Ok(ExitCode::SUCCESS);
    }
    if schedules.is_empty() {
        eprintln!(
            "no schedules (store: {}); `weir schedule add FILE --cron EXPR` adds one",
            store.location()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let now = now_ms();
    outln!("{:<20}  {:<16}  {:<20}  {:<36}  last", "name", "cron", "pipeline", "next");
    for s in &schedules {
        let next = if s.paused { "paused".to_owned() } else { when(s.next_at, now) };
        outln!("{:<20}  {:<16}  {:<20}  {:<36}  {}", s.name, s.cron, s.pipeline, next, last(s, now));
    }
    Ok(ExitCode::SUCCESS)
}

async fn pause(settings: &Settings, name: &str, paused: bool) -> Result<ExitCode> {
    let store = open(settings, Durability::Normal).await?;
    let now = now_ms();
    let Some(changed) = store.pause_schedule(name, paused, now).await.map_err(store_failure)? else {
        return Err(no_such_schedule(&store, name).await);
    };
    if !settings.quiet {
        let message = match (paused, changed) {
            (true, true) => format!("paused schedule {name}; `weir schedule resume {name}` fires it again"),
            (true, false) => format!("schedule {name} was paused already"),
            (false, changed) => {
                let next = store.schedule(name).await.map_err(store_failure)?.map(|s| when(s.next_at, now));
                let next = next.unwrap_or_default();
                if changed {
                    format!("resumed schedule {name}: next tick {next}")
                } else {
                    format!("schedule {name} was not paused: next tick {next}")
                }
            }
        };
        eprintln!("{message}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn no_such_schedule(store: &Store, name: &str) -> anyhow::Error {
    let names: Vec<String> =
        store.schedules().await.unwrap_or_default().into_iter().map(|s| s.name).collect();
    let known = if names.is_empty() {
        "there are none".to_owned()
    } else {
        format!("there are: {}", names.join(", "))
    };
    anyhow::anyhow!("no schedule is named \"{name}\" ({known}; store: {})", store.location())
}

/// A tick's time in UTC, and how far from now.
fn when(at_ms: u64, now_ms: u64) -> String {
    let from_now = if at_ms >= now_ms {
        format!("in {}", coarse(Duration::from_millis(at_ms - now_ms)))
    } else {
        format!("{} ago", coarse(Duration::from_millis(now_ms - at_ms)))
    };
    format!("{} ({from_now})", utc_minute(at_ms as i64))
}

fn last(s: &StoredSchedule, now_ms: u64) -> String {
    let missed = match s.missed {
        0 => String::new(),
        n => format!(", {n} missed"),
    };
    match (s.last_tick_at, &s.last_run_id) {
        (Some(at), Some(run)) => {
            let status = s.last_status.map_or_else(|| "cleaned up".to_owned(), |st| st.to_string());
            format!("{} run {} {status}{missed}", when(at, now_ms), &run[..run.len().min(8)])
        }
        _ => format!("never fired{missed}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_in_utc_with_their_distance_from_now() {
        let now = 1_796_407_200_000; // 2026-12-04 18:00 UTC
        assert_eq!(when(now + 300_000, now), "2026-12-04 18:05 UTC (in 5m)");
        assert_eq!(when(now - 3_600_000, now), "2026-12-04 17:00 UTC (1h ago)");
    }
}
