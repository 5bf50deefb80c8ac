//! Why a meter could not be read. The report shows each as "<meter>: <error>" in
//! `Energy.unavailable`, so every variant names the file, the call or the process it concerns.

use std::io;
use std::path::{Path, PathBuf};

/// A meter that exists and could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// The file exists and this user may not read it: RAPL's `energy_uj` is root-only on
    /// kernels since 5.10 (CVE-2020-8694).
    #[error("permission denied reading {}", path.display())]
    PermissionDenied { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: expected {expected}, found {found:?}", path.display())]
    Malformed { path: PathBuf, expected: &'static str, found: String },
    /// A call into a vendor library failed (NVML's `nvmlDeviceGetTotalEnergyConsumption`, …).
    #[error("{call} failed for {device}: {detail}")]
    Device { device: String, call: &'static str, detail: String },
    /// A sample of a metering program's output could not be parsed (the meter's name, which
    /// prefixes every unavailability, says which program).
    #[error("sample {index}: {detail}")]
    Sample { index: usize, detail: String },
    /// A metering program could not start, or stopped before the measurement did.
    #[error("{what}")]
    Program { what: String },
}

impl Unavailable {
    /// Files' read errors, with permission denied told apart: it has a remedy the user can act on.
    pub(crate) fn reading(path: &Path, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::PermissionDenied => Unavailable::PermissionDenied { path: path.to_owned() },
            _ => Unavailable::Read { path: path.to_owned(), source },
        }
    }
}
