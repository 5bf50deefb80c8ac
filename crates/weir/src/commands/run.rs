//! `weir run`: runs a pipeline in this process and prints its output.

use crate::exit::{EXIT_INVALID, EXIT_RUN_FAILED, Failure};
use crate::progress::{Progress, human};
use crate::settings::{Settings, Style, paint};
use crate::telemetry::Observer;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use weir_engine::{Cancel, ErrorKind, InputError, RunOptions, RunReport, TraceContext};
use weir_pipeline::{Bundle, Status};

/// Run a pipeline and print its output as JSON on stdout
///
/// Progress goes to stderr when it is a terminal (not with `--quiet`); stdout holds the output
/// and nothing else, so `weir run p.yaml | jq .` works.
///
/// Ctrl-C or SIGTERM (what CI systems and container runtimes send) cancels the running steps and
/// ends the run `cancelled`, and so does `weir runs cancel RUN` from another process or machine; `--json` still prints the summary. A second one exits at once, with
/// 130 after Ctrl-C and 143 after SIGTERM, the codes a shell gives a process those signals end.
///
/// The run is stored (its steps, their results, every event, and the pipeline's text by its
/// digest) in `.weir/weir.db`, or where WEIR_HOME or WEIR_DATABASE_URL say; `weir runs list`
/// and `weir runs show` read it back. A step's result is committed before any step that needs it
/// starts. `--no-store` runs without a record.
///
/// Exit codes: 0 succeeded, 1 failed or cancelled, 2 invalid pipeline or input, 3 the store
/// cannot be opened, 130 or 143 stopped by a second signal.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir run examples/hello.yaml\n  weir run score.yaml -i '{\"order\": 7}'\n  weir run score.yaml -i @order.json --set order=8 --set-str note=rush\n  weir run score.yaml --json | jq .steps\n  greeting=$(weir run -r examples/hello.yaml)\n  generate-pipeline | weir run - --set order=7"
)]
pub struct Args {
    /// The pipeline file (YAML or JSON), or `-` to read it from stdin (`<stdin>` in messages).
    /// The files a pipeline from stdin runs by relative path are found from the current
    /// directory, since it has no directory of its own.
    file: PathBuf,
    #[command(flatten)]
    input: crate::input::InputArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// The seed of retry jitter, to repeat a run's waits exactly (default: random; the seed a run
    /// used is in its `run_started` event).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Do not store the run: nothing is written, and `weir runs` will not know it.
    #[arg(long)]
    no_store: bool,
    #[command(flatten)]
    durability: DurabilityArg,
    #[command(flatten)]
    metrics: crate::telemetry::MetricsArgs,
}

/// How a run's result is printed, by `weir run` and `weir resume`.
#[derive(clap::Args)]
pub struct OutputArgs {
    /// Print a summary object instead of the bare output: `{run_id, pipeline, status, output,
    /// error, duration_ms, steps: [{id, kind, status, attempts, duration_ms, error, nested}]}`,
    /// where `nested` lists a `foreach` step's items (or a `pipeline` step's run) with theirs.
    #[arg(long)]
    json: bool,
    /// Write every event of the run and of the pipelines it runs to stderr, one JSON object per
    /// line; `run_started` records the pipeline's digest, the input and the jitter seed.
    #[arg(long)]
    pub events: bool,
    /// Print JSON on one line.
    #[arg(short, long)]
    compact: bool,
    /// Print an output that is a string as plain text, without JSON quotes or escapes (like
    /// `jq -r`), for `$(weir run -r p.yaml)` in a script. Other outputs print as JSON.
    #[arg(short, long)]
    raw: bool,
}

/// `--durability`, of the commands that record runs (`weir run`, `resume`, `replay`, `worker`).
#[derive(clap::Args)]
pub struct DurabilityArg {
    /// What a stored run survives: `normal`, a crash of weir (SQLite: WAL, synchronous=NORMAL;
    /// PostgreSQL: synchronous_commit=off); `full`, a crash of the machine or database server
    /// too (an fsync, or the server's flush, per group of commits).
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = Durability::Normal)]
    durability: Durability,
}

impl DurabilityArg {
    pub fn level(&self) -> weir_store::Durability {
        match self.durability {
            Durability::Normal => weir_store::Durability::Normal,
            Durability::Full => weir_store::Durability::Full,
        }
    }
}

