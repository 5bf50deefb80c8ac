//! Time, injected: the real clock runs on tokio's timers, finished by a precise one; the manual
//! clock runs on virtual time that jumps straight to the next deadline, so retry, backoff and
//! timeout tests take no time.

use futures_util::future::BoxFuture;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant, SystemTime};

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
///
/// tokio's timer wheel ticks in whole milliseconds and rounds each deadline up to the next tick,
/// so a 10 ms sleep on it lasts 10-11 ms (40 of them in a row, about 0.44 s). A sleep here waits
/// on tokio's timer until [`PRECISE_TAIL`] before its deadline, then on the process's one precise
/// timer thread, which wakes it within tens of microseconds of the deadline and never before.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self { origin: Instant::now() }
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
        let deadline = Instant::now() + duration;
        Box::pin(async move {
            let Some(timer) = Timer::get() else {
                return tokio::time::sleep_until(deadline.into()).await;
            };
            if duration > PRECISE_TAIL {
                tokio::time::sleep_until((deadline - PRECISE_TAIL).into()).await;
            }
            Until { timer, deadline, id: None }.await
        })
    }
}

/// The end of each sleep that the precise timer thread waits out (tokio's timer waits the rest):
/// long enough to cover tokio's rounding, short enough that the thread wakes rarely.
pub const PRECISE_TAIL: Duration = Duration::from_millis(2);

/// The precise timer: one thread, started by the first sleep, that waits on a condition variable
/// (a nanosecond timeout) until the earliest registered deadline and wakes its sleepers.
struct Timer {
    state: Mutex<TimerState>,
    changed: Condvar,
}

#[derive(Default)]
struct TimerState {
    /// Deadlines by time; an entry whose sleep was dropped stays until its deadline passes.
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    wakers: HashMap<u64, Waker>,
    next_id: u64,
}

impl Timer {
    /// The process's timer, started on first use; none if its thread cannot be started (sleeps
    /// then end on tokio's timer alone).
    fn get() -> Option<&'static Timer> {
        static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
        *TIMER.get_or_init(|| {
            let timer: &'static Timer =
                Box::leak(Box::new(Timer { state: Mutex::default(), changed: Condvar::new() }));
            let thread = std::thread::Builder::new().name("weir-timer".into()).spawn(|| timer.run());
            thread.ok().map(|_| timer)
        })
    }

    fn lock(&self) -> MutexGuard<'_, TimerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(&Reverse((deadline, id))) = state.deadlines.peek() {
                if deadline > now {
                    break;
                }
                state.deadlines.pop();
                due.extend(state.wakers.remove(&id));
            }
            if !due.is_empty() {
                drop(state);
                due.into_iter().for_each(Waker::wake);
                state = self.lock();
                continue;
            }
            state = match state.deadlines.peek() {
                Some(&Reverse((deadline, _))) => {
                    self.changed.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0
                }
                None => self.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}

/// A sleep's last stretch, on the precise timer.
struct Until {
    timer: &'static Timer,
    deadline: Instant,
    /// Its registration with the timer, from its first pending poll.
    id: Option<u64>,
}

impl Future for Until {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let mut state = self.timer.lock();
        match self.id {
            Some(id) => {
                if let Some(waker) = state.wakers.get_mut(&id) {
                    waker.clone_from(cx.waker());
                }
            }
            None => {
                let id = state.next_id;
                state.next_id += 1;
                state.deadlines.push(Reverse((self.deadline, id)));
                state.wakers.insert(id, cx.waker().clone());
                let earliest = state.deadlines.peek().is_some_and(|Reverse((_, first))| *first == id);
                drop(state);
                self.id = Some(id);
                if earliest {
                    self.timer.changed.notify_one();
                }
            }
        }
        Poll::Pending
    }
}

impl Drop for Until {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.timer.lock().wakers.remove(&id);
        }
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

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    #[test]
    fn system_sleeps_never_end_before_their_duration_whichever_timer_ends_them() {
        let clock = SystemClock::default();
        let durations = [0, 300, 1_999, 2_000, 2_001, 7_500, 12_000].map(Duration::from_micros);
        // A sleep's deadline counts from when it is made, not from its first poll.
        let measured = runtime().block_on(futures_util::future::join_all(durations.map(|d| {
            let started = Instant::now();
            let sleep = clock.sleep(d);
            async move {
                sleep.await;
                (d, started.elapsed())
            }
        })));
        for (asked, slept) in measured {
            assert!(slept >= asked, "a sleep of {asked:?} ended after {slept:?}");
        }
    }

    #[test]
    fn a_dropped_sleep_leaves_the_precise_timer_to_the_others() {
        let clock = SystemClock::default();
        runtime().block_on(async {
            let timer = Timer::get().expect("the timer thread starts");
            let mut dropped =
                Box::pin(Until { timer, deadline: Instant::now() + Duration::from_millis(1), id: None });
            assert!(futures_util::poll!(dropped.as_mut()).is_pending());
            let id = dropped.id.expect("a pending sleep is registered");
            drop(dropped);
            assert!(!timer.lock().wakers.contains_key(&id), "a dropped sleep keeps no waker");
            // Its deadline, still in the timer's heap, neither wakes nor delays a later sleep.
            let started = Instant::now();
            clock.sleep(Duration::from_micros(1_500)).await;
            assert!(started.elapsed() >= Duration::from_micros(1_500));
        });
    }
}
