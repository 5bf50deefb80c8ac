//! The formatter's promises, checked on data: every file under `tests/data/fmt/` and every
//! pipeline in `examples/` formats idempotently, reads back as the same value and keeps all its
//! comments; small cases pin the canonical style; snapshots show it on whole files.

use super::comments::scan;
use super::format;
use crate::code::Code;
use crate::node;
use crate::source::Source;
use std::path::{Path, PathBuf};

/// Formats `input`, checks the promises, and compares the result with `expected`.
fn check(input: &str, expected: &str) {
    let out = promises("check.yaml", input);
    assert_eq!(out, expected, "formatting:\n{input}");
}

/// Formats a file and asserts that the output reads as the same value, that formatting it again
/// changes nothing, and that every comment is still there. Returns the output.
fn promises(name: &str, input: &str) -> String {
    let source = Source::new(name, input);
    let out = format(&source).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let formatted = Source::new(name, out.clone());
    let after = node::parse(&formatted)
        .unwrap_or_else(|e| panic!("{name}: the output does not parse: {e:?}\n{out}"))
        .to_value();
    let before = node::parse(&source).unwrap().to_value();
    assert_eq!(after, before, "{name}: the meaning changed:\n{out}");
    let again = format(&formatted).unwrap();
    assert_eq!(again, out, "{name}: formatting twice changed the text:\n{out}");
    assert_eq!(comment_texts(&formatted), comment_texts(&source), "{name}: comments differ:\n{out}");
    out
}

fn comment_texts(source: &Source) -> Vec<String> {
    let root = node::parse(source).unwrap();
    let mut texts: Vec<_> = scan(source, &root).into_iter().map(|c| c.text).collect();
    texts.sort();
    texts
}

fn pipeline_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")))
        .collect();
    files.sort();
    files
}

fn corpus(name: &str) -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fmt").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    (path.display().to_string(), text)
}

#[test]
fn the_corpus_keeps_meaning_and_comments_and_is_idempotent() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fmt");
    let files = pipeline_files(&dir);
    assert!(files.len() >= 10, "the corpus is missing: {files:?}");
    for file in files {
        promises(&file.display().to_string(), &std::fs::read_to_string(&file).unwrap());
    }
}

#[test]
fn the_examples_keep_meaning_and_are_idempotent() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let files = pipeline_files(&dir);
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    for file in files {
        promises(&file.display().to_string(), &std::fs::read_to_string(&file).unwrap());
    }
}

#[test]
fn any_string_reads_back_the_same() {
    // Strings made of the pieces that make quoting hard, in every position and combination.
    const PIECES: &[&str] = &[
        "a", " ", "-", ":", "#", "'", "\"", "\\", "\n", "\t", ",", "[", "}", "&", "*", "!", "|", ">", "%",
        "@", "`", "?", "~", "1", ".", "e", "0x", "true", "null", "é", "\u{85}", "\u{2028}", "\r", "\0",
        "---", "🚀",
    ];
    // xorshift: a fixed sequence, so a failure reproduces.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize
    };
    let mut checked = 0;
    for _ in 0..4000 {
        let len = next() % 6;
        let s: String = (0..len).map(|_| PIECES[next() % PIECES.len()]).collect();
        if ["k", "l", "m"].contains(&s.as_str()) {
            continue;
        }
        let quoted = serde_json::to_string(&s).unwrap();
        let input =
            format!("k: {quoted}\nl: [{quoted}, x]\nm:\n  - {quoted}\n  - n: {quoted}\n{quoted}: v\n");
        if node::parse(&Source::new("t.yaml", input.as_str())).is_ok() {
            promises(&format!("string {quoted}"), &input);
            checked += 1;
        }
    }
    assert!(checked > 3000, "only {checked} inputs parsed");
}

#[test]
fn known_blocks_get_the_format_key_order_and_unknown_keys_follow_in_their_order() {
    check(
        "steps:\n  - uses: pass\n    x-note: 1\n    id: a\n    retry: {backoff: {max: 5s, initial: 1s}, attempts: 2}\nx-b: 1\nname: n\nx-a: 2\n",
        "name: n\nsteps:\n  - id: a\n    uses: pass\n    retry:\n      attempts: 2\n      backoff: { initial: 1s, max: 5s }\n    x-note: 1\nx-b: 1\nx-a: 2\n",
    );
    check(
        "tests:\n  - expect: {steps: {}, output: 1}\n    name: t\n",
        "tests:\n  - name: t\n    expect: { output: 1, steps: {} }\n",
    );
}

#[test]
fn free_blocks_keep_the_user_order() {
    check(
        "with:\n  z: 1\n  a: 2\ninput:\n  type: object\n  required: [b, a]\n",
        "input:\n  type: object\n  required: [b, a]\nwith:\n  z: 1\n  a: 2\n",
    );
}

#[test]
fn short_scalar_lists_go_flow_and_mappings_keep_their_style() {
    check("needs:\n  - a\n  - b\n", "needs: [a, b]\n");
    check("a:\n  x: 1\nb: {x: 1}\n", "a:\n  x: 1\nb: { x: 1 }\n");
    check("s:\n  - {id: a, uses: pass}\n", "s:\n  - id: a\n    uses: pass\n");
    let long = format!("needs: [{}]\n", ["step_name_long"; 7].join(", "));
    let block = format!("needs:\n{}", "  - step_name_long\n".repeat(7));
    check(&long, &block);
}

