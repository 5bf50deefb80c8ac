//! The load generator's own ceiling and timing, against a trivial server on 127.0.0.1 that runs
//! on a thread of its own (so, on a 2-core machine, one core each):
//!
//! ```text
//! cargo run --release -p weir-bench --features http --example loopback -- closed 4 5
//! cargo run --release -p weir-bench --features http --example loopback -- open 4 5 1000
//! ```
//!
//! (model, connections, seconds, and the rate of the open model). It prints the requests per
//! second achieved and, for the open model, how late requests went out (corrected minus
//! uncorrected latency: the time from when a request was due to when it was sent).

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weir_bench::load::{self, LoadConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.into());
    let (model, connections, seconds) = (arg(0, "closed"), arg(1, "4").parse()?, arg(2, "5").parse()?);
    let rate = if model == "open" { Some(arg(3, "1000").parse()?) } else { None };
    let url = server()?;
    let config =
        LoadConfig { rate, connections, duration: Duration::from_secs(seconds), ..LoadConfig::new(url) };
    let result = load::run_blocking(config, |_| {})?;
    let per_s = result.completed as f64 / result.wall.as_secs_f64();
    println!(
        "{model}: {per_s:.0} req/s over {:?}; sent {}, dropped {}, late {}, errors {}",
        result.wall, result.sent, result.dropped, result.late, result.errors
    );
    let mut lag: Vec<f64> = result.corrected.iter().zip(&result.uncorrected).map(|(c, u)| c - u).collect();
    let mut latency = result.uncorrected.clone();
    println!("send lag ms: {}", percentiles(&mut lag));
    println!("uncorrected latency ms: {}", percentiles(&mut latency));
    Ok(())
}

fn percentiles(samples: &mut [f64]) -> String {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples.get(((samples.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(f64::NAN);
    format!("p50 {:.3}, p99 {:.3}, p99.9 {:.3}, max {:.3}", at(0.5), at(0.99), at(0.999), at(1.0))
}

/// Answers every request with `200 hello`, keep-alive, on a thread and runtime of its own.
fn server() -> Result<String, Box<dyn std::error::Error>> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}/", listener.local_addr()?);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let Ok(listener) = TcpListener::from_std(listener) else { return };
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(answer(socket));
            }
        })
    });
    Ok(url)
}

/// Answers each request head (none of the generator's have a body here) as it arrives.
async fn answer(mut socket: TcpStream) {
    let _ = socket.set_nodelay(true);
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = socket.read(&mut chunk).await {
        buffer.extend_from_slice(&chunk[..n]);
        while let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            buffer.drain(..at + 4);
            if socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello").await.is_err() {
                return;
            }
        }
    }
}
