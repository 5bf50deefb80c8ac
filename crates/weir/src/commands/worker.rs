//! `weir worker`: takes the runs `weir submit` queued and runs them, each under a lease that
//! its heartbeats renew; continues the runs whose worker died, and the runs left waiting for an
//! answer that has come.

use super::run::{DurabilityArg, Launch, Signals, Started, stop_at_once};
use super::runs::{now_ms, open, parse_duration, store_failure};
use crate::config::Config;
use crate::settings::{Settings, Style, paint};
use crate::telemetry::Observer;
use anyhow::{Result, bail};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use weir_engine::{Cancel, Engine, Registry};
use weir_pipeline::Status;
use weir_store::{Claimed, Store};

/// How often a worker looks for runs left `waiting` whose answers have come.
const ANSWERED_EVERY: Duration = Duration::from_secs(1);
/// How often a worker fires the schedules' due ticks (`weir schedule`).
const SCHEDULES_EVERY: Duration = Duration::from_secs(1);
/// The shortest lease: heartbeats come every third of it.
const SHORTEST_LEASE: Duration = Duration::from_secs(1);
/// How often a worker looks whether its configuration file changed.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// Run the runs `weir submit` queued, until stopped
///
/// A worker claims queued runs from the store (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so any
/// number of workers on any machines share one queue; the file's write lock on SQLite, for one
/// machine), up to `--concurrency` at once, and holds a lease on each that its heartbeats renew
/// every third of `--lease`. When a worker dies, its runs go to the next worker that claims
/// once their lease has passed, and resume from what they committed: finished steps do not run
/// again, and a step that was running runs again (at least once). It also continues runs left
/// `waiting` for an approval, once every answer has come and the process that ran them is gone,
/// and fires the due ticks of schedules (`weir schedule`), each exactly once however many
/// workers run: their runs are queued, and claimed like any other.
///
/// SIGTERM or Ctrl-C drains: no more claims, the runs in flight get `--grace` to finish, then
/// the rest stop where their last commit left them and go back to the queue, and the worker
/// exits 0. A second signal exits at once (130 after Ctrl-C, 143 after SIGTERM), and its runs
/// are taken over when their leases pass.
///
/// Flags left out take their values from `[worker]` of the configuration file. The worker looks
/// at that file every second: a valid change applies `worker.concurrency` and `worker.poll` at
/// once (flags given still win); an invalid one is logged and the configuration stays as it was
/// (`weir health` shows it degraded). See docs/config.md.
///
/// Progress goes to stderr, a line per run claimed and ended (JSON objects with `--json`), and
/// only problems with `--quiet`.
///
/// Exit codes: 0 stopped (or, with `--once`, nothing left), 2 invalid flags, 3 the store
/// cannot be opened.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir worker\n  WEIR_DATABASE_URL=postgres://weir@db/weir weir worker --concurrency 32\n  weir worker --once --quiet"
)]
pub struct Args {
    /// How many runs it runs at once [default: 8; config worker.concurrency]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    concurrency: Option<u32>,
    /// Run what is queued, then exit once nothing is left to claim (runs that wait for an
    /// answer are given back).
    #[arg(long)]
    once: bool,
    /// How long a claim holds without a heartbeat: after it, another worker takes the run over
    /// [default: 30s; config worker.lease]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    lease: Option<Duration>,
    /// How often an idle worker looks for queued runs (on PostgreSQL a run queued or given back
    /// wakes it at once besides) [default: 100ms; config worker.poll]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    poll: Option<Duration>,
    /// How long a drain waits for the runs in flight before it gives them back [default: 30s;
    /// config worker.grace]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    grace: Option<Duration>,
    /// Write progress as JSON objects, one per line: `{event, worker, run_id, …}`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    durability: DurabilityArg,
    #[command(flatten)]
    metrics: crate::telemetry::MetricsArgs,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let lease = settings.config.worker.lease.clone().with_flag(args.lease, "--lease");
    if *lease < SHORTEST_LEASE {
        bail!("the lease {:?} ({}) is too short: a lease lasts at least 1s", *lease, lease.origin);
    }
    let lease = *lease;
    let tuning = Tuning::of(args.concurrency, args.poll, &settings.config)?;
    let runtime = super::runtime(super::Threads::Workers)?;
    let observer = Observer::serve(&args.metrics, &settings.config, &runtime)?;
    runtime.block_on(async {
        let store = open(settings, args.durability.level()).await?;
        let worker = Worker::new(store, &args, lease, settings, observer);
        let owner = crate::owner::current();
        worker.store.register_worker(&worker.id, &owner, now_ms()).await.map_err(store_failure)?;
        worker.log.worker("started", &format!("started, taking runs from {}", worker.store.location()));
        if let Some(addr) = worker.observer.addr {
            worker.log.metrics(addr);
        }
        let signals = Signals::listen().ok();
        // Every valid configuration the file changes to; the worker applies what can change
        // live, and so can anything else that subscribes (the log filter, `log.level`).
        let (changes, updates) = tokio::sync::watch::channel(settings.config.clone());
        tokio::spawn(watch_config(changes, worker.log.clone()));
        tokio::spawn(follow_log_level(updates.clone(), worker.log.clone()));
        let observer = worker.observer.clone();
        let served = worker.serve(signals, owner, tuning, updates).await;
        // The spans of the last runs are still queued: they go before the process does.
        observer.flush();
        served
    })
}

