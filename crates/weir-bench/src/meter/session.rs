//! A measurement's meters, sampled on a background thread from [`Session::start`] to
//! [`Session::finish`].

use super::nvml::Nvml;
use super::powermetrics::Powermetrics;
use super::rapl::Rapl;
use super::thermal::{Temperatures, Throttling};
use super::{
    Config, CpuUse, Disk, DomainReading, EnergyMeter, Readings, ThermalSource, Unavailable, estimate,
};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use weir_api::bench::{Energy, EnergyDomain, PowerSample, Quality, ThermalEvent, Warning};

/// The meters of one measurement. Start it just before the measured work and finish it just
/// after: the counters are read at both ends, and every `interval` between them. Dropping it
/// unfinished stops the sampler too (and `powermetrics` with it).
pub struct Session {
    /// Tells the sampler to take its last reading and stop. A channel rather than a flag, so
    /// the sampler's wait between readings ends the moment it is told, not an interval later.
    stop: Sender<()>,
    /// The sampling thread, which hands its state back when it stops; why there is none.
    sampler: Result<JoinHandle<Sampler>, String>,
    tdp_watts: Option<f64>,
}

/// A meter and the readings the session has of it.
struct Active {
    meter: Box<dyn EnergyMeter>,
    /// Its domains when the session started, subtracted at the end.
    first: Vec<DomainReading>,
    latest: Vec<DomainReading>,
}

/// What the sampling thread owns: the meters, and what it has seen of them.
struct Sampler {
    started: Instant,
    meters: Vec<Active>,
    sources: Vec<Box<dyn ThermalSource>>,
    /// "<meter>: <why>" for each meter that exists and could not be read.
    unavailable: Vec<String>,
    events: Vec<ThermalEvent>,
    series: Vec<PowerSample>,
    /// Seconds from the start to the last reading.
    span_s: f64,
}

impl Session {
    /// Opens every meter and thermal source `config` finds, reads them, and starts sampling.
    pub fn start(config: &Config) -> Session {
        let (meters, unavailable) = energy_meters(config);
        Session::spawn(config, Sampler::open(meters, thermal_sources(config), unavailable))
    }

    /// A session over meters and sources the caller opened (another meter, or fakes).
    pub fn with_meters(
        config: &Config,
        meters: Vec<Box<dyn EnergyMeter>>,
        sources: Vec<Box<dyn ThermalSource>>,
    ) -> Session {
        Session::spawn(config, Sampler::open(meters, sources, Vec::new()))
    }

    fn spawn(config: &Config, sampler: Sampler) -> Session {
        let (stop, stopped) = mpsc::channel();
        let interval = config.interval.max(Duration::from_millis(1));
        let thread = std::thread::Builder::new().name("weir-bench-meter".into());
        let sampler = thread.spawn(move || sampler.run(&stopped, interval));
        let sampler = sampler.map_err(|e| format!("meters: cannot start the sampling thread: {e}"));
        Session { stop, sampler, tdp_watts: config.tdp_watts }
    }

    /// Stops sampling, reads every meter a last time and says what the measured work cost:
    /// `iterations` for the energy per iteration, `cpu` for the estimate when nothing measured.
    pub fn finish(self, iterations: u64, cpu: CpuUse) -> Readings {
        // The sampler may have stopped already (it panicked); then there is no one to tell.
        let _ = self.stop.send(());
        let sampler =
            self.sampler.and_then(|t| t.join().map_err(|_| "meters: the sampling thread panicked".into()));
        let sampler = sampler.unwrap_or_else(Sampler::failed);
        let cores =
            std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX));
        let tdp_watts = estimate::tdp_watts(self.tdp_watts, cores);
        sampler.readings(iterations, cpu, Estimate { tdp_watts, cores })
    }
}

/// The energy meters `config` finds, and those that exist and could not be opened.
fn energy_meters(config: &Config) -> (Vec<Box<dyn EnergyMeter>>, Vec<String>) {
    let mut meters: Vec<Box<dyn EnergyMeter>> = Vec::new();
    let mut unavailable = Vec::new();
    let mut add = |name: &str, opened: Result<Option<Box<dyn EnergyMeter>>, Unavailable>| match opened {
        Ok(Some(meter)) => meters.push(meter),
        Ok(None) => {}
        Err(e) => unavailable.push(format!("{name}: {e}")),
    };
    add("rapl", Rapl::open(&config.powercap_root, Box::new(Disk)).map(|m| m.map(boxed)));
    if config.nvml {
        add("nvml", Nvml::open().map(|m| m.map(boxed)));
    }
    if config.powermetrics {
        add("powermetrics", Powermetrics::open(config.interval).map(|m| m.map(boxed)));
    }
    (meters, unavailable)
}

