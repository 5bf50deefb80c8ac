//! `weir runs`: the history of stored runs, and opening the store for `weir run`.

use crate::exit::Failure;
use crate::progress::human;
use crate::settings::{Settings, Style, paint};
use crate::timeline::Axis;
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::time::Duration;
use weir_api::{StoredRun, StoredRunDetail};
use weir_pipeline::{Bundle, Status};
use weir_store::{Durability, RunFilter, Store};

/// List and inspect stored runs
///
/// Runs are stored by `weir run` in `.weir/weir.db`, or where WEIR_HOME or WEIR_DATABASE_URL say.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir runs list\n  weir runs list --status failed --since 1h --json\n  weir runs show 019ae5c2\n  weir runs logs 019ae5c2 --follow\n  weir runs cancel 019ae5c2 --reason 'wrong input'\n  weir runs logs 019ae5c2 --json | jq -c 'select(.type == \"step_failed\")'"
)]
pub struct Args {
    #[command(subcommand)]
    command: RunsCommand,
}

#[derive(clap::Subcommand)]
enum RunsCommand {
    /// The stored runs, the newest first
    List(ListArgs),
    /// One run: its status, input and output, and a table of its steps with a timeline
    Show(ShowArgs),
    /// A run's event log: what happened, when, to which step; `log` steps' messages; errors
    Logs(super::logs::LogsArgs),
    /// Cancel a run that has not ended, whichever process runs it
    ///
    /// A run no process runs any more (its process died, or left it `waiting` for an approval) is
    /// ended in the store: its unfinished steps and sub-pipeline runs are cancelled and its
    /// approvals settled as rejected, in one transaction. A run whose process is alive on this
    /// machine is sent SIGTERM, which cancels it as Ctrl-C does, and the command waits up to 5 s
    /// for its end. A run last run on another machine gets a request in the store, which that
    /// process reads every second while the run is in flight (`--force` ends it in the store
    /// instead, for a machine that is gone).
    ///
    /// Exit codes: 0 cancelled (or, on another machine, asked to be), 1 it ended otherwise
    /// meanwhile or was still going after 5 s, 2 no such run or it has ended, 3 the store cannot
    /// be opened.
    Cancel(super::cancel::CancelArgs),
}

#[derive(clap::Args)]
struct ListArgs {
    /// Only the runs of this pipeline (its `name`).
    #[arg(long, value_name = "NAME")]
    pipeline: Option<String>,
    /// Only the runs with this status.
    #[arg(long, value_enum, value_name = "STATUS")]
    status: Option<StatusArg>,
    /// Only the runs started within this long ago, such as `30m`, `1h`, `2h30m` or `7d`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    since: Option<Duration>,
    /// At most this many runs.
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,
    /// Sub-pipeline runs too (`pipeline` steps, `foreach` items that run a pipeline).
    #[arg(long)]
    all: bool,
    /// Print a JSON array of `{run_id, pipeline, digest, status, parent, started_at, finished_at,
    /// duration_ms, error}`.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ShowArgs {
    /// The run's id, or enough of its start to name one run.
    run: String,
    /// Print the run as JSON instead of the table (whose timeline draws each step's start to end
    /// on the run's time axis, as wide as the terminal allows, 40 columns when piped): the fields of `runs list` and `seed`, `input`, `output`, `steps`
    /// (`{step, kind, item, status, attempts, started_at, finished_at, duration_ms, output,
    /// error}`), `children`, and when set `replay_of` (the run a `weir replay` ran again),
    /// `cancel_reason`, `trace_id` (the trace its spans are in) and `trace_parent` (the
    /// submitter's `traceparent` of a queued run).
    #[arg(long)]
    json: bool,
}

/// A status `--status` can select.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum StatusArg {
    /// Queued for `weir worker`, not started yet.
    #[value(alias = "queued")]
    Pending,
    Running,
    Waiting,
    Succeeded,
    Failed,
    Cancelled,
}

impl From<StatusArg> for Status {
    fn from(s: StatusArg) -> Status {
        match s {
            StatusArg::Pending => Status::Pending,
            StatusArg::Running => Status::Running,
            StatusArg::Waiting => Status::Waiting,
            StatusArg::Succeeded => Status::Succeeded,
            StatusArg::Failed => Status::Failed,
            StatusArg::Cancelled => Status::Cancelled,
        }
    }
}

