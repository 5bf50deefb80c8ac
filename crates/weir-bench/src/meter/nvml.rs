//! NVIDIA GPUs through NVML: each GPU's total-energy counter (Volta and newer), its power draw
//! where it has no counter, and its clock-throttle reasons as thermal events.
//!
//! The library is loaded when the meter opens (feature `nvml`), so weir builds and runs on
//! machines without a GPU or driver: there the meter is simply absent. Access goes through
//! [`GpuDevice`], so the meter is tested with a fake device, with or without the feature.

use super::{DomainReading, EnergyMeter, Unavailable};
use weir_api::bench::{Quality, ThermalEvent};

/// The NVML calls the meter makes on one GPU.
pub trait GpuDevice: Send {
    /// `gpu0`, by NVML index.
    fn label(&self) -> &str;
    /// Millijoules since the driver loaded; `Ok(None)` when the GPU has no counter (before
    /// Volta).
    fn total_energy_mj(&mut self) -> Result<Option<u64>, Unavailable>;
    /// The power draw in milliwatts.
    fn power_mw(&mut self) -> Result<u32, Unavailable>;
    /// The reasons the clocks are held down now that are about heat or power
    /// (`sw_thermal_slowdown`, `hw_slowdown`, `sw_power_cap`, …); idleness and clocks the user
    /// set are not among them.
    fn throttle_reasons(&mut self) -> Result<Vec<&'static str>, Unavailable>;
}

/// How one GPU's energy is counted.
enum Counting {
    /// From its counter: the value when the meter opened.
    Counter { first_mj: u64 },
    /// By integrating its power draw: the last sample (seconds, watts) and the joules so far.
    Power { last: Option<(f64, f64)>, joules: f64 },
}

struct Gpu {
    device: Box<dyn GpuDevice>,
    counting: Counting,
    /// The throttle reasons at the last read, so a reason gives one event when it starts.
    throttled: Vec<&'static str>,
}

/// The NVML meter: every GPU NVML lists.
pub struct Nvml {
    gpus: Vec<Gpu>,
    events: Vec<ThermalEvent>,
}

impl Nvml {
    /// A meter over `devices`, reading each one's counter (or its power, without one) now.
    pub fn with_devices(devices: Vec<Box<dyn GpuDevice>>) -> Result<Nvml, Unavailable> {
        let mut gpus = Vec::with_capacity(devices.len());
        for mut device in devices {
            let counting = match device.total_energy_mj()? {
                Some(first_mj) => Counting::Counter { first_mj },
                None => Counting::Power { last: None, joules: 0.0 },
            };
            gpus.push(Gpu { device, counting, throttled: Vec::new() });
        }
        Ok(Nvml { gpus, events: Vec::new() })
    }

    /// The GPUs of this machine: `Ok(None)` when NVML or its driver is not installed, or when
    /// there is no GPU; an error when NVML is there and refuses.
    #[cfg(feature = "nvml")]
    pub fn open() -> Result<Option<Nvml>, Unavailable> {
        match real::devices()? {
            Some(devices) if !devices.is_empty() => Ok(Some(Nvml::with_devices(devices)?)),
            _ => Ok(None),
        }
    }

    /// Without the `nvml` feature there is never an NVML meter.
    #[cfg(not(feature = "nvml"))]
    pub fn open() -> Result<Option<Nvml>, Unavailable> {
        Ok(None)
    }
}

impl Gpu {
    /// Joules since the meter opened, at `at_s`.
    fn joules(&mut self, at_s: f64) -> Result<f64, Unavailable> {
        match &mut self.counting {
            Counting::Counter { first_mj } => {
                let now = self.device.total_energy_mj()?.unwrap_or(*first_mj);
                Ok(now.saturating_sub(*first_mj) as f64 / 1000.0)
            }
            Counting::Power { last, joules } => {
                let watts = f64::from(self.device.power_mw()?) / 1000.0;
                if let Some((then, was)) = *last {
                    *joules += (at_s - then).max(0.0) * (was + watts) / 2.0;
                }
                *last = Some((at_s, watts));
                Ok(*joules)
            }
        }
    }

