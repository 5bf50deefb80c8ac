//! The load generator of `weir bench http`: HTTP/1.1 requests to one URL over keep-alive
//! connections, in the open model (a fixed arrival rate, like wrk2) or the closed one (each
//! connection sends again as soon as it is answered).
//!
//! In the open model request `i` is due at `t0 + i / rate` whatever the server does, and its
//! latency counts from then (`LoadResult::corrected`): a server that stalls makes the requests
//! queued behind it slow, as their clients would see, instead of quietly sending fewer
//! (coordinated omission). The latency from the actual send is kept beside it
//! (`uncorrected`); requests that waited for a free connection are `late`, those still waiting
//! at the end `dropped`.
//!
//! The pieces, all on one tokio runtime: `run` opens every connection first (a server that is
//! not there fails the load at once), spawns one task per connection (`connection`), and the
//! dispatcher (`dispatch`) hands requests to idle connections on schedule. Each connection's task
//! keeps its own outcomes, gathered into a `LoadResult` at the end. Only `http://`: https is
//! refused with a clear error.
//!
//! Timing: the dispatcher sleeps to just before a request is due and yields until the instant.
//! The count is exact by construction (`sent + dropped == rate × duration`, rounded up); the send
//! times, measured on a 2-core machine against a local server (`examples/loopback.rs`), are
//! within 10 µs of schedule at the median at 100 to 10,000 requests per second, and the tail is
//! the operating system's: when the machine is busy a descheduled generator sends late (p99 4 to
//! 8 ms at a load average of 5), which the corrected latency and `late` then show.
//!
//! The generator's own ceiling there, in the closed model on 4 connections with a trivial server
//! on the other core: 38,000 to 56,000 requests per second (release build, busy machine).

mod config;
mod connection;
mod dispatch;
mod error;
mod result;

pub use config::{LoadConfig, parse_header};
pub use dispatch::scheduled;
pub use error::LoadError;
pub use result::{LoadResult, Samples};

use config::Template;
use connection::{Counters, Shared, Slot};
use dispatch::Schedule;
use result::Outcome;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How often `run` reports progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Where a load is, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Since the warm-up started.
    pub elapsed: Duration,
    /// Still warming up: the counts are of the measurement only, and still zero.
    pub warming_up: bool,
    pub sent: u64,
    pub completed: u64,
    pub errors: u64,
}

/// Runs a load on a tokio runtime of its own with one thread. One thread because the
/// generator's work per request is a few system calls, and on a small machine every other core
/// is better left to the server under test; the dispatcher's timing shares that thread with the
/// connections, which is what its yielding is for.
pub fn run_blocking(config: LoadConfig, progress: impl FnMut(&Progress)) -> Result<LoadResult, LoadError> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(LoadError::Runtime)?;
    runtime.block_on(run(config, progress))
}

/// Runs a load on the current tokio runtime: opens every connection (failing at once if the
/// server cannot be reached), warms up, measures for `config.duration`, waits for the requests
/// in flight, and reports `progress` every 100 ms along the way (from this future, so the
/// callback need not be `Send`).
pub async fn run(config: LoadConfig, mut progress: impl FnMut(&Progress)) -> Result<LoadResult, LoadError> {
    let template = Template::new(&config)?;
    let addr = resolve(&template.host, template.port).await?;
    let senders = connect_all(addr, config.connections, config.timeout).await?;
    let shared = Arc::new(Shared { addr, template, timeout: config.timeout, counters: Counters::default() });
    // Idle connections offer themselves here, one slot each at most, and the dispatcher takes
    // them in the order they freed up.
    let (idle_tx, mut idle_rx) = mpsc::channel::<Slot>(senders.len());
    let tasks: Vec<JoinHandle<_>> = senders
        .into_iter()
        .map(|sender| tokio::spawn(connection::serve(shared.clone(), sender, idle_tx.clone())))
        .collect();
    drop(idle_tx);
    let start = Instant::now();
    let t0 = start + config.warmup;
    let ticker = Ticker { start, t0, shared: &shared };
    let dropped =
        ticker.watch(dispatch(&mut idle_rx, config.rate, start, t0, config.duration), &mut progress).await;
    // Closing the queue tells idle connections to end; busy ones finish their request first.
    drop(idle_rx);
    let outcomes = ticker.watch(join(tasks), &mut progress).await?;
    let mut result = LoadResult::collect(outcomes, t0, dropped);
    result.wall = t0.elapsed();
    (result.method, result.rate, result.connections) = (config.method, config.rate, config.connections);
    progress(&ticker.snapshot());
    Ok(result)
}

/// Warm-up then measurement, in either model; returns how many measured requests were dropped.
async fn dispatch(
    idle: &mut mpsc::Receiver<Slot>,
    rate: Option<f64>,
    start: Instant,
    t0: Instant,
    duration: Duration,
) -> u64 {
    let end = t0 + duration;
    let Some(rate) = rate else {
        dispatch::closed(idle, t0, false).await;
        dispatch::closed(idle, end, true).await;
        return 0;
    };
    dispatch::open(idle, Schedule { start, rate, end: t0 }, false).await;
    let measured = Schedule { start: t0, rate, end };
    measured.count() - dispatch::open(idle, measured, true).await
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, LoadError> {
    let fail = |reason: String| LoadError::Resolve { host: host.into(), reason };
    let mut addrs = tokio::net::lookup_host((host, port)).await.map_err(|e| fail(e.to_string()))?;
    addrs.next().ok_or_else(|| fail("no address".into()))
}

/// Opens every connection before the first request, so that a server that is not there fails
/// the load with its reason instead of a measurement of nothing but errors.
async fn connect_all(
    addr: SocketAddr,
    connections: u32,
    timeout: Duration,
) -> Result<Vec<connection::Sender>, LoadError> {
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..connections {
        opening.spawn(connection::connect_within(addr, timeout));
    }
    let mut senders = Vec::with_capacity(connections as usize);
    while let Some(opened) = opening.join_next().await {
        let sender = opened.map_err(|e| LoadError::Task(e.to_string()))?;
        senders.push(sender.map_err(|reason| LoadError::Connect { addr, reason })?);
    }
    Ok(senders)
}

/// Every connection's outcomes, once each has finished its last request.
async fn join(tasks: Vec<JoinHandle<Vec<Outcome>>>) -> Result<Vec<Outcome>, LoadError> {
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await.map_err(|e| LoadError::Task(e.to_string()))?);
    }
    Ok(outcomes)
}

/// Reports progress while a part of the load runs.
struct Ticker<'a> {
    start: Instant,
    t0: Instant,
    shared: &'a Shared,
}

impl Ticker<'_> {
    async fn watch<F: Future>(&self, work: F, progress: &mut impl FnMut(&Progress)) -> F::Output {
        let mut work = pin!(work);
        loop {
            match tokio::time::timeout(PROGRESS_EVERY, &mut work).await {
                Ok(output) => return output,
                Err(_) => progress(&self.snapshot()),
            }
        }
    }

    fn snapshot(&self) -> Progress {
        let counters = &self.shared.counters;
        Progress {
            elapsed: self.start.elapsed(),
            warming_up: Instant::now() < self.t0,
            sent: counters.sent.load(Ordering::Relaxed),
            completed: counters.completed.load(Ordering::Relaxed),
            errors: counters.errors.load(Ordering::Relaxed),
        }
    }
}