/// A span of time back from now, as pipelines write durations (`30m`, `1h30m`), and with whole
/// days in front (`30d`, `1d12h`), which a history is often measured in and a step's timeout
/// never is (so days stay out of the pipeline format).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let digits = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (days, rest) = match trimmed[digits..].strip_prefix('d') {
        Some(rest) if digits > 0 => {
            let days: u64 = trimmed[..digits]
                .parse()
                .map_err(|_| format!("invalid duration \"{text}\": too many days"))?;
            (days, rest)
        }
        _ => (0, trimmed),
    };
    let rest = match rest {
        "" if days > 0 => Duration::ZERO,
        rest => weir_pipeline::Duration::parse(rest).map(|d| d.0).map_err(|e| e.to_string())?,
    };
    let days = days.checked_mul(86_400).map(Duration::from_secs);
    days.and_then(|d| d.checked_add(rest)).ok_or_else(|| format!("invalid duration \"{text}\": out of range"))
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let runtime = super::runtime(super::Threads::One)?;
    runtime.block_on(async {
        let store = open(settings, Durability::Normal).await?;
        match args.command {
            RunsCommand::List(list) => list_runs(&store, &list, settings).await,
            RunsCommand::Show(show) => show_run(&store, &show, settings).await,
            RunsCommand::Logs(logs) => super::logs::logs(&store, &logs, settings).await,
            RunsCommand::Cancel(cancel) => super::cancel::cancel(&store, &cancel, settings).await,
        }
    })
}

/// The durability of commands whose commit is a promise to act later (a submitted run, the
/// answer to an approval, a schedule): kept through a crash of what holds the data too, for one
/// fsync (SQLite) or one flushed commit (PostgreSQL) per command. Runs record their steps at
/// their `--durability`.
pub const PROMISE: Durability = Durability::Full;

/// Opens the store the settings name; a store that cannot be opened is infrastructure
/// unavailable (exit 3), and the message says where it is (without a password) and what to try.
pub async fn open(settings: &Settings, durability: Durability) -> Result<Store> {
    let location = settings.config.store.location();
    Store::open(location, durability).await.map_err(store_failure)
}

/// Opens the store for `weir run` and keeps the text of every pipeline the run may start (and
/// how they run each other), so the run's record names versions the store holds and `weir
/// resume` can continue it on them.
pub async fn open_for_run(bundle: &Bundle, settings: &Settings, durability: Durability) -> Result<Store> {
    let store = open(settings, durability)
        .await
        .map_err(|e| {
            e.context("cannot store the run (`--no-store` runs without a record; WEIR_HOME or WEIR_DATABASE_URL store it elsewhere)")
        })?;
    let digest = store_bundle(&store, bundle).await?;
    Ok(store.recording(Some(digest), Some(crate::owner::current())))
}