/// What a reload of the configuration changes in a running worker: the settings its flags do
/// not give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tuning {
    concurrency: usize,
    poll: Duration,
}

impl Tuning {
    /// The tuning of `config`, with `--concurrency` and `--poll` over it when given.
    fn of(concurrency: Option<u32>, poll: Option<Duration>, config: &Config) -> Result<Tuning> {
        let poll = config.worker.poll.clone().with_flag(poll, "--poll");
        if poll.is_zero() {
            bail!("the poll interval ({}) must be longer than 0ms", poll.origin);
        }
        let concurrency = config.worker.concurrency.clone().with_flag(concurrency, "--concurrency");
        Ok(Tuning { concurrency: *concurrency as usize, poll: *poll })
    }
}

/// Reads the configuration file again whenever it changes (its modification time or length,
/// looked at every [`RELOAD_EVERY`]: cheaper than a file-watching crate, and it sees a file
/// replaced by a rename as well as one written in place). A valid file becomes the value of
/// `changes`; an invalid one is logged and the previous configuration stays. The worker reads
/// no pipeline file: its runs start on the versions the store keeps.
async fn watch_config(changes: tokio::sync::watch::Sender<Config>, log: Log) {
    let Some(path) = changes.borrow().file.value.clone() else { return };
    let stamp = |path: &std::path::Path| std::fs::metadata(path).ok().map(|m| (m.modified().ok(), m.len()));
    let mut seen = stamp(&path);
    let mut every = tokio::time::interval(RELOAD_EVERY);
    loop {
        every.tick().await;
        let now = stamp(&path);
        if now == seen {
            continue;
        }
        seen = now;
        let reloaded = changes.borrow().reload();
        match reloaded {
            Ok(config) => {
                log.worker("reloaded", &format!("read {} again: the configuration changed", path.display()));
                changes.send_replace(config);
            }
            Err(problems) => log.problem(&format!(
                "{} changed but is invalid; the configuration stays as it was:\n{problems}",
                path.display()
            )),
        }
    }
}

/// Applies each `log.level` the configuration changes to, when log lines are written.
async fn follow_log_level(mut updates: tokio::sync::watch::Receiver<Config>, log: Log) {
    let mut level = updates.borrow().log.level.value.clone();
    while updates.changed().await.is_ok() {
        let now = updates.borrow_and_update().log.level.value.clone();
        if now == level {
            continue;
        }
        match weir_telemetry::log::set_level(&now) {
            Ok(()) => level = now,
            Err(e) => log.problem(&format!("{e}; the log lines stay as they were")),
        }
    }
}

