//! `GET /metrics` over HTTP/1.1, for Prometheus to scrape a long-running process. Each
//! connection gets one answer and is closed (no keep-alive: a scrape every few seconds does not
//! need it): the registry's text for `GET /metrics` (or `HEAD`), 404 for other paths, 405 for
//! other methods.

use crate::metrics::{CONTENT_TYPE, Metrics};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The most a request head may take; a scrape's is a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen for scrapes on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}

/// A bound listener, not yet serving.
#[derive(Debug)]
pub struct Exporter {
    listener: TcpListener,
}

impl Exporter {
    /// Listens on `addr` (`host:port`; port 0 picks a free one).
    pub async fn bind(addr: &str) -> Result<Exporter, Error> {
        let listener =
            TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr: addr.to_owned(), source })?;
        Ok(Exporter { listener })
    }

    /// The address it listens on, with the port it was given.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Answers scrapes of `metrics` until the future is dropped, each connection on a task of
    /// its own.
    pub async fn serve(self, metrics: Arc<Metrics>) {
        loop {
            let Ok((stream, _)) = self.listener.accept().await else {
                // Out of file descriptors, say: wait, rather than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(READ_TIMEOUT, answer(stream, &metrics)).await;
            });
        }
    }
}

/// Reads one request head and answers it.
async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return respond(&mut stream, "400 Bad Request", "text/plain", "bad request\n", true).await;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = std::str::from_utf8(line).unwrap_or("").split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            respond(&mut stream, "200 OK", CONTENT_TYPE, &metrics.render(), method == "GET").await
        }
        ("GET" | "HEAD", _) => respond(&mut stream, "404 Not Found", "text/plain", "not found\n", true).await,
        _ => respond(&mut stream, "405 Method Not Allowed", "text/plain", "method not allowed\n", true).await,
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
    with_body: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if with_body {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn metrics_are_served_and_other_paths_are_not_found() {
        let exporter = Exporter::bind("127.0.0.1:0").await.unwrap();
        let addr = exporter.local_addr().unwrap();
        let metrics = Arc::new(Metrics::new());
        metrics.runs_in_flight(1);
        tokio::spawn(exporter.serve(metrics));
        let scrape = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(scrape.starts_with("HTTP/1.1 200 OK\r\n"), "{scrape}");
        assert!(scrape.contains(&format!("content-type: {CONTENT_TYPE}\r\n")), "{scrape}");
        assert!(scrape.contains("\nweir_runs_in_flight 1\n"), "{scrape}");
        let other = get(addr, "GET / HTTP/1.1\r\n\r\n").await;
        assert!(other.starts_with("HTTP/1.1 404 Not Found\r\n"), "{other}");
        let post = get(addr, "POST /metrics HTTP/1.1\r\n\r\n").await;
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    }

    #[tokio::test]
    async fn an_address_in_use_is_named() {
        let taken = Exporter::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let err = Exporter::bind(&addr).await.unwrap_err();
        assert!(err.to_string().starts_with(&format!("cannot listen for scrapes on {addr}: ")), "{err}");
    }
}