fn boxed(meter: impl EnergyMeter + 'static) -> Box<dyn EnergyMeter> {
    Box::new(meter)
}

/// The thermal sources `config` finds.
fn thermal_sources(config: &Config) -> Vec<Box<dyn ThermalSource>> {
    let mut sources: Vec<Box<dyn ThermalSource>> = Vec::new();
    if let Some(zones) = Temperatures::zones(&config.thermal_root, Box::new(Disk)) {
        sources.push(Box::new(zones));
    }
    if let Some(hwmon) = Temperatures::hwmon(&config.hwmon_root, Box::new(Disk)) {
        sources.push(Box::new(hwmon));
    }
    if let Some(throttling) = Throttling::open(&config.cpu_root, Box::new(Disk)) {
        sources.push(Box::new(throttling));
    }
    sources
}

/// The model the estimate uses: the package's TDP and its logical CPUs.
#[derive(Clone, Copy)]
struct Estimate {
    tdp_watts: f64,
    cores: u32,
}

impl Sampler {
    /// Takes the first reading of every meter; one that cannot be read now is unavailable.
    fn open(
        meters: Vec<Box<dyn EnergyMeter>>,
        mut sources: Vec<Box<dyn ThermalSource>>,
        mut unavailable: Vec<String>,
    ) -> Sampler {
        let mut active = Vec::with_capacity(meters.len());
        for mut meter in meters {
            match meter.read(0.0) {
                Ok(first) => active.push(Active { meter, latest: first.clone(), first }),
                Err(e) => unavailable.push(format!("{}: {e}", meter.name())),
            }
        }
        // Thermal sources report changes; the first poll sets what they change from.
        let events = sources.iter_mut().flat_map(|s| s.poll(0.0)).collect();
        Sampler {
            started: Instant::now(),
            meters: active,
            sources,
            unavailable,
            events,
            series: Vec::new(),
            span_s: 0.0,
        }
    }

    /// A sampler with nothing in it, for a session whose thread was lost.
    fn failed(why: String) -> Sampler {
        Sampler::open(Vec::new(), Vec::new(), vec![why])
    }

    /// Reads every `interval` until told to stop, then reads once more and hands itself back.
    fn run(mut self, stop: &Receiver<()>, interval: Duration) -> Sampler {
        loop {
            match stop.recv_timeout(interval) {
                Err(RecvTimeoutError::Timeout) => self.sample(),
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                    self.sample();
                    return self;
                }
            }
        }
    }

    /// One reading of every meter and source: the power since the last one joins the series.
    fn sample(&mut self) {
        let at_s = self.started.elapsed().as_secs_f64();
        let mut joules = 0.0;
        let mut failed = Vec::new();
        for (i, active) in self.meters.iter_mut().enumerate() {
            match active.meter.read(at_s) {
                Ok(now) => {
                    joules += total(&now) - total(&active.latest);
                    active.latest = now;
                }
                Err(e) => failed.push((i, format!("{}: {e}", active.meter.name()))),
            }
            self.events.extend(active.meter.events());
        }
        for (i, why) in failed.into_iter().rev() {
            self.meters.remove(i);
            self.unavailable.push(why);
        }
        self.events.extend(self.sources.iter_mut().flat_map(|s| s.poll(at_s)));
        let dt = at_s - self.span_s;
        if !self.meters.is_empty() && dt > 0.0 {
            self.series.push(PowerSample { at_s, watts: joules / dt });
        }
        self.span_s = at_s;
    }

    /// The readings at the end: the measured domains, or the estimate when there is none.
    fn readings(self, iterations: u64, cpu: CpuUse, model: Estimate) -> Readings {
        let mut warnings = Vec::new();
        if !self.unavailable.is_empty() {
            warnings.push(unavailable_warning(&self.unavailable));
        }
        let energy = match self.measured() {
            Some((joules, domains)) => Some(energy(joules, domains, self.span_s, iterations)),
            None => estimate::cpu_domain(model.tdp_watts, model.cores, cpu).map(|d| {
                warnings.push(estimated_warning(&d, model));
                energy(d.joules, vec![d], cpu.wall_s, iterations)
            }),
        };
        warnings.extend(throttled_warning(&self.events));
        let unavailable = self.unavailable;
        let energy = energy.map(|e| Energy { series: self.series, unavailable, ..e });
        Readings { energy, thermal: self.events, warnings }
    }

    /// The total and each domain's joules over the session; `None` when no meter has a domain.
    fn measured(&self) -> Option<(f64, Vec<EnergyDomain>)> {
        let mut domains = Vec::new();
        let mut joules = 0.0;
        for active in &self.meters {
            for now in &active.latest {
                let first = active.first.iter().find(|f| f.name == now.name).map_or(0.0, |f| f.joules);
                let domain = EnergyDomain {
                    name: now.name.clone(),
                    quality: now.quality,
                    joules: now.joules - first,
                    mean_watts: per(now.joules - first, self.span_s),
                };
                joules += if now.in_total { domain.joules } else { 0.0 };
                domains.push(domain);
            }
        }
        (!domains.is_empty()).then_some((joules, domains))
    }
}

