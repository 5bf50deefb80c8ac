//! `weir fmt`: rewrites pipeline files in the canonical style, or with `--check` only lists the
//! files that are not in it. The formatting itself is `weir_pipeline::format`; this module reads
//! files, replaces them safely and reports.

use crate::exit::{EXIT_INVALID, EXIT_RUN_FAILED};
use crate::load;
use crate::settings::{Settings, Style, paint};
use anyhow::Result;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use weir_pipeline::Source;

/// How many lines of difference `--check` shows for a file.
const PREVIEW_LINES: usize = 8;

/// Format pipeline files in the canonical style, keeping comments
///
/// Keys in the format's order, two-space indentation, quotes only where needed, one blank line
/// between steps. YAML stays YAML, JSON stays JSON. Directories are searched for `.yaml`, `.yml`
/// and `.json` files. Files are replaced whole (a temporary file renamed over the original), never
/// half-written. Files with syntax errors are reported and left alone. Exit codes: 0 ok, 1 with
/// `--check` when a file would change, 2 when a file is invalid or cannot be read or written.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir fmt pipeline.yaml\n  weir fmt examples/\n  weir fmt --check .        # in CI: fail when a file is not formatted"
)]
pub struct Args {
    /// Pipeline files or directories.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Change nothing: list the files that would change, with a preview, and exit with 1 if any would.
    #[arg(long)]
    check: bool,
}

