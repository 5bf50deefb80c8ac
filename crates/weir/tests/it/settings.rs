//! The global flags and environment variables that decide how weir writes: `--color`, NO_COLOR,
//! CLICOLOR_FORCE, WEIR_COLOR and `--quiet`. Tests run weir with stdout and stderr as pipes,
//! where `auto` never colours and no progress is drawn.

use crate::{Scratch, root, scratch, stderr, stdout, weir, weir_env};
use std::fs;

const INVALID: &str = "name: f\nsteps:\n  - { id: a, uses: nope }\n";
const LOGS: &str = "name: l\nsteps:\n  - { id: a, uses: log, with: { message: hi } }\n";
const FAILS: &str = "name: f\nsteps:\n  - { id: a, uses: fail, with: { message: boom } }\n";
const PASSES: &str = "name: t\nsteps:\n  - { id: a, uses: pass, with: { value: 1 } }\ntests:\n  - name: one\n    expect: { output: 1 }\n";
const MESSY: &str = "steps:\n- uses: pass\n  id: a\nname: n\n";

fn files(test: &str) -> Scratch {
    let dir = scratch(test);
    for (name, text) in [
        ("bad.yaml", INVALID),
        ("logs.yaml", LOGS),
        ("fails.yaml", FAILS),
        ("t.yaml", PASSES),
        ("messy.yaml", MESSY),
    ] {
        fs::write(dir.join(name), text).unwrap();
    }
    dir
}

fn coloured(text: &str) -> bool {
    text.contains("\x1b[")
}

/// Whether `weir validate bad.yaml` with `args` before the command and `env` colours its diagnostics.
fn colours_diagnostics(dir: &Scratch, args: &[&str], env: &[(&str, &str)]) -> bool {
    let args: Vec<&str> = args.iter().copied().chain(["validate", "bad.yaml"]).collect();
    let out = weir_env(dir, &args, env);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    coloured(&stderr(&out))
}

#[test]
fn color_always_colours_pipes_and_never_colours_nothing() {
    let dir = files("settings-flag");
    assert!(colours_diagnostics(&dir, &["--color", "always"], &[]));
    assert!(!colours_diagnostics(&dir, &["--color", "never"], &[("CLICOLOR_FORCE", "1")]));
    assert!(!colours_diagnostics(&dir, &[], &[]), "auto does not colour a pipe");
    let test = weir_env(&dir, &["test", "t.yaml", "--color", "always"], &[]);
    assert!(coloured(&stdout(&test)), "stdout is coloured too: {}", stdout(&test));
}

#[test]
fn no_color_and_clicolor_force_decide_auto() {
    let dir = files("settings-env");
    assert!(!colours_diagnostics(&dir, &[], &[("NO_COLOR", "1")]));
    assert!(colours_diagnostics(&dir, &[], &[("CLICOLOR_FORCE", "1")]));
    assert!(!colours_diagnostics(&dir, &[], &[("CLICOLOR_FORCE", "0")]));
    assert!(!colours_diagnostics(&dir, &[], &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]), "NO_COLOR wins");
    assert!(colours_diagnostics(&dir, &[], &[("NO_COLOR", ""), ("CLICOLOR_FORCE", "1")]), "empty is unset");
    assert!(colours_diagnostics(&dir, &["--color", "always"], &[("NO_COLOR", "1")]), "the flag wins");
}

#[test]
fn weir_color_stands_in_for_the_flag() {
    let dir = files("settings-weir-color");
    assert!(colours_diagnostics(&dir, &[], &[("WEIR_COLOR", "always"), ("NO_COLOR", "1")]));
    assert!(!colours_diagnostics(&dir, &["--color", "never"], &[("WEIR_COLOR", "always")]));
    let wrong = weir_env(&dir, &["validate", "bad.yaml"], &[("WEIR_COLOR", "sometimes")]);
    assert_eq!(wrong.status.code(), Some(2));
    let expected = "WEIR_COLOR: expected one of `auto`, `always`, `never`, found `sometimes`";
    assert!(stderr(&wrong).contains(expected), "{}", stderr(&wrong));
    assert_eq!(weir(&dir, &["--color", "sometimes", "validate", "bad.yaml"]).status.code(), Some(2));
}

#[test]
fn quiet_run_prints_only_the_output_wherever_the_flag_is() {
    for args in [
        ["--quiet", "run", "examples/hello.yaml", "--set-str", "who=Ada"],
        ["run", "examples/hello.yaml", "--set-str", "who=Ada", "--quiet"],
        ["run", "-q", "examples/hello.yaml", "--set-str", "who=Ada"],
    ] {
        let out = weir(&root(), &args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "\"Hello, Ada!\"\n", "{args:?}");
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

#[test]
fn quiet_drops_summaries_but_not_problems_or_log_messages() {
    let dir = files("settings-quiet");
    assert!(stderr(&weir(&dir, &["validate", "t.yaml"])).contains("1 file checked"));
    let valid = weir(&dir, &["validate", "t.yaml", "-q"]);
    assert_eq!((valid.status.code(), stderr(&valid)), (Some(0), String::new()));
    let invalid = weir(&dir, &["-q", "validate", "bad.yaml"]);
    assert_eq!(invalid.status.code(), Some(2));
    assert!(stderr(&invalid).contains("error[E0109]") && !stderr(&invalid).contains("checked"));
    let failed = weir(&dir, &["-q", "run", "fails.yaml"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(stderr(&failed).contains("error: run failed"), "{}", stderr(&failed));
    let logs = weir(&dir, &["-q", "run", "logs.yaml"]);
    assert_eq!(stderr(&logs), "[info] a: hi\n");
}

#[test]
fn quiet_fmt_reports_only_files_that_need_attention() {
    let dir = files("settings-quiet-fmt");
    let check = weir(&dir, &["fmt", "--check", "-q", "messy.yaml", "t.yaml"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(stderr(&check).starts_with("would reformat messy.yaml\n"), "{}", stderr(&check));
    assert!(!stderr(&check).contains("already formatted"), "{}", stderr(&check));
    let formatted = weir(&dir, &["-q", "fmt", "messy.yaml"]);
    assert_eq!((formatted.status.code(), stderr(&formatted)), (Some(0), String::new()));
    assert!(fs::read_to_string(dir.join("messy.yaml")).unwrap().starts_with("name: n\n"));
}