/// The report's energy over `span_s` seconds: `measured` only when every domain is.
fn energy(joules: f64, domains: Vec<EnergyDomain>, span_s: f64, iterations: u64) -> Energy {
    let measured = domains.iter().all(|d| d.quality == Quality::Measured);
    Energy {
        quality: if measured { Quality::Measured } else { Quality::Estimated },
        joules,
        joules_per_iteration: per(joules, iterations as f64),
        mean_watts: per(joules, span_s),
        domains,
        series: Vec::new(),
        unavailable: Vec::new(),
    }
}

fn unavailable_warning(unavailable: &[String]) -> Warning {
    let message = format!(
        "energy unavailable: {}; docs/bench-energy.md says how to let this user read the meters",
        unavailable.join("; ")
    );
    Warning { code: "energy_unavailable".into(), message }
}

fn estimated_warning(domain: &EnergyDomain, model: Estimate) -> Warning {
    let message = format!(
        "energy is estimated, not measured: {:.1} W TDP of {} CPUs x the measured work's CPU \
         utilisation = {:.1} W; measure it with RAPL (Linux, readable energy_uj), NVML (NVIDIA \
         GPUs) or powermetrics (macOS, as root), or give the machine's TDP with --tdp",
        model.tdp_watts, model.cores, domain.mean_watts
    );
    Warning { code: "energy_estimated".into(), message }
}

/// A warning when the machine throttled or ran hot: the figures may be below what it can do.
fn throttled_warning(events: &[ThermalEvent]) -> Option<Warning> {
    let first = events.first()?;
    let message = format!(
        "the machine throttled or ran hot while measuring ({} thermal events, the first at {:.1} s: \
         {} {}): its figures may be slower than it can do",
        events.len(),
        first.at_s,
        first.source,
        first.detail
    );
    Some(Warning { code: "throttled".into(), message })
}

/// The joules a reading adds to the total.
fn total(readings: &[DomainReading]) -> f64 {
    readings.iter().filter(|r| r.in_total).map(|r| r.joules).sum()
}

