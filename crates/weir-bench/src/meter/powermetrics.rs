//! macOS `powermetrics`: the CPU, GPU and ANE energy of Apple Silicon, and the system's thermal
//! pressure.
//!
//! `powermetrics --samplers cpu_power,gpu_power,ane_power,thermal -f plist -i N` prints one
//! plist document per sample, each followed by a NUL byte. A sample covers `elapsed_ns` and
//! gives each unit's energy in millijoules (`processor.cpu_energy`, `gpu_energy`, `ane_energy`)
//! and its mean power in milliwatts (`cpu_power`, …); the energy is used where present, the
//! power times the elapsed time otherwise. `thermal_pressure` is `Nominal` on a cool machine
//! and `Moderate`, `Heavy`, `Trapping` or `Sleeping` as it heats. Running it needs root, and
//! only macOS has it; the parser is portable and tested on recorded samples.

use super::{DomainReading, EnergyMeter, Unavailable};
use plist::{Dictionary, Value};
use std::io::{BufRead, BufReader, Read};
use std::process::Child;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use weir_api::bench::{Quality, ThermalEvent};

const PROGRAM: &str = "powermetrics";

/// The units a sample meters, by the prefix of their keys.
const UNITS: [&str; 3] = ["cpu", "gpu", "ane"];

/// One sample of `powermetrics`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The time the sample covers, in seconds.
    pub elapsed_s: f64,
    /// Joules per unit (`cpu`, `gpu`, `ane`) over the sample, for the units it reports.
    pub joules: Vec<(&'static str, f64)>,
    /// `Nominal`, `Moderate`, `Heavy`, … where the `thermal` sampler ran.
    pub thermal_pressure: Option<String>,
}

/// The samples of a recorded stream: its documents, split at NUL bytes.
pub fn parse_stream(stream: &[u8]) -> Vec<Result<Sample, Unavailable>> {
    let documents = stream.split(|b| *b == 0).filter(|d| !d.trim_ascii().is_empty());
    documents.enumerate().map(|(index, d)| parse_sample(d, index)).collect()
}

/// One plist document; `index` numbers it in errors.
pub fn parse_sample(document: &[u8], index: usize) -> Result<Sample, Unavailable> {
    let bad = |detail: String| Unavailable::Sample { index, detail };
    let value = Value::from_reader(std::io::Cursor::new(document)).map_err(|e| bad(e.to_string()))?;
    let top = value.as_dictionary().ok_or_else(|| bad("expected a dictionary at the top".into()))?;
    let elapsed_ns = top.get("elapsed_ns").and_then(number).ok_or_else(|| bad("no elapsed_ns".into()))?;
    let elapsed_s = elapsed_ns / 1e9;
    let processor = top.get("processor").and_then(Value::as_dictionary);
    let gpu = top.get("gpu").and_then(Value::as_dictionary);
    let joules =
        UNITS.iter().filter_map(|unit| Some((*unit, sample_joules(processor, gpu, unit, elapsed_s)?)));
    let joules = joules.collect();
    let thermal_pressure = top.get("thermal_pressure").and_then(Value::as_string).map(str::to_owned);
    Ok(Sample { elapsed_s, joules, thermal_pressure })
}

/// A unit's joules in `processor`, or for the GPU in `gpu` (where older releases put it).
fn sample_joules(
    processor: Option<&Dictionary>,
    gpu: Option<&Dictionary>,
    unit: &str,
    elapsed_s: f64,
) -> Option<f64> {
    let found = processor.and_then(|p| unit_joules(p, unit, elapsed_s));
    found.or_else(|| gpu.filter(|_| unit == "gpu").and_then(|g| unit_joules(g, unit, elapsed_s)))
}

/// A unit's joules in a dictionary: `<unit>_energy` (mJ), or `<unit>_power` (mW) over the sample.
fn unit_joules(dict: &Dictionary, unit: &str, elapsed_s: f64) -> Option<f64> {
    if let Some(mj) = dict.get(&format!("{unit}_energy")).and_then(number) {
        return Some(mj / 1000.0);
    }
    dict.get(&format!("{unit}_power")).and_then(number).map(|mw| mw / 1000.0 * elapsed_s)
}