/// What happened to one file.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Unchanged,
    /// Rewritten, or with `--check`, would be.
    Changed,
    /// Syntax errors, or the file could not be read or written.
    Failed,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let mut outcomes = Vec::new();
    for path in load::expand(&args.files)? {
        outcomes.push(format_file(&path, args.check, settings));
    }
    let count = |o: Outcome| outcomes.iter().filter(|x| **x == o).count();
    let (changed, unchanged, failed) =
        (count(Outcome::Changed), count(Outcome::Unchanged), count(Outcome::Failed));
    if !settings.quiet {
        eprintln!("{}", summary(changed, unchanged, failed, args.check, settings.stderr_color));
    }
    Ok(if failed > 0 {
        ExitCode::from(EXIT_INVALID)
    } else if args.check && changed > 0 {
        // Like a failed test: the files are fine, they are just not formatted.
        ExitCode::from(EXIT_RUN_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// Formats one file, reporting on stderr what happened to it. With `--quiet` a file that was
/// rewritten goes unmentioned; problems, and with `--check` the files that would change, do not.
fn format_file(path: &Path, check: bool, settings: &Settings) -> Outcome {
    let color = settings.stderr_color;
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return failed(&format!("cannot read {}: {e}", path.display()), color),
    };
    let source = Source::new(path.display().to_string(), text);
    let formatted = match weir_pipeline::format::format(&source) {
        Ok(formatted) => formatted,
        Err(diagnostics) => {
            for d in &diagnostics {
                eprint!("{}", weir_pipeline::diag::render(&source, d, color));
            }
            return Outcome::Failed;
        }
    };
    if formatted == source.text() {
        return Outcome::Unchanged;
    }
    if check {
        eprintln!("would reformat {}", path.display());
        eprint!("{}", preview(source.text(), &formatted, color));
        return Outcome::Changed;
    }
    match crate::output::replace(path, &formatted) {
        Ok(()) => {
            if !settings.quiet {
                eprintln!("formatted {}", path.display());
            }
            Outcome::Changed
        }
        Err(e) => failed(&format!("{e:#}"), color),
    }
}

fn failed(message: &str, color: bool) -> Outcome {
    eprintln!("{}: {message}", paint("error", Style::Error, color));
    Outcome::Failed
}

/// The first lines that differ, as a unified diff would show them: where they start, then old
/// lines (`-`), new lines (`+`) and unchanged ones in between, at most `PREVIEW_LINES` of them.
fn preview(old: &str, new: &str, color: bool) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let start = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    if start == old.len() && start == new.len() {
        return "  (only line endings or the final newline differ)\n".to_owned();
    }
    // Diffing a window is enough for a preview, and keeps the quadratic diff small.
    let window = |lines: &[&str]| lines.len().min(start + 4 * PREVIEW_LINES);
    let ops = diff(&old[start..window(&old)], &new[start..window(&new)]);
    let mut out = paint(&format!("@@ line {} @@", start + 1), Style::Dim, color) + "\n";
    for (sign, line) in ops.iter().take(PREVIEW_LINES) {
        let style = match sign {
            '-' => Style::Error,
            '+' => Style::Ok,
            _ => Style::Dim,
        };
        out += &paint(&format!("{sign}{line}"), style, color);
        out.push('\n');
    }
    if ops.len() > PREVIEW_LINES {
        out += &paint(" ...", Style::Dim, color);
        out.push('\n');
    }
    out
}

/// A line diff (longest common subsequence): each line of `a` and `b` with `-`, `+` or ` `.
fn diff<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(char, &'a str)> {
    // common[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] =
                if a[i] == b[j] { common[i + 1][j + 1] + 1 } else { common[i + 1][j].max(common[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut ops) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    ops
}

fn summary(changed: usize, unchanged: usize, failed: usize, check: bool, color: bool) -> String {
    let verb = if check { "would be reformatted" } else { "formatted" };
    let mut text =
        format!("{changed} file{} {verb}, {unchanged} already formatted", super::validate::plural(changed));
    if failed > 0 {
        text += &format!(", {failed} with errors");
    }
    let style = if failed > 0 {
        Style::Error
    } else if check && changed > 0 {
        Style::Warn
    } else {
        Style::Ok
    };
    paint(&text, style, color)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temporary directory.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("weir-fmt-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    const MESSY: &str = "steps:\n- uses: pass  # kind\n  id: a\nname: n\n";
    const CANONICAL: &str = "name: n\nsteps:\n  - id: a\n    uses: pass  # kind\n";

    #[test]
    fn rewrites_a_file_in_place_and_leaves_nothing_behind() {
        let dir = temp_dir("rewrite");
        let file = dir.join("p.yaml");
        fs::write(&file, MESSY).unwrap();
        assert_eq!(format_file(&file, false, &Settings::PIPED), Outcome::Changed);
        assert_eq!(fs::read_to_string(&file).unwrap(), CANONICAL);
        assert_eq!(format_file(&file, false, &Settings::PIPED), Outcome::Unchanged);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "a temporary file was left behind");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn check_changes_nothing() {
        let dir = temp_dir("check");
        let file = dir.join("p.yaml");
        fs::write(&file, MESSY).unwrap();
        assert_eq!(format_file(&file, true, &Settings::PIPED), Outcome::Changed);
        assert_eq!(fs::read_to_string(&file).unwrap(), MESSY);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn files_with_syntax_errors_are_left_alone() {
        let dir = temp_dir("invalid");
        let file = dir.join("p.yaml");
        fs::write(&file, "steps: [a,\n").unwrap();
        assert_eq!(format_file(&file, false, &Settings::PIPED), Outcome::Failed);
        assert_eq!(fs::read_to_string(&file).unwrap(), "steps: [a,\n");
        assert_eq!(format_file(&dir.join("missing.yaml"), false, &Settings::PIPED), Outcome::Failed);
        fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn keeps_permissions_and_symlinks() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = temp_dir("perms");
        let file = dir.join("p.yaml");
        fs::write(&file, MESSY).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.join("link.yaml");
        symlink(&file, &link).unwrap();
        assert_eq!(format_file(&link, false, &Settings::PIPED), Outcome::Changed);
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(&file).unwrap(), CANONICAL);
        assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o640);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn preview_shows_the_first_differing_lines_as_a_diff() {
        assert_eq!(preview("a\nb\nc\nd\n", "a\nB\nc\nd\n", false), "@@ line 2 @@\n-b\n+B\n c\n d\n");
        assert_eq!(
            preview("k: 'x'\n- a\n- b\n", "k: x\n\n- a\n- b\n", false),
            "@@ line 1 @@\n-k: 'x'\n+k: x\n+\n - a\n - b\n"
        );
        let many = "x\n".repeat(10);
        assert_eq!(preview(&many, "", false), format!("@@ line 1 @@\n{} ...\n", "-x\n".repeat(8)));
        assert!(preview("a", "a\n", false).contains("final newline"));
    }
}