/// What every run of a worker shares.
struct Worker {
    id: String,
    store: Store,
    registry: Arc<Registry>,
    engine: Engine,
    settings: Settings,
    /// `--concurrency` and `--poll`, when given: a reload does not change them.
    concurrency_flag: Option<u32>,
    poll_flag: Option<Duration>,
    once: bool,
    lease: Duration,
    grace: Duration,
    log: Log,
    /// Where its runs report besides the store: the metrics of `--metrics-addr`.
    observer: Observer,
    /// The bundles runs were submitted with, validated, by digest: a bundle is read and
    /// validated once however many runs start on it. A mutex held only to look up or insert.
    bundles: std::sync::Mutex<HashMap<String, weir_pipeline::Bundle>>,
}

/// A run in flight on this worker.
struct Flying {
    /// Whether it waits for an answer now: a drain gives it back at once.
    waiting: weir_store::Waiting,
    abort: tokio::task::AbortHandle,
    /// Cancels it for good, as `weir runs cancel` asks (through the store).
    cancel: Cancel,
    /// Its lease was lost to another worker, and it was stopped.
    lost: bool,
}

/// How a run's turn on this worker ended.
enum Ended {
    /// It ran to its end.
    Ran { status: Status, duration_ms: f64, error: Option<String> },
    /// It stopped before its end and went back to the queue.
    Released(Status),
    /// It had ended before it was claimed (its end was committed, not its leaving the queue).
    Already(Status),
    /// It cannot run here, and left the queue: why.
    Refused(String),
}

impl Worker {
    fn new(store: Store, args: &Args, lease: Duration, settings: &Settings, observer: Observer) -> Worker {
        let registry = super::registry();
        let id = weir_engine::new_run_id(&weir_engine::SystemClock::default());
        Worker {
            id: id.clone(),
            store,
            engine: super::engine(registry.clone()),
            registry,
            settings: settings.clone(),
            concurrency_flag: args.concurrency,
            poll_flag: args.poll,
            once: args.once,
            lease,
            grace: *settings.config.worker.grace.clone().with_flag(args.grace, "--grace"),
            bundles: Default::default(),
            observer,
            log: Log {
                worker: id.clone(),
                json: args.json,
                quiet: settings.quiet,
                color: settings.stderr_color,
            },
        }
    }

    fn lease_until(&self) -> u64 {
        now_ms() + self.lease.as_millis() as u64
    }

    /// Claims and runs until a signal (or, with `--once`, until nothing is left), then drains.
    async fn serve(
        self,
        mut signals: Option<Signals>,
        owner: String,
        mut tuning: Tuning,
        mut updates: tokio::sync::watch::Receiver<Config>,
    ) -> Result<ExitCode> {
        let this = Arc::new(self);
        let mut runs: JoinSet<(String, Result<Ended>)> = JoinSet::new();
        let mut flying: HashMap<String, Flying> = HashMap::new();
        let mut heartbeat = tokio::time::interval(this.lease / 3);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut answered_at: Option<Instant> = None;
        let mut fired_at: Option<Instant> = None;
        // Told of runs queued or given back, on PostgreSQL: an idle worker takes them at once.
        let mut queued = match this.store.queue_wakeups().await {
            Ok(queued) => queued,
            Err(e) => {
                this.log.problem(&format!(
                    "cannot listen for queued runs ({e}); polling every {:?}",
                    tuning.poll
                ));
                None
            }
        };
        let signal = loop {
            if fired_at.is_none_or(|at| at.elapsed() >= SCHEDULES_EVERY) {
                fired_at = Some(Instant::now());
                this.fire_schedules().await;
                this.cancel_requested(&owner, &flying).await;
            }
            // Fewer than in flight after a reload lowered it: none until enough have ended.
            let free = tuning.concurrency.saturating_sub(flying.len());
            let mut took = this.claim(free, &owner, &mut runs, &mut flying).await;
            if free > took && answered_at.is_none_or(|at| this.once || at.elapsed() >= ANSWERED_EVERY) {
                answered_at = Some(Instant::now());
                took += this.adopt(free - took, &owner, &mut runs, &mut flying).await;
            }
            if this.once && took == 0 && flying.values().all(|f| f.waiting.any()) {
                break None;
            }
            if free > 0 && took == free {
                // A full batch: more may be queued. Finished runs are seen on the next turn.
                continue;
            }
            tokio::select! {
                Some(joined) = runs.join_next(), if !runs.is_empty() => {
                    this.joined(joined, &mut flying);
                    // Every run that has ended by now, so that one claim fills their places.
                    while let Some(joined) = runs.try_join_next() {
                        this.joined(joined, &mut flying);
                    }
                }
                _ = tokio::time::sleep(tuning.poll) => {}
                Ok(()) = updates.changed() => {
                    let config = updates.borrow_and_update().clone();
                    tuning = this.retune(tuning, &config);
                }
                _ = notified(&mut queued) => {}
                _ = heartbeat.tick() => this.renew(&mut flying).await,
                code = next_signal(&mut signals) => break Some(code),
            }
        };
        this.drain(signal, signals, runs, flying, heartbeat).await
    }

