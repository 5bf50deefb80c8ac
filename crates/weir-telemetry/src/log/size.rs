//! A log file that rolls over by size: `NAME` is written until the next line would take it past
//! the limit, then it becomes `NAME.1`, the older ones move up (`NAME.1` to `NAME.2`, …), and
//! those beyond the retention count are deleted.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

#[derive(Debug)]
pub struct SizeRolling {
    path: PathBuf,
    max_size: u64,
    /// How many rolled-over files are kept besides the current one.
    retention: usize,
    file: File,
    /// The current file's size.
    written: u64,
}

impl SizeRolling {
    /// Appends to `path` (created when missing).
    pub fn open(path: PathBuf, max_size: u64, retention: usize) -> io::Result<SizeRolling> {
        let file = append(&path)?;
        let written = file.metadata()?.len();
        Ok(SizeRolling { path, max_size: max_size.max(1), retention, file, written })
    }

    fn rolled(&self, n: usize) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        name.into()
    }

    fn roll(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let _ = std::fs::remove_file(self.rolled(self.retention.max(1)));
        for n in (1..self.retention).rev() {
            let _ = std::fs::rename(self.rolled(n), self.rolled(n + 1));
        }
        if self.retention == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            std::fs::rename(&self.path, self.rolled(1))?;
        }
        self.file = append(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

fn append(path: &std::path::Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Write for SizeRolling {
    /// Writes whole: a line is never split across two files (the non-blocking writer hands it
    /// one line at a time).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + buf.len() as u64 > self.max_size {
            self.roll()?;
        }
        self.file.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_roll_over_at_the_size_and_only_the_retention_is_kept() {
        let dir = std::env::temp_dir().join(format!("weir-size-rolling-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("weir.log");
        let mut log = SizeRolling::open(path.clone(), 6, 2).unwrap();
        for line in ["one\n", "two\n", "three\n", "four\n", "five\n"] {
            log.write_all(line.as_bytes()).unwrap();
        }
        log.flush().unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        assert_eq!(read("weir.log").as_deref(), Some("five\n"));
        assert_eq!(read("weir.log.1").as_deref(), Some("four\n"));
        assert_eq!(read("weir.log.2").as_deref(), Some("three\n"));
        assert_eq!(read("weir.log.3"), None, "beyond the retention");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        files.sort();
        assert_eq!(files, ["weir.log", "weir.log.1", "weir.log.2"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
