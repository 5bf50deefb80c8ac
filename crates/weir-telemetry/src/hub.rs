//! Where the runs' events go after their log lines, when metrics, StatsD or spans want them.
//! Each thread copies what they need of an event into a buffer of its own — a few words, no
//! lock, names by number — and hands the buffer to the [`Hub`] when it is full, when the run's
//! future returns (it waits or it ended: `EventSink::yielded`, after which the run may go on on
//! another thread) and when a root run ends. The hub's thread folds the records into the
//! metrics, StatsD and spans, and sends the spans; a scrape folds what is waiting before it
//! renders, so it reads every step that ended before the run last waited.
//!
//! Only what must be known at once is done on the run's thread, under the hub's lock: a run's
//! start and end (the runs in flight, whether its trace is sampled) and its approvals.

mod fold;

use crate::metrics::Metrics;
use crate::statsd::Statsd;
use crate::trace::{Sampler, Sender};
use crate::{Fx, Pinned};
use fold::Fold;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use weir_engine::{Event, EventKind, SpanId, TraceContext};

/// Records a thread keeps before it hands them on.
const BATCH: usize = 1024;
/// Records waiting that wake the hub's thread.
const WAKE: usize = 1024;
/// Records waiting beyond which a thread folds them itself: the hub's thread is behind (a
/// collector is slow), and the queue stays bounded without losing a measurement.
const BACKLOG: usize = 65_536;
/// How long records wait, at most, for the hub's thread.
const DELAY: Duration = Duration::from_secs(1);
/// Spans a request carries, at most.
const REQUEST: usize = 512;

/// A name a record refers to by number: a thread sends each shared name (run id, pipeline,
/// step id, kind) once, then its number, so the hub's thread never touches the memory the
/// engine's names live in, and a record is a few plain words.
pub(crate) type Name = u32;