    /// The tuning of a reloaded configuration, logged when it changes (the flags given still win).
    fn retune(&self, was: Tuning, config: &Config) -> Tuning {
        // A reloaded configuration has been validated, and the flags were at the start.
        let now = Tuning::of(self.concurrency_flag, self.poll_flag, config).unwrap_or(was);
        if now != was {
            let note = format!("now runs up to {} at once, polling every {:?}", now.concurrency, now.poll);
            self.log.worker("retuned", &note);
        }
        now
    }

    /// Queues the runs of the schedules' ticks that are due (those another worker fired are
    /// not fired again).
    async fn fire_schedules(&self) {
        match self.store.fire_schedules(now_ms()).await {
            Ok(fired) => {
                for tick in fired {
                    let at = weir_store::cron::utc_minute(tick.tick_at);
                    let fields = json!({"schedule": tick.schedule, "tick_at": tick.tick_at});
                    let note = format!("queued by schedule {} for its tick at {at}", tick.schedule);
                    self.log.run("fired", &tick.run_id, fields, &note);
                }
            }
            Err(e) => {
                self.log.problem(&format!("cannot fire the schedules in {}: {e}", self.store.location()))
            }
        }
    }

    /// Cancels the runs in flight that `weir runs cancel` asked this process to stop.
    async fn cancel_requested(&self, owner: &str, flying: &HashMap<String, Flying>) {
        if flying.is_empty() {
            return;
        }
        match self.store.cancel_requests(owner).await {
            Ok(asked) => {
                for run in asked.iter().filter_map(|id| flying.get(id).map(|f| (id, f))) {
                    if !run.1.cancel.is_cancelled() {
                        self.log.run(
                            "cancelling",
                            run.0,
                            json!({}),
                            "cancelling: `weir runs cancel` asked for it",
                        );
                        run.1.cancel.cancel();
                    }
                }
            }
            Err(e) => self
                .log
                .problem(&format!("cannot read the requests to cancel in {}: {e}", self.store.location())),
        }
    }

    /// Claims up to `free` queued runs and starts them; how many it started.
    async fn claim(
        self: &Arc<Self>,
        free: usize,
        owner: &str,
        runs: &mut JoinSet<(String, Result<Ended>)>,
        flying: &mut HashMap<String, Flying>,
    ) -> usize {
        if free == 0 {
            return 0;
        }
        match self.store.claim(&self.id, free, self.lease_until(), now_ms()).await {
            Ok(claimed) => {
                let n = claimed.len();
                for c in claimed {
                    self.start(c, owner, runs, flying);
                }
                n
            }
            Err(e) => {
                self.log.problem(&format!("cannot claim runs from {}: {e}", self.store.location()));
                0
            }
        }
    }

    /// Takes up to `free` runs left `waiting` whose answers have come and whose process is gone,
    /// and starts them; how many it started.
    async fn adopt(
        self: &Arc<Self>,
        free: usize,
        owner: &str,
        runs: &mut JoinSet<(String, Result<Ended>)>,
        flying: &mut HashMap<String, Flying>,
    ) -> usize {
        let answered = match self.store.answered_runs(free, now_ms()).await {
            Ok(answered) => answered,
            Err(e) => {
                self.log.problem(&format!("cannot look for answered runs in {}: {e}", self.store.location()));
                return 0;
            }
        };
        let mut took = 0;
        // A process this machine cannot check (another machine's) may still run its run.
        for run in answered
            .into_iter()
            .filter(|r| r.owner.as_deref().is_none_or(|o| crate::owner::alive(o) == Some(false)))
        {
            match self.store.adopt(&self.id, &run.run_id, self.lease_until(), now_ms()).await {
                Ok(Some(claimed)) => {
                    self.start(claimed, owner, runs, flying);
                    took += 1;
                }
                Ok(None) => {}
                Err(e) => self.log.problem(&format!("cannot take run {}: {e}", run.run_id)),
            }
        }
        took
    }

