//! The file system as the sysfs meters see it: a trait, so a test can deny a read that root
//! would be allowed (tests often run as root, where a mode-000 file is readable).

use super::Unavailable;
use std::io;
use std::path::{Path, PathBuf};

/// Reads files and lists directories.
pub trait Files: Send {
    fn read_to_string(&self, path: &Path) -> io::Result<String>;
    /// The entries of `dir`, sorted, so meters discover zones in a stable order.
    fn entries(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct Disk;

impl Files for Disk {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn entries(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut entries =
            std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<io::Result<Vec<_>>>()?;
        entries.sort();
        Ok(entries)
    }
}

/// The trimmed contents of a sysfs attribute.
pub(crate) fn read_text(files: &dyn Files, path: &Path) -> Result<String, Unavailable> {
    match files.read_to_string(path) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) => Err(Unavailable::reading(path, e)),
    }
}

/// A sysfs attribute holding one integer (`energy_uj`, `temp`, `core_throttle_count`).
pub(crate) fn read_int<T: std::str::FromStr>(files: &dyn Files, path: &Path) -> Result<T, Unavailable> {
    let text = read_text(files, path)?;
    text.parse().map_err(|_| Unavailable::Malformed {
        path: path.to_owned(),
        expected: "an integer",
        found: text,
    })
}

/// The entries of `dir` whose file name starts with `prefix`; none when `dir` does not exist.
pub(crate) fn entries_named(files: &dyn Files, dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let entries = files.entries(dir).unwrap_or_default();
    entries.into_iter().filter(|p| file_name(p).starts_with(prefix)).collect()
}

/// The last component of a path, as text ("" for none).
pub(crate) fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

#[cfg(test)]
pub(crate) mod testing {
    //! Fixture trees in a temporary directory, and a file system that denies chosen reads.

    use super::{Disk, Files};
    use std::collections::BTreeSet;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A directory under the system's temp dir, removed when dropped.
    pub struct Tree {
        pub root: PathBuf,
    }

    impl Tree {
        /// A fresh, empty tree; `name` and a counter keep parallel tests apart.
        pub fn new(name: &str) -> Tree {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let root = std::env::temp_dir().join(format!("weir-meter-{name}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).expect("create the fixture tree");
            Tree { root }
        }

        /// Writes `contents` at `path` (relative to the root), creating its directories.
        pub fn write(&self, path: &str, contents: &str) -> &Tree {
            let path = self.root.join(path);
            std::fs::create_dir_all(path.parent().expect("a file inside the tree")).expect("create dirs");
            std::fs::write(&path, contents).expect("write a fixture file");
            self
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    /// The disk, except that reading a file whose path ends with one of `denied` fails with
    /// permission denied, as `energy_uj` does for a user who is not root.
    pub struct Denying {
        pub denied: BTreeSet<String>,
    }

    impl Files for Denying {
        fn read_to_string(&self, path: &Path) -> io::Result<String> {
            let text = path.to_string_lossy();
            if self.denied.iter().any(|d| text.ends_with(d.as_str())) {
                return Err(io::Error::from(io::ErrorKind::PermissionDenied));
            }
            Disk.read_to_string(path)
        }

        fn entries(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
            Disk.entries(dir)
        }
    }
}
