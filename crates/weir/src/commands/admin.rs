//! `weir admin`: maintenance of the run store — deleting old runs, backups and restores,
//! exports, and an integrity check. The work is the store's (`weir_store::Store`); this module
//! turns arguments into calls and the answers into text, JSON or exit codes.

use super::runs::{now_ms, open, parse_duration, store_failure};
use crate::exit::EXIT_PROBLEMS;
use crate::settings::Settings;
use anyhow::{Context, Result};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use weir_pipeline::Status;
use weir_store::{CleanupFilter, Durability, ExportWhat, Exported, Store};

/// Maintain the run store: clean up, back up, restore, export, check
///
/// Works on the store `weir run` writes: `.weir/weir.db`, or where WEIR_HOME or WEIR_DATABASE_URL
/// say (SQLite or PostgreSQL alike).
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir admin cleanup --older-than 30d --dry-run\n  weir admin backup weir-backup.tar\n  \
    weir admin restore weir-backup.tar\n  weir admin export --what runs --format csv --since 1d --output runs.csv\n  \
    weir admin check"
)]
pub struct Args {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(clap::Subcommand)]
enum AdminCommand {
    /// Delete the runs that ended and started before a cutoff, with all that is theirs
    Cleanup(CleanupArgs),
    /// Write every table, read in one snapshot, into one archive file
    Backup(BackupArgs),
    /// Restore a backup archive, after checking all of it
    Restore(RestoreArgs),
    /// Write runs, steps or events as CSV, JSON or JSON Lines
    Export(ExportArgs),
    /// Find rows that do not hold together; exit 1 when there are any
    Check(CheckArgs),
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir admin cleanup --older-than 30d --dry-run\n  weir admin cleanup --older-than 7d --status failed --json"
)]
struct CleanupArgs {
    /// Runs started longer ago than this, such as `30d`, `12h` or `1d12h`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    older_than: Duration,
    /// Only the runs that ended with this status. Runs still running or waiting are never
    /// deleted, nor are their sub-pipeline runs, which go only with their root run.
    #[arg(long, value_enum, value_name = "STATUS")]
    status: Option<EndedArg>,
    /// Print what would be deleted, and delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print `{dry_run, before, runs, rows: {runs, steps, attempts, events, blobs, approvals,
    /// schedule_ticks}}`.
    #[arg(long)]
    json: bool,
}

/// A status a run ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum EndedArg {
    Succeeded,
    Failed,
    Cancelled,
}

impl From<EndedArg> for Status {
    fn from(s: EndedArg) -> Status {
        match s {
            EndedArg::Succeeded => Status::Succeeded,
            EndedArg::Failed => Status::Failed,
            EndedArg::Cancelled => Status::Cancelled,
        }
    }
}

