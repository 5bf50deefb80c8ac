//! `weir runs`: the history of stored runs, and opening the store for `weir run`.

use crate::exit::Failure;
use crate::progress::human;
use crate::settings::{Settings, Style, paint};
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
    after_help = "Examples:\n  weir runs list\n  weir runs list --status failed --since 1h --json\n  weir runs show 019ae5c2"
)]
pub struct Args {
    #[command(subcommand)]
    command: RunsCommand,
}

#[derive(clap::Subcommand)]
enum RunsCommand {
    /// The stored runs, the newest first
    List(ListArgs),
    /// One run: its status, input and output, and a table of its steps
    Show(ShowArgs),
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
    /// Print the run as JSON: the fields of `runs list` and `seed`, `input`, `output`, `steps`
    /// (`{step, kind, item, status, attempts, started_at, finished_at, duration_ms, output,
    /// error}`) and `children`.
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
        }
    })
}

/// Opens the store the settings name; a store that cannot be opened is infrastructure
/// unavailable (exit 3), and the message says where it is (without a password) and what to try.
pub async fn open(settings: &Settings, durability: Durability) -> Result<Store> {
    let location = settings.store.location();
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
    print_run(&run, settings.stdout_color);
    Ok(ExitCode::SUCCESS)
}

fn print_run(detail: &StoredRunDetail, color: bool) {
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
    if let Some(error) = &run.error {
        outln!("error     {} ({})", error.message, error.kind);
    }
    outln!("input     {}", detail.input);
    if run.status == Status::Succeeded {
        outln!("output    {}", detail.output);
    }
    outln!("");
    outln!("{:<24}  {:<10}  {:<9}  {:>8}  {:>9}  error", "step", "kind", "status", "attempts", "duration");
    for step in &detail.steps {
        let name = match step.item {
            Some(i) => format!("  [{i}]"),
            None => step.step.clone(),
        };
        outln!(
            "{:<24}  {:<10}  {}  {:>8}  {:>9}  {}",
            name,
            step.kind,
            paint(&format!("{:<9}", step.status), status_style(step.status), color),
            step.attempts,
            step.duration_ms.map_or_else(|| "-".to_owned(), |ms| human(ms_duration(ms))),
            step.error.as_ref().map_or("", |e| e.message.as_str()),
        );
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
    let secs = now_ms().saturating_sub(at) / 1000;
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}
