//! Linux thermal state: thermal zones and hwmon sensors against their trip points and limits,
//! and the CPUs' throttle counters.
//!
//! Temperatures are edge-triggered: a sensor gives one `temperature` event when it reaches its
//! threshold and another only after it has cooled below it, so a sensor that stays hot does not
//! flood the report. Throttle counters count throttling episodes, so every rise is an event.

use super::files::{entries_named, file_name, read_int, read_text};
use super::{Files, ThermalSource};
use std::path::{Path, PathBuf};
use weir_api::bench::ThermalEvent;

/// A temperature sensor and the threshold it is judged against.
struct Sensor {
    /// `thermal_zone0`, `hwmon1:temp2`.
    source: String,
    /// What it measures (`x86_pkg_temp`, `coretemp Package id 0`).
    label: String,
    input: PathBuf,
    /// Millidegrees Celsius at which it counts as hot, and what that threshold is.
    limit_mc: i64,
    limit: String,
    hot: bool,
}

/// Temperature sensors (thermal zones or hwmon), polled against their thresholds.
pub struct Temperatures {
    name: &'static str,
    files: Box<dyn Files>,
    sensors: Vec<Sensor>,
}

impl Temperatures {
    /// The thermal zones under `root` (`/sys/class/thermal`) that have a passive, hot or
    /// critical trip point; `None` when there is none. Active trip points are left out: they
    /// switch fans on and say nothing about throttling.
    pub fn zones(root: &Path, files: Box<dyn Files>) -> Option<Temperatures> {
        let dirs = entries_named(files.as_ref(), root, "thermal_zone");
        let sensors = dirs.iter().filter_map(|d| zone_sensor(files.as_ref(), d)).collect();
        Temperatures { name: "thermal", files, sensors }.nonempty()
    }

    /// The hwmon sensors under `root` (`/sys/class/hwmon`) that have a `_max` or `_crit` limit;
    /// `None` when there is none.
    pub fn hwmon(root: &Path, files: Box<dyn Files>) -> Option<Temperatures> {
        let mut sensors = Vec::new();
        for dir in entries_named(files.as_ref(), root, "hwmon") {
            let chip = read_text(files.as_ref(), &dir.join("name")).unwrap_or_default();
            for input in entries_named(files.as_ref(), &dir, "temp") {
                sensors.extend(hwmon_sensor(files.as_ref(), &dir, &chip, &input));
            }
        }
        Temperatures { name: "hwmon", files, sensors }.nonempty()
    }

    fn nonempty(self) -> Option<Temperatures> {
        (!self.sensors.is_empty()).then_some(self)
    }
}

/// A thermal zone with its lowest passive, hot or critical trip point.
fn zone_sensor(files: &dyn Files, dir: &Path) -> Option<Sensor> {
    let mut limit: Option<(i64, String)> = None;
    for trip in entries_named(files, dir, "trip_point_") {
        let Some(prefix) = file_name(&trip).strip_suffix("_type") else { continue };
        let Ok(kind) = read_text(files, &trip) else { continue };
        let temp: Option<i64> = read_int(files, &dir.join(format!("{prefix}_temp"))).ok();
        if let (true, Some(temp)) = (matches!(kind.as_str(), "passive" | "hot" | "critical"), temp)
            && temp > 0
            && limit.as_ref().is_none_or(|(t, _)| temp < *t)
        {
            limit = Some((temp, format!("the {kind} trip point")));
        }
    }
    let (limit_mc, limit) = limit?;
    let label = read_text(files, &dir.join("type")).unwrap_or_default();
    let source = file_name(dir).to_owned();
    Some(Sensor { source, label, input: dir.join("temp"), limit_mc, limit, hot: false })
}

/// An hwmon `temp*_input` with the lower of its `_max` and `_crit` limits.
fn hwmon_sensor(files: &dyn Files, dir: &Path, chip: &str, input: &Path) -> Option<Sensor> {
    let sensor = file_name(input).strip_suffix("_input")?;
    let limit_of = |suffix: &str| read_int::<i64>(files, &dir.join(format!("{sensor}_{suffix}"))).ok();
    let limits = [("max", limit_of("max")), ("crit", limit_of("crit"))];
    let (kind, limit_mc) =
        limits.into_iter().filter_map(|(k, l)| Some((k, l.filter(|l| *l > 0)?))).min_by_key(|(_, l)| *l)?;
    let sensor_label = read_text(files, &dir.join(format!("{sensor}_label"))).unwrap_or_default();
    Some(Sensor {
        source: format!("{}:{sensor}", file_name(dir)),
        label: format!("{chip} {sensor_label}").trim().to_owned(),
        input: input.to_owned(),
        limit_mc,
        limit: format!("its {kind} limit"),
        hot: false,
    })
}

