//! A pipeline as a benchmark target: runs in this process, on the engine `weir run` uses, with
//! the store it would write to (a throwaway one by default), timed from the call to the report.

use crate::input::InputArgs;
use crate::settings::Settings;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_api::bench::Breakdown;
use weir_bench::harness::{Budget, Plan, Sample, merge};
use weir_bench::measure::Measured;
use weir_bench::resources::Usage;
use weir_engine::{Engine, Event, EventKind, EventSink, RunOptions, RunReport, RunStore};
use weir_pipeline::{Bundle, Status};

/// Where the measured runs are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreChoice {
    /// A new SQLite store in a temporary directory, removed afterwards: the cost of storing is
    /// measured and the runs stay out of `weir runs`.
    Temp,
    /// The store `weir run` uses (WEIR_HOME or WEIR_DATABASE_URL): every run is kept.
    Home,
    /// No store, like `weir run --no-store`.
    None,
}

/// `FILE -i … --store …`: what `bench run`, `ab` and `ci` measure.
#[derive(clap::Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Where the measured runs are stored: temp (a throwaway SQLite store), home (the store
    /// `weir run` uses) or none.
    #[arg(long, value_enum, value_name = "WHERE", default_value_t = StoreChoice::Temp)]
    pub store: StoreChoice,
}

/// A pipeline, validated and ready to run again and again.
#[derive(Clone)]
pub struct Target {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    bundle: Bundle,
    input: serde_json::Value,
    engine: Engine,
    env: std::collections::BTreeMap<String, String>,
    /// Declared before `_temp`: fields drop in order, so the store's connections close before
    /// its directory goes.
    store: Option<Arc<dyn RunStore>>,
    /// The temporary store's directory, removed when the target is dropped.
    _temp: Option<TempDir>,
}

/// One run's figures.
struct Outcome {
    sample: Sample,
    /// Each root step's duration, by its position (none for a step that did not run).
    steps: Vec<Option<Duration>>,
    items: u64,
    split: Breakdown,
}