#[test]
fn numbers_keep_their_spelling_and_scalars_are_quoted_only_when_needed() {
    check(
        "a: 1.50\nb: 0x1f\nc: +3\nd: 'true'\ne: '1.5'\nf: \"plain\"\ng: 'say \"hi\"'\nh: \"it's\\t\"\ni: ~\nj: TRUE\n",
        "a: 1.50\nb: 0x1f\nc: +3\nd: 'true'\ne: '1.5'\nf: plain\ng: say \"hi\"\nh: \"it's\\t\"\ni: null\nj: true\n",
    );
    check("a: '\"quoted\"'\nb: 'x: y'\nc: ''\n", "a: '\"quoted\"'\nb: 'x: y'\nc: ''\n");
}

#[test]
fn multi_line_strings_become_literal_blocks_with_the_right_chomping() {
    check(
        "a: \"x\\ny\\n\"\nb: \"x\\ny\"\nc: \"  x\\ny\"\nd: \"x\\n\\n\"\n",
        "a: |\n  x\n  y\nb: |-\n  x\n  y\nc: |2-\n    x\n  y\nd: \"x\\n\\n\"\n",
    );
}

#[test]
fn blank_lines_separate_steps_and_tests_and_survive_only_at_the_top() {
    check(
        "name: n\n\n\nsteps:\n  - id: a\n\n    uses: pass\n  - id: b\n    uses: pass\n\n\n\n  - id: c\n    uses: pass\ntests:\n  - name: x\n  - name: y\n",
        "name: n\n\nsteps:\n  - id: a\n    uses: pass\n\n  - id: b\n    uses: pass\n\n  - id: c\n    uses: pass\ntests:\n  - name: x\n\n  - name: y\n",
    );
}

#[test]
fn comments_follow_what_they_describe() {
    // A trailing comment moves with its key; a full-line one stays above its key.
    check(
        "steps:\n  - uses: pass  # kind\n    # the id\n    id: a\n",
        "steps:\n  # the id\n  - id: a\n    uses: pass  # kind\n",
    );
    // Comments before the first key are the file's header and stay on top.
    check(
        "# header\n\nsteps: []  # none\nname: n\n# end\n",
        "# header\n\nname: n\nsteps: []  # none\n# end\n",
    );
    // A list that becomes flow keeps the comment at the end of its last item.
    check("needs:\n  - a\n  - b  # last\n", "needs: [a, b]  # last\n");
    // Comments inside a flow collection force block style, which has room for them.
    check("l: [a,  # first\n  b]\n", "l:\n  - a  # first\n  - b\n");
    // A `#` inside a string is text; a comment after a block scalar header stays there.
    check("a: 'x # y'  # z\nb: |  # header\n  # text\n", "a: 'x # y'  # z\nb: |  # header\n  # text\n");
}

#[test]
fn aliases_are_expanded_in_place() {
    check("a: &x [1]\nb: *x\nc: &y {k: v}  # c\nd: *y\n", "a: [1]\nb: [1]\nc: { k: v }  # c\nd: { k: v }\n");
}

#[test]
fn json_stays_json_in_the_format_key_order() {
    let source = Source::new(
        "p.json",
        "{\"steps\": [{\"uses\": \"pass\", \"id\": \"a\", \"with\": {\"z\": [], \"a\": 1.50}}], \"name\": \"x\"}",
    );
    assert_eq!(
        format(&source).unwrap(),
        "{\n  \"name\": \"x\",\n  \"steps\": [\n    {\n      \"id\": \"a\",\n      \"uses\": \"pass\",\n      \"with\": {\n        \"z\": [],\n        \"a\": 1.50\n      }\n    }\n  ]\n}\n"
    );
}

#[test]
fn json_with_comments_is_refused_rather_than_losing_them() {
    let errors = format(&Source::new("p.json", "# note\n{\"name\": \"x\"}\n")).unwrap_err();
    assert_eq!(errors[0].code, Code::Syntax);
    assert!(errors[0].message.contains("comment"), "{}", errors[0].message);
}

#[test]
fn syntax_errors_come_back_as_the_parser_reports_them() {
    let source = Source::new("p.yaml", "a: [1, 2\nb: 3\n");
    let errors = format(&source).unwrap_err();
    let parsed = node::parse(&source).unwrap_err();
    assert_eq!(errors.len(), parsed.len());
    assert_eq!(errors[0].message, parsed[0].message);
    assert_eq!(errors[0].span, parsed[0].span);
}

#[test]
fn snapshot_messy_pipeline() {
    let (name, text) = corpus("messy.yaml");
    insta::assert_snapshot!("messy_yaml", promises(&name, &text));
}

#[test]
fn snapshot_comments_everywhere() {
    let (name, text) = corpus("comments.yaml");
    insta::assert_snapshot!("comments_yaml", promises(&name, &text));
}

#[test]
fn snapshot_json_pipeline() {
    let (name, text) = corpus("pipeline.json");
    insta::assert_snapshot!("pipeline_json", promises(&name, &text));
}
