//! Energy and thermal state around a measurement. A [`Session`] opens every meter this machine
//! has (Linux powercap/RAPL, NVIDIA NVML, macOS `powermetrics`) and every thermal source (Linux
//! thermal zones, hwmon sensors, CPU throttle counters), samples them on a background thread
//! while the work runs, and turns what it saw into the report's `Energy` and `ThermalEvent`s.
//!
//! Every figure says how it was obtained: `measured` when a meter counted it, `estimated` when
//! no meter could be read and [`estimate`] modelled it from CPU time and a TDP. A meter that
//! exists but cannot be read (RAPL's `energy_uj` is root-only on recent kernels) is named in
//! `Energy.unavailable` with why; it never shows as 0 W.
//!
//! Meters read through [`Files`] (sysfs) or a small device trait (NVML's `GpuDevice`), so tests
//! drive them with fixture trees and fakes.

mod error;
pub mod estimate;
mod files;
pub mod nvml;
pub mod powermetrics;
pub mod rapl;
mod session;
pub mod thermal;

pub use error::Unavailable;
pub use files::{Disk, Files};
pub use session::Session;

use std::path::PathBuf;
use std::time::Duration;
use weir_api::bench::{Energy, Quality, ThermalEvent, Warning};

/// Where the meters look and how often they sample. The roots are configurable so tests (and
/// containers with sysfs mounted elsewhere) can point them at another tree.
#[derive(Clone, Debug)]
pub struct Config {
    /// The powercap class (`/sys/class/powercap`): RAPL's zones.
    pub powercap_root: PathBuf,
    /// The thermal class (`/sys/class/thermal`): `thermal_zone*`.
    pub thermal_root: PathBuf,
    /// The hwmon class (`/sys/class/hwmon`): `hwmon*`.
    pub hwmon_root: PathBuf,
    /// The CPUs (`/sys/devices/system/cpu`): `cpu*/thermal_throttle`.
    pub cpu_root: PathBuf,
    /// The package TDP the estimate uses when no meter can be read (`--tdp`); `None` for
    /// [`estimate::WATTS_PER_CPU`] per logical CPU.
    pub tdp_watts: Option<f64>,
    /// How often the sampler reads the meters: the power series' resolution, and often enough
    /// that no counter wraps twice between two reads (RAPL's can wrap within minutes).
    pub interval: Duration,
    /// Whether to look for NVIDIA GPUs through NVML.
    pub nvml: bool,
    /// Whether to run `powermetrics` (macOS only, as root).
    pub powermetrics: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            powercap_root: "/sys/class/powercap".into(),
            thermal_root: "/sys/class/thermal".into(),
            hwmon_root: "/sys/class/hwmon".into(),
            cpu_root: "/sys/devices/system/cpu".into(),
            tdp_watts: None,
            interval: Duration::from_millis(100),
            nvml: true,
            powermetrics: true,
        }
    }
}

/// The CPU time the measured work took, for the estimate: the caller knows whose time counts
/// (this process for in-process runs, the children for commands).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuUse {
    pub user_s: f64,
    pub sys_s: f64,
    pub wall_s: f64,
}

/// What a [`Session`] saw, ready for a `Benchmark`.
#[derive(Clone, Debug, PartialEq)]
pub struct Readings {
    /// `None` only when nothing was measured and nothing could be estimated (no wall time).
    pub energy: Option<Energy>,
    pub thermal: Vec<ThermalEvent>,
    pub warnings: Vec<Warning>,
}

/// One domain of a meter: its energy since the meter was opened.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainReading {
    /// `rapl:package-0`, `rapl:package-0/core`, `nvml:gpu0`, `powermetrics:ane`, …
    pub name: String,
    pub quality: Quality,
    /// Joules since the meter was opened, wraparounds accounted for.
    pub joules: f64,
    /// Whether the domain adds to the total. A part of another domain (a package's `core`
    /// subzone) is reported but not added, or the package would count twice.
    pub in_total: bool,
}

/// A source of energy readings. Readings are cumulative, so a missed or late sample loses no
/// energy; only the power series gets coarser.
pub trait EnergyMeter: Send {
    /// `rapl`, `nvml`, `powermetrics`: the prefix of its domains and of its unavailability.
    fn name(&self) -> &str;
    /// Each domain's joules since the meter was opened, `at_s` seconds after the session
    /// started (for meters that integrate power over time).
    fn read(&mut self, at_s: f64) -> Result<Vec<DomainReading>, Unavailable>;
    /// Throttling the meter noticed since the last call (a GPU's clock-throttle reasons);
    /// most meters notice none.
    fn events(&mut self) -> Vec<ThermalEvent> {
        Vec::new()
    }
}

/// A source of thermal events. Polling cannot fail as a whole: one sensor that cannot be read
/// (hwmon sensors often return EIO) is skipped, and the others still count.
pub trait ThermalSource: Send {
    /// `thermal`, `hwmon`, `throttle`.
    fn name(&self) -> &str;
    /// The events since the last poll, stamped `at_s` seconds after the session started.
    fn poll(&mut self, at_s: f64) -> Vec<ThermalEvent>;
}