/// Degrees Celsius from millidegrees, for details.
fn celsius(millidegrees: i64) -> f64 {
    millidegrees as f64 / 1000.0
}

impl ThermalSource for Temperatures {
    fn name(&self) -> &str {
        self.name
    }

    fn poll(&mut self, at_s: f64) -> Vec<ThermalEvent> {
        let mut events = Vec::new();
        for sensor in &mut self.sensors {
            let Ok(temp) = read_int::<i64>(self.files.as_ref(), &sensor.input) else { continue };
            let hot = temp >= sensor.limit_mc;
            if hot && !sensor.hot {
                let detail = format!(
                    "{} at {:.1} °C, at or above {} ({:.1} °C)",
                    sensor.label,
                    celsius(temp),
                    sensor.limit,
                    celsius(sensor.limit_mc)
                );
                let source = sensor.source.clone();
                events.push(ThermalEvent { at_s, source, kind: "temperature".into(), detail });
            }
            sensor.hot = hot;
        }
        events
    }
}

/// One throttle counter of one CPU.
struct Counter {
    /// `cpu3`.
    cpu: String,
    /// `core_throttle_count` or `package_throttle_count`.
    counter: &'static str,
    path: PathBuf,
    last: u64,
}

/// The CPUs' thermal throttle counters (`cpu*/thermal_throttle/*_throttle_count`, Intel).
pub struct Throttling {
    files: Box<dyn Files>,
    counters: Vec<Counter>,
}

impl Throttling {
    /// The counters under `root` (`/sys/devices/system/cpu`); `None` when there is none. Every
    /// CPU of a package shows the same package counter, so only the package's first CPU's is
    /// kept.
    pub fn open(root: &Path, files: Box<dyn Files>) -> Option<Throttling> {
        let mut counters = Vec::new();
        let mut packages_seen: Vec<String> = Vec::new();
        for dir in entries_named(files.as_ref(), root, "cpu") {
            let cpu = file_name(&dir).to_owned();
            if cpu_number(&cpu).is_none() {
                continue;
            }
            counters.extend(counter(files.as_ref(), &dir, &cpu, "core_throttle_count"));
            let package =
                read_text(files.as_ref(), &dir.join("topology/physical_package_id")).unwrap_or_default();
            if !packages_seen.contains(&package) {
                let found = counter(files.as_ref(), &dir, &cpu, "package_throttle_count");
                if found.is_some() {
                    packages_seen.push(package);
                }
                counters.extend(found);
            }
        }
        counters.sort_by_key(|c| (cpu_number(&c.cpu), c.counter));
        (!counters.is_empty()).then_some(Throttling { files, counters })
    }
}

/// The number of `cpu12`; `None` for the other entries (`cpufreq`, `cpuidle`).
fn cpu_number(dir: &str) -> Option<u32> {
    dir.strip_prefix("cpu")?.parse().ok()
}

fn counter(files: &dyn Files, dir: &Path, cpu: &str, counter: &'static str) -> Option<Counter> {
    let path = dir.join("thermal_throttle").join(counter);
    let last = read_int(files, &path).ok()?;
    Some(Counter { cpu: cpu.to_owned(), counter, path, last })
}

impl ThermalSource for Throttling {
    fn name(&self) -> &str {
        "throttle"
    }

