//! `cargo xtask jq-conformance [--verbose]`: runs jq 1.7.1's own test file (`tests/jq.test`)
//! against weir's jq dialect and prints how many cases pass, fail and are skipped; with
//! `--verbose`, each failing case. The figure is recorded in docs/jq.md.
//!
//! The file is not part of weir. The first run fetches it from PyPI, where the sdist of the
//! `jq` package (its Python bindings, 1.8.0) carries jq 1.7.1's release tarball, and checks its
//! SHA-256; it is kept under `target/` for the next runs. It needs `python3 -m pip` and `tar`.
//!
//! Each program goes the way a pipeline's expression goes: it is validated and compiled as a
//! `transform` step's `expr` (weir's guards and refusals included), then evaluated with its
//! input as `.`, within a time limit. A case's outputs are compared with `[…]` of the program,
//! since weir takes exactly one value from an expression. `%%FAIL` cases pass when validation
//! refuses the program.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;
use weir_pipeline::expr::{Budget, Log, to_val};

/// Where the test file is kept, from the repository root.
const FILE: &str = "target/jq-1.7.1/tests/jq.test";
/// The SHA-256 of jq 1.7.1's `tests/jq.test`.
const SHA256: &str = "35aade216e95e78e63e77011fb4588856a5d04d6ac7be572ad382a3430d8b4d5";
/// The PyPI package whose sdist holds jq 1.7.1's release tarball, and where in it.
const PYPI: &str = "jq==1.8.0";
const SDIST: &str = "jq-1.8.0.tar.gz";
const TARBALL: &str = "jq-1.8.0/deps/jq-1.7.1.tar.gz";
/// How long one case may run before it is stopped and counted as failed.
const CASE_TIME: Duration = Duration::from_secs(10);
/// The stack cases run on: more than `weir_pipeline::expr::MAX_STACK`, as weir gives them.
const STACK: usize = 256 << 20;

/// One test of the file, from its first line (1-based).
#[derive(Debug, PartialEq)]
struct Case {
    line: usize,
    program: String,
    expect: Expect,
}

#[derive(Debug, PartialEq)]
enum Expect {
    /// The program must not compile.
    Fail,
    /// The program, on `input`, gives `outputs` (each a line of JSON text).
    Outputs { input: String, outputs: Vec<String> },
}

/// What became of a case.
enum Verdict {
    Pass,
    Fail(String),
    /// The input or an expected output is not JSON that weir reads (jq.test has a few: `nan`).
    Skip(String),
}

pub fn run(root: &Path, verbose: bool) -> Result<()> {
    let text = test_file(root)?;
    let cases = parse(&text);
    if cases.is_empty() {
        bail!("{FILE} holds no test cases");
    }
    let verdicts = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || cases.iter().map(|c| (c.line, c.program.clone(), verdict(c))).collect::<Vec<_>>())
        .context("cannot start the thread the cases run on")?
        .join()
        .map_err(|_| anyhow::anyhow!("a case panicked"))?;
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for (line, program, verdict) in &verdicts {
        match verdict {
            Verdict::Pass => pass += 1,
            Verdict::Fail(why) => {
                fail += 1;
                if verbose {
                    println!("FAIL {FILE}:{line}: {program}\n     {why}");
                }
            }
            Verdict::Skip(why) => {
                skip += 1;
                if verbose {
                    println!("SKIP {FILE}:{line}: {program}\n     {why}");
                }
            }
        }
    }
    println!("jq 1.7.1 tests/jq.test: {pass} passed, {fail} failed, {skip} skipped, of {}", verdicts.len());
    Ok(())
}

