//! What storing costs a run (`cargo bench -p weir-store --bench store`), with the targets it must
//! meet: the time a stored run adds per step over the same run without a store, on a 1,000-step
//! chain of `pass` (a commit per step) and on a 1,000-way fan-out (one group commit for the
//! fan), and the latency of each commit. SQLite in a temporary directory; `full` durability is
//! measured on a shorter chain since each of its commits waits for an fsync. Exits non-zero when
//! a target is missed.

use futures_util::future::BoxFuture;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_engine::{Engine, Event, NullSink, RunOptions, RunStore, StoreError, SystemClock};
use weir_pipeline::{Bundle, Source, Status};
use weir_store::{Durability, Location, Store};

fn plan(text: &str) -> Bundle {
    let loaded = weir_pipeline::load(Source::new("bench.yaml", text), &weir_steps::builtin());
    Bundle::single(loaded.plan.expect("valid benchmark pipeline")).expect("runs no other file")
}

fn chain(n: usize) -> Bundle {
    let mut text = String::from("name: chain\nsteps:\n  - { id: s0, uses: pass }\n");
    for i in 1..n {
        text.push_str(&format!("  - {{ id: s{i}, uses: pass, needs: [s{}] }}\n", i - 1));
    }
    plan(&text)
}

fn fan_out(n: usize) -> Bundle {
    let mut text = String::from("name: fan\nsteps:\n  - { id: root, uses: pass }\n");
    for i in 0..n {
        text.push_str(&format!("  - {{ id: s{i}, uses: pass, needs: [root] }}\n"));
    }
    let all: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    text.push_str(&format!("  - {{ id: join, uses: pass, needs: [{}] }}\n", all.join(", ")));
    plan(&text)
}

/// The real store, with the time of each commit kept.
#[derive(Debug)]
struct Timed {
    store: Store,
    commits: Mutex<Vec<Duration>>,
}

impl RunStore for Timed {
    fn commit<'a>(&'a self, events: &'a [Event]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let start = Instant::now();
            let result = self.store.commit(events).await;
            self.commits.lock().unwrap().push(start.elapsed());
            result
        })
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

/// Median run time of `runs` runs, with the store or without.
fn time_runs(
    runtime: &tokio::runtime::Runtime,
    bundle: &Bundle,
    runs: usize,
    store: Option<Arc<Timed>>,
) -> Duration {
    let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
    let opts = RunOptions { store: store.map(|s| s as Arc<dyn RunStore>), ..RunOptions::default() };
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let run = engine.run(bundle, serde_json::json!({}), &opts, &NullSink);
            let report = runtime.block_on(run).expect("input");
            assert_eq!(report.status, Status::Succeeded, "{:?}", report.error);
            start.elapsed()
        })
        .collect();
    percentile(&mut samples, 0.5)
}

struct Row {
    name: String,
    value: Duration,
    target: Option<Duration>,
}

