//! The StatsD exporter: each run end, step end and retry is sent in one UDP datagram, from
//! the telemetry's hub within a second of it (sooner when the run waits or ends), with DogStatsD tags (`weir.runs:1|c|#pipeline:p,status:succeeded`), which
//! Datadog, Telegraf and statsd_exporter read. Sending never blocks and never fails a run: a
//! datagram the socket cannot take now is dropped.

use std::fmt::Write;
use std::net::UdpSocket;
use std::time::Duration;

/// Where, and under which prefix, measurements are sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `host:port` of the StatsD server.
    pub addr: String,
    /// What every name starts with, before a `.` (default `weir`).
    pub prefix: String,
}

#[derive(Debug)]
pub struct Statsd {
    socket: UdpSocket,
    prefix: String,
}

impl Statsd {
    /// A socket for `options.addr` (resolved once, now).
    pub fn connect(options: &Options) -> std::io::Result<Statsd> {
        use std::net::ToSocketAddrs;
        let no_address = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "it names no address");
        let target = options.addr.to_socket_addrs()?.next().ok_or_else(no_address)?;
        let any: std::net::SocketAddr =
            if target.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }.parse().map_err(|_| no_address())?;
        let socket = UdpSocket::bind(any)?;
        socket.connect(target)?;
        socket.set_nonblocking(true)?;
        Ok(Statsd { socket, prefix: options.prefix.clone() })
    }

    pub fn run_finished(&self, pipeline: &str, status: &str, took: Duration) {
        let tags = format!("pipeline:{},status:{status}", tag(pipeline));
        let p = &self.prefix;
        self.send(format!("{p}.runs:1|c|#{tags}\n{p}.run_duration:{}|ms|#{tags}", millis(took)));
    }

    pub fn step_ended(&self, pipeline: &str, step: &str, kind: &str, status: &str, took: Duration) {
        let mut tags = step_tags(pipeline, step, kind);
        let _ = write!(tags, ",status:{status}");
        self.send(format!("{}.step_duration:{}|ms|#{tags}", self.prefix, millis(took)));
    }

    pub fn step_retried(&self, pipeline: &str, step: &str, kind: &str) {
        self.send(format!("{}.step_retries:1|c|#{}", self.prefix, step_tags(pipeline, step, kind)));
    }

    fn send(&self, packet: String) {
        // No server listening, or a full buffer: the measurement is lost, the run goes on.
        let _ = self.socket.send(packet.as_bytes());
    }
}

fn step_tags(pipeline: &str, step: &str, kind: &str) -> String {
    format!("pipeline:{},step:{},kind:{}", tag(pipeline), tag(step), tag(kind))
}

/// A tag value without the characters that separate tags and fields.
fn tag(value: &str) -> String {
    value.replace([',', '|', '#', ':', '\n'], "_")
}

fn millis(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_measurement_arrives_as_a_tagged_datagram() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let options = Options { addr: server.local_addr().unwrap().to_string(), prefix: "weir".into() };
        let statsd = Statsd::connect(&options).unwrap();
        statsd.run_finished("or,ders", "succeeded", Duration::from_millis(1500));
        statsd.step_retried("orders", "fetch", "http");
        let mut buf = [0; 512];
        let mut next = || {
            let n = server.recv(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        assert_eq!(
            next(),
            "weir.runs:1|c|#pipeline:or_ders,status:succeeded\nweir.run_duration:1500.000|ms|#pipeline:or_ders,status:succeeded"
        );
        assert_eq!(next(), "weir.step_retries:1|c|#pipeline:orders,step:fetch,kind:http");
    }
}