    fn poll(&mut self, at_s: f64) -> Vec<ThermalEvent> {
        let mut events = Vec::new();
        for c in &mut self.counters {
            let Ok(now) = read_int::<u64>(self.files.as_ref(), &c.path) else { continue };
            if now > c.last {
                let detail = format!("{} rose from {} to {now}", c.counter, c.last);
                events.push(ThermalEvent { at_s, source: c.cpu.clone(), kind: "throttle".into(), detail });
            }
            c.last = now;
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::Disk;
    use crate::meter::files::testing::Tree;

    /// The events of a first poll, then of a second one after `change` ran.
    fn check(
        mut source: impl ThermalSource,
        change: impl FnOnce(),
    ) -> (Vec<ThermalEvent>, Vec<ThermalEvent>) {
        let first = source.poll(0.5);
        change();
        (first, source.poll(1.5))
    }

    fn event(at_s: f64, source: &str, kind: &str, detail: &str) -> ThermalEvent {
        ThermalEvent { at_s, source: source.into(), kind: kind.into(), detail: detail.into() }
    }

    #[test]
    fn a_throttle_counter_that_rises_is_an_event_naming_the_cpu_and_the_count() {
        let tree = Tree::new("throttle");
        for cpu in ["cpu0", "cpu1"] {
            tree.write(&format!("{cpu}/thermal_throttle/core_throttle_count"), "4\n");
            tree.write(&format!("{cpu}/thermal_throttle/package_throttle_count"), "9\n");
            tree.write(&format!("{cpu}/topology/physical_package_id"), "0\n");
        }
        tree.write("cpufreq/policy0/scaling_governor", "powersave\n");
        let source = Throttling::open(&tree.root, Box::new(Disk)).expect("counters");
        let (first, second) = check(source, || {
            tree.write("cpu1/thermal_throttle/core_throttle_count", "7\n");
            tree.write("cpu1/thermal_throttle/package_throttle_count", "10\n");
            tree.write("cpu0/thermal_throttle/package_throttle_count", "10\n");
        });
        assert_eq!(first, []);
        let expected = [
            event(1.5, "cpu0", "throttle", "package_throttle_count rose from 9 to 10"),
            event(1.5, "cpu1", "throttle", "core_throttle_count rose from 4 to 7"),
        ];
        assert_eq!(second, expected, "the package counter once, from its first CPU");
    }

    #[test]
    fn a_zone_at_its_passive_trip_point_is_one_temperature_event_while_it_stays_hot() {
        let tree = Tree::new("zone");
        tree.write("thermal_zone0/type", "x86_pkg_temp\n").write("thermal_zone0/temp", "60000\n");
        tree.write("thermal_zone0/trip_point_0_type", "active\n")
            .write("thermal_zone0/trip_point_0_temp", "50000\n");
        tree.write("thermal_zone0/trip_point_1_type", "passive\n")
            .write("thermal_zone0/trip_point_1_temp", "95000\n");
        tree.write("thermal_zone0/trip_point_2_type", "critical\n")
            .write("thermal_zone0/trip_point_2_temp", "105000\n");
        let mut source = Temperatures::zones(&tree.root, Box::new(Disk)).expect("a zone");
        assert_eq!(source.poll(0.1), [], "60 °C is above the active trip point only");
        tree.write("thermal_zone0/temp", "95000\n");
        let detail = "x86_pkg_temp at 95.0 °C, at or above the passive trip point (95.0 °C)";
        assert_eq!(source.poll(0.2), [event(0.2, "thermal_zone0", "temperature", detail)]);
        assert_eq!(source.poll(0.3), [], "still hot: no second event");
    }

    #[test]
    fn an_hwmon_sensor_at_its_crit_limit_is_an_event() {
        let tree = Tree::new("hwmon");
        tree.write("hwmon0/name", "coretemp\n").write("hwmon0/temp1_label", "Package id 0\n");
        tree.write("hwmon0/temp1_input", "70000\n").write("hwmon0/temp1_crit", "100000\n");
        tree.write("hwmon1/name", "acpitz\n").write("hwmon1/temp1_input", "30000\n");
        let source = Temperatures::hwmon(&tree.root, Box::new(Disk)).expect("a sensor");
        let (first, second) = check(source, || {
            tree.write("hwmon0/temp1_input", "100000\n");
        });
        assert_eq!(first, []);
        let detail = "coretemp Package id 0 at 100.0 °C, at or above its crit limit (100.0 °C)";
        assert_eq!(second, [event(1.5, "hwmon0:temp1", "temperature", detail)]);
    }

    #[test]
    fn no_sensors_is_no_source() {
        let tree = Tree::new("thermal-none");
        tree.write("thermal_zone0/type", "acpitz\n").write("thermal_zone0/temp", "30000\n");
        assert!(Temperatures::zones(&tree.root, Box::new(Disk)).is_none(), "a zone without trip points");
        assert!(Temperatures::hwmon(&tree.root.join("absent"), Box::new(Disk)).is_none());
        assert!(Throttling::open(&tree.root, Box::new(Disk)).is_none());
    }
}
