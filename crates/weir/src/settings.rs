//! Process-wide settings: environment variables, terminal detection.

use std::io::IsTerminal;

/// Every environment variable weir reads.
pub struct EnvVars;

impl EnvVars {
    /// Set (to anything) to turn off colours (<https://no-color.org>).
    pub const NO_COLOR: &'static str = "NO_COLOR";
}

pub fn stderr_color() -> bool {
    std::env::var_os(EnvVars::NO_COLOR).is_none() && std::io::stderr().is_terminal()
}

/// Whether to colour what goes to stdout: only for a person at a terminal, never into a pipe.
pub fn stdout_color() -> bool {
    std::env::var_os(EnvVars::NO_COLOR).is_none() && std::io::stdout().is_terminal()
}

pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

#[derive(Clone, Copy)]
pub enum Style {
    Error,
    Ok,
    Dim,
    Warn,
}

/// `text` in a terminal style, or plain when `color` is false.
pub fn paint(text: &str, style: Style, color: bool) -> String {
    if !color {
        return text.to_owned();
    }
    let code = match style {
        Style::Error => "1;31",
        Style::Ok => "32",
        Style::Dim => "2",
        Style::Warn => "33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Writes one line to stdout; when stdout is a closed pipe, exits as a process killed by SIGPIPE
/// would (status 141), like other command-line tools.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        #[allow(clippy::disallowed_methods)] // Nothing is left to do once the reader has gone.
        std::process::exit(141);
    }
}
