//! Exit codes: what each one means, the `Failure` a command marks an error with when the usual
//! code is not true of it, and the one function that turns an error reaching `main` into a code.
//! Commands that finish and report their own outcome (a failed run, an invalid file) return the
//! code itself; the constants here are the only spelling of it.

use std::fmt;

/// Why a command did not succeed, in the terms scripts see through the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A run or a test case failed, or was cancelled.
    RunFailed,
    /// The input or the usage is wrong: a file that cannot be read, a malformed argument, an
    /// invalid pipeline.
    Invalid,
    /// Something weir needs besides the input is not available, such as the async runtime.
    Infrastructure,
}

impl Failure {
    pub const fn code(self) -> u8 {
        match self {
            Failure::RunFailed => 1,
            Failure::Invalid => 2,
            Failure::Infrastructure => 3,
        }
    }

    /// `error`, marked as this failure for [`code`]; what it prints stays the same.
    pub fn wrap(self, error: anyhow::Error) -> anyhow::Error {
        anyhow::Error::new(Marked { failure: self, error })
    }
}

pub const EXIT_RUN_FAILED: u8 = Failure::RunFailed.code();
pub const EXIT_INVALID: u8 = Failure::Invalid.code();
/// `weir admin check` found problems in the store; 1, as a failed check.
pub const EXIT_PROBLEMS: u8 = 1;
/// `weir health` found something degraded; 1, as a failed check.
pub const EXIT_DEGRADED: u8 = 1;
/// `weir health` found something down: infrastructure unavailable.
pub const EXIT_DOWN: u8 = Failure::Infrastructure.code();
/// `weir diff` found differences; 1 as with diff(1), so scripts can test for "changed".
pub const EXIT_DIFFERENT: u8 = 1;

/// The exit code of an error that reached `main`: that of the `Failure` it was marked with, or 2
/// when it has none, since an unmarked error is about what the user gave weir (a file that
/// cannot be read, a malformed `--set`, a value of the wrong shape).
pub fn code(err: &anyhow::Error) -> u8 {
    let marked = err.chain().find_map(|e| e.downcast_ref::<Marked>());
    marked.map_or(Failure::Invalid, |m| m.failure).code()
}

/// An error and the failure it stands for. It displays as the error and has the error's causes,
/// so `{:#}` prints the same chain with or without the mark.
#[derive(Debug)]
struct Marked {
    failure: Failure,
    error: anyhow::Error,
}

impl fmt::Display for Marked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Marked {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;
    use std::io;

    fn missing_file() -> anyhow::Error {
        let err = std::fs::read_to_string("/nonexistent/weir/p.yaml").context("cannot read p.yaml");
        err.expect_err("the file does not exist")
    }

    #[test]
    fn errors_about_the_input_exit_2() {
        assert_eq!(code(&missing_file()), 2);
        assert_eq!(code(&anyhow::anyhow!("--set \"x\": expected key=value")), 2);
        assert_eq!(code(&Failure::Invalid.wrap(anyhow::anyhow!("bad"))), 2);
    }

    #[test]
    fn marked_errors_exit_with_their_code_under_any_context() {
        let unavailable = Failure::Infrastructure.wrap(io::Error::other("no more threads").into());
        assert_eq!(code(&unavailable), 3);
        assert_eq!(code(&unavailable.context("weir run p.yaml")), 3);
        assert_eq!(code(&Failure::RunFailed.wrap(anyhow::anyhow!("step failed"))), 1);
    }

    #[test]
    fn marking_an_error_changes_nothing_it_prints() {
        let plain = format!("{:#}", missing_file());
        let marked = format!("{:#}", Failure::Infrastructure.wrap(missing_file()));
        assert_eq!(marked, plain);
        assert!(plain.starts_with("cannot read p.yaml: "), "{plain}");
    }
}