    /// An event for throttle reasons that were not there at the last read.
    fn throttle_event(&mut self, at_s: f64) -> Option<ThermalEvent> {
        let reasons = self.device.throttle_reasons().ok()?;
        let started = reasons.iter().any(|r| !self.throttled.contains(r));
        self.throttled = reasons;
        started.then(|| ThermalEvent {
            at_s,
            source: format!("nvml:{}", self.device.label()),
            kind: "throttle".into(),
            detail: format!("clocks held down: {}", self.throttled.join(", ")),
        })
    }
}

impl EnergyMeter for Nvml {
    fn name(&self) -> &str {
        "nvml"
    }

    fn read(&mut self, at_s: f64) -> Result<Vec<DomainReading>, Unavailable> {
        let mut readings = Vec::with_capacity(self.gpus.len());
        for gpu in &mut self.gpus {
            let joules = gpu.joules(at_s)?;
            self.events.extend(gpu.throttle_event(at_s));
            let name = format!("nvml:{}", gpu.device.label());
            readings.push(DomainReading { name, quality: Quality::Measured, joules, in_total: true });
        }
        Ok(readings)
    }

    fn events(&mut self) -> Vec<ThermalEvent> {
        std::mem::take(&mut self.events)
    }
}

#[cfg(feature = "nvml")]
mod real {
    //! The devices NVML lists, through `nvml-wrapper`.

    use super::{GpuDevice, Unavailable};
    use nvml_wrapper::Nvml;
    use nvml_wrapper::bitmasks::device::ThrottleReasons;
    use nvml_wrapper::error::NvmlError;
    use std::sync::Arc;

    /// The reasons that say heat or power held the clocks down, with their names in events.
    const THERMAL_REASONS: [(ThrottleReasons, &str); 5] = [
        (ThrottleReasons::SW_POWER_CAP, "sw_power_cap"),
        (ThrottleReasons::HW_SLOWDOWN, "hw_slowdown"),
        (ThrottleReasons::SW_THERMAL_SLOWDOWN, "sw_thermal_slowdown"),
        (ThrottleReasons::HW_THERMAL_SLOWDOWN, "hw_thermal_slowdown"),
        (ThrottleReasons::HW_POWER_BRAKE_SLOWDOWN, "hw_power_brake_slowdown"),
    ];

    /// One GPU by index. The library handle is shared: a `Device` borrows it, so the device is
    /// looked up again at every call rather than kept.
    struct RealGpu {
        nvml: Arc<Nvml>,
        index: u32,
        label: String,
    }

    /// Every GPU, or `None` when the library or driver is missing (no NVIDIA GPU here).
    pub(super) fn devices() -> Result<Option<Vec<Box<dyn GpuDevice>>>, Unavailable> {
        let nvml = match Nvml::init() {
            Ok(nvml) => Arc::new(nvml),
            Err(NvmlError::LibloadingError(_) | NvmlError::LibraryNotFound | NvmlError::DriverNotLoaded) => {
                return Ok(None);
            }
            Err(e) => return Err(failed("nvml", "nvmlInit", &e)),
        };
        let count = nvml.device_count().map_err(|e| failed("nvml", "nvmlDeviceGetCount", &e))?;
        let devices = (0..count).map(|index| {
            let gpu = RealGpu { nvml: Arc::clone(&nvml), index, label: format!("gpu{index}") };
            Box::new(gpu) as Box<dyn GpuDevice>
        });
        Ok(Some(devices.collect()))
    }

    fn failed(device: &str, call: &'static str, error: &NvmlError) -> Unavailable {
        Unavailable::Device { device: device.to_owned(), call, detail: error.to_string() }
    }

    impl RealGpu {
        /// Looks the device up and makes one call on it.
        fn call<T>(
            &self,
            f: impl FnOnce(&nvml_wrapper::Device<'_>) -> Result<T, NvmlError>,
        ) -> Result<T, NvmlError> {
            f(&self.nvml.device_by_index(self.index)?)
        }
    }

    impl GpuDevice for RealGpu {
        fn label(&self) -> &str {
            &self.label
        }

        fn total_energy_mj(&mut self) -> Result<Option<u64>, Unavailable> {
            match self.call(|d| d.total_energy_consumption()) {
                Ok(mj) => Ok(Some(mj)),
                Err(NvmlError::NotSupported) => Ok(None),
                Err(e) => Err(failed(&self.label, "nvmlDeviceGetTotalEnergyConsumption", &e)),
            }
        }