/// The value of `--durability`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Durability {
    Normal,
    Full,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    if args.file.as_os_str() == crate::load::STDIN && args.input.reads_stdin() {
        anyhow::bail!("stdin can hold the pipeline (`weir run -`) or the input (`-i @-`), not both");
    }
    let registry = super::registry();
    let Some(bundle) = crate::load::bundle_for_run(&args.file, &registry, settings)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let input = args.input.value()?;
    let runtime = super::runtime(super::Threads::Workers)?;
    let observer = Observer::serve(&args.metrics, &settings.config, &runtime)?;
    if let Some(addr) = observer.addr.filter(|_| !settings.quiet && !args.output.events) {
        eprintln!("metrics: http://{addr}/metrics");
    }
    let store = match args.no_store {
        true => None,
        false => {
            Some(runtime.block_on(super::runs::open_for_run(&bundle, settings, args.durability.level()))?)
        }
    };
    let launch = Launch {
        bundle,
        input,
        seed: args.seed,
        run_id: None,
        store,
        resume: None,
        reuse: Default::default(),
        trace_parent: crate::traces::parent(settings),
    };
    launch.run(registry, &runtime, &args.output, settings, &observer)
}

/// A run about to start, or to be resumed: what `weir run`, `weir resume` and `weir worker`
/// start a run with.
pub struct Launch {
    pub bundle: Bundle,
    pub input: serde_json::Value,
    pub seed: Option<u64>,
    /// The run's id when it has one before it starts (a run submitted to the queue).
    pub run_id: Option<String>,
    pub store: Option<weir_store::Store>,
    pub resume: Option<weir_engine::Resume>,
    /// Results of steps of an earlier run to take instead of running them (`weir replay`).
    pub reuse: std::collections::HashMap<String, weir_engine::resume::Ended>,
    /// The span the run is a child of (`TRACEPARENT`, or the submitter's).
    pub trace_parent: Option<weir_engine::TraceContext>,
}

/// A run, started: its future (for `tokio::spawn`), and what tells it to stop.
pub struct Started {
    pub run: std::pin::Pin<Box<dyn Future<Output = Result<RunReport, InputError>> + Send>>,
    pub cancel: Cancel,
    /// Whether the run waits for an answer to an approval now.
    pub waiting: weir_store::Waiting,
}

impl Launch {
    /// The run `interrupted` as the store has it, recorded by `store` from now on: a run
    /// submitted and never started starts with the id and seed it was given, any other goes on
    /// from what it committed. `None` when the versions it started with do not validate with
    /// this weir (the diagnostics are printed).
    pub fn from_store(
        interrupted: weir_store::Interrupted,
        store: weir_store::Store,
        registry: &weir_engine::Registry,
        settings: &Settings,
    ) -> Result<Option<Launch>> {
        let Some(bundle) = super::resume::pinned(&interrupted, registry, settings, "resumed")? else {
            return Ok(None);
        };
        let run = &interrupted.run.run;
        if run.status == Status::Pending {
            let id = run.run_id.clone();
            let (seed, input) = (&interrupted.run.seed, interrupted.run.input);
            let trace_parent = interrupted.run.trace_parent.as_deref();
            return Launch::submitted(bundle, &id, seed, input, store, trace_parent).map(Some);
        }
        let input = interrupted.run.input;
        let resume = Some(interrupted.resume);
        let reuse = Default::default();
        let trace_parent = crate::traces::parent(settings);
        let store = Some(store);
        Ok(Some(Launch { bundle, input, seed: None, run_id: None, store, resume, reuse, trace_parent }))
    }

    /// Run `id`, submitted to the queue and never started, with the seed and input it was given,
    /// recorded by `store`, in the trace of `trace_parent` (its submitter's `traceparent`).
    pub fn submitted(
        bundle: Bundle,
        id: &str,
        seed: &str,
        input: serde_json::Value,
        store: weir_store::Store,
        trace_parent: Option<&str>,
    ) -> Result<Launch> {
        let seed =
            seed.parse().map_err(|_| anyhow::anyhow!("run {id} has the seed \"{seed}\", not a number"))?;
        let run_id = Some(id.to_owned());
        let reuse = Default::default();
        let (store, trace_parent) = (Some(store), trace_parent.and_then(TraceContext::parse_traceparent));
        Ok(Launch { bundle, input, seed: Some(seed), run_id, store, resume: None, reuse, trace_parent })
    }

    /// How many of the root pipeline's steps are left to end.
    fn steps_left(&self) -> usize {
        let ended =
            self.resume.as_ref().map_or(0, |r| r.run.steps.values().filter(|s| s.ended.is_some()).count());
        self.bundle.root().steps().len().saturating_sub(ended)
    }

