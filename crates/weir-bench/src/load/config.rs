//! What a load is (`LoadConfig`), and the request it repeats, checked once before the first
//! connection opens (`Template`).

use super::LoadError;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use std::time::Duration;

/// One load against one URL. `rate` picks the model: `Some` is the open model (requests arrive
/// at a fixed rate whatever the server does, latency counted from when each was due), `None`
/// the closed one (every connection sends its next request when the last one is answered).
#[derive(Clone, Debug, PartialEq)]
pub struct LoadConfig {
    /// An absolute `http://` URL.
    pub url: String,
    pub method: String,
    /// Sent with every request, after `Host` (which a `host` header here replaces).
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Requests per second of the open model; `None` for the closed model.
    pub rate: Option<f64>,
    /// How long requests are measured, warm-up excluded.
    pub duration: Duration,
    /// Keep-alive connections, all opened before the first request.
    pub connections: u32,
    /// How long one request (or one reconnection) may take before it counts as an error.
    pub timeout: Duration,
    /// Load sent, at the same rate or concurrency, before the measurement starts and not
    /// recorded: the server's caches and the connections warm up.
    pub warmup: Duration,
}

impl LoadConfig {
    /// A closed-model load of `GET url` for 10 s on 10 connections, 30 s timeout, no warm-up.
    pub fn new(url: impl Into<String>) -> Self {
        LoadConfig {
            url: url.into(),
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            rate: None,
            duration: Duration::from_secs(10),
            connections: 10,
            timeout: Duration::from_secs(30),
            warmup: Duration::ZERO,
        }
    }
}

/// `--header`'s argument: `NAME: VALUE`, both checked as HTTP would.
pub fn parse_header(arg: &str) -> Result<(String, String), LoadError> {
    let Some((name, value)) = arg.split_once(':') else {
        return Err(LoadError::HeaderSyntax { found: arg.into() });
    };
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() {
        return Err(LoadError::HeaderSyntax { found: arg.into() });
    }
    header(name, value)?;
    Ok((name.into(), value.into()))
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), LoadError> {
    let invalid = |reason: String| LoadError::Header { name: name.into(), reason };
    let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    let value = HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?;
    Ok((parsed, value))
}

/// The request every connection sends, built once; each send clones it (the body is shared).
#[derive(Debug)]
pub(crate) struct Template {
    pub host: String,
    pub port: u16,
    method: Method,
    /// Origin form (`/path?query`): what an HTTP/1.1 request line carries.
    path: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Template {
    pub fn new(config: &LoadConfig) -> Result<Self, LoadError> {
        check_settings(config)?;
        let uri = http_uri(&config.url)?;
        let invalid = |reason: &str| LoadError::InvalidUrl { url: config.url.clone(), reason: reason.into() };
        let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| invalid("no host"))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let method = Method::from_bytes(config.method.as_bytes())
            .map_err(|_| LoadError::Method { found: config.method.clone() })?;
        Ok(Template {
            // `[::1]` in a URL, `::1` to the resolver.
            host: host.trim_start_matches('[').trim_end_matches(']').into(),
            port: uri.port_u16().unwrap_or(80),
            method,
            path: path.parse().map_err(|_| invalid("invalid path"))?,
            headers: headers(config, &uri)?,
            body: Bytes::from(config.body.clone().unwrap_or_default()),
        })
    }

    pub fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.path.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

fn http_uri(url: &str) -> Result<Uri, LoadError> {
    let uri: Uri = url.parse().map_err(|e: hyper::http::uri::InvalidUri| LoadError::InvalidUrl {
        url: url.into(),
        reason: e.to_string(),
    })?;
    match uri.scheme_str() {
        Some("http") => Ok(uri),
        Some("https") => Err(LoadError::Https { url: url.into() }),
        _ => Err(LoadError::Scheme { url: url.into() }),
    }
}

/// `Host` first (HTTP/1.1 requires it and hyper's bare connections do not add it), then the
/// configured ones, which may replace it.
fn headers(config: &LoadConfig, uri: &Uri) -> Result<HeaderMap, LoadError> {
    let mut map = HeaderMap::new();
    if let Some(authority) = uri.authority() {
        let host = authority.as_str().rsplit('@').next().unwrap_or(authority.as_str());
        map.insert(HOST, header("host", host)?.1);
    }
    for (name, value) in &config.headers {
        let (name, value) = header(name, value)?;
        if name == HOST {
            map.insert(name, value);
        } else {
            map.append(name, value);
        }
    }
    Ok(map)
}

fn check_settings(config: &LoadConfig) -> Result<(), LoadError> {
    let bad = |setting, expected, found: String| Err(LoadError::Setting { setting, expected, found });
    if let Some(rate) = config.rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return bad("--rate", "a positive number of requests per second", rate.to_string());
    }
    if config.connections == 0 {
        return bad("--connections", "at least 1", "0".into());
    }
    if config.duration.is_zero() {
        return bad("--duration", "longer than zero", "0 s".into());
    }
    if config.timeout.is_zero() {
        return bad("--timeout", "longer than zero", "0 s".into());
    }
    Ok(())
}