        fn power_mw(&mut self) -> Result<u32, Unavailable> {
            self.call(|d| d.power_usage()).map_err(|e| failed(&self.label, "nvmlDeviceGetPowerUsage", &e))
        }

        fn throttle_reasons(&mut self) -> Result<Vec<&'static str>, Unavailable> {
            let reasons = self
                .call(|d| d.current_throttle_reasons())
                .map_err(|e| failed(&self.label, "nvmlDeviceGetCurrentClocksThrottleReasons", &e))?;
            Ok(THERMAL_REASONS.iter().filter(|(r, _)| reasons.contains(*r)).map(|(_, name)| *name).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What the fake GPU answers; shared with the test, which changes it between reads.
    #[derive(Default)]
    struct State {
        energy_mj: Option<u64>,
        power_mw: u32,
        reasons: Vec<&'static str>,
        failing: bool,
    }

    struct Fake(Arc<Mutex<State>>);

    impl Fake {
        fn state(&self) -> std::sync::MutexGuard<'_, State> {
            self.0.lock().expect("the test does not panic holding it")
        }
    }

    impl GpuDevice for Fake {
        fn label(&self) -> &str {
            "gpu0"
        }
        fn total_energy_mj(&mut self) -> Result<Option<u64>, Unavailable> {
            let state = self.state();
            if state.failing {
                let detail = "GPU is lost".into();
                return Err(Unavailable::Device { device: "gpu0".into(), call: "energy", detail });
            }
            Ok(state.energy_mj)
        }
        fn power_mw(&mut self) -> Result<u32, Unavailable> {
            Ok(self.state().power_mw)
        }
        fn throttle_reasons(&mut self) -> Result<Vec<&'static str>, Unavailable> {
            Ok(self.state().reasons.clone())
        }
    }

    fn meter(state: State) -> (Nvml, Arc<Mutex<State>>) {
        let state = Arc::new(Mutex::new(state));
        let meter = Nvml::with_devices(vec![Box::new(Fake(Arc::clone(&state)))]).expect("open");
        (meter, state)
    }

    fn joules(meter: &mut Nvml, at_s: f64) -> f64 {
        let readings = meter.read(at_s).expect("read");
        assert_eq!(readings[0].name, "nvml:gpu0");
        readings[0].joules
    }

    #[test]
    fn energy_is_the_counter_difference_in_joules() {
        let (mut meter, state) = meter(State { energy_mj: Some(1_000_000), ..State::default() });
        state.lock().expect("lock").energy_mj = Some(1_250_500);
        assert_eq!(joules(&mut meter, 1.0), 250.5);
    }

    #[test]
    fn without_a_counter_power_is_integrated_over_time() {
        let (mut meter, state) = meter(State { energy_mj: None, power_mw: 100_000, ..State::default() });
        assert_eq!(joules(&mut meter, 0.0), 0.0);
        state.lock().expect("lock").power_mw = 300_000;
        assert_eq!(joules(&mut meter, 2.0), 400.0, "2 s at a mean of 200 W");
    }

    #[test]
    fn a_throttle_reason_that_starts_is_one_event() {
        let (mut meter, state) = meter(State { energy_mj: Some(0), ..State::default() });
        meter.read(0.1).expect("read");
        assert_eq!(meter.events(), []);
        state.lock().expect("lock").reasons = vec!["sw_thermal_slowdown"];
        meter.read(0.2).expect("read");
        meter.read(0.3).expect("read");
        let detail = "clocks held down: sw_thermal_slowdown".to_owned();
        let expected =
            ThermalEvent { at_s: 0.2, source: "nvml:gpu0".into(), kind: "throttle".into(), detail };
        assert_eq!(meter.events(), [expected]);
    }

    #[test]
    fn a_failing_device_is_unavailable_with_the_call() {
        let (mut meter, state) = meter(State { energy_mj: Some(0), ..State::default() });
        state.lock().expect("lock").failing = true;
        let error = meter.read(1.0).expect_err("fails");
        assert_eq!(error.to_string(), "energy failed for gpu0: GPU is lost");
    }
}