/// `amount / over`, or 0 over no time (a report holds no NaN).
fn per(amount: f64, over: f64) -> f64 {
    if over > 0.0 { amount / over } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::files::testing::Tree;
    use std::path::PathBuf;

    /// A meter whose package gains 2 J and whose core subzone gains 1 J at every read, or that
    /// cannot be read at all.
    struct Fake {
        reads: u32,
        denied: bool,
    }

    impl EnergyMeter for Fake {
        fn name(&self) -> &str {
            "fake"
        }

        fn read(&mut self, _at_s: f64) -> Result<Vec<DomainReading>, Unavailable> {
            if self.denied {
                return Err(Unavailable::PermissionDenied { path: "/x/energy_uj".into() });
            }
            let n = f64::from(self.reads);
            self.reads += 1;
            let domain = |name: &str, joules, in_total| DomainReading {
                name: name.into(),
                quality: Quality::Measured,
                joules,
                in_total,
            };
            Ok(vec![domain("fake:package", 2.0 * n, true), domain("fake:package/core", n, false)])
        }
    }

    /// A configuration whose sampler never samples between start and finish: an hour's
    /// interval. That `finish` returns at once is what shows the stop does not wait for it.
    fn config(tree: &Tree) -> Config {
        let under = |dir: &str| -> PathBuf { tree.root.join(dir) };
        Config {
            powercap_root: under("powercap"),
            thermal_root: under("thermal"),
            hwmon_root: under("hwmon"),
            cpu_root: under("cpu"),
            tdp_watts: Some(20.0),
            interval: Duration::from_secs(3600),
            nvml: false,
            powermetrics: false,
        }
    }

    fn codes(readings: &Readings) -> Vec<&str> {
        readings.warnings.iter().map(|w| w.code.as_str()).collect()
    }

    const CPU: CpuUse = CpuUse { user_s: 0.5, sys_s: 0.0, wall_s: 1.0 };

    #[test]
    fn measured_energy_totals_the_package_and_reports_its_subzone() {
        let tree = Tree::new("session-measured");
        let session =
            Session::with_meters(&config(&tree), vec![Box::new(Fake { reads: 0, denied: false })], vec![]);
        let readings = session.finish(4, CPU);
        let energy = readings.energy.as_ref().expect("measured");
        assert_eq!(
            (energy.quality, energy.joules, energy.joules_per_iteration),
            (Quality::Measured, 2.0, 0.5)
        );
        let domains: Vec<_> = energy.domains.iter().map(|d| (d.name.as_str(), d.joules)).collect();
        assert_eq!(domains, [("fake:package", 2.0), ("fake:package/core", 1.0)]);
        assert_eq!(energy.series.len(), 1, "the last reading's power");
        assert_eq!(codes(&readings), Vec::<&str>::new());
    }

    #[test]
    fn an_unreadable_meter_is_unavailable_and_an_estimate_stands_in() {
        let tree = Tree::new("session-denied");
        let session =
            Session::with_meters(&config(&tree), vec![Box::new(Fake { reads: 0, denied: true })], vec![]);
        let readings = session.finish(10, CPU);
        let energy = readings.energy.as_ref().expect("estimated");
        assert_eq!(energy.unavailable, ["fake: permission denied reading /x/energy_uj"]);
        assert_eq!(energy.quality, Quality::Estimated);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        assert_eq!(energy.domains[0].name, "estimate:cpu");
        assert_eq!(energy.mean_watts, 20.0 * (0.5 / cores).min(1.0), "the TDP times the work's utilisation");
        assert_eq!(codes(&readings), ["energy_unavailable", "energy_estimated"]);
    }

    #[test]
    fn start_finds_the_meters_and_sources_of_a_sysfs_tree() {
        let tree = Tree::new("session-sysfs");
        tree.write("powercap/intel-rapl:0/name", "package-0\n");
        tree.write("powercap/intel-rapl:0/energy_uj", "1000000\n");
        tree.write("powercap/intel-rapl:0/max_energy_range_uj", "262143328850\n");
        tree.write("cpu/cpu0/thermal_throttle/core_throttle_count", "0\n");
        let session = Session::start(&config(&tree));
        tree.write("powercap/intel-rapl:0/energy_uj", "6000000\n");
        tree.write("cpu/cpu0/thermal_throttle/core_throttle_count", "2\n");
        let readings = session.finish(5, CPU);
        let energy = readings.energy.as_ref().expect("measured");
        assert_eq!((energy.quality, energy.joules), (Quality::Measured, 5.0));
        let thermal: Vec<_> = readings.thermal.iter().map(|e| (e.source.as_str(), e.kind.as_str())).collect();
        assert_eq!(thermal, [("cpu0", "throttle")]);
        assert_eq!(codes(&readings), ["throttled"]);
    }

    #[test]
    fn a_machine_without_meters_gets_the_estimate_and_no_unavailable_meter() {
        let tree = Tree::new("session-none");
        let readings = Session::start(&config(&tree)).finish(1, CPU);
        let energy = readings.energy.as_ref().expect("estimated");
        assert_eq!((energy.quality, energy.unavailable.len()), (Quality::Estimated, 0));
        assert_eq!(codes(&readings), ["energy_estimated"]);
        let nothing = Session::start(&config(&tree)).finish(0, CpuUse::default());
        assert_eq!(nothing.energy, None, "no wall time, nothing to estimate over");
    }
}
