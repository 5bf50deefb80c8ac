//! Sending spans to the collector: one OTLP/HTTP POST per request's worth of spans, from the
//! hub's thread, on a runtime of its own. A collector that is down or slow costs that thread,
//! never a run.

#[cfg(feature = "otlp")]
pub(crate) use with_otlp::Sender;
#[cfg(not(feature = "otlp"))]
pub(crate) use without_otlp::Sender;

#[cfg(feature = "otlp")]
mod with_otlp {
    use super::super::{Options, Resource, Span, otlp, resource};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// The hub thread's HTTP client, on a runtime of its own.
    pub(crate) struct Sender {
        runtime: tokio::runtime::Runtime,
        client: reqwest::Client,
        url: String,
        headers: reqwest::header::HeaderMap,
        resource: Resource,
        /// Whether the collector's failure was logged: once per process.
        warned: AtomicBool,
    }

    impl Sender {
        /// The client `options` describe; an error says what is wrong with them.
        pub(crate) fn new(options: &Options) -> Result<Sender, String> {
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
                warned: AtomicBool::new(false),
            })
        }

        /// Sends `spans` in one request; a failure is logged once, and the spans are lost.
        pub(crate) fn post(&self, spans: &[Span]) {
            if spans.is_empty() {
                return;
            }
            let body = otlp::encode(&self.resource, spans);
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
            if !self.warned.swap(true, Ordering::Relaxed) {
                let url = &*self.url;
                tracing::warn!(target: crate::target::TRACES, url, error = failure, "cannot export spans; runs go on, and their spans are dropped");
            }
        }
    }
}

#[cfg(not(feature = "otlp"))]
mod without_otlp {
    use super::super::{Options, Span};

    /// No client in a build without the `otlp` feature: it cannot be made.
    pub(crate) enum Sender {}

    impl Sender {
        pub(crate) fn new(_: &Options) -> Result<Sender, String> {
            Err("traces are exported by the cargo feature `otlp`, which this build of weir leaves out".into())
        }

        pub(crate) fn post(&self, _: &[Span]) {
            match *self {}
        }
    }
}
