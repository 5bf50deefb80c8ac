//! `http`: makes an HTTP request.

use futures_util::future::BoxFuture;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use weir_engine::{ErrorKind, StepCx, StepError, StepKind};
use weir_pipeline::kind::{Problem, With};
use weir_pipeline::{Duration, Effects, KindSpec};

/// The header that carries the step's idempotency key (the IETF draft's `Idempotency-Key`).
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The W3C Trace Context header that makes the request a child of the attempt's span.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Makes an HTTP request. Outputs `{status, headers, body}`, with JSON bodies parsed. A status
/// outside 2xx fails the step unless listed in `accept`; 5xx, 408 and 429 failures are retryable,
/// other 4xx are not (another attempt would get the same answer). Every request carries an
/// `Idempotency-Key` header, the same for each attempt of the step and after `weir resume`
/// (`<run id>/<step>`, with `/<index>` for a `foreach` item), unless `headers` sets one; and a
/// W3C `traceparent` naming the attempt's span, unless `headers` sets one.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// HTTP method (default `GET`).
    #[serde(default = "default_method")]
    method: String,
    /// Absolute `http://` or `https://` URL.
    url: String,
    /// Request headers.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Query parameters added to the URL.
    #[serde(default)]
    query: BTreeMap<String, Scalar>,
    /// JSON request body (sets `content-type: application/json`); not with `body`.
    #[serde(default)]
    json: Option<Value>,
    /// Raw text request body; not with `json`.
    #[serde(default)]
    body: Option<String>,
    /// Longest time the request may take (the step's `timeout` bounds the whole attempt).
    #[serde(default)]
    timeout: Option<Duration>,
    /// Statuses outside 2xx that are not errors, e.g. `[404]`.
    #[serde(default)]
    accept: Vec<u16>,
}

/// A query parameter value.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum Scalar {
    String(String),
    Number(serde_json::Number),
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::String(s) => s.clone(),
            Scalar::Number(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

fn default_method() -> String {
    "GET".into()
}

/// The `http` kind. Its client (connection pool, TLS roots) is built on first use, so runs
/// without HTTP steps pay nothing for it.
#[derive(Default)]
pub struct Http {
    client: OnceLock<Result<reqwest::Client, String>>,
}

static SPEC: KindSpec = KindSpec {
    name: "http",
    summary: "make an HTTP request; output {status, headers, body}",
    schema: crate::schema::<HttpConfig>,
    programs: &[],
    nested_step: None,
    files: &[],
    effects: Effects::External,
    check,
};

/// A request has one body: JSON or text.
fn check(with: With<'_>) -> Vec<Problem> {
    if !(with.has("json") && with.has("body")) {
        return Vec::new();
    }
    vec![
        Problem::new(&["json", "body"], "an `http` step takes `json` or `body`, not both")
            .with_hint("remove `body`, or send the JSON as text in `body` and remove `json`"),
    ]
}

/// Installs the TLS crypto provider (ring). Idempotent; call it before building any TLS client.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Http {
    fn client(&self) -> Result<&reqwest::Client, StepError> {
        self.client
            .get_or_init(|| {
                install_crypto_provider();
                reqwest::Client::builder()
                    .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))
            })
            .as_ref()
            .map_err(|e| StepError::fatal(ErrorKind::Config, e.clone()))
    }
}

impl StepKind for Http {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, cx: StepCx<'a>) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            let config: HttpConfig = cx.config()?;
            let request = build(self.client()?, &config, &cx.idempotency_key(), &cx.traceparent())?;
            let response =
                request.send().await.map_err(|e| StepError::new(ErrorKind::Network, describe(&e)))?;
            read(response, &config.accept).await
        })
    }
}

fn build(
    client: &reqwest::Client,
    config: &HttpConfig,
    idempotency_key: &str,
    traceparent: &str,
) -> Result<reqwest::RequestBuilder, StepError> {
    let method =
        reqwest::Method::from_bytes(config.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
            StepError::fatal(ErrorKind::Config, format!("invalid HTTP method \"{}\"", config.method))
        })?;
    let url = reqwest::Url::parse(&config.url)
        .map_err(|e| StepError::fatal(ErrorKind::Config, format!("invalid url \"{}\": {e}", config.url)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(StepError::fatal(
            ErrorKind::Config,
            format!("url \"{}\" must start with http:// or https://", config.url),
        ));
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &config.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| StepError::fatal(ErrorKind::Config, format!("invalid header name \"{name}\"")))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            StepError::fatal(ErrorKind::Config, format!("invalid value for header \"{name}\""))
        })?;
        headers.insert(name, value);
    }
    // The same for every attempt and resume of this step (`headers` may set its own).
    if !headers.contains_key(IDEMPOTENCY_KEY)
        && let Ok(key) = HeaderValue::from_str(idempotency_key)
    {
        headers.insert(IDEMPOTENCY_KEY, key);
    }
    if !headers.contains_key(TRACEPARENT)
        && let Ok(value) = HeaderValue::from_str(traceparent)
    {
        headers.insert(TRACEPARENT, value);
    }
    let query: Vec<(&str, String)> = config.query.iter().map(|(k, v)| (k.as_str(), v.text())).collect();
    let mut request = client.request(method, url).headers(headers).query(&query);
    match (&config.json, &config.body) {
        // The validator rejects `json` with `body`.
        (Some(json), _) => request = request.json(json),
        (None, Some(body)) => request = request.body(body.clone()),
        (None, None) => {}
    }
    if let Some(timeout) = config.timeout {
        request = request.timeout(timeout.0);
    }
    Ok(request)
}

async fn read(response: reqwest::Response, accept: &[u16]) -> Result<Value, StepError> {
    let status = response.status();
    let headers: Map<String, Value> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (k.as_str().to_owned(), Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
        })
        .collect();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    let text = response.text().await.map_err(|e| StepError::new(ErrorKind::Network, describe(&e)))?;
    let body = match is_json {
        true => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        false => Value::String(text),
    };
    let code = status.as_u16();
    if !status.is_success() && !accept.contains(&code) {
        let snippet: String = match &body {
            Value::String(s) => s.chars().take(200).collect(),
            other => other.to_string().chars().take(200).collect(),
        };
        let message = format!("HTTP {status}: {snippet}");
        let retryable = status.is_server_error() || code == 408 || code == 429;
        return Err(StepError { kind: ErrorKind::HttpStatus, message, retryable });
    }
    Ok(serde_json::json!({ "status": code, "headers": headers, "body": body }))
}

/// A request error with its causes, which reqwest keeps in the source chain.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
