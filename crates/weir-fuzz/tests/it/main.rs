//! Every seed of the fuzz targets, and every input fuzzing ever found to crash, through the same
//! functions the targets call: what CI runs of the fuzzing, on the stable toolchain.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().and_then(Path::parent).expect("the workspace root")
}

fn check(target: &str, f: fn(&[u8])) {
    let seeds = weir_fuzz::seeds(root(), target);
    assert!(seeds.len() > 40, "the seeds of {target} were found: {seeds:?}");
    for seed in seeds {
        let data = std::fs::read(&seed).unwrap_or_else(|e| panic!("{}: {e}", seed.display()));
        eprintln!("{target}: {}", seed.display());
        let thread = std::thread::Builder::new().stack_size(weir_fuzz::STACK).spawn(move || f(&data));
        if let Err(panic) = thread.expect("a thread starts").join() {
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn every_validate_seed_and_regression_passes() {
    check("validate", weir_fuzz::validate);
}

#[test]
fn every_run_seed_and_regression_passes() {
    check("run", weir_fuzz::run);
}