impl Target {
    /// The pipeline in `file` with the input `args` give, or `None` when it does not validate
    /// (the diagnostics are printed).
    pub fn load(
        file: &Path,
        args: &TargetArgs,
        settings: &Settings,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Option<Target>> {
        let registry = super::super::registry();
        let Some(bundle) = crate::load::bundle_for_run(file, &registry, settings)? else {
            return Ok(None);
        };
        let input = args.input.value()?;
        let env = crate::env::for_run(&bundle, &settings.config.run.env_allow)?;
        let temp = (args.store == StoreChoice::Temp).then(TempDir::new).transpose()?;
        let store = match (&temp, args.store) {
            (_, StoreChoice::None) => None,
            (Some(dir), _) => {
                let mut there = settings.clone();
                there.config.store.home.value = dir.0.clone();
                there.config.store.database_url.value = None;
                Some(open(&bundle, &there, runtime)?)
            }
            (None, _) => Some(open(&bundle, settings, runtime)?),
        };
        let engine = super::super::engine(registry);
        let name = file.display().to_string();
        let inner = Inner { name, bundle, input, engine, env, store, _temp: temp };
        Ok(Some(Target { inner: Arc::new(inner) }))
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Runs `plan`: the warm-up runs one after the other, then the measured runs at the plan's
    /// concurrency, each on the runtime's workers. `progress` sees the budget while it runs.
    pub fn measure(
        &self,
        runtime: &tokio::runtime::Runtime,
        plan: &Plan,
        progress: &dyn Fn(&Budget),
    ) -> Result<Measured> {
        self.warm_up(runtime, plan.warmup)?;
        let load_before = weir_bench::fingerprint::load_average();
        let usage = Usage::own();
        let budget = Arc::new(Budget::new(plan.stop));
        let workers: Vec<_> = (0..plan.concurrency.max(1))
            .map(|_| runtime.spawn(self.clone().worker(budget.clone())))
            .collect();
        let outcomes = runtime.block_on(async {
            let mut outcomes = Vec::new();
            for mut worker in workers {
                loop {
                    tokio::select! {
                        done = &mut worker => break outcomes.push(done),
                        () = tokio::time::sleep(Duration::from_millis(100)) => progress(&budget),
                    }
                }
            }
            outcomes
        });
        let wall = budget.start().elapsed();
        let outcomes = outcomes
            .into_iter()
            .map(|o| o.map_err(anyhow::Error::from).and_then(|o| o))
            .collect::<Result<Vec<_>>>()?;
        let mut measured = self.measured(outcomes, wall);
        measured.warmup = plan.warmup;
        measured.concurrency = plan.concurrency.max(1);
        measured.usage = Some(Usage::own().since(usage));
        measured.load_before = load_before;
        measured.load_after = weir_bench::fingerprint::load_average();
        Ok(measured)
    }

    /// Runs the pipeline `runs` times, one after the other, unmeasured; an input the pipeline
    /// refuses ends the benchmark, with the engine's message.
    pub fn warm_up(&self, runtime: &tokio::runtime::Runtime, runs: u64) -> Result<()> {
        for _ in 0..runs {
            let began = Instant::now();
            runtime.block_on(self.inner.run_once(began))?;
        }
        Ok(())
    }

    /// The root steps that ran in one run, for counters per step (at least one).
    pub fn steps_per_run(&self, runtime: &tokio::runtime::Runtime) -> Result<u64> {
        let report = runtime.block_on(self.inner.run_once(Instant::now()))?.0;
        let ran = report.steps.iter().filter(|s| s.attempts > 0).count();
        Ok(ran.max(1) as u64)
    }

    /// Runs claimed iterations until the budget is spent. An input the pipeline refuses is
    /// refused every time: the first refusal ends the benchmark with the engine's message.
    async fn worker(self, budget: Arc<Budget>) -> Result<Vec<Outcome>> {
        let mut outcomes = Vec::new();
        while let Some(index) = budget.claim() {
            let began = Instant::now();
            let (report, split) = self.inner.run_once(began).await?;
            let sample = budget.sample(index, began, report.status == Status::Succeeded);
            let steps = report.steps.iter().map(|s| s.duration).collect();
            let items = report.steps.iter().flat_map(|s| &s.nested).filter(|n| n.item.is_some()).count();
            outcomes.push(Outcome { sample, steps, items: items as u64, split });
        }
        Ok(outcomes)
    }

    fn measured(&self, outcomes: Vec<Vec<Outcome>>, wall: Duration) -> Measured {
        let outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();
        let steps = self.inner.bundle.root().steps();
        let mut extra = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let values: Vec<f64> = outcomes
                .iter()
                .filter_map(|o| o.steps.get(i).copied().flatten())
                .map(weir_bench::harness::ms)
                .collect();
            if !values.is_empty() {
                extra.push((format!("step.{}", step.id()), "ms".to_owned(), values));
            }
        }
        let items: u64 = outcomes.iter().map(|o| o.items).sum();
        let n = outcomes.len().max(1) as f64;
        let mean = |f: fn(&Breakdown) -> f64| outcomes.iter().map(|o| f(&o.split)).sum::<f64>() / n;
        let breakdown = Breakdown {
            queue_wait_ms: mean(|b| b.queue_wait_ms),
            execution_ms: mean(|b| b.execution_ms),
            transition_ms: mean(|b| b.transition_ms),
        };
        let samples = merge(vec![outcomes.iter().map(|o| o.sample).collect()]);
        Measured {
            name: self.inner.name.clone(),
            samples,
            wall,
            extra,
            items: (items > 0).then_some(items),
            breakdown: Some(breakdown),
            ..Measured::default()
        }
    }
}

impl Inner {
    /// One run, and where its time went.
    async fn run_once(&self, began: Instant) -> Result<(RunReport, Breakdown)> {
        let opts = RunOptions { store: self.store.clone(), env: self.env.clone(), ..RunOptions::default() };
        let timing = Timing::default();
        let report = match self.engine.run(&self.bundle, self.input.clone(), &opts, &timing).await {
            Ok(report) => report,
            Err(e) => bail!("{}: {e}", self.name),
        };
        let split = timing.split(began, began.elapsed());
        Ok((report, split))
    }
}

fn open(
    bundle: &Bundle,
    settings: &Settings,
    runtime: &tokio::runtime::Runtime,
) -> Result<Arc<dyn RunStore>> {
    let durability = weir_store::Durability::Normal;
    let store = runtime.block_on(super::super::runs::open_for_run(bundle, settings, durability))?;
    Ok(Arc::new(store))
}

/// When a run's steps executed, from its events: the union of the attempts' spans.
#[derive(Default)]
struct Timing {
    /// Written by the run's events (on whichever worker polls the run), read once it ended.
    state: Mutex<Spans>,
}

#[derive(Default)]
struct Spans {
    /// Attempts executing now, and since when at least one has.
    active: u32,
    busy_since: Option<Instant>,
    busy: Duration,
    first_start: Option<Instant>,
}

impl EventSink for Timing {
    fn emit(&self, event: &Event) {
        // A sub-pipeline's events are inside its `pipeline` step's attempt.
        if event.parent.is_some() {
            return;
        }
        let started = match &event.kind {
            EventKind::StepStarted { .. } => true,
            EventKind::StepRetrying { .. }
            | EventKind::StepSucceeded { .. }
            | EventKind::StepFailed { .. }
            | EventKind::StepCancelled { .. } => false,
            _ => return,
        };
        let now = Instant::now();
        let Ok(mut spans) = self.state.lock() else { return };
        if started {
            spans.first_start.get_or_insert(now);
            if spans.active == 0 {
                spans.busy_since = Some(now);
            }
            spans.active += 1;
        } else if spans.active > 0 {
            // A step can fail or be cancelled without an attempt; only an attempt ends a span.
            spans.active -= 1;
            if spans.active == 0
                && let Some(since) = spans.busy_since.take()
            {
                spans.busy += now - since;
            }
        }
    }
}

impl Timing {
    fn split(&self, began: Instant, latency: Duration) -> Breakdown {
        let Ok(spans) = self.state.lock() else { return Breakdown::default() };
        let ms = weir_bench::harness::ms;
        let queue = spans.first_start.map_or(latency, |t| t.saturating_duration_since(began));
        let execution = spans.busy.min(latency.saturating_sub(queue));
        Breakdown {
            queue_wait_ms: ms(queue),
            execution_ms: ms(execution),
            transition_ms: ms(latency.saturating_sub(queue + execution)),
        }
    }
}

/// A directory of this process's own under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Result<TempDir> {
        let name = format!("weir-bench-{}-{:016x}", std::process::id(), fastrand::u64(..));
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path)
            .map_err(|e| anyhow::anyhow!("cannot create a temporary store in {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover in the temporary directory is the system's to clean.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
