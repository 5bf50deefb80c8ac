//! The process's CPU time, memory, open files and start time, read from `/proc/self` at each
//! scrape. Other systems have no `/proc`: there the families are left out.

use super::{Kind, Spec};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

const CPU: Spec = Spec {
    name: "process_cpu_seconds_total",
    kind: Kind::Counter,
    labels: &[],
    help: "User and system CPU time the process has spent (Linux only)",
    buckets: &[],
};
const RSS: Spec = Spec {
    name: "process_resident_memory_bytes",
    kind: Kind::Gauge,
    labels: &[],
    help: "Resident memory of the process (Linux only)",
    buckets: &[],
};
const FDS: Spec = Spec {
    name: "process_open_fds",
    kind: Kind::Gauge,
    labels: &[],
    help: "File descriptors the process has open (Linux only)",
    buckets: &[],
};
const START: Spec = Spec {
    name: "process_start_time_seconds",
    kind: Kind::Gauge,
    labels: &[],
    help: "When the process started, in seconds since the Unix epoch (Linux only)",
    buckets: &[],
};

pub const CATALOGUE: &[&Spec] = &[&CPU, &RSS, &FDS, &START];

/// Clock ticks per second of `/proc`'s times: `USER_HZ`, which Linux fixes at 100 for what it
/// reports to user space on the architectures weir is built for.
const TICKS: f64 = 100.0;

pub fn register(registry: &mut Registry) {
    registry.register_collector(Box::new(ProcessCollector));
}

#[derive(Debug)]
struct ProcessCollector;

/// What `/proc` says now; a figure that cannot be read is left out.
#[derive(Debug, Default, PartialEq)]
struct Sample {
    cpu_seconds: Option<f64>,
    rss_bytes: Option<i64>,
    open_fds: Option<i64>,
    start_time: Option<f64>,
}

impl Sample {
    fn read() -> Sample {
        let read = |p| std::fs::read_to_string(p).ok();
        let stat = read("/proc/self/stat");
        let stat = stat.as_deref().map(stat_fields);
        let btime = read("/proc/stat").and_then(|s| boot_time(&s));
        Sample {
            cpu_seconds: stat.as_ref().and_then(|f| Some((f.utime? + f.stime?) as f64 / TICKS)),
            rss_bytes: read("/proc/self/status").and_then(|s| rss_bytes(&s)),
            open_fds: std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as i64),
            start_time: stat.and_then(|f| Some(btime? as f64 + f.starttime? as f64 / TICKS)),
        }
    }
}

#[derive(Debug, Default)]
struct StatFields {
    utime: Option<u64>,
    stime: Option<u64>,
    starttime: Option<u64>,
}

/// Fields 14, 15 and 22 of `/proc/self/stat`, counted after the command name (which is in
/// parentheses and may hold spaces).
fn stat_fields(stat: &str) -> StatFields {
    let Some((_, rest)) = stat.rsplit_once(')') else { return StatFields::default() };
    // `rest` starts at field 3 (the state).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse().ok());
    StatFields { utime: field(14), stime: field(15), starttime: field(22) }
}

fn boot_time(stat: &str) -> Option<u64> {
    stat.lines().find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
}

fn rss_bytes(status: &str) -> Option<i64> {
    let kib: i64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?.trim().parse().ok())?;
    Some(kib * 1024)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sample = Sample::read();
        if let Some(cpu) = sample.cpu_seconds {
            let counter = ConstCounter::new(cpu);
            let name = CPU.name.strip_suffix("_total").unwrap_or(CPU.name);
            counter.encode(encoder.encode_descriptor(name, CPU.help, None, counter.metric_type())?)?;
        }
        let gauges = [
            (&RSS, sample.rss_bytes.map(|v| v as f64)),
            (&FDS, sample.open_fds.map(|v| v as f64)),
            (&START, sample.start_time),
        ];
        for (spec, value) in gauges {
            if let Some(value) = value {
                let gauge = ConstGauge::new(value);
                gauge.encode(encoder.encode_descriptor(
                    spec.name,
                    spec.help,
                    None,
                    gauge.metric_type(),
                )?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_of_stat_are_counted_after_a_command_name_with_spaces() {
        let stat = "4242 (weir (a b)) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0 12345 1000 10";
        let fields = stat_fields(stat);
        assert_eq!((fields.utime, fields.stime, fields.starttime), (Some(250), Some(50), Some(12345)));
    }

    #[test]
    fn resident_memory_is_read_in_bytes() {
        assert_eq!(rss_bytes("Name:\tweir\nVmRSS:\t  2048 kB\n"), Some(2048 * 1024));
        assert_eq!(boot_time("cpu 1 2\nbtime 1700000000\n"), Some(1_700_000_000));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_memory_open_files_and_a_start() {
        let s = Sample::read();
        assert!(s.rss_bytes.is_some_and(|b| b > 0) && s.open_fds.is_some_and(|n| n > 0), "{s:?}");
        assert!(s.start_time.is_some_and(|t| t > 1e9) && s.cpu_seconds.is_some(), "{s:?}");
    }
}
