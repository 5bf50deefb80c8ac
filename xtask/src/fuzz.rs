//! `cargo xtask fuzz-seed`: copies the seeds of each fuzz target (`weir_fuzz::seeds`, the same
//! list the test suite runs) into `fuzz/corpus/<target>/`, where `cargo fuzz run` starts from.

use anyhow::Context;
use std::path::Path;

pub fn seed(root: &Path) -> anyhow::Result<()> {
    for target in weir_fuzz::TARGETS {
        let dir = root.join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let seeds = weir_fuzz::seeds(root, target);
        for seed in &seeds {
            // Flattened names: `tests/data/a/pipeline.yaml` becomes `tests-data-a-pipeline.yaml`.
            let relative = seed.strip_prefix(root).unwrap_or(seed).to_string_lossy().replace('/', "-");
            std::fs::copy(seed, dir.join(&relative))
                .with_context(|| format!("copying {}", seed.display()))?;
        }
        println!("{target}: {} seeds in {}", seeds.len(), dir.display());
    }
    Ok(())
}
