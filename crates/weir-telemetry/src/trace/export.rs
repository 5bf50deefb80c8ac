//! Sending spans to the collector: a thread of its own, a bounded queue of records it takes in
//! turns (every second, or sooner when a batch is waiting), one OTLP/HTTP POST per batch of
//! spans. A run only ever puts a record in the queue (or drops it, counted, when the queue is
//! full) and wakes the thread once a batch; a collector that is down or slow costs the
//! exporter's thread, never a run.

#[cfg(feature = "otlp")]
pub(super) use with_otlp::Exporter;
#[cfg(not(feature = "otlp"))]
pub(super) use without_otlp::Exporter;

#[cfg(feature = "otlp")]
mod with_otlp {
    use super::super::{Builder, Names, Options, Record, Resource, Span, otlp, resource};
    use std::cell::Cell;
    use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    use std::time::{Duration, Instant};
    use weir_engine::Event;

    /// Records waiting for the exporter's thread, at most (two per step attempt); more are
    /// dropped (and counted) until the thread catches up. The queue and its spare are made this
    /// large up front, so a run never waits for one to grow.
    const QUEUE: usize = 4096;
    /// Records that wake the exporter's thread: about a request's worth of spans.
    const WAKE: usize = 1024;
    /// Spans in one request, at most.
    const BATCH: usize = 512;
    /// How long a record waits, at most, for the exporter's thread to take it.
    const DELAY: Duration = Duration::from_secs(1);

    /// What the run's threads and the exporter's share.
    #[derive(Default)]
    struct Shared {
        queue: Mutex<Queue>,
        /// Wakes the exporter's thread: a batch is waiting, a flush was asked for, the end.
        ready: Condvar,
        /// Wakes those waiting for a flush.
        flushed: Condvar,
    }

    #[derive(Default)]
    struct Queue {
        /// In the order the events happened: a sub-pipeline run's records come after those of
        /// the attempt that started it.
        records: Vec<Record>,
        /// The names the records refer to, as the run's threads number them.
        names: Names,
        /// Records dropped because the queue was full.
        dropped: u64,
        /// Flushes asked for, and done: a flush waits until `done` reaches its number.
        asked: u64,
        done: u64,
        /// Nothing more comes: the thread sends what it has and ends.
        closed: bool,
    }

    impl Shared {
        fn lock(&self) -> MutexGuard<'_, Queue> {
            self.queue.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    pub(crate) struct Exporter {
        shared: Arc<Shared>,
    }

    impl Exporter {
        pub(crate) fn start(options: Options) -> Result<Exporter, String> {
            let shared = Arc::new(Shared::default());
            shared.lock().records.reserve_exact(QUEUE);
            let sender = Sender::new(&options)?;
            let builder = Builder::new(options.sampler);
            let theirs = shared.clone();
            std::thread::Builder::new()
                .name("weir-traces".into())
                .spawn(move || sender.run(builder, &theirs))
                .map_err(|e| format!("cannot start the thread that exports traces: {e}"))?;
            Ok(Exporter { shared })
        }

        /// Queues what the span of `event` needs, or drops it when the queue is full. The
        /// exporter's thread is woken only once a batch is waiting: an event costs the run a
        /// lock, a lookup of its names by address and a copy of a few words.
        pub(crate) fn record(&self, event: &Event) {
            let mut queue = self.shared.lock();
            let queue = &mut *queue;
            if queue.records.len() >= QUEUE {
                queue.dropped += 1;
                if queue.dropped == 1 {
                    tracing::warn!(target: crate::target::TRACES, "the queue of spans to export is full: dropping spans");
                }
                return;
            }
            let before = queue.records.len();
            queue.names.record(event, &mut queue.records);
            if before < WAKE && queue.records.len() >= WAKE {
                self.shared.ready.notify_one();
            }
        }

        /// How many records were dropped because the queue was full.
        pub(crate) fn dropped(&self) -> u64 {
            self.shared.lock().dropped
        }

        /// Waits until what was queued has been sent (or could not be), at most `timeout`.
        pub(crate) fn flush(&self, timeout: Duration) {
            let deadline = Instant::now() + timeout;
            let mut queue = self.shared.lock();
            queue.asked += 1;
            let ticket = queue.asked;
            self.shared.ready.notify_one();
            while queue.done < ticket {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return;
                }
                queue = self.shared.flushed.wait_timeout(queue, left).unwrap_or_else(|e| e.into_inner()).0;
            }
        }
    }