#[allow(clippy::disallowed_methods)] // A benchmark binary reports a missed target by its exit code.
fn main() {
    let quick = std::env::args().all(|a| a != "--bench");
    let runs = if quick { 1 } else { 30 };
    let dir = std::env::temp_dir().join(format!("weir-store-bench-{}", std::process::id()));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let open = |name: &str, durability| {
        let store =
            runtime.block_on(Store::open(Location::Sqlite(dir.join(name)), durability)).expect("store");
        Arc::new(Timed { store, commits: Mutex::default() })
    };
    let mut rows = Vec::new();
    let mut row =
        |name: String, value: Duration, target: Option<Duration>| rows.push(Row { name, value, target });
    let us = Duration::from_micros;

    let long = chain(1000);
    let bare = time_runs(&runtime, &long, runs, None);
    let normal = open("normal.db", Durability::Normal);
    let stored = time_runs(&runtime, &long, runs, Some(normal.clone()));
    row("1,000-step chain of pass, no store, per step".into(), bare / 1000, None);
    row("  added by the store (normal), per step".into(), stored.saturating_sub(bare) / 1000, Some(us(50)));
    let mut commits = std::mem::take(&mut *normal.commits.lock().unwrap());
    let per_run = commits.len() / runs;
    row(
        format!("  commit latency p50 ({per_run} commits a run)"),
        percentile(&mut commits, 0.5),
        Some(us(50)),
    );
    row("  commit latency p99".into(), percentile(&mut commits, 0.99), Some(us(250)));

    let fan = fan_out(1000);
    let bare = time_runs(&runtime, &fan, runs, None);
    let grouped = open("fan.db", Durability::Normal);
    let stored = time_runs(&runtime, &fan, runs, Some(grouped.clone()));
    let per_run = grouped.commits.lock().unwrap().len() / runs;
    row("1,000-way fan-out of pass, no store, per step".into(), bare / 1002, None);
    let added = stored.saturating_sub(bare) / 1002;
    row(format!("  added by the store (normal, {per_run} commits a run), per step"), added, Some(us(10)));

    let short = chain(50);
    let full = open("full.db", Durability::Full);
    let bare = time_runs(&runtime, &short, runs.min(5), None);
    let stored = time_runs(&runtime, &short, runs.min(5), Some(full));
    row(
        "50-step chain, added by the store (full: an fsync a commit), per step".into(),
        stored.saturating_sub(bare) / 50,
        None,
    );

    // Memory over many runs: what a long-lived process (a worker) that stores every run keeps.
    let (first, total) = if quick { (10, 100) } else { (10_000, 100_000) };
    let small = chain(3);
    // The store itself, not `Timed`, whose list of commit times would grow with the runs.
    let many = runtime
        .block_on(Store::open(Location::Sqlite(dir.join("many.db")), Durability::Normal))
        .expect("store");
    let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
    let opts = RunOptions { store: Some(Arc::new(many) as Arc<dyn RunStore>), ..RunOptions::default() };
    let mut rss_at_first = 0;
    let started = Instant::now();
    for i in 1..=total {
        let report =
            runtime.block_on(engine.run(&small, serde_json::json!({}), &opts, &NullSink)).expect("input");
        assert_eq!(report.status, Status::Succeeded);
        if i == first {
            rss_at_first = rss_kib();
        }
    }
    let rss_at_end = rss_kib();
    let per_second = total as f64 / started.elapsed().as_secs_f64();

    let _ = std::fs::remove_dir_all(&dir);
    if quick {
        println!("smoke run (`cargo test`): every benchmark ran once; `cargo bench` measures them");
        return;
    }
    let mut missed = 0;
    println!("{:<72} {:>12} {:>10}", "benchmark (median of runs)", "measured", "target");
    for r in &rows {
        let ok = r.target.is_none_or(|t| r.value <= t);
        missed += usize::from(!ok);
        let target = r.target.map_or_else(|| "-".to_owned(), |t| format!("{t:?}"));
        let verdict = if ok { "ok" } else { "MISSED" };
        println!("{:<72} {:>12} {target:>10} {verdict}", r.name, format!("{:.2?}", r.value));
    }
    // Flat: what the first runs grew to (caches filled) is all a process keeps, within 2 MiB.
    let growth = rss_at_end.saturating_sub(rss_at_first);
    let flat = growth <= 2048;
    missed += usize::from(!flat);
    println!(
        "RSS storing {total} runs of a 3-step chain ({per_second:.0} runs/s): {} MiB after {first}, {} MiB after {total}: grew {growth} KiB (target <= 2048 KiB) {}",
        rss_at_first / 1024,
        rss_at_end / 1024,
        if flat { "ok" } else { "MISSED" }
    );
    if missed > 0 {
        std::process::exit(1);
    }
}

/// This process's resident set, in KiB (`VmRSS` of /proc/self/status; 0 where there is none).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse().ok()).unwrap_or(0)
}