    fn start(
        self: &Arc<Self>,
        claimed: Claimed,
        owner: &str,
        runs: &mut JoinSet<(String, Result<Ended>)>,
        flying: &mut HashMap<String, Flying>,
    ) {
        self.log.run(
            "claimed",
            &claimed.run_id,
            json!({"claims": claimed.claims}),
            &claim_note(claimed.claims),
        );
        // A store of its own per run, so that its waits for answers are told apart.
        let store = self.store.clone().recording(None, Some(owner.to_owned()));
        let waiting = store.waiting();
        let this = self.clone();
        let id = claimed.run_id.clone();
        let cancel = Cancel::new();
        let asked = cancel.clone();
        let abort = runs.spawn(async move {
            let ended = this.process(&claimed.run_id, store, asked).await;
            (claimed.run_id, ended)
        });
        flying.insert(id, Flying { waiting, abort, cancel, lost: false });
    }

    /// One claimed run, from the store to its end (or to where it stops).
    async fn process(&self, id: &str, store: Store, asked: Cancel) -> Result<Ended> {
        let Some(run) = store.submitted(id).await.map_err(store_failure)? else {
            return self.refuse(&store, id, "the store holds no such run".into()).await;
        };
        let store_failed = run.error_kind.as_deref() == Some(weir_engine::ErrorKind::Store.as_str());
        if run.status == Status::Succeeded || (run.status == Status::Failed && !store_failed) {
            store.dequeue(id).await.map_err(store_failure)?;
            return Ok(Ended::Already(run.status));
        }
        let launch = match self.launch(id, run, store.clone()).await {
            Ok(Some(launch)) => launch,
            Ok(None) => {
                return self.refuse(&store, id, "its pipeline does not validate with this weir".into()).await;
            }
            Err(e) => return self.refuse(&store, id, format!("{e:#}")).await,
        };
        let Started { mut run, cancel, .. } = match launch.start(
            &self.engine,
            Arc::new(weir_engine::NullSink),
            &self.settings.config.run.env_allow,
            &self.observer,
        ) {
            Ok(started) => started,
            Err(e) => return self.refuse(&store, id, format!("{e:#}")).await,
        };
        let report = tokio::select! {
            report = &mut run => report,
            () = asked.cancelled() => {
                cancel.cancel();
                run.await
            }
        };
        let report = match report {
            Ok(report) => report,
            Err(e) => return self.refuse(&store, id, e.to_string()).await,
        };
        let error = report.error.as_ref().map(ToString::to_string);
        // A run cancelled because `weir runs cancel` asked ended for good (and left the queue);
        // one stopped otherwise goes back to it.
        let stopped = (report.status == Status::Cancelled && !asked.is_cancelled())
            || report.error.as_ref().is_some_and(|e| e.kind == weir_engine::ErrorKind::Store);
        if stopped {
            store.release(&self.id, id, now_ms()).await.map_err(store_failure)?;
            return Ok(Ended::Released(report.status));
        }
        let duration_ms = report.duration.as_secs_f64() * 1e3;
        Ok(Ended::Ran { status: report.status, duration_ms, error })
    }