    /// Starts the run on `engine`, its events (with the values of the variables it reads hidden)
    /// going to `sink` and to `observer`, which times its store too. Fails before it starts
    /// when a pipeline reads a variable that is not allowed.
    pub fn start(
        self,
        engine: &weir_engine::Engine,
        sink: Arc<dyn weir_engine::EventSink>,
        allowed: &[String],
        observer: &Observer,
    ) -> Result<Started> {
        let Launch { bundle, input, seed, run_id, store, resume, reuse, trace_parent } = self;
        let env = crate::env::for_run(&bundle, allowed)?;
        let redact = crate::env::Redact::new(&env);
        let cancel = Cancel::new();
        let waiting = store.as_ref().map(weir_store::Store::waiting).unwrap_or_default();
        let store = store.map(|s| observer.store(Arc::new(s)));
        let opts = RunOptions {
            cancel: cancel.clone(),
            seed,
            run_id,
            env,
            store,
            resume,
            reuse,
            trace_parent,
            ..RunOptions::default()
        };
        let events = Arc::new(crate::env::Redacted { inner: observer.sink(sink), redact });
        let run = Box::pin(engine.start(Arc::new(bundle), input, opts, events));
        Ok(Started { run, cancel, waiting })
    }

    /// Runs it to the end, with progress on a terminal, Ctrl-C and SIGTERM cancelling it, and
    /// prints its output (or summary) as `out` says.
    pub fn run(
        self,
        registry: Arc<weir_engine::Registry>,
        runtime: &tokio::runtime::Runtime,
        out: &OutputArgs,
        settings: &Settings,
        observer: &Observer,
    ) -> Result<ExitCode> {
        let stored = self.store.is_some();
        let report = match self.execute(registry, runtime, out.events, settings, observer)? {
            Ok(report) => report,
            Err(code) => return Ok(code),
        };
        print(out, stored, &report, settings)?;
        let error_kind = report.error.as_ref().map(|e| e.kind.as_str());
        Ok(exit_code(&report.run_id, report.status, error_kind, settings))
    }

    /// Runs it to the end, with progress on a terminal (JSON lines on stderr with `events`), and
    /// Ctrl-C, SIGTERM and `weir runs cancel` cancelling it; the report, or the exit code of a
    /// run that could not start.
    pub fn execute(
        self,
        registry: Arc<weir_engine::Registry>,
        runtime: &tokio::runtime::Runtime,
        events: bool,
        settings: &Settings,
        observer: &Observer,
    ) -> Result<Result<RunReport, ExitCode>> {
        // A resumed run's progress counts the steps left to end.
        let sink = if events {
            Progress::Json
        } else if settings.interactive() {
            Progress::live(self.steps_left(), settings.stderr_color)
        } else {
            Progress::Quiet
        };
        let watched = self.store.clone();
        let sink = Arc::new(sink);
        let Started { run, cancel, waiting } = match self.start(
            &super::engine(registry),
            sink.clone(),
            &settings.config.run.env_allow,
            observer,
        ) {
            Ok(started) => started,
            Err(e) => {
                sink.finish();
                return Err(e);
            }
        };
        let report = runtime.block_on(async {
            // Listening starts before the run does, so no signal sent once a step has started is missed.
            if let Ok(signals) = Signals::listen() {
                tokio::spawn(cancel_on_signals(
                    signals,
                    cancel.clone(),
                    waiting,
                    sink.clone(),
                    settings.quiet,
                ));
            }
            if let Some(store) = watched {
                tokio::spawn(cancel_on_request(store, cancel, sink.clone(), settings.quiet));
            }
            tokio::spawn(run).await
        });
        // However the run ended, the progress line must not stay on the terminal.
        sink.finish();
        // A short run's spans are still queued: they go before the process does.
        observer.flush();
        match report? {
            Ok(report) => Ok(Ok(report)),
            Err(e) => {
                eprintln!("{}: {e}", paint("error", Style::Error, settings.stderr_color));
                Ok(Err(ExitCode::from(EXIT_INVALID)))
            }
        }
    }
}

/// The exit code of a run that ended with `status` (and the error kind `error_kind`): 0
/// succeeded, 1 failed or cancelled, 3 stopped because its store failed — which also says how
/// to go on.
pub fn exit_code(run_id: &str, status: Status, error_kind: Option<&str>, settings: &Settings) -> ExitCode {
    if error_kind == Some(ErrorKind::Store.as_str()) {
        // What was committed before the failure is consistent: the run can go on from it.
        eprintln!(
            "{}: what the run committed is kept; once the store is back, `weir resume {run_id}` continues it",
            paint("help", Style::Dim, settings.stderr_color),
        );
        return ExitCode::from(Failure::Infrastructure.code());
    }
    if status == Status::Succeeded { ExitCode::SUCCESS } else { ExitCode::from(EXIT_RUN_FAILED) }
}

/// Ends the process at once with `code`, whatever runs: what a second signal does.
#[allow(clippy::disallowed_methods)] // A second signal must end the process even while a step hangs.
pub fn stop_at_once(code: i32) -> ! {
    std::process::exit(code)
}

