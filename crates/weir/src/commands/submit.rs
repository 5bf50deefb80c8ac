//! `weir submit`: puts a run in the queue for `weir worker`, and waits for its end when asked.

use super::run::{exit_code, text};
use super::runs::{PROMISE, now_ms, open, store_bundle, store_failure};
use crate::exit::{EXIT_INVALID, Failure};
use crate::settings::{Settings, Style, paint};
use anyhow::{Context, Result};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use weir_api::StoredRunDetail;
use weir_pipeline::Status;
use weir_store::{Queued, Store, Submission};

/// How often `--wait` reads the run's state while it is young, where nothing tells it the run
/// ended (SQLite): a short run's result should not wait long for the read that sees it.
const POLL: Duration = Duration::from_millis(10);
/// How long `--wait` reads at [`POLL`] before it reads every [`POLL_LATER`].
const POLL_FAST_FOR: Duration = Duration::from_secs(5);
const POLL_LATER: Duration = Duration::from_millis(100);
/// How often `--wait` reads the run's state besides, where the store announces run ends
/// (PostgreSQL), should an announcement be lost with its connection.
const POLL_NOTIFIED: Duration = Duration::from_secs(1);

/// Queue a run of a pipeline for `weir worker` and print its id
///
/// The pipeline and the input are checked as `weir run` checks them, the exact text of every
/// file the run may start is stored (the run is pinned to those versions, whatever happens to
/// the files), and the run is queued, `pending` until a worker starts it (`weir runs list
/// --status pending` lists those). The run's id is printed on stdout.
///
/// With `--wait` it then waits for the run to end — taken over by another worker if its worker
/// stops or dies — and prints its output as `weir run` does.
///
/// Exit codes: 0 queued (with `--wait`: succeeded), 1 with `--wait`: failed or cancelled, 2
/// invalid pipeline or input, 3 the store cannot be opened or failed.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir submit examples/hello.yaml\n  weir submit score.yaml -i '{\"order\": 7}' --wait\n  id=$(weir submit score.yaml --set order=8)"
)]
pub struct Args {
    /// The pipeline file (YAML or JSON).
    file: PathBuf,
    #[command(flatten)]
    input: crate::input::InputArgs,
    /// The seed of retry jitter (default: random).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Wait for the run to end and print its output (a string bare with `--raw`).
    #[arg(long, conflicts_with = "repeat")]
    wait: bool,
    /// Queue this many runs of the same input (at most 100,000), in one transaction, and print
    /// their ids one per line (a load to measure workers by).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    repeat: u32,
    /// Print `{run_id, pipeline, status}`; with `--wait`, the run as `weir runs show --json`
    /// prints it.
    #[arg(long)]
    json: bool,
    /// Print JSON on one line.
    #[arg(short, long)]
    compact: bool,
    /// With `--wait`: print an output that is a string as plain text, as `weir run -r` does.
    #[arg(short, long)]
    raw: bool,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    if args.file.as_os_str() == crate::load::STDIN && args.input.reads_stdin() {
        anyhow::bail!("stdin can hold the pipeline (`weir submit -`) or the input (`-i @-`), not both");
    }
    let registry = super::registry();
    let Some(bundle) = crate::load::bundle_for_run(&args.file, &registry, settings)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let input = args.input.value()?;
    if let Err(problems) = bundle.root().check_input(&input) {
        let error = weir_engine::InputError { problems };
        eprintln!("{}: {error}", paint("error", Style::Error, settings.stderr_color));
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let runtime = super::runtime(super::Threads::One)?;
    runtime.block_on(async {
        let store = open(settings, PROMISE).await?;
        let digest = store_bundle(&store, &bundle).await?;
        let pipeline = bundle.root().name().to_owned();
        let runs: Vec<Submission> = (0..args.repeat)
            .map(|_| Submission {
                run_id: weir_engine::new_run_id(&weir_engine::SystemClock::default()),
                pipeline: pipeline.clone(),
                digest: bundle.root().digest().to_owned(),
                bundle: digest.clone(),
                seed: args.seed.unwrap_or_else(|| fastrand::u64(..)),
                input: input.clone(),
                trace_parent: crate::traces::parent(settings).map(|p| p.traceparent()),
            })
            .collect();
        store
            .enqueue(&runs, now_ms())
            .await
            .context("cannot queue the run")
            .map_err(|e| Failure::Infrastructure.wrap(e))?;
        if !args.wait {
            print_queued(&args, &runs, settings)?;
            return Ok(ExitCode::SUCCESS);
        }
        let id = &runs[0].run_id;
        if settings.interactive() {
            let note = format!("queued run {id} of {pipeline}; waiting for a worker to run it");
            eprintln!("{}", paint(&note, Style::Dim, settings.stderr_color));
        }
        let detail = wait(&store, id).await?;
        print(&args, &detail, settings)?;
        let error_kind = detail.run.error.as_ref().map(|e| e.kind.as_str());
        Ok(exit_code(id, detail.run.status, error_kind, settings))
    })
}

/// Prints the ids of the runs queued (`--json`: `{run_id, pipeline, status}` each), and on a
/// terminal says what runs them.
fn print_queued(args: &Args, runs: &[Submission], settings: &Settings) -> Result<()> {
    for run in runs {
        if args.json {
            let queued = json!({"run_id": run.run_id, "pipeline": run.pipeline, "status": "pending"});
            outln!("{}", text(&queued, false, args.compact)?);
        } else {
            outln!("{}", run.run_id);
        }
    }
    if settings.interactive()
        && let Some(first) = runs.first()
    {
        let what = if runs.len() == 1 { "the run".into() } else { format!("{} runs", runs.len()) };
        let note = format!("queued {what} of {}; `weir worker` runs what is queued", first.pipeline);
        eprintln!("{}", paint(&note, Style::Dim, settings.stderr_color));
    }
    Ok(())
}

/// Waits until run `id` has ended for good: it has a final status and is no longer in the queue
/// (a run cancelled because its worker stopped stays queued, and goes on in another).
async fn wait(store: &Store, id: &str) -> Result<StoredRunDetail> {
    // Listening before the first read: an end announced after it wakes the next wait. Without
    // announcements (SQLite, or a listening connection that cannot be opened) the wait polls.
    let mut ends = store.run_ends().await.ok().flatten();
    if ends.is_some() {
        // Read once while the run goes on, so that the read after its end, the one the result
        // waits for, finds its statements prepared (each is a round trip more the first time).
        store.run(id).await.map_err(store_failure)?;
    }
    let started = Instant::now();
    loop {
        if let Some(ends) = &mut ends {
            ends.borrow_and_update();
        }
        if store.queued(id).await.map_err(store_failure)? == Queued::No {
            let detail = store.run(id).await.map_err(store_failure)?;
            let detail = detail.with_context(|| format!("run {id} is no longer in the store"))?;
            if matches!(detail.run.status, Status::Succeeded | Status::Failed | Status::Cancelled) {
                return Ok(detail);
            }
        }
        match &mut ends {
            Some(announced) => {
                // A closed listening connection leaves the wait to polling.
                if let Ok(Err(_)) = tokio::time::timeout(POLL_NOTIFIED, announced.changed()).await {
                    ends = None;
                }
            }
            None => {
                let pause = if started.elapsed() < POLL_FAST_FOR { POLL } else { POLL_LATER };
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Prints the run's output as `weir run` does, or the stored run with `--json`.
fn print(args: &Args, detail: &StoredRunDetail, settings: &Settings) -> Result<()> {
    let run = &detail.run;
    if args.json {
        outln!("{}", text(&serde_json::to_value(detail)?, false, args.compact)?);
        return Ok(());
    }
    if let Some(error) = &run.error {
        eprintln!(
            "{}: run {}: {}",
            paint("error", Style::Error, settings.stderr_color),
            run.status,
            error.message
        );
    }
    if run.status == Status::Succeeded {
        outln!("{}", text(&detail.output, args.raw, args.compact)?);
    }
    Ok(())
}