    /// How run `id` starts here: a run never started, on the bundle it was submitted with (read
    /// and validated once per bundle); any other, resumed from what it committed.
    async fn launch(&self, id: &str, run: weir_store::Submitted, store: Store) -> Result<Option<Launch>> {
        let Some(digest) = run.bundle.as_deref().filter(|_| run.status == Status::Pending) else {
            let Some(interrupted) = store.interrupted(id).await.map_err(store_failure)? else {
                bail!("the store holds no such run");
            };
            return Launch::from_store(interrupted, store, &self.registry, &self.settings);
        };
        let cached = self.bundles.lock().unwrap_or_else(|e| e.into_inner()).get(digest).cloned();
        let bundle = match cached {
            Some(bundle) => bundle,
            None => {
                let Some(stored) = store.bundle(digest).await.map_err(store_failure)? else {
                    bail!("its bundle {digest} is not in the store");
                };
                let Some(bundle) = crate::load::bundle_from_store(&stored, &self.registry, &self.settings)?
                else {
                    return Ok(None);
                };
                let mut bundles = self.bundles.lock().unwrap_or_else(|e| e.into_inner());
                bundles.insert(digest.to_owned(), bundle.clone());
                bundle
            }
        };
        Launch::submitted(bundle, id, &run.seed, run.input, store, run.trace_parent.as_deref()).map(Some)
    }

    /// A run this worker cannot start leaves the queue (another worker could not either), and
    /// keeps the status it had.
    async fn refuse(&self, store: &Store, id: &str, why: String) -> Result<Ended> {
        store.dequeue(id).await.map_err(store_failure)?;
        Ok(Ended::Refused(why))
    }

    /// A run's task ended: says how.
    fn joined(
        &self,
        joined: Result<(String, Result<Ended>), tokio::task::JoinError>,
        flying: &mut HashMap<String, Flying>,
    ) {
        let (id, ended) = match joined {
            Ok(joined) => joined,
            Err(e) => {
                // Stopped by this worker (a lost lease, a drain), which said so; or a panic.
                let task = e.id();
                if e.is_panic() {
                    self.log.problem(&format!("a run's task panicked: {e}"));
                }
                flying.retain(|_, f| f.abort.id() != task);
                return;
            }
        };
        flying.remove(&id);
        match ended {
            Ok(Ended::Ran { status, duration_ms, error }) => {
                let took = crate::progress::human(Duration::from_secs_f64(duration_ms / 1e3));
                let note = match &error {
                    Some(error) => format!("{status} in {took}: {error}"),
                    None => format!("{status} in {took}"),
                };
                let fields = json!({"status": status.as_str(), "duration_ms": duration_ms, "error": error});
                self.log.run("ended", &id, fields, &note);
            }
            Ok(Ended::Released(status)) => {
                let note = format!("stopped ({status}) and went back to the queue");
                self.log.run("released", &id, json!({"status": status.as_str()}), &note);
            }
            Ok(Ended::Already(status)) => {
                let note = format!("had already {status}; it left the queue");
                self.log.run("ended", &id, json!({"status": status.as_str(), "already": true}), &note);
            }
            Ok(Ended::Refused(why)) => {
                self.log.problem(&format!("run {id} cannot run, and left the queue: {why}"));
            }
            Err(e) => self.log.problem(&format!(
                "run {id} stopped: {e:#}; another worker takes it over once its lease passes"
            )),
        }
    }

    /// Renews the leases; stops the runs whose lease was lost (another worker has them now).
    async fn renew(&self, flying: &mut HashMap<String, Flying>) {
        let held = match self.store.heartbeat(&self.id, self.lease_until(), now_ms()).await {
            Ok(held) => held.into_iter().collect::<HashSet<String>>(),
            Err(e) => {
                self.log.problem(&format!("cannot renew the leases in {}: {e}", self.store.location()));
                return;
            }
        };
        for (id, run) in flying.iter_mut() {
            if held.contains(id) || run.abort.is_finished() || run.lost {
                continue;
            }
            // A run that has just ended left the queue with its last commit: not lost.
            match self.store.queued(id).await {
                Ok(weir_store::Queued::By(other)) if other != self.id => {
                    run.lost = true;
                    run.abort.abort();
                    let note = format!("lost its lease to worker {other}, and was stopped here");
                    self.log.run("lost", id, json!({"to": other}), &note);
                }
                Ok(_) => {}
                Err(e) => self.log.problem(&format!("cannot tell who holds run {id}: {e}")),
            }
        }
    }