/// An error's message and kind.
pub(crate) type Error = Box<(String, &'static str)>;

/// What the metrics and spans need of one event, as one thread numbers its names.
pub(crate) enum Record {
    /// The next name's text: its number is the count of names sent since the last `Forget`.
    Name(Arc<str>),
    /// The names sent so far are forgotten: numbers start again from 0.
    Forget,
    /// A sampled run started or resumed (boxed: it is rare, and the largest).
    Run(Box<RunRecord>),
    /// An attempt of a sampled run's step began.
    Started {
        run: Name,
        step: Name,
        kind: Name,
        item: Option<usize>,
        time: SystemTime,
        attempt: u32,
        span: SpanId,
        parent_span: SpanId,
    },
    /// An attempt ended: the step's end, or a retry.
    Ended {
        run: Name,
        pipeline: Name,
        step: Name,
        kind: Name,
        item: Option<usize>,
        time: SystemTime,
        sampled: bool,
        end: End,
    },
    RunEnded {
        run: Name,
        pipeline: Name,
        time: SystemTime,
        sampled: bool,
        /// Whether it is the root run of its trace (no parent run).
        root: bool,
        status: &'static str,
        error: Option<Error>,
        duration: Duration,
    },
}

/// How an attempt ended; a step's duration counts all its attempts and the waits between.
pub(crate) enum End {
    Succeeded(Duration),
    Failed(Duration, Error),
    /// It failed and the step is tried again.
    Retrying(Error),
    Cancelled,
}

/// A sampled run started or resumed.
pub(crate) struct RunRecord {
    pub(crate) run: Name,
    pub(crate) time: SystemTime,
    pub(crate) pipeline: String,
    pub(crate) digest: String,
    pub(crate) trace: TraceContext,
    pub(crate) parent_span: Option<SpanId>,
    pub(crate) resumed: bool,
}

/// One thread's records, in the order of its events.
pub(crate) struct Batch {
    producer: u64,
    records: Vec<Record>,
    /// The thread ends: the hub forgets its names.
    last: bool,
}

/// What a hub is made of.
#[derive(Default)]
pub(crate) struct Parts {
    pub(crate) metrics: Option<Arc<Metrics>>,
    pub(crate) statsd: Option<Statsd>,
    pub(crate) traces: Option<(Sender, Sampler)>,
}

/// The runs' records of this process, from every thread, and what folds them.
pub(crate) struct Hub {
    metrics: Option<Arc<Metrics>>,
    /// Which traces are recorded; none when spans are not exported.
    sampler: Option<Sampler>,
    runs: Mutex<HashMap<Arc<str>, InFlight, Fx>>,
    queue: Mutex<Queue>,
    /// Wakes the hub's thread: a batch is waiting, a flush was asked for, the end.
    ready: Condvar,
    /// Wakes those waiting for a flush.
    flushed: Condvar,
    /// Taken before `queue` by whoever folds: the records are folded in the order they came.
    fold: Mutex<Fold>,
}

/// A run in flight: what its later events need of it.
struct InFlight {
    pipeline: Arc<str>,
    sampled: bool,
    /// Approvals it asked for and has no answer to yet.
    approvals: i64,
}

#[derive(Default)]
struct Queue {
    batches: Vec<Batch>,
    /// Records in `batches`.
    records: usize,
    /// Emptied buffers, for the threads to fill again without growing new ones.
    spare: Vec<Vec<Record>>,
    /// Flushes asked for, and done: a flush waits until `done` reaches its number.
    asked: u64,
    done: u64,
    /// Nothing more comes: the thread folds and sends what it has, and ends.
    closed: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    /// The hub of `parts`, with its thread; none when nothing wants the records.
    pub(crate) fn start(parts: Parts) -> Option<Arc<Hub>> {
        let Parts { metrics, statsd, traces } = parts;
        if metrics.is_none() && statsd.is_none() && traces.is_none() {
            return None;
        }
        let (sender, sampler) = traces.unzip();
        let fold = Fold::new(metrics.clone(), statsd, sender.is_some());
        let hub = Arc::new(Hub {
            metrics: metrics.clone(),
            sampler,
            runs: Mutex::default(),
            queue: Mutex::default(),
            ready: Condvar::new(),
            flushed: Condvar::new(),
            fold: Mutex::new(fold),
        });
        let theirs = hub.clone();
        let thread =
            std::thread::Builder::new().name("weir-telemetry".into()).spawn(move || theirs.run(sender));
        if let Err(e) = thread {
            // Records are folded by the threads that hand them on, and no span is sent.
            tracing::warn!(target: crate::target::TRACES, error = %e, "cannot start the telemetry thread");
            lock(&hub.queue).closed = true;
        }
        if let Some(metrics) = &metrics {
            let hub = Arc::downgrade(&hub);
            metrics.before_render(Box::new(move || {
                if let Some(hub) = hub.upgrade() {
                    hub.catch_up();
                }
            }));
        }
        Some(hub)
    }

    /// What `event` tells the metrics and spans.
    pub(crate) fn record(self: &Arc<Hub>, event: &Event) {
        match &event.kind {
            EventKind::RunStarted { pipeline, digest, trace, parent_span, .. }
            | EventKind::RunResumed { pipeline, digest, trace, parent_span } => {
                let (name, sampled) = self.started(event, pipeline, trace, *parent_span);
                let resumed = matches!(event.kind, EventKind::RunResumed { .. });
                self.local(|local| {
                    let seen = local.run_started(&event.run_id, &name, sampled);
                    if sampled {
                        local.records.push(Record::Run(Box::new(RunRecord {
                            run: seen.run,
                            time: event.at,
                            pipeline: pipeline.clone(),
                            digest: digest.clone(),
                            trace: *trace,
                            parent_span: *parent_span,
                            resumed,
                        })));
                    }
                });
            }
            EventKind::StepStarted { at, attempt, span, parent_span } => {
                if self.sampler.is_some() {
                    self.local(|local| {
                        let Some(seen) = local.run(self, &event.run_id).filter(|s| s.sampled) else { return };
                        let (step, kind) = (local.step(&at.step), local.kind(&at.kind));
                        local.records.push(Record::Started {
                            run: seen.run,
                            step,
                            kind,
                            item: at.item,
                            time: event.at,
                            attempt: *attempt,
                            span: *span,
                            parent_span: *parent_span,
                        });
                    });
                }
            }
            EventKind::StepSucceeded { at, duration, .. } => self.ended(event, at, End::Succeeded(*duration)),
            EventKind::StepFailed { at, duration, error, error_kind, .. } => {
                self.ended(event, at, End::Failed(*duration, Box::new((error.clone(), error_kind.as_str()))));
            }
            EventKind::StepRetrying { at, error, error_kind, .. } => {
                self.ended(event, at, End::Retrying(Box::new((error.clone(), error_kind.as_str()))));
            }
            EventKind::StepCancelled { at } if self.sampler.is_some() => {
                self.ended(event, at, End::Cancelled)
            }
            EventKind::RunFinished { status, error, error_kind, duration, .. } => {
                let Some(run) = self.finished(event) else { return };
                let error =
                    error.as_ref().map(|e| Box::new((e.clone(), error_kind.map_or("", |k| k.as_str()))));
                let root = event.parent.is_none();
                self.local(|local| {
                    let seen = local.run_ended(&event.run_id, &run);
                    local.records.push(Record::RunEnded {
                        run: seen.run,
                        pipeline: seen.pipeline,
                        time: event.at,
                        sampled: seen.sampled,
                        root,
                        status: status.as_str(),
                        error,
                        duration: *duration,
                    });
                    // What a short process waits for before it exits.
                    if root {
                        local.hand_over(false);
                    }
                });
            }
            EventKind::ApprovalRequested { .. } => self.approvals(&event.run_id, 1),
            EventKind::ApprovalAnswered { .. } => self.approvals(&event.run_id, -1),
            EventKind::StepCancelled { .. }
            | EventKind::StepMocked { .. }
            | EventKind::StepSkipped { .. }
            | EventKind::StepLog { .. } => {}
        }
    }

    /// The end of an attempt of the step `at`.
    #[inline(never)]
    fn ended(self: &Arc<Hub>, event: &Event, at: &weir_engine::StepAt, end: End) {
        self.local(|local| {
            let Some(seen) = local.run(self, &event.run_id) else { return };
            let (step, kind) = (local.step(&at.step), local.kind(&at.kind));
            local.records.push(Record::Ended {
                run: seen.run,
                pipeline: seen.pipeline,
                step,
                kind,
                item: at.item,
                time: event.at,
                sampled: seen.sampled,
                end,
            });
        });
    }

    /// Hands this thread's records on: the run's future returned.
    pub(crate) fn yielded(self: &Arc<Hub>) {
        let _ = LOCAL.try_with(|cell| {
            if let Ok(mut local) = cell.try_borrow_mut()
                && local.hub.as_ref().is_some_and(|h| Arc::ptr_eq(h, self))
            {
                local.hand_over(false);
            }
        });
    }

    /// Runs `f` on this thread's buffer, attached to this hub; a buffer of its own when the
    /// thread's is gone (the thread is ending) or in use.
    fn local(self: &Arc<Hub>, f: impl FnOnce(&mut Local)) {
        let mut f = Some(f);
        let _ = LOCAL.try_with(|cell| {
            if let Ok(mut local) = cell.try_borrow_mut()
                && let Some(f) = f.take()
            {
                local.attach(self);
                f(&mut local);
                if local.records.len() >= BATCH {
                    local.hand_over(false);
                }
            }
        });
        if let Some(f) = f {
            let mut local = Local::default();
            local.attach(self);
            f(&mut local);
        }
    }

    /// A run's start: it is in flight, and its trace is sampled or not. Returns its pipeline's
    /// shared name and whether it is sampled.
    fn started(
        &self,
        event: &Event,
        pipeline: &str,
        trace: &TraceContext,
        parent_span: Option<SpanId>,
    ) -> (Arc<str>, bool) {
        let mut runs = lock(&self.runs);
        let sampled = self.sampler.as_ref().is_some_and(|sampler| match &event.parent {
            // A sub-pipeline run is in its trace when the run that started it is.
            Some(parent) => runs.get(&parent.run_id).is_some_and(|r| r.sampled),
            None => sampler.sample(trace.trace_id, parent_span.map(|_| trace.sampled)),
        });
        let name: Arc<str> = pipeline.into();
        let run = InFlight { pipeline: name.clone(), sampled, approvals: 0 };
        if runs.insert(event.run_id.clone(), run).is_none() {
            self.metrics.as_ref().inspect(|m| m.runs_in_flight(1));
        }
        (name, sampled)
    }

    /// A run's end: it is no longer in flight, nor are the approvals it waited for.
    fn finished(&self, event: &Event) -> Option<InFlight> {
        let run = lock(&self.runs).remove(&event.run_id)?;
        if let Some(m) = &self.metrics {
            m.runs_in_flight(-1);
            m.approvals_pending(-run.approvals);
        }
        Some(run)
    }

    /// `by` more (or fewer) approvals wait for an answer in run `run_id`.
    fn approvals(&self, run_id: &Arc<str>, by: i64) {
        let mut runs = lock(&self.runs);
        let Some(run) = runs.get_mut(run_id).filter(|r| r.approvals + by >= 0) else { return };
        run.approvals += by;
        self.metrics.as_ref().inspect(|m| m.approvals_pending(by));
    }

    /// A run in flight, by id: its pipeline and whether it is sampled.
    fn in_flight(&self, run_id: &Arc<str>) -> Option<(Arc<str>, bool)> {
        lock(&self.runs).get(run_id).map(|r| (r.pipeline.clone(), r.sampled))
    }

    /// Takes `batch`: queued for the hub's thread, or folded now when the thread is behind or
    /// gone.
    fn take(&self, batch: Batch) -> Vec<Record> {
        let mut queue = lock(&self.queue);
        let spare = queue.spare.pop().unwrap_or_else(|| Vec::with_capacity(BATCH));
        if queue.closed || queue.records >= BACKLOG {
            drop(queue);
            self.fold_waiting().apply(batch, &mut Vec::new());
            return spare;
        }
        let before = queue.records;
        queue.records += batch.records.len();
        queue.batches.push(batch);
        if before < WAKE && queue.records >= WAKE {
            self.ready.notify_one();
        }
        spare
    }

    /// Folds every batch waiting, in order; the fold, for more.
    fn fold_waiting(&self) -> MutexGuard<'_, Fold> {
        let mut fold = lock(&self.fold);
        let batches = {
            let mut queue = lock(&self.queue);
            queue.records = 0;
            std::mem::take(&mut queue.batches)
        };
        let mut emptied = Vec::new();
        for batch in batches {
            fold.apply(batch, &mut emptied);
        }
        let mut queue = lock(&self.queue);
        let room = (BACKLOG / BATCH).saturating_sub(queue.spare.len());
        queue.spare.extend(emptied.into_iter().take(room));
        fold
    }

    /// Folds what this thread and the others handed on: what a scrape reads.
    fn catch_up(self: &Arc<Hub>) {
        self.yielded();
        drop(self.fold_waiting());
    }

    /// Waits, at most `timeout`, until what was handed on (this thread's records too) has been
    /// folded and its spans sent.
    pub(crate) fn flush(self: &Arc<Hub>, timeout: Duration) {
        self.yielded();
        let deadline = Instant::now() + timeout;
        let mut queue = lock(&self.queue);
        if queue.closed {
            return;
        }
        queue.asked += 1;
        let ticket = queue.asked;
        self.ready.notify_one();
        while queue.done < ticket && !queue.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            queue = self.flushed.wait_timeout(queue, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Spans dropped because too many waited to be sent.
    pub(crate) fn dropped(&self) -> u64 {
        lock(&self.fold).dropped
    }

    /// Nothing more comes: the thread folds and sends what it has, and ends.
    pub(crate) fn close(&self) {
        lock(&self.queue).closed = true;
        self.ready.notify_one();
    }

    /// The hub's thread: folds what waits every [`DELAY`], when a batch is waiting or a flush
    /// asked, and sends the spans, until the hub is closed.
    fn run(&self, sender: Option<Sender>) {
        loop {
            let (ticket, closed) = {
                let mut queue = lock(&self.queue);
                let deadline = Instant::now() + DELAY;
                while queue.records < WAKE && queue.asked == queue.done && !queue.closed {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    queue = self.ready.wait_timeout(queue, left).unwrap_or_else(|e| e.into_inner()).0;
                }
                (queue.asked, queue.closed)
            };
            let mut spans = std::mem::take(&mut self.fold_waiting().ended);
            if let Some(sender) = &sender {
                for request in spans.chunks(REQUEST) {
                    sender.post(request);
                }
            }
            spans.clear();
            let mut queue = lock(&self.queue);
            if ticket > queue.done {
                queue.done = ticket;
                drop(queue);
                self.flushed.notify_all();
            }
            if closed {
                return;
            }
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

/// The ids of threads' buffers, for the hub to keep their names apart.
static PRODUCERS: AtomicU64 = AtomicU64::new(0);

/// One thread's records, and the names it has numbered for the hub it is attached to.
struct Local {
    hub: Option<Arc<Hub>>,
    producer: u64,
    records: Vec<Record>,
    /// The names sent, by the address of the shared text.
    names: HashMap<Pinned, Name, Fx>,
    /// The runs seen on this thread, by the address of their id.
    runs: HashMap<Pinned, Seen, Fx>,
    /// The last run and kind named, by address: most events name the same as the one before
    /// (the steps of one run, steps of one kind: the plan shares a kind's name).
    last_run: Option<(usize, Seen)>,
    last_kind: (usize, Name),
    /// Steps' numbers by address, in slots picked by the address: most steps' events find
    /// theirs without a lookup in `names`.
    steps: Box<[(usize, Name); Local::STEPS]>,
}

/// A run as this thread's records name it.
#[derive(Clone, Copy)]
struct Seen {
    run: Name,
    pipeline: Name,
    sampled: bool,
}

impl Default for Local {
    fn default() -> Local {
        Local {
            hub: None,
            producer: PRODUCERS.fetch_add(1, Ordering::Relaxed),
            records: Vec::new(),
            names: HashMap::default(),
            runs: HashMap::default(),
            last_run: None,
            last_kind: (0, 0),
            steps: Box::new([(0, 0); Local::STEPS]),
        }
    }
}

impl Local {
    /// The most names kept; then all are forgotten and sent again as they come.
    const NAMES: usize = 16_384;
    /// The most runs kept (those that ended elsewhere stay until then).
    const RUNS: usize = 4096;
    /// Slots of `steps`.
    const STEPS: usize = 1024;

    /// Attaches the buffer to `hub`, handing what it holds to the hub it was attached to.
    #[inline]
    fn attach(&mut self, hub: &Arc<Hub>) {
        // Room for the names of one more record, so none is forgotten midway.
        if !self.hub.as_ref().is_some_and(|h| Arc::ptr_eq(h, hub)) || self.names.len() + 4 > Local::NAMES {
            self.reattach(hub);
        }
    }

    #[cold]
    fn reattach(&mut self, hub: &Arc<Hub>) {
        if self.hub.as_ref().is_some_and(|h| Arc::ptr_eq(h, hub)) {
            self.forget();
            return;
        }
        // The other hub forgets this thread's names: they are numbered anew for this one.
        self.hand_over(true);
        self.hub = Some(hub.clone());
        self.forget();
    }

    /// Forgets the names and runs: the next record numbers them again, from 0.
    fn forget(&mut self) {
        self.names.clear();
        self.runs.clear();
        (self.last_run, self.last_kind) = (None, (0, 0));
        self.steps.fill((0, 0));
        self.records.push(Record::Forget);
    }

    /// Hands the records to the hub; `last` when the thread ends.
    fn hand_over(&mut self, last: bool) {
        let Some(hub) = &self.hub else { return };
        if self.records.is_empty() && !last {
            return;
        }
        let records = std::mem::take(&mut self.records);
        self.records = hub.take(Batch { producer: self.producer, records, last });
    }

    /// The number of `name`, queuing its text first when it is new.
    fn name(&mut self, name: &Arc<str>) -> Name {
        if let Some(&number) = self.names.get(&Pinned::address(name)) {
            return number;
        }
        let number = self.names.len() as Name;
        self.names.insert(Pinned::new(name), number);
        self.records.push(Record::Name(name.clone()));
        number
    }

    #[inline]
    fn step(&mut self, step: &Arc<str>) -> Name {
        let address = Pinned::address(step);
        // Fibonacci hashing: the address's bits spread over the slots' index.
        let slot =
            (address as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - Local::STEPS.trailing_zeros());
        let slot = slot as usize;
        match self.steps[slot] {
            (cached, number) if cached == address => number,
            _ => self.step_named(step, slot),
        }
    }

    #[inline(never)]
    fn step_named(&mut self, step: &Arc<str>, slot: usize) -> Name {
        let number = self.name(step);
        self.steps[slot] = (Pinned::address(step), number);
        number
    }

    #[inline]
    fn kind(&mut self, kind: &Arc<str>) -> Name {
        let address = Pinned::address(kind);
        if self.last_kind.0 != address {
            self.last_kind = (address, self.name(kind));
        }
        self.last_kind.1
    }

    /// Run `run_id` as this thread names it, learnt from the hub when it started elsewhere;
    /// none when it is not in flight.
    #[inline]
    fn run(&mut self, hub: &Hub, run_id: &Arc<str>) -> Option<Seen> {
        match self.last_run {
            Some((last, seen)) if last == Pinned::address(run_id) => Some(seen),
            _ => self.find_run(hub, run_id),
        }
    }

    #[inline(never)]
    fn find_run(&mut self, hub: &Hub, run_id: &Arc<str>) -> Option<Seen> {
        let address = Pinned::address(run_id);
        let seen = match self.runs.get(&address) {
            Some(&seen) => seen,
            None => {
                let (pipeline, sampled) = hub.in_flight(run_id)?;
                self.run_started(run_id, &pipeline, sampled)
            }
        };
        self.last_run = Some((address, seen));
        Some(seen)
    }

    /// Names run `run_id` of `pipeline`, and remembers it.
    fn run_started(&mut self, run_id: &Arc<str>, pipeline: &Arc<str>, sampled: bool) -> Seen {
        if self.runs.len() >= Local::RUNS {
            self.runs.clear();
            self.last_run = None;
        }
        let seen = Seen { run: self.name(run_id), pipeline: self.name(pipeline), sampled };
        self.runs.insert(Pinned::new(run_id), seen);
        seen
    }

    /// Run `run_id` as this thread names it, forgotten: it ended.
    fn run_ended(&mut self, run_id: &Arc<str>, run: &InFlight) -> Seen {
        let address = Pinned::address(run_id);
        if self.last_run.is_some_and(|(last, _)| last == address) {
            self.last_run = None;
        }
        match self.runs.remove(&address) {
            Some(seen) => seen,
            None => Seen { run: self.name(run_id), pipeline: self.name(&run.pipeline), sampled: run.sampled },
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.hand_over(true);
    }
}
