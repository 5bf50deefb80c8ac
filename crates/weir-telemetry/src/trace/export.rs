//! Sending ended spans to the collector: a thread of its own with a bounded queue, batches by
//! size and age, one OTLP/HTTP POST per batch. A run only ever puts a span in the queue (or
//! drops it, counted, when the queue is full); a collector that is down or slow costs the
//! exporter's thread, never a run.

#[cfg(feature = "otlp")]
pub(super) use with_otlp::Exporter;
#[cfg(not(feature = "otlp"))]
pub(super) use without_otlp::Exporter;

#[cfg(feature = "otlp")]
mod with_otlp {
    use super::super::{Options, Resource, Span, otlp, resource};
    use std::cell::Cell;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
    use std::time::{Duration, Instant};

    /// Spans waiting to be sent, at most; more are dropped (and counted) until the thread
    /// catches up.
    const QUEUE: usize = 4096;
    /// Spans in one request, at most.
    const BATCH: usize = 512;
    /// How long an ended span waits for others to join its batch.
    const DELAY: Duration = Duration::from_secs(1);

    /// What the exporter's thread is sent.
    enum Message {
        Span(Span),
        /// Send everything queued before this, then say so.
        Flush(std::sync::mpsc::Sender<()>),
    }

    pub(crate) struct Exporter {
        /// The queue to the exporter's thread: bounded, so a collector that does not keep up
        /// costs spans, not memory.
        queue: SyncSender<Message>,
        /// Spans dropped because the queue was full.
        dropped: Arc<AtomicU64>,
    }

    impl Exporter {
        pub(crate) fn start(options: Options) -> Result<Exporter, String> {
            let (queue, received) = std::sync::mpsc::sync_channel(QUEUE);
            let sender = Sender::new(&options)?;
            std::thread::Builder::new()
                .name("weir-traces".into())
                .spawn(move || sender.run(&received))
                .map_err(|e| format!("cannot start the thread that exports traces: {e}"))?;
            Ok(Exporter { queue, dropped: Arc::default() })
        }

        /// Queues an ended span, or drops it when the queue is full.
        pub(crate) fn send(&self, span: Option<Span>) {
            let Some(span) = span else { return };
            if let Err(TrySendError::Full(_)) = self.queue.try_send(Message::Span(span))
                && self.dropped.fetch_add(1, Ordering::Relaxed) == 0
            {
                tracing::warn!(target: crate::target::TRACES, "the queue of spans to export is full: dropping spans");
            }
        }

        /// Waits until what was queued has been sent (or could not be), at most `timeout`.
        pub(crate) fn flush(&self, timeout: Duration) {
            let deadline = Instant::now() + timeout;
            let (done, waited) = std::sync::mpsc::channel();
            let mut message = Message::Flush(done);
            loop {
                match self.queue.try_send(message) {
                    Ok(()) => break,
                    Err(TrySendError::Disconnected(_)) => return,
                    Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                        message = m;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(TrySendError::Full(_)) => return,
                }
            }
            let _ = waited.recv_timeout(deadline.saturating_duration_since(Instant::now()));
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

        /// Batches what arrives until the queue closes (the process is ending).
        fn run(&self, received: &Receiver<Message>) {
            let mut batch = Vec::new();
            let mut due = None;
            loop {
                let wait = due.map_or(Duration::from_secs(3600), |d: Instant| {
                    d.saturating_duration_since(Instant::now())
                });
                match received.recv_timeout(wait) {
                    Ok(Message::Span(span)) => {
                        batch.push(span);
                        due.get_or_insert_with(|| Instant::now() + DELAY);
                        if batch.len() >= BATCH {
                            self.post(&mut batch);
                            due = None;
                        }
                    }
                    Ok(Message::Flush(done)) => {
                        self.post(&mut batch);
                        due = None;
                        let _ = done.send(());
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        self.post(&mut batch);
                        due = None;
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        self.post(&mut batch);
                        return;
                    }
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
    use super::super::{Options, Span};
    use std::time::Duration;

    /// No exporter in a build without the `otlp` feature: it cannot be started.
    pub(crate) enum Exporter {}

    impl Exporter {
        pub(crate) fn start(_: Options) -> Result<Exporter, String> {
            Err("traces are exported by the cargo feature `otlp`, which this build of weir leaves out".into())
        }

        pub(crate) fn send(&self, _: Option<Span>) {
            match *self {}
        }

        pub(crate) fn flush(&self, _: Duration) {
            match *self {}
        }
    }
}