    /// Stops claiming; lets the runs in flight end within the grace period (a run that waits for
    /// an answer is not waited for), then stops the rest where their last commit left them,
    /// gives them back to the queue, and retires. A second signal exits at once.
    async fn drain(
        &self,
        signal: Option<i32>,
        mut signals: Option<Signals>,
        mut runs: JoinSet<(String, Result<Ended>)>,
        mut flying: HashMap<String, Flying>,
        mut heartbeat: tokio::time::Interval,
    ) -> Result<ExitCode> {
        let grace = if signal.is_some() { self.grace } else { Duration::ZERO };
        if signal.is_some() {
            let note = format!(
                "draining: {} runs in flight get {} to end; interrupt again to stop at once",
                flying.len(),
                crate::progress::human(grace)
            );
            self.log.worker("draining", &note);
        }
        let deadline = tokio::time::Instant::now() + grace;
        while !runs.is_empty() && !flying.values().all(|f| f.waiting.any()) {
            tokio::select! {
                Some(joined) = runs.join_next() => self.joined(joined, &mut flying),
                _ = tokio::time::sleep_until(deadline) => break,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = heartbeat.tick() => self.renew(&mut flying).await,
                code = next_signal(&mut signals) => stop_at_once(code),
            }
        }
        let given_back: Vec<String> = flying.keys().cloned().collect();
        runs.abort_all();
        while runs.join_next().await.is_some() {}
        // Every run it still holds goes back to the queue, to be claimed at once.
        self.store.retire_worker(&self.id, now_ms()).await.map_err(store_failure)?;
        for id in &given_back {
            self.log.run(
                "released",
                id,
                json!({}),
                "stopped where its last commit left it, and went back to the queue",
            );
        }
        self.log.worker("stopped", "stopped");
        Ok(ExitCode::SUCCESS)
    }
}

/// Returns when `queued` says runs were queued; never without it. A listener that has gone
/// (its connection broke) is dropped, leaving the worker to its poll.
async fn notified(queued: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    if let Some(receiver) = queued.as_mut() {
        if receiver.changed().await.is_ok() {
            return;
        }
        *queued = None;
    }
    std::future::pending().await
}

/// The next signal, or never when they cannot be listened to.
async fn next_signal(signals: &mut Option<Signals>) -> i32 {
    match signals {
        Some(signals) => signals.next().await,
        None => std::future::pending().await,
    }
}

fn claim_note(claims: u64) -> String {
    match claims {
        0 | 1 => "claimed".into(),
        n => format!("claimed, taken over (claim {n}): it resumes from what it committed"),
    }
}

/// The worker's progress lines on stderr: text, or JSON objects with `--json`; only problems
/// with `--quiet`.
#[derive(Clone)]
struct Log {
    worker: String,
    json: bool,
    quiet: bool,
    color: bool,
}

impl Log {
    fn worker(&self, event: &str, note: &str) {
        if self.quiet {
            return;
        }
        if self.json {
            eprintln!("{}", json!({"event": event, "worker": self.worker, "at": now_ms()}));
        } else {
            eprintln!("{}", paint(&format!("worker {}: {note}", self.worker), Style::Dim, self.color));
        }
    }

    /// Where the metrics are served: `{"event": "metrics", "addr": …}` with `--json`.
    fn metrics(&self, addr: std::net::SocketAddr) {
        if self.quiet {
            return;
        }
        if self.json {
            let line =
                json!({"event": "metrics", "worker": self.worker, "addr": addr.to_string(), "at": now_ms()});
            eprintln!("{line}");
        } else {
            eprintln!("metrics: http://{addr}/metrics");
        }
    }

    fn run(&self, event: &str, run_id: &str, fields: serde_json::Value, note: &str) {
        if self.quiet {
            return;
        }
        if self.json {
            let mut line = json!({"event": event, "worker": self.worker, "run_id": run_id, "at": now_ms()});
            if let (Some(line), serde_json::Value::Object(fields)) = (line.as_object_mut(), fields) {
                line.extend(fields);
            }
            eprintln!("{line}");
        } else {
            eprintln!("run {run_id}: {note}");
        }
    }

    fn problem(&self, message: &str) {
        if self.json {
            eprintln!(
                "{}",
                json!({"event": "problem", "worker": self.worker, "message": message, "at": now_ms()})
            );
        } else {
            eprintln!("{}: {message}", paint("error", Style::Error, self.color));
        }
    }
}