    impl Drop for Exporter {
        /// The thread sends what is queued and ends.
        fn drop(&mut self) {
            self.shared.lock().closed = true;
            self.shared.ready.notify_one();
        }
    }

    /// The exporter's thread: its HTTP client, on a runtime of its own.
    struct Sender {
        runtime: tokio::runtime::Runtime,
        client: reqwest::Client,
        url: String,
        headers: reqwest::header::HeaderMap,
        resource: Resource,
        /// Whether the collector's failure was logged: once per process.
        warned: Cell<bool>,
    }

    impl Sender {
        fn new(options: &Options) -> Result<Sender, String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the runtime that exports traces: {e}"))?;
            // An error only means a provider is installed already.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let client = reqwest::Client::builder()
                .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")))
                .timeout(options.timeout)
                .build()
                .map_err(|e| format!("cannot build the HTTP client that exports traces: {e}"))?;
            let mut headers = reqwest::header::HeaderMap::new();
            for (name, value) in &options.headers {
                let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("invalid header name \"{name}\" in the OTLP headers"))?;
                let value = reqwest::header::HeaderValue::from_str(value)
                    .map_err(|_| format!("invalid value of header \"{name}\" in the OTLP headers"))?;
                headers.insert(name, value);
            }
            let url = options.url.clone();
            Ok(Sender {
                runtime,
                client,
                url,
                headers,
                resource: resource(options),
                warned: Cell::new(false),
            })
        }

        /// Takes the queued records every [`DELAY`], when a batch is waiting or a flush asked,
        /// and sends the spans they end, until the exporter is dropped.
        fn run(&self, mut builder: Builder, shared: &Shared) {
            let mut spare = Vec::with_capacity(QUEUE);
            let mut ended = Vec::new();
            loop {
                let (mut records, ticket, closed) = {
                    let mut queue = shared.lock();
                    let deadline = Instant::now() + DELAY;
                    while queue.records.len() < WAKE && queue.asked == queue.done && !queue.closed {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        queue = shared.ready.wait_timeout(queue, left).unwrap_or_else(|e| e.into_inner()).0;
                    }
                    (std::mem::replace(&mut queue.records, spare), queue.asked, queue.closed)
                };
                for record in records.drain(..) {
                    builder.apply(record, &mut ended);
                    if ended.len() >= BATCH {
                        self.post(&mut ended);
                    }
                }
                self.post(&mut ended);
                // The emptied queue keeps its room for the next turn.
                spare = records;
                let mut queue = shared.lock();
                if ticket > queue.done {
                    queue.done = ticket;
                    drop(queue);
                    shared.flushed.notify_all();
                }
                if closed {
                    return;
                }
            }
        }

        /// Sends the batch and empties it; a failure is logged once, and the batch is lost.
        fn post(&self, batch: &mut Vec<Span>) {
            if batch.is_empty() {
                return;
            }
            let body = otlp::encode(&self.resource, batch);
            batch.clear();
            let request = self
                .client
                .post(&self.url)
                .headers(self.headers.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
                .body(body);
            // The request's timers belong to the runtime: it is sent from within it.
            let failure = match self.runtime.block_on(async { request.send().await }) {
                Ok(response) if response.status().is_success() => return,
                Ok(response) => format!("the collector answered {}", response.status()),
                Err(e) => e.to_string(),
            };
            if !self.warned.replace(true) {
                let url = &*self.url;
                tracing::warn!(target: crate::target::TRACES, url, error = failure, "cannot export spans; runs go on, and their spans are dropped");
            }
        }
    }
}

#[cfg(not(feature = "otlp"))]
mod without_otlp {
    use super::super::Options;
    use std::time::Duration;
    use weir_engine::Event;

    /// No exporter in a build without the `otlp` feature: it cannot be started.
    pub(crate) enum Exporter {}

    impl Exporter {
        pub(crate) fn start(_: Options) -> Result<Exporter, String> {
            Err("traces are exported by the cargo feature `otlp`, which this build of weir leaves out".into())
        }

        pub(crate) fn record(&self, _: &Event) {
            match *self {}
        }

        pub(crate) fn flush(&self, _: Duration) {
            match *self {}
        }

        pub(crate) fn dropped(&self) -> u64 {
            match *self {}
        }
    }
}
