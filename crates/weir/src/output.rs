//! Where a command's text goes: stdout, or a file replaced in one step.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `text` to `path`, or to stdout when there is none (through `outln!`, so a closed
/// stdout ends the process the same way for every command).
pub fn write(path: Option<&Path>, text: &str) -> Result<()> {
    match path {
        Some(path) => replace(path, text),
        None => {
            outln!("{}", text.strip_suffix('\n').unwrap_or(text));
            Ok(())
        }
    }
}

/// Replaces the file at `path` with `text` (text or bytes; or creates it). The text goes to a new file in the
/// same directory (a rename across file systems would not be atomic), is synced to disk, and is
/// renamed over `path`: readers see the old file or the new one, never half of one, even if weir
/// is stopped mid-write. An existing file keeps its permissions, and a symlink is followed, so
/// the link stays a link to the new text.
pub fn replace(path: &Path, text: impl AsRef<[u8]>) -> Result<()> {
    let existing = std::fs::canonicalize(path).ok();
    let permissions = existing.as_ref().and_then(|t| std::fs::metadata(t).ok()).map(|m| m.permissions());
    let target = existing.unwrap_or_else(|| path.to_path_buf());
    let temp = temp_path(&target);
    let written = write_new(&temp, text.as_ref(), permissions).and_then(|()| std::fs::rename(&temp, &target));
    if written.is_err() {
        // Best effort: the temporary file is ours and useless now; the original is untouched.
        let _ = std::fs::remove_file(&temp);
    }
    written.with_context(|| format!("cannot write {}", path.display()))
}

fn write_new(path: &Path, bytes: &[u8], permissions: Option<std::fs::Permissions>) -> std::io::Result<()> {
    let mut file = std::fs::File::create_new(path)?;
    file.write_all(bytes)?;
    if let Some(permissions) = permissions {
        file.set_permissions(permissions)?;
    }
    file.sync_all()
}

/// `dir/.name.<pid>.tmp`: hidden, beside the target (a rename across file systems would not be
/// atomic), and unique per process so two weirs writing the same file do not share it.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_file_and_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("weir-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("graph.svg");
        std::fs::write(&file, "old").unwrap();
        replace(&file, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["graph.svg"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("weir-output-fail-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("taken")).unwrap();
        // Renaming a file over a directory fails.
        let err = replace(&dir.join("taken"), "text").unwrap_err();
        assert!(format!("{err:#}").contains("cannot write"));
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["taken"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
