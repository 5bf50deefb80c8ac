//! When the store cannot take a write: a lock held by another process, a full disk. The run
//! stops with a message that says what and who, exit 3, and what it committed stays usable.

use super::{scratch, stderr, stdout, weir_env};
use std::path::Path;

#[test]
fn a_store_locked_too_long_names_the_process_holding_it() {
    let dir = scratch("store-locked");
    let home = dir.join("home");
    let env = [("NO_COLOR", "1"), ("WEIR_HOME", home.to_str().unwrap())];
    let hello = super::root().join("examples/hello.yaml");
    let hello = hello.to_str().unwrap();
    assert!(weir_env(&dir, &["run", hello, "-q"], &env).status.success(), "the store is created");

    // This process takes the write lock, as another writer in the middle of a transaction would.
    let holder = rusqlite::Connection::open(home.join("weir.db")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let out = weir_env(&dir, &["run", hello, "-q"], &env);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("stayed locked by another process for 5 s"), "{err}");
    assert!(err.contains(&format!("held by pid {} (", std::process::id())), "{err}");

    holder.execute_batch("ROLLBACK").unwrap();
    let out = weir_env(&dir, &["run", hello, "-q"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A tmpfs of `size` mounted on `dir` while it lives (mounting needs root; the test says so and
/// passes without it).
struct Tmpfs<'a>(&'a Path);

impl<'a> Tmpfs<'a> {
    fn mount(dir: &'a Path, size: &str) -> Option<Tmpfs<'a>> {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status();
        status.is_ok_and(|s| s.success()).then_some(Tmpfs(dir))
    }

    fn resize(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.0)
            .status()
            .unwrap();
        assert!(status.success(), "the tmpfs grows");
    }
}

impl Drop for Tmpfs<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.0).status();
    }
}

#[test]
fn a_full_disk_stops_the_run_and_what_it_committed_resumes() {
    let dir = scratch("store-full");
    let disk = dir.join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let Some(tmpfs) = Tmpfs::mount(&disk, "512k") else {
        eprintln!("skipped: cannot mount a small tmpfs here (mounting needs root)");
        return;
    };
    // Three thousand items of 140 bytes each fill 512 KiB partway through the run.
    std::fs::write(
        dir.join("big.yaml"),
        "name: big\nsteps:\n  - id: each\n    uses: foreach\n    with:\n      items: '[range(0; 3000)]'\n      \
         step:\n        uses: transform\n        with: { expr: '[range(0; 50)] | map(tostring) | join(\"-\")' }\n",
    )
    .unwrap();
    let home = disk.join("home");
    let env = [("NO_COLOR", "1"), ("WEIR_HOME", home.to_str().unwrap())];
    let out = weir_env(&dir, &["run", "big.yaml", "-q"], &env);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let store = home.join("weir.db");
    assert!(err.contains(&format!("the store at {} is out of space", store.display())), "{err}");
    let id = err.split("`weir resume ").nth(1).and_then(|s| s.split('`').next()).expect("a resume hint");

    // The store reads back as it was at its last commit, and the run goes on from there.
    let shown = weir_env(&dir, &["runs", "show", id, "--json"], &env);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    // `running` when even the run's end could not be written, else failed with the kind
    // `store`: either way, resumable.
    match shown["status"].as_str() {
        Some("running") => {}
        Some("failed") => assert_eq!(shown["error"]["kind"], "store", "{shown}"),
        _ => panic!("{shown}"),
    }
    tmpfs.resize("64m");
    let resumed = weir_env(&dir, &["resume", id, "-c"], &env);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let fresh = weir_env(&dir, &["run", "big.yaml", "-c", "--no-store"], &env);
    assert_eq!(stdout(&resumed), stdout(&fresh));
}