/// An integer or real plist value as a float.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => i.as_unsigned().map(|u| u as f64).or_else(|| i.as_signed().map(|s| s as f64)),
        Value::Real(r) => Some(*r),
        _ => None,
    }
}

/// The `powermetrics` meter: samples arrive from a stream (the running program, or a
/// recording) on a thread of their own, and each read adds up the ones that arrived.
pub struct Powermetrics {
    /// Parsed samples from the reading thread; it ends, and the channel disconnects, at the
    /// end of the stream.
    samples: Receiver<Result<Sample, Unavailable>>,
    /// Joules per unit since the meter opened.
    joules: Vec<(&'static str, f64)>,
    pressure: String,
    events: Vec<ThermalEvent>,
    /// Whether the stream has ended (every sample it had is counted).
    ended: bool,
    /// The running program, killed when the meter is dropped.
    process: Option<Child>,
}

impl Powermetrics {
    /// A meter over the samples of `stream`, read on a thread of its own so a read never waits
    /// for the next sample.
    pub fn from_reader(stream: impl Read + Send + 'static) -> Powermetrics {
        // Carries each parsed sample to the meter; the sender drops at the end of the stream.
        let (tx, samples) = mpsc::channel();
        // A thread that cannot start drops the sender: the meter then has no domains, and the
        // estimate stands in, as on a machine without the meter.
        let _ = std::thread::Builder::new().name("weir-bench-powermetrics".into()).spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut document = Vec::new();
            let mut index = 0;
            loop {
                document.clear();
                let sample = match reader.read_until(0, &mut document) {
                    Ok(0) => break,
                    Ok(_) => document.strip_suffix(&[0]).unwrap_or(&document),
                    Err(e) => {
                        let what = format!("output could not be read: {e}");
                        let _ = tx.send(Err(Unavailable::Program { what }));
                        break;
                    }
                };
                if sample.trim_ascii().is_empty() {
                    continue;
                }
                if tx.send(parse_sample(sample, index)).is_err() {
                    break;
                }
                index += 1;
            }
        });
        Powermetrics {
            samples,
            joules: Vec::new(),
            pressure: "Nominal".into(),
            events: Vec::new(),
            ended: false,
            process: None,
        }
    }

    /// Starts `powermetrics` sampling every `interval` (at least 100 ms): `Ok(None)` where it is
    /// not installed.
    #[cfg(target_os = "macos")]
    pub fn open(interval: std::time::Duration) -> Result<Option<Powermetrics>, Unavailable> {
        use std::process::{Command, Stdio};
        let ms = interval.as_millis().max(100).to_string();
        let samplers = "cpu_power,gpu_power,ane_power,thermal";
        let mut command = Command::new(PROGRAM);
        command.args(["--samplers", samplers, "-f", "plist", "-i", &ms]);
        let spawned = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Unavailable::Program { what: format!("could not start: {e}") });
            }
        };
        let Some(stdout) = child.stdout.take() else {
            return Err(Unavailable::Program { what: "has no output to read".into() });
        };
        let mut meter = Powermetrics::from_reader(stdout);
        meter.process = Some(child);
        Ok(Some(meter))
    }

    /// Only macOS has `powermetrics`.
    #[cfg(not(target_os = "macos"))]
    pub fn open(_interval: std::time::Duration) -> Result<Option<Powermetrics>, Unavailable> {
        Ok(None)
    }

    fn add(&mut self, sample: Sample, at_s: f64) {
        for (unit, joules) in sample.joules {
            match self.joules.iter_mut().find(|(u, _)| *u == unit) {
                Some((_, total)) => *total += joules,
                None => self.joules.push((unit, joules)),
            }
        }
        let Some(pressure) = sample.thermal_pressure else { return };
        if pressure != self.pressure && pressure != "Nominal" {
            let detail = format!("thermal pressure {pressure} (was {})", self.pressure);
            self.events.push(ThermalEvent {
                at_s,
                source: PROGRAM.into(),
                kind: "thermal_pressure".into(),
                detail,
            });
        }
        self.pressure = pressure;
    }

    /// Why the stream ended: an error when the program exited unsuccessfully (not root).
    fn exit_status(&mut self) -> Result<(), Unavailable> {
        let Some(child) = &mut self.process else { return Ok(()) };
        let Ok(Some(status)) = child.try_wait() else { return Ok(()) };
        if status.success() {
            return Ok(());
        }
        let mut stderr = String::new();
        if let Some(pipe) = &mut child.stderr {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let what = format!("exited with {status}: {}", stderr.trim());
        Err(Unavailable::Program { what })
    }
}