/// The first signal cancels the run — unless it waits for an approval: then the process stops
/// and leaves the run `waiting` in the store, as durable as it was, for `weir resume` once it is
/// answered (steps running beside the approval run again then, as after a crash). A second
/// signal exits at once, with the code of the second.
async fn cancel_on_signals(
    mut signals: Signals,
    cancel: Cancel,
    waiting: weir_store::Waiting,
    sink: Arc<Progress>,
    quiet: bool,
) {
    let code = signals.next().await;
    if waiting.any() {
        if !quiet {
            sink.note(
                "stopping; the run stays `waiting` in the store: `weir approvals` lists what it waits for, \
                 and `weir resume RUN` continues it",
            );
        }
        sink.finish();
        stop_at_once(code);
    }
    cancel.cancel();
    if !quiet {
        sink.note("cancelling the run; interrupt again to stop at once");
    }
    let code = signals.next().await;
    sink.finish();
    stop_at_once(code);
}

/// How often a process running a run looks in the store for a request to cancel it.
const CANCEL_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Cancels the run once `weir runs cancel` asks for it in the store: how a process on another
/// machine stops it (one on this machine is sent SIGTERM besides). The process finds its runs
/// by the owner it records them with.
async fn cancel_on_request(store: weir_store::Store, cancel: Cancel, sink: Arc<Progress>, quiet: bool) {
    let owner = crate::owner::current();
    loop {
        tokio::time::sleep(CANCEL_POLL).await;
        // A store that does not answer is for the run's own commits to report, not this look.
        if store.cancel_requests(&owner).await.is_ok_and(|runs| !runs.is_empty()) {
            if !quiet {
                sink.note("cancelling the run: `weir runs cancel` asked for it");
            }
            cancel.cancel();
            return;
        }
    }
}

/// The signals that stop a run: Ctrl-C, and on unix SIGTERM too. The streams live as long as
/// the listener, so a signal that arrives while the run is being cancelled is not lost.
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts listening; from now on these signals no longer end the process by themselves.
    #[cfg(unix)]
    pub fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    #[cfg(not(unix))]
    pub fn listen() -> std::io::Result<Self> {
        Ok(Self {})
    }

    /// Waits for the next signal and returns the exit code of a process it ends: 128 plus the
    /// signal's number, as shells report it.
    #[cfg(unix)]
    pub async fn next(&mut self) -> i32 {
        std::future::poll_fn(|cx| {
            if self.interrupt.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(130);
            }
            if self.terminate.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(143);
            }
            std::task::Poll::Pending
        })
        .await
    }

    /// Waits for the next Ctrl-C (there is no SIGTERM here) and returns 130, as on unix.
    #[cfg(not(unix))]
    pub async fn next(&mut self) -> i32 {
        if tokio::signal::ctrl_c().await.is_err() {
            // No Ctrl-C can be received: wait for nothing rather than stop the run.
            std::future::pending::<()>().await;
        }
        130
    }
}

fn print(args: &OutputArgs, stored: bool, report: &RunReport, settings: &Settings) -> Result<()> {
    let color = settings.stderr_color;
    if settings.interactive() && !args.events {
        let (mark, style) = match report.status {
            Status::Succeeded => ("✓", Style::Ok),
            _ => ("✗", Style::Error),
        };
        let stored = if stored { format!(" · run {}", report.run_id) } else { String::new() };
        eprintln!(
            "{} {} {} in {}{}",
            paint(mark, style, color),
            report.pipeline,
            report.status,
            human(report.duration),
            paint(&stored, Style::Dim, color)
        );
    }
    if !args.json
        && let Some(error) = &report.error
    {
        // A cancellation's message already says "cancelled"; a failure's says what failed.
        let what = match report.status {
            Status::Cancelled => format!("run {error}"),
            status => format!("run {status}: {error}"),
        };
        eprintln!("{}: {what}", paint("error", Style::Error, color));
    }
    let value = if args.json {
        serde_json::to_value(weir_api::RunSummary::from(report))?
    } else if report.status == Status::Succeeded {
        report.output.clone()
    } else {
        return Ok(());
    };
    outln!("{}", text(&value, args.raw, args.compact)?);
    Ok(())
}

/// How a value is printed: a string bare with `--raw`, anything else as JSON.
pub fn text(value: &serde_json::Value, raw: bool, compact: bool) -> Result<String> {
    Ok(match value {
        serde_json::Value::String(s) if raw => s.clone(),
        _ if compact => serde_json::to_string(value)?,
        _ => serde_json::to_string_pretty(value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn raw_prints_strings_bare_and_everything_else_as_json() {
        assert_eq!(text(&json!("Hello, \"Ada\"!\n"), true, false).unwrap(), "Hello, \"Ada\"!\n");
        assert_eq!(text(&json!("Hello"), false, false).unwrap(), "\"Hello\"");
        assert_eq!(text(&json!({"a": "b"}), true, true).unwrap(), r#"{"a":"b"}"#);
        assert_eq!(text(&json!(7), true, false).unwrap(), "7");
    }
}