#[derive(clap::Args)]
#[command(
    after_help = "The archive is a tar file: manifest.json (schema version, backend, created_at, weir version, \
    rows and SHA-256 per member), manifest.sha256, and one JSON Lines member per table.\n\n\
    Example:\n  weir admin backup weir-backup.tar"
)]
struct BackupArgs {
    /// The archive to write (replaced whole: never half written).
    file: PathBuf,
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir admin restore weir-backup.tar\n  weir admin restore weir-backup.tar --force"
)]
struct RestoreArgs {
    /// The archive `weir admin backup` wrote.
    file: PathBuf,
    /// Replace what the store holds; without it, a store that is not empty is refused.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  weir admin export --what runs --format csv\n  \
    weir admin export --what events --format jsonl --since 1h --output events.jsonl")]
struct ExportArgs {
    /// The rows to write.
    #[arg(long, value_enum)]
    what: WhatArg,
    /// CSV (RFC 4180, with a header row), a JSON array of objects, or one object per line.
    #[arg(long, value_enum)]
    format: FormatArg,
    /// Only rows from within this long ago (runs and steps by their start, events by their
    /// time), such as `1h` or `7d`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    since: Option<Duration>,
    /// Write to this file (replaced whole) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum WhatArg {
    Runs,
    Steps,
    Events,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum FormatArg {
    Csv,
    Json,
    Jsonl,
}

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  weir admin check\n  weir admin check --json")]
struct CheckArgs {
    /// Print a JSON array of `{table, key, problem}`.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let runtime = super::runtime(super::Threads::One)?;
    runtime.block_on(async {
        let store = open(settings, Durability::Normal).await?;
        match args.command {
            AdminCommand::Cleanup(a) => cleanup(&store, &a, settings).await,
            AdminCommand::Backup(a) => backup(&store, &a, settings).await,
            AdminCommand::Restore(a) => restore(&store, &a, settings).await,
            AdminCommand::Export(a) => export(&store, &a).await,
            AdminCommand::Check(a) => check(&store, &a).await,
        }
    })
}

async fn cleanup(store: &Store, args: &CleanupArgs, settings: &Settings) -> Result<ExitCode> {
    let filter = CleanupFilter {
        before_ms: now_ms().saturating_sub(args.older_than.as_millis() as u64),
        status: args.status.map(Status::from),
        dry_run: args.dry_run,
    };
    let report = store.cleanup(&filter).await.map_err(store_failure)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    for id in &report.runs {
        outln!("{id}");
    }
    if !settings.quiet {
        let r = &report.rows;
        let verb = if report.dry_run { "would delete" } else { "deleted" };
        eprintln!(
            "{verb} {} runs, {} steps, {} attempts, {} events, {} blobs, {} approvals, {} schedule ticks (store: {})",
            r.runs,
            r.steps,
            r.attempts,
            r.events,
            r.blobs,
            r.approvals,
            r.schedule_ticks,
            store.location()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn backup(store: &Store, args: &BackupArgs, settings: &Settings) -> Result<ExitCode> {
    let (archive, summary) =
        store.backup(now_ms(), env!("CARGO_PKG_VERSION")).await.map_err(store_failure)?;
    crate::output::replace(&args.file, &archive)?;
    if !settings.quiet {
        eprintln!("backed up {} to {}", rows(&summary), args.file.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn restore(store: &Store, args: &RestoreArgs, settings: &Settings) -> Result<ExitCode> {
    let archive =
        std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let context = || format!("cannot restore {} (the store is unchanged)", args.file.display());
    let summary = store.restore(&archive, args.force).await.map_err(|e| match e {
        // The archive, or the store's contents, are the user's to fix: exit 2.
        weir_store::Error::InvalidBackup(_) | weir_store::Error::BackupTooNew { .. } => {
            anyhow::Error::new(e).context(context())
        }
        weir_store::Error::NotEmpty { .. } => {
            anyhow::anyhow!("{e}; --force replaces what it holds").context(context())
        }
        other => store_failure(other).context(context()),
    })?;
    if !settings.quiet {
        eprintln!(
            "restored {} from {} ({}, schema version {}) into {}",
            rows(&summary),
            args.file.display(),
            summary.backend,
            summary.schema_version,
            store.location()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `3 runs, 12 steps, …`: the rows of each table.
fn rows(summary: &weir_store::BackupSummary) -> String {
    let parts: Vec<String> = summary.rows.iter().map(|(t, n)| format!("{n} {t}")).collect();
    parts.join(", ")
}

async fn export(store: &Store, args: &ExportArgs) -> Result<ExitCode> {
    let what = match args.what {
        WhatArg::Runs => ExportWhat::Runs,
        WhatArg::Steps => ExportWhat::Steps,
        WhatArg::Events => ExportWhat::Events,
    };
    let since_ms = args.since.map(|d| now_ms().saturating_sub(d.as_millis() as u64));
    let table = store.export(what, since_ms).await.map_err(store_failure)?;
    let text = match args.format {
        FormatArg::Csv => csv(&table),
        FormatArg::Json => {
            format!("{}\n", serde_json::to_string_pretty(&objects(&table).collect::<Vec<_>>())?)
        }
        FormatArg::Jsonl => objects(&table).map(|o| format!("{o}\n")).collect(),
    };
    match &args.output {
        Some(path) => crate::output::replace(path, &text)?,
        // Written as it is: a CSV's CRLF line ends, and no line added to an empty JSON Lines.
        None => crate::settings::write_stdout(format_args!("{text}")),
    }
    Ok(ExitCode::SUCCESS)
}

/// Each row as an object of its columns.
fn objects(table: &Exported) -> impl Iterator<Item = Value> + '_ {
    table.rows.iter().map(|row| {
        Value::Object(table.columns.iter().map(|c| (*c).to_owned()).zip(row.iter().cloned()).collect())
    })
}

/// RFC 4180: a header row, CRLF line ends, a field quoted when it holds a comma, a quote, CR or
/// LF, its quotes doubled. Null is an empty field; a JSON value is its compact text.
pub(super) fn csv(table: &Exported) -> String {
    let mut out = String::new();
    let mut line = |fields: Vec<String>| {
        let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&quoted.join(","));
        out.push_str("\r\n");
    };
    line(table.columns.iter().map(|c| (*c).to_owned()).collect());
    for row in &table.rows {
        line(row.iter().map(csv_text).collect());
    }
    out
}

fn csv_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

async fn check(store: &Store, args: &CheckArgs) -> Result<ExitCode> {
    let problems = store.check().await.map_err(store_failure)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&problems)?);
    } else if problems.is_empty() {
        outln!("no problems (store: {})", store.location());
    } else {
        for p in &problems {
            outln!("{} {}: {}", p.table, p.key, p.problem);
        }
        outln!("{} problems (store: {})", problems.len(), store.location());
    }
    Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_PROBLEMS) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_as_rfc_4180_says() {
        let table = Exported {
            columns: &["a", "b"],
            rows: vec![
                vec![Value::from("plain"), Value::Null],
                vec![Value::from("a,b"), Value::from("say \"hi\"\nthere")],
                vec![Value::from(3), serde_json::json!({"k": [1, 2]})],
            ],
        };
        assert_eq!(
            csv(&table),
            "a,b\r\nplain,\r\n\"a,b\",\"say \"\"hi\"\"\nthere\"\r\n3,\"{\"\"k\"\":[1,2]}\"\r\n"
        );
    }

    #[test]
    fn durations_take_days_in_front() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("1d12h"), Ok(Duration::from_secs(36 * 3600)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("3x").unwrap_err().contains("unknown unit"));
    }
}