/// The text of jq 1.7.1's `tests/jq.test`: the kept copy, or one fetched now; checked either way.
fn test_file(root: &Path) -> Result<String> {
    let path = root.join(FILE);
    if !path.exists() {
        fetch(root).context("cannot fetch jq 1.7.1's tests/jq.test from PyPI")?;
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {FILE}"))?;
    let digest = sha256(text.as_bytes());
    if digest != SHA256 {
        bail!(
            "{FILE} is not jq 1.7.1's tests/jq.test (SHA-256 {digest}, expected {SHA256}); delete it to fetch it again"
        );
    }
    Ok(text)
}

/// Downloads the sdist of [`PYPI`] and takes `tests/jq.test` out of the jq tarball in it.
fn fetch(root: &Path) -> Result<()> {
    let dir = root.join("target/jq-1.7.1-download");
    std::fs::create_dir_all(&dir)?;
    let command = |program: &str, args: &[&str]| -> Result<()> {
        let status = std::process::Command::new(program)
            .args(args)
            .current_dir(&dir)
            .status()
            .with_context(|| format!("cannot start {program}"))?;
        if !status.success() {
            bail!("`{program} {}` failed ({status})", args.join(" "));
        }
        Ok(())
    };
    eprintln!("fetching jq 1.7.1's tests/jq.test from PyPI ({PYPI}, sdist)");
    command(
        "python3",
        &["-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", PYPI, "-d", "."],
    )?;
    command("tar", &["-xzf", SDIST, TARBALL])?;
    let target = root.join("target");
    let target = target.to_str().context("the target directory's path is not UTF-8")?;
    let tarball = dir.join(TARBALL);
    let tarball = tarball.to_str().context("the download directory's path is not UTF-8")?;
    command("tar", &["-xzf", tarball, "-C", target, "jq-1.7.1/tests/jq.test", "jq-1.7.1/COPYING"])?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The cases of a jq.test file: blocks separated by blank lines, `#` lines are comments; a block
/// is a program, an input and the expected outputs, or `%%FAIL` (or `%%FAIL IGNORE MSG`), a
/// program and the expected error message.
fn parse(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).peekable();
    while let Some((line, first)) = lines.next() {
        if first.trim().is_empty() || first.starts_with('#') {
            continue;
        }
        let mut block = vec![first];
        while let Some((_, l)) = lines.next_if(|(_, l)| !l.trim().is_empty()) {
            block.push(l);
        }
        let case = match block.as_slice() {
            [fail, program, ..] if fail.starts_with("%%FAIL") => {
                Case { line, program: (*program).to_owned(), expect: Expect::Fail }
            }
            [program, input, outputs @ ..] => Case {
                line,
                program: (*program).to_owned(),
                expect: Expect::Outputs {
                    input: (*input).to_owned(),
                    outputs: outputs.iter().map(|o| (*o).to_owned()).collect(),
                },
            },
            _ => continue,
        };
        cases.push(case);
    }
    cases
}

/// Runs one case.
fn verdict(case: &Case) -> Verdict {
    let loaded = load(&case.program);
    let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).collect();
    let Expect::Outputs { input, outputs } = &case.expect else {
        return match loaded.plan {
            None => Verdict::Pass,
            Some(_) => Verdict::Fail("compiled, but jq refuses it".into()),
        };
    };
    if errors.iter().any(|d| d.code == weir_pipeline::Code::RefusedBuiltin) {
        return Verdict::Skip("uses a builtin weir refuses by design (E0123)".into());
    }
    let Some(plan) = &loaded.plan else {
        let messages: Vec<_> = errors.iter().map(|d| d.message.as_str()).collect();
        return Verdict::Fail(format!("refused: {}", messages.join("; ")));
    };
    let (Ok(input), Ok(expected)) = (
        serde_json::from_str::<Value>(input),
        outputs.iter().map(|o| serde_json::from_str(o)).collect::<Result<Vec<Value>, _>>(),
    ) else {
        return Verdict::Skip("the input or an output is not JSON weir reads".into());
    };
    let Some(id) = plan.steps()[0].program("expr") else { return Verdict::Fail("no program".into()) };
    let env = to_val(&json!({}));
    let got =
        within_time(|budget| plan.programs().eval_json(id, to_val(&input), &env, budget, &Log::default()));
    let expected = Value::Array(expected);
    match got {
        Ok(got) if same(&got, &expected) => Verdict::Pass,
        Ok(got) => Verdict::Fail(format!("expected {expected}, got {got}")),
        Err(e) => Verdict::Fail(e.0),
    }
}

/// `program` validated and compiled as the expression of a `transform` step, `[…]` around it.
fn load(program: &str) -> weir_pipeline::Loaded {
    // On a line of its own, so a comment at the end of the program cannot swallow the `)]`.
    let expr = format!("[(\n{program}\n)]");
    let pipeline = json!({"name": "jq", "steps": [{"id": "t", "uses": "transform", "with": {"expr": expr}}]});
    weir_pipeline::load(weir_pipeline::Source::new("jq.test", pipeline.to_string()), &weir_steps::builtin())
}

/// Runs `eval` with a budget that a watchdog stops after [`CASE_TIME`].
fn within_time<T>(eval: impl FnOnce(&Budget) -> T) -> T {
    let stop = AtomicBool::new(false);
    let (done, finished) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let stop = &stop;
        s.spawn(move || {
            if finished.recv_timeout(CASE_TIME).is_err() {
                stop.store(true, Ordering::Relaxed);
            }
        });
        let value = eval(&Budget::until(stop));
        let _ = done.send(());
        value
    })
}

/// Whether two values are equal as jq compares them: numbers by value (`1` is `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_blocks_comments_and_fail_blocks() {
        let text = "# a comment\n\n.a\n{\"a\":1}\n1\n\n%%FAIL\n{(0):1}\njq: error: Object keys must be strings\n\n.[]\n[1,2]\n1\n2\n";
        let cases = parse(text);
        let outputs = |input: &str, outputs: &[&str]| Expect::Outputs {
            input: input.into(),
            outputs: outputs.iter().map(|o| (*o).to_owned()).collect(),
        };
        assert_eq!(
            cases,
            [
                Case { line: 3, program: ".a".into(), expect: outputs("{\"a\":1}", &["1"]) },
                Case { line: 7, program: "{(0):1}".into(), expect: Expect::Fail },
                Case { line: 11, program: ".[]".into(), expect: outputs("[1,2]", &["1", "2"]) },
            ]
        );
        assert!(matches!(verdict(&cases[0]), Verdict::Pass));
        assert!(matches!(verdict(&cases[2]), Verdict::Pass));
    }
}
