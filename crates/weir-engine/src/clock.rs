//! Time, injected: the real clock runs on tokio's timers; the manual clock runs on virtual time
//! that jumps straight to the next deadline, so retry, backoff and timeout tests take no time.

use futures_util::future::BoxFuture;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, SystemTime};

/// Where the engine reads time and waits.
pub trait Clock: Send + Sync + 'static {
    /// Monotonic time since an arbitrary origin, for measuring durations.
    fn now(&self) -> Duration;
    /// Wall-clock time, for timestamps.
    fn wall(&self) -> SystemTime;
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The real clock. Sleeping needs a tokio runtime with timers enabled.
#[derive(Debug)]
pub struct SystemClock {
    origin: std::time::Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self { origin: std::time::Instant::now() }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Virtual time for tests. Drive a future with [`ManualClock::block_on`]: whenever the future
/// cannot make progress, time jumps to the earliest pending deadline.
#[derive(Debug, Default)]
pub struct ManualClock {
    state: Arc<Mutex<ManualState>>,
}

#[derive(Debug, Default)]
struct ManualState {
    now: Duration,
    /// Pending sleeps by deadline; the sequence number keeps equal deadlines in creation order.
    sleepers: BinaryHeap<Reverse<(Duration, u64)>>,
    wakers: Vec<(u64, Waker)>,
    next_seq: u64,
}

/// The wall-clock time at virtual time zero: 2026-01-01T00:00:00Z.
const MANUAL_EPOCH_SECS: u64 = 1_767_225_600;

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Moves time to the earliest pending deadline and wakes its sleepers. Returns false when
    /// nothing sleeps.
    fn advance(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&Reverse((deadline, _))) = state.sleepers.peek() else {
            return false;
        };
        state.now = state.now.max(deadline);
        while let Some(&Reverse((d, seq))) = state.sleepers.peek() {
            if d > state.now {
                break;
            }
            state.sleepers.pop();
            if let Some(pos) = state.wakers.iter().position(|(s, _)| *s == seq) {
                state.wakers.swap_remove(pos).1.wake();
            }
        }
        true
    }

    /// Runs a future to completion on virtual time. When the future waits and nothing has woken
    /// it, time jumps to the next deadline; work outside the clock (an expression evaluated on a
    /// thread of its own) therefore takes no virtual time, and a timeout set around it elapses
    /// at once. With no deadline left, it waits for such work to wake it, and panics if nothing
    /// does within [`STALLED`] (a test would hang otherwise).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let flag = Arc::new(Flag { woken: AtomicBool::new(true), thread: std::thread::current() });
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            flag.woken.store(false, Ordering::SeqCst);
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
            if !flag.woken.load(Ordering::SeqCst) && !self.advance() {
                let waited = std::time::Instant::now();
                while !flag.woken.load(Ordering::SeqCst) {
                    assert!(
                        waited.elapsed() < STALLED,
                        "future is stalled: it waits for something other than the manual clock"
                    );
                    std::thread::park_timeout(STALLED / 10);
                }
            }
        }
    }
}

/// How long [`ManualClock::block_on`] waits for work outside the clock before it gives up.
pub const STALLED: Duration = Duration::from_secs(30);

/// Wakes [`ManualClock::block_on`]: from the future's own polls, or from another thread.
struct Flag {
    woken: AtomicBool,
    thread: std::thread::Thread,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).now
    }

    fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(MANUAL_EPOCH_SECS) + self.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let state = self.state.clone();
        let (deadline, seq) = {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            let seq = s.next_seq;
            s.next_seq += 1;
            let deadline = s.now + duration;
            s.sleepers.push(Reverse((deadline, seq)));
            (deadline, seq)
        };
        Box::pin(std::future::poll_fn(move |cx| {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            if s.now >= deadline {
                return Poll::Ready(());
            }
            match s.wakers.iter_mut().find(|(q, _)| *q == seq) {
                Some((_, w)) => w.clone_from(cx.waker()),
                None => s.wakers.push((seq, cx.waker().clone())),
            }
            Poll::Pending
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_time_jumps_to_deadlines_and_runs_sleeps_concurrently() {
        let clock = ManualClock::new();
        let c = clock.clone();
        let elapsed = clock.block_on(async move {
            let a = c.sleep(Duration::from_secs(10));
            let b = c.sleep(Duration::from_secs(3));
            futures_util::future::join(a, b).await;
            c.now()
        });
        assert_eq!(elapsed, Duration::from_secs(10));
    }
}
