//! Generated files, written from the code that defines them.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Every generated file and how to make it.
fn files() -> Vec<(&'static str, String)> {
    let schema = weir_pipeline::schema::pipeline_schema(&weir_steps::builtin());
    vec![
        (
            "schema/pipeline.schema.json",
            format!("{}\n", serde_json::to_string_pretty(&schema).unwrap_or_default()),
        ),
        ("docs/diagnostics.md", weir_pipeline::code::reference()),
    ]
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn run(check: bool) -> Result<()> {
    let mut stale = Vec::new();
    for (path, content) in files() {
        let target = root().join(path);
        let current = std::fs::read_to_string(&target).unwrap_or_default();
        if current == content {
            continue;
        }
        if check {
            stale.push(path);
        } else {
            std::fs::write(&target, content).with_context(|| format!("cannot write {path}"))?;
            eprintln!("wrote {path}");
        }
    }
    if !stale.is_empty() {
        bail!(
            "generated files are stale: {}; run `cargo xtask codegen`",
            stale.join(", ")
        );
    }
    Ok(())
}
