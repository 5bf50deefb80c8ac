//! When requests go out. The dispatcher owns the schedule and the queue of idle connections: in
//! the open model it hands request `i` to an idle connection at `start + i / rate` (or, when
//! every connection is busy, as soon as one is free, in order); in the closed model it hands a
//! request to every connection as soon as it is idle.

use super::connection::{Job, Slot};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How early the dispatcher wakes before a request is due, then yields to the other tasks until
/// the instant. tokio's timer rounds a deadline up to its next millisecond and the driver's wait
/// is in whole milliseconds, so a sleep wakes up to about 2 ms late: with 1.1 ms of margin the
/// median request went out 0.4 ms late and 2% more than 1 ms late (counted `late`); with 2 ms,
/// within 10 µs. The price is the spinning: measured at 100 and 200 requests per second, 8% and
/// 17% of a core; from about 500 per second on, the whole core the generator runs on.
const SPIN: Duration = Duration::from_micros(2_000);

/// Requests due at a fixed rate from `start`, as many as fit before `end`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Schedule {
    pub start: Instant,
    pub rate: f64,
    pub end: Instant,
}

impl Schedule {
    /// How many requests are due in `[start, end)`: `rate × duration`, rounded up.
    pub fn count(&self) -> u64 {
        scheduled(self.rate, self.end.saturating_duration_since(self.start))
    }

    fn at(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }
}

/// `rate × duration` requests are due in a duration (rounded up; a product within a billionth of
/// a whole number counts as that number, so 0.1/s for 30 s is 3, not 4).
pub fn scheduled(rate: f64, duration: Duration) -> u64 {
    let exact = rate * duration.as_secs_f64();
    let whole = exact.round();
    if (exact - whole).abs() < 1e-9 { whole as u64 } else { exact.ceil() as u64 }
}

/// The open model: hands out the schedule's requests, each when due or, if every connection is
/// busy then, as soon as one is free. Returns how many were handed out; the rest were dropped.
pub(crate) async fn open(idle: &mut mpsc::Receiver<Slot>, schedule: Schedule, measured: bool) -> u64 {
    let count = schedule.count();
    for i in 0..count {
        let intended = schedule.at(i);
        wait_until(intended).await;
        if !hand(idle, Job { intended: Some(intended), measured }, schedule.end).await {
            return i;
        }
    }
    count
}

/// The closed model: a request for every connection that is idle, until `end`.
pub(crate) async fn closed(idle: &mut mpsc::Receiver<Slot>, end: Instant, measured: bool) {
    while hand(idle, Job { intended: None, measured }, end).await {}
}

/// Gives a job to the next idle connection; `false` if none became idle before `end` (or every
/// connection's task is gone).
async fn hand(idle: &mut mpsc::Receiver<Slot>, mut job: Job, end: Instant) -> bool {
    loop {
        // `timeout_at` polls the queue before its deadline: past the end (or with no warm-up at
        // all) an idle connection would still get a job.
        if Instant::now() >= end {
            return false;
        }
        let Ok(Some(slot)) = tokio::time::timeout_at(end.into(), idle.recv()).await else {
            return false;
        };
        // A slot whose task has gone (it panicked) gives the job back for the next one.
        match slot.send(job) {
            Ok(()) => return true,
            Err(back) => job = back,
        }
    }
}

/// Returns at `due`, give or take tens of microseconds: tokio's timer to just before, then
/// yielding to the connections' tasks until the instant.
async fn wait_until(due: Instant) {
    if let Some(wake) = due.checked_sub(SPIN)
        && Instant::now() < wake
    {
        tokio::time::sleep_until(wake.into()).await;
    }
    while Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::scheduled;
    use std::time::Duration;

    #[test]
    fn the_schedule_holds_rate_times_duration_requests() {
        let secs = Duration::from_secs;
        assert_eq!(scheduled(200.0, secs(2)), 400);
        assert_eq!(scheduled(0.1, secs(30)), 3);
        assert_eq!(scheduled(3.0, Duration::from_millis(500)), 2);
        assert_eq!(scheduled(1_000.0, Duration::ZERO), 0);
    }
}