impl EnergyMeter for Powermetrics {
    fn name(&self) -> &str {
        PROGRAM
    }

    fn read(&mut self, at_s: f64) -> Result<Vec<DomainReading>, Unavailable> {
        loop {
            match self.samples.try_recv() {
                Ok(sample) => self.add(sample?, at_s),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.ended = true;
                    self.exit_status()?;
                    break;
                }
            }
        }
        let reading = |(unit, joules): &(&str, f64)| DomainReading {
            name: format!("{PROGRAM}:{unit}"),
            quality: Quality::Measured,
            joules: *joules,
            in_total: true,
        };
        Ok(self.joules.iter().map(reading).collect())
    }

    fn events(&mut self) -> Vec<ThermalEvent> {
        std::mem::take(&mut self.events)
    }
}

impl Drop for Powermetrics {
    fn drop(&mut self) {
        if let Some(child) = &mut self.process {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDING: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/powermetrics/m2-three-samples.plist"
    ));

    fn joules(sample: &Sample) -> Vec<(&'static str, f64)> {
        sample.joules.clone()
    }

    #[test]
    fn a_recorded_stream_parses_into_its_samples() {
        let samples: Vec<Sample> = parse_stream(RECORDING).into_iter().map(|s| s.expect("parses")).collect();
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].elapsed_s, 1.004587125);
        assert_eq!(joules(&samples[0]), [("cpu", 2.314), ("gpu", 0.057), ("ane", 0.0)]);
        let pressures: Vec<_> = samples.iter().map(|s| s.thermal_pressure.as_deref()).collect();
        assert_eq!(pressures, [Some("Nominal"), Some("Moderate"), Some("Heavy")]);
    }

    #[test]
    fn power_is_used_where_a_sample_has_no_energy() {
        let document = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>elapsed_ns</key><integer>500000000</integer>
<key>processor</key><dict><key>cpu_power</key><real>4000.0</real></dict>
<key>gpu</key><dict><key>gpu_power</key><real>1000.0</real></dict>
</dict></plist>"#;
        let sample = parse_sample(document, 0).expect("parses");
        assert_eq!(joules(&sample), [("cpu", 2.0), ("gpu", 0.5)]);
        assert_eq!(sample.thermal_pressure, None);
    }

    #[test]
    fn a_sample_without_elapsed_time_is_an_error_naming_it() {
        let document = b"<plist version=\"1.0\"><dict><key>processor</key><dict/></dict></plist>";
        let error = parse_stream(&[&b"\n"[..], document, b"\0"].concat()).remove(0).expect_err("rejected");
        assert_eq!(error.to_string(), "sample 0: no elapsed_ns");
    }

    #[test]
    fn the_meter_adds_up_samples_and_reports_rising_thermal_pressure() {
        let mut meter = Powermetrics::from_reader(RECORDING);
        let mut readings = meter.read(2.0).expect("read");
        // The reading thread delivers the samples at its own pace; read until the stream ended.
        while !meter.ended {
            std::thread::yield_now();
            readings = meter.read(2.0).expect("read");
        }
        let totals: Vec<_> = readings.iter().map(|r| (r.name.as_str(), (r.joules * 1e3).round())).collect();
        assert_eq!(
            totals,
            [("powermetrics:cpu", 18290.0), ("powermetrics:gpu", 1995.0), ("powermetrics:ane", 39.0)]
        );
        let details: Vec<_> = meter.events().into_iter().map(|e| e.detail).collect();
        assert_eq!(
            details,
            ["thermal pressure Moderate (was Nominal)", "thermal pressure Heavy (was Moderate)"]
        );
    }
}
