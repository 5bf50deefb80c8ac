//! A command as a benchmark target: a whole process per iteration, started without a shell (the
//! argv as given), its output discarded, timed from the spawn to the exit.

use anyhow::{Context, Result, bail};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use weir_bench::harness::{Budget, Plan};
use weir_bench::measure::Measured;
use weir_bench::resources::Usage;

/// One command, and what runs before each of its iterations.
#[derive(Clone, Debug)]
pub struct Process {
    pub name: String,
    pub argv: Vec<String>,
    /// A shell command run before each iteration, untimed (`--prepare`: clear a cache, reset a
    /// database).
    pub prepare: Option<String>,
    /// Let the command's output through instead of discarding it.
    pub show_output: bool,
}

impl Process {
    /// Runs `plan` (concurrency 1: processes run one at a time, so they do not compete).
    pub fn measure(&self, plan: &Plan, progress: &dyn Fn(&Budget)) -> Result<Measured> {
        for _ in 0..plan.warmup {
            self.once()?;
        }
        let load_before = weir_bench::fingerprint::load_average();
        let usage = Usage::children();
        let budget = Budget::new(plan.stop);
        let mut samples = Vec::new();
        let mut shown = Instant::now();
        while let Some(index) = budget.claim() {
            self.prepare()?;
            let began = Instant::now();
            let ok = self.once()?;
            samples.push(budget.sample(index, began, ok));
            if shown.elapsed() >= Duration::from_millis(100) {
                progress(&budget);
                shown = Instant::now();
            }
        }
        Ok(Measured {
            name: self.name.clone(),
            warmup: plan.warmup,
            concurrency: 1,
            wall: budget.start().elapsed(),
            samples,
            usage: Some(Usage::children().since(usage)),
            load_before,
            load_after: weir_bench::fingerprint::load_average(),
            ..Measured::default()
        })
    }

    /// One process to its exit; whether it exited 0.
    pub fn once(&self) -> Result<bool> {
        let (program, args) = self.argv.split_first().context("no command to run")?;
        let mut command = Command::new(program);
        command.args(args).stdin(Stdio::null());
        if !self.show_output {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        match command.status() {
            Ok(status) => Ok(status.success()),
            // A program that cannot be found is a mistake in the arguments, found at the first run.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(crate::exit::Failure::Invalid
                .wrap(anyhow::anyhow!("cannot run `{program}`: no such program (on PATH, or at that path)"))),
            Err(e) => Err(anyhow::Error::new(e).context(format!("cannot run `{}`", self.name))),
        }
    }

    fn prepare(&self) -> Result<()> {
        let Some(prepare) = &self.prepare else { return Ok(()) };
        let status = Command::new("sh")
            .args(["-c", prepare])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("cannot run the --prepare command `{prepare}`"))?;
        if !status.success() {
            bail!("the --prepare command `{prepare}` failed ({status})");
        }
        Ok(())
    }
}

/// The commands of `-- prog args… [-- prog args…]`: each `--` starts another.
pub fn split_commands(words: &[String]) -> Vec<Vec<String>> {
    words.split(|w| w == "--").filter(|c| !c.is_empty()).map(<[String]>::to_vec).collect()
}

/// A command line as a person would type it, for names and messages.
pub fn display(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            let plain =
                !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
            if plain { w.clone() } else { format!("'{}'", w.replace('\'', r"'\''")) }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn each_double_dash_starts_another_command() {
        assert_eq!(
            split_commands(&words("python x.py -- weir run a.yaml")),
            [words("python x.py"), words("weir run a.yaml")]
        );
        assert_eq!(split_commands(&words("-- sleep 1 --")), [words("sleep 1")]);
        assert!(split_commands(&[]).is_empty());
    }

    #[test]
    fn a_command_line_is_quoted_only_where_a_shell_needs_it() {
        assert_eq!(display(&words("weir run a.yaml")), "weir run a.yaml");
        let argv = vec!["sh".to_owned(), "-c".to_owned(), "echo 'hi' there".to_owned()];
        assert_eq!(display(&argv), r"sh -c 'echo '\''hi'\'' there'");
    }
}
