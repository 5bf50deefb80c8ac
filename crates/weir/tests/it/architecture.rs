//! ARCHITECTURE.md's invariants, checked mechanically: the pipeline model and the engine depend
//! on no HTTP server or client, no SQL, no config-file crate; the model needs no async runtime;
//! only the binary's `settings.rs` reads the environment or asks whether a stream is a terminal;
//! only the binaries use the crates of the binary edge.

use serde_json::Value;
use std::collections::{HashMap, HashSet};

const SERVER_SQL_CONFIG: &[&str] = &[
    "axum",
    "hyper",
    "reqwest",
    "tower",
    "sqlx",
    "rusqlite",
    "postgres",
    "tokio-postgres",
    "figment",
    "toml",
    "config",
];

/// Crates of the binary edge: errors with context for people, arguments, progress bars. A library
/// returns typed errors and leaves the terminal to its caller.
const BINARY_EDGE: &[&str] = &["anyhow", "clap", "indicatif"];

/// The workspace's binaries, the only crates that may depend on [`BINARY_EDGE`].
const BINARIES: &[&str] = &["weir", "xtask"];

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(crate::root())
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("metadata JSON")
}

/// Names of the workspace's crates, as cargo lists them (so a new crate is covered).
fn members(metadata: &Value) -> Vec<&str> {
    let ids: Vec<&Value> =
        metadata["workspace_members"].as_array().expect("workspace members").iter().collect();
    let packages = metadata["packages"].as_array().expect("packages");
    packages.iter().filter(|p| ids.contains(&&p["id"])).filter_map(|p| p["name"].as_str()).collect()
}

/// Names of the crates `package` depends on at run time (normal dependencies, transitively).
fn runtime_closure(metadata: &Value, package: &str) -> HashSet<String> {
    let nodes = metadata["resolve"]["nodes"].as_array().expect("resolve graph");
    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let id_of = |name: &str| {
        names.iter().find(|(_, n)| **n == name).map(|(id, _)| *id).expect("package in workspace")
    };
    let mut seen = HashSet::new();
    let mut todo = vec![id_of(package)];
    while let Some(id) = todo.pop() {
        let Some(node) = nodes.iter().find(|n| n["id"] == id) else {
            continue;
        };
        for dep in node["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap_or_default();
            if normal && seen.insert(names.get(dep_id).copied().unwrap_or_default().to_owned()) {
                todo.push(dep_id);
            }
        }
    }
    seen
}

#[test]
fn core_crates_stay_free_of_servers_sql_and_config_files() {
    let metadata = metadata();
    for package in ["weir-pipeline", "weir-engine"] {
        let deps = runtime_closure(&metadata, package);
        let bad: Vec<&&str> = SERVER_SQL_CONFIG.iter().filter(|c| deps.contains(**c)).collect();
        assert!(bad.is_empty(), "{package} depends on {bad:?}");
    }
    let pipeline = runtime_closure(&metadata, "weir-pipeline");
    assert!(!pipeline.contains("tokio"), "weir-pipeline must not need an async runtime");
    assert!(runtime_closure(&metadata, "weir-steps").contains("reqwest"), "the check sees real dependencies");
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable source directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_settings_reads_the_environment_and_the_terminal() {
    let settings = crate::root().join("crates/weir/src/settings.rs");
    let mut files = Vec::new();
    for krate in std::fs::read_dir(crate::root().join("crates")).expect("crates") {
        rust_files(&krate.expect("entry").path().join("src"), &mut files);
    }
    assert!(files.contains(&settings), "the scan sees the binary's sources");
    let readers: Vec<String> = files
        .iter()
        .filter(|f| **f != settings)
        .filter(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            ["env::var", "is_terminal()"].iter().any(|call| text.contains(call))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(readers.is_empty(), "read the environment or the terminal through settings.rs: {readers:?}");
}

#[test]
fn only_the_binaries_depend_on_anyhow_clap_and_indicatif() {
    let metadata = metadata();
    let members = members(&metadata);
    for library in ["weir-pipeline", "weir-engine", "weir-steps"] {
        assert!(members.contains(&library), "{library} is not among the workspace members {members:?}");
    }
    for package in members.iter().filter(|m| !BINARIES.contains(m)) {
        let deps = runtime_closure(&metadata, package);
        let bad: Vec<&&str> = BINARY_EDGE.iter().filter(|c| deps.contains(**c)).collect();
        assert!(
            bad.is_empty(),
            "library {package} depends on {bad:?} (directly or through another crate); only {BINARIES:?} may"
        );
    }
    let weir = runtime_closure(&metadata, "weir");
    assert!(BINARY_EDGE.iter().all(|c| weir.contains(*c)), "the check sees real dependencies");
}
