//! Renders a saved bench report in any format: `cargo run -p weir-bench --example render_report
//! -- report.json html > report.html`. It is how the committed screenshot's page can be opened by
//! hand.

use std::io::Write;
use std::process::ExitCode;
use weir_bench::report::{self, Format};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, format] = args.as_slice() else {
        eprintln!("usage: render_report REPORT.json FORMAT");
        return ExitCode::from(2);
    };
    match render(path, format) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render(path: &str, format: &str) -> Result<(), Box<dyn std::error::Error>> {
    let format: Format = format.parse()?;
    let report = report::read(&std::fs::read(path)?)?;
    let mut out = std::io::stdout().lock();
    report::write(format, &report, &mut out)?;
    out.flush()?;
    Ok(())
}
