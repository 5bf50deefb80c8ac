//! One keep-alive connection and the task that sends its requests: it takes a request from the
//! dispatcher, sends it, reads the whole response, records what happened, and asks for the next.
//! A connection that fails is dropped and opened again before the next request.

use super::config::Template;
use super::result::Outcome;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// A request to send: when it was due (`None` in the closed model: when it is sent), and
/// whether it is measured or warm-up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Job {
    pub intended: Option<Instant>,
    pub measured: bool,
}

/// An idle connection's offer to take one request: the dispatcher fills it. Dropping it unfilled
/// (the dispatcher is done) tells the connection's task to end.
pub(crate) type Slot = oneshot::Sender<Job>;

pub(crate) type Sender = SendRequest<Full<Bytes>>;

/// Live counts of measured requests for progress reports, written by every connection's task and
/// read by the progress ticker; nothing else depends on them (the figures come from `Outcome`s).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub sent: AtomicU64,
    pub completed: AtomicU64,
    pub errors: AtomicU64,
}

/// What every connection's task shares.
pub(crate) struct Shared {
    pub addr: SocketAddr,
    pub template: Template,
    pub timeout: Duration,
    pub counters: Counters,
}

/// Opens a connection and spawns the task that drives it (reads and writes its socket); that task
/// ends when the returned sender is dropped or the peer closes.
pub(crate) async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| describe_io(&e))?;
    // Requests are small and latency is the point: do not let Nagle hold them back. Failing to
    // set it changes timing, not correctness, so it is not an error.
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| describe(&e))?;
    tokio::spawn(async move {
        // Its errors reach the sender's next `send_request`, which records them.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Opens a connection within `timeout`.
pub(crate) async fn connect_within(addr: SocketAddr, timeout: Duration) -> Result<Sender, String> {
    match tokio::time::timeout(timeout, connect(addr)).await {
        Ok(result) => result,
        Err(_) => Err(format!("connect timed out after {timeout:?}")),
    }
}

/// One connection's task: serves jobs until the dispatcher stops handing them out, and returns
/// the outcomes of the measured ones.
pub(crate) async fn serve(shared: Arc<Shared>, sender: Sender, idle: mpsc::Sender<Slot>) -> Vec<Outcome> {
    let mut connection = Some(sender);
    let mut outcomes = Vec::new();
    while let Some(job) = next_job(&idle).await {
        if job.measured {
            shared.counters.sent.fetch_add(1, Ordering::Relaxed);
        }
        let outcome = send(&shared, &mut connection, job).await;
        if job.measured {
            let counter =
                if outcome.status.is_ok() { &shared.counters.completed } else { &shared.counters.errors };
            counter.fetch_add(1, Ordering::Relaxed);
            outcomes.push(outcome);
        }
    }
    outcomes
}

/// Offers this connection to the dispatcher and waits for a job; `None` once the dispatcher is done.
async fn next_job(idle: &mpsc::Sender<Slot>) -> Option<Job> {
    // The one-shot channel carries the one job handed to this connection for this offer.
    let (slot, job) = oneshot::channel();
    idle.send(slot).await.ok()?;
    job.await.ok()
}

/// Sends one request on the connection (opened again first if it was lost) and reads the whole
/// response, within the timeout; a connection that failed or timed out is dropped.
async fn send(shared: &Shared, connection: &mut Option<Sender>, job: Job) -> Outcome {
    let sent = Instant::now();
    let intended = job.intended.unwrap_or(sent);
    let status = match usable(shared, connection).await {
        Ok(sender) => match tokio::time::timeout(shared.timeout, exchange(sender, &shared.template)).await {
            Ok(status) => status,
            Err(_) => Err(format!("timed out after {:?}", shared.timeout)),
        },
        Err(error) => Err(error),
    };
    if status.is_err() {
        *connection = None;
    }
    Outcome { intended, sent, done: Instant::now(), status }
}

/// The connection, opened again if it is gone or the server closed it.
async fn usable<'c>(shared: &Shared, connection: &'c mut Option<Sender>) -> Result<&'c mut Sender, String> {
    if connection.as_ref().is_none_or(|sender| sender.is_closed()) {
        *connection = Some(connect_within(shared.addr, shared.timeout).await?);
    }
    connection.as_mut().ok_or_else(|| "no connection".to_string())
}

/// Request out, response in, body read to its end (and discarded) so the connection can be
/// reused: the latency ends with the last byte.
async fn exchange(sender: &mut Sender, template: &Template) -> Result<u16, String> {
    sender.ready().await.map_err(|e| describe(&e))?;
    let response = sender.send_request(template.request()).await.map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame.map_err(|e| describe(&e))?;
    }
    Ok(status)
}

/// An error with its causes, as one line: hyper's own message says what broke ("connection
/// closed before message completed"), its source often why.
fn describe(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line = format!("{line}: {cause}");
        source = cause.source();
    }
    line
}

/// `connection refused` rather than `Connection refused (os error 111)`: the message a user
/// reads in "cannot connect to 127.0.0.1:9: connection refused".
fn describe_io(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset | io::ErrorKind::TimedOut => {
            error.kind().to_string()
        }
        _ => error.to_string(),
    }
}
