//! The environment fingerprint of a report: the machine (CPU, cores, governor, kernel, load) and
//! the build (weir's version, rustc, profile, commit) — what to check before two reports are
//! compared. What the build knows is the binary's to give ([`Build`]); the machine is read from
//! the kernel where it says (Linux `/proc` and `/sys`), and left out where it does not.

use std::path::Path;
use weir_api::bench::Environment;

/// What the binary knows of its own build.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Build {
    pub weir_version: String,
    pub rustc: Option<String>,
    /// `release` or `debug`.
    pub profile: String,
    pub git_commit: Option<String>,
}

/// This machine, running `build`.
pub fn environment(build: &Build) -> Environment {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    Environment {
        cpu_model: cpu_model(&read("/proc/cpuinfo").unwrap_or_default()),
        cores,
        governor: read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        kernel: read("/proc/sys/kernel/osrelease"),
        hostname: read("/proc/sys/kernel/hostname"),
        rustc: build.rustc.clone(),
        profile: build.profile.clone(),
        weir_version: build.weir_version.clone(),
        git_commit: build.git_commit.clone(),
        load_average: load_average(),
    }
}

/// The 1, 5 and 15 minute load averages, where the kernel tells (`/proc/loadavg`).
pub fn load_average() -> Option<[f64; 3]> {
    parse_loadavg(&read("/proc/loadavg")?)
}

fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([fields.next()?.ok()?, fields.next()?.ok()?, fields.next()?.ok()?])
}

/// The first `model name` of `/proc/cpuinfo` (x86), or its `Model`/`Hardware` line (ARM boards).
fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "Hardware"].iter().find_map(|key| {
        cpuinfo.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_owned())
        })
    })
}

fn read(path: impl AsRef<Path>) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_model_is_the_first_model_name() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(x86).as_deref(), Some("AMD EPYC 7B13"));
        let pi = "processor\t: 0\nBogoMIPS\t: 108.00\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
        assert_eq!(cpu_model(pi).as_deref(), Some("Raspberry Pi 4 Model B Rev 1.4"));
        assert_eq!(cpu_model("processor\t: 0\n"), None);
    }

    #[test]
    fn load_averages_are_the_first_three_fields() {
        assert_eq!(parse_loadavg("0.52 0.58 0.59 1/389 12345\n"), Some([0.52, 0.58, 0.59]));
        assert_eq!(parse_loadavg("0.52"), None);
    }

    #[test]
    fn the_environment_names_this_build_and_machine() {
        let build = Build { weir_version: "0.1.0".into(), profile: "debug".into(), ..Build::default() };
        let env = environment(&build);
        assert!(env.cores >= 1);
        assert_eq!(env.os, std::env::consts::OS);
        assert_eq!((env.weir_version.as_str(), env.profile.as_str()), ("0.1.0", "debug"));
    }
}