/// Keeps the pipeline versions of `bundle` in `store`; returns the digest that names them.
pub async fn store_bundle(store: &Store, bundle: &Bundle) -> Result<String> {
    store
        .put_bundle(bundle, now_ms())
        .await
        .context("cannot store the pipeline")
        .map_err(|e| Failure::Infrastructure.wrap(e))
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub fn store_failure(e: weir_store::Error) -> anyhow::Error {
    Failure::Infrastructure.wrap(anyhow::Error::new(e))
}

/// A failure to look a run up by id: an id that names several runs is the user's to fix (exit
/// 2); anything else is the store's.
pub fn lookup_failure(e: weir_store::Error) -> anyhow::Error {
    match e {
        weir_store::Error::Ambiguous(_) => anyhow::Error::new(e),
        other => store_failure(other),
    }
}

pub fn no_such_run(id: &str, store: &Store) -> anyhow::Error {
    anyhow::anyhow!(
        "no stored run has the id \"{id}\" (store: {}; `weir runs list` shows the runs)",
        store.location()
    )
}

async fn list_runs(store: &Store, args: &ListArgs, settings: &Settings) -> Result<ExitCode> {
    let filter = RunFilter {
        pipeline: args.pipeline.clone(),
        status: args.status.map(Status::from),
        since_ms: args.since.map(|d| now_ms().saturating_sub(d.as_millis() as u64)),
        children: args.all,
        limit: args.limit,
    };
    let runs = store.runs(&filter).await.map_err(store_failure)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        if !settings.quiet {
            eprintln!("no stored runs match (store: {})", store.location());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let color = settings.stdout_color;
    outln!("{:<36}  {:<20}  {:<9}  {:>9}  started", "run", "pipeline", "status", "duration");
    for run in &runs {
        outln!(
            "{:<36}  {:<20}  {}  {:>9}  {}",
            run.run_id,
            run.pipeline,
            paint(&format!("{:<9}", run.status), status_style(run.status), color),
            run.duration_ms.map_or_else(|| "-".to_owned(), |ms| human(ms_duration(ms))),
            ago(run.started_at),
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn show_run(store: &Store, args: &ShowArgs, settings: &Settings) -> Result<ExitCode> {
    let Some(run) = store.run(&args.run).await.map_err(lookup_failure)? else {
        return Err(no_such_run(&args.run, store));
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&run)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_run(&run, settings.stdout_color, settings.stdout_width);
    Ok(ExitCode::SUCCESS)
}

/// The columns of `runs show`'s step table besides the timeline: the fixed ones before it, the
/// marks and gaps around it, and some room for errors after it.
const TABLE_COLUMNS: usize = 70 + 4 + 16;

/// The time axis of a run: from its start to its end, or, while it has not ended, to now (or
/// the last time it recorded, should a clock be behind).
fn axis(detail: &StoredRunDetail) -> Axis {
    let run = &detail.run;
    let last = detail.steps.iter().filter_map(|s| s.finished_at.or(s.started_at)).max();
    let end = run.finished_at.unwrap_or_else(|| now_ms().max(last.unwrap_or(0)));
    Axis { start: run.started_at, end: end.max(run.started_at) }
}

fn print_run(detail: &StoredRunDetail, color: bool, columns: Option<usize>) {
    let run: &StoredRun = &detail.run;
    outln!("run       {}", run.run_id);
    outln!("pipeline  {} ({})", run.pipeline, run.digest);
    if let Some(parent) = &run.parent {
        let item = parent.item.map_or_else(String::new, |i| format!(" item {i}"));
        outln!("parent    run {} step {}{item}", parent.run_id, parent.step);
    }
    let took = run.duration_ms.map_or_else(String::new, |ms| format!(" in {}", human(ms_duration(ms))));
    outln!(
        "status    {}{took}, started {}",
        paint(run.status.as_str(), status_style(run.status), color),
        ago(run.started_at)
    );
    if let Some(of) = &detail.replay_of {
        outln!("replays   run {of}");
    }
    if let Some(error) = &run.error {
        outln!("error     {} ({})", error.message, error.kind);
    }
    if let Some(reason) = &detail.cancel_reason {
        outln!("reason    {reason}");
    }
    if let Some(trace) = &detail.trace_id {
        outln!("trace     {trace}");
    }
    outln!("input     {}", detail.input);
    if run.status == Status::Succeeded {
        outln!("output    {}", detail.output);
    }
    outln!("");
    let axis = axis(detail);
    let width = Axis::width(columns, TABLE_COLUMNS);
    let span = human(ms_duration(axis.end.saturating_sub(axis.start) as f64));
    outln!(
        "{:<24}  {:<10}  {:<9}  {:>8}  {:>9}  {:<bar$}  error",
        "step",
        "kind",
        "status",
        "attempts",
        "duration",
        format!("timeline ({span})"),
        bar = width + 2
    );
    for step in &detail.steps {
        let name = match step.item {
            Some(i) => format!("  [{i}]"),
            None => step.step.clone(),
        };
        let line = format!(
            "{:<24}  {:<10}  {}  {:>8}  {:>9}  {}  {}",
            name,
            step.kind,
            paint(&format!("{:<9}", step.status), status_style(step.status), color),
            step.attempts,
            step.duration_ms.map_or_else(|| "-".to_owned(), |ms| human(ms_duration(ms))),
            axis.bar(step.started_at, step.finished_at, step.status, width, color),
            step.error.as_ref().map_or("", |e| e.message.as_str()),
        );
        outln!("{}", line.trim_end());
    }
    for child in &detail.children {
        outln!("child run {} ({}, {})", child.run_id, child.pipeline, child.status);
    }
}

fn status_style(status: Status) -> Style {
    match status {
        Status::Succeeded => Style::Ok,
        Status::Failed | Status::Cancelled => Style::Error,
        _ => Style::Dim,
    }
}

fn ms_duration(ms: f64) -> Duration {
    Duration::from_secs_f64((ms / 1e3).max(0.0))
}

/// How long ago `at` (milliseconds since the epoch) was: `12s ago`, `3m ago`, `5h ago`, `2d ago`.
pub fn ago(at: u64) -> String {
    format!("{} ago", coarse(Duration::from_millis(now_ms().saturating_sub(at))))
}

/// A span of time to the largest whole unit: `42s`, `5m`, `3h`, `2d`.
pub fn coarse(span: Duration) -> String {
    let secs = span.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}
