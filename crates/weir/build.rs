//! What `weir bench` reports of the build it measures with: the compiler, the profile and the
//! commit. Each is best effort: a build outside a git checkout simply has no commit.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Some(version) = output(Command::new(rustc).arg("-V")) {
        println!("cargo:rustc-env=WEIR_BUILD_RUSTC={version}");
    }
    if let Some(commit) = output(Command::new("git").args(["rev-parse", "HEAD"])) {
        println!("cargo:rustc-env=WEIR_BUILD_COMMIT={commit}");
    }
    let profile = std::env::var("PROFILE").unwrap_or_default();
    println!("cargo:rustc-env=WEIR_BUILD_PROFILE={profile}");
    // A checkout changes HEAD; a commit changes the file of the branch HEAD names (or, once
    // refs are packed, `packed-refs`). A path that does not exist would rebuild every time.
    let mut watched = vec!["HEAD".to_owned()];
    watched.extend(output(Command::new("git").args(["symbolic-ref", "-q", "HEAD"])));
    watched.push("packed-refs".into());
    for name in watched {
        let path = output(Command::new("git").args(["rev-parse", "--git-path", &name]));
        if let Some(path) = path.filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
