use super::*;

fn parse_str(text: &str) -> Result<Node, Vec<Diagnostic>> {
    parse(&Source::new("t.yaml", text))
}

#[test]
fn resolves_scalars_with_the_core_schema() {
    let node = parse_str("a: 1\nb: 1.5\nc: 1.2.0\nd: on\ne: ~\nf: true\ng: '7'\nh: 0x1f\ni: 1e3\nj: 12345678901234567890\nk: e3\n").unwrap();
    assert_eq!(
        node.to_value(),
        serde_json::json!({"a": 1, "b": 1.5, "c": "1.2.0", "d": "on", "e": null, "f": true, "g": "7", "h": 31, "i": 1000.0, "j": 12345678901234567890u64, "k": "e3"})
    );
}

#[test]
fn spans_point_at_keys_and_values() {
    let src = Source::new("t.yaml", "name: x\nsteps:\n  - id: fetch\n    uses: http\n");
    let node = parse(&src).unwrap();
    let id = node.at(&[Seg::Key("steps"), Seg::Index(0), Seg::Key("id")]);
    assert_eq!(src.slice(id.span), "fetch");
    assert_eq!(src.line_col(id.span.start).line, 3);
    let flow = parse(&Source::new("t", "a: { expr: 'x y' }\n")).unwrap();
    let expr = flow.at(&[Seg::Key("a"), Seg::Key("expr")]);
    assert_eq!(expr.content_span(), Span::new(12, 15));
    let step = node.at(&[Seg::Key("steps"), Seg::Index(0)]);
    assert_eq!(src.slice(step.key_span("uses")), "uses");
}

#[test]
fn quoted_spans_hug_their_quotes() {
    let src = Source::new(
        "t.yaml",
        "a: 'it''s'  # c\nb: &x \"q\\\"\"  # d\n\"k\"  : !!str 'v'\nl: [\"p\" , 'q' ]\n",
    );
    let node = parse(&src).unwrap();
    let text = |path: &[Seg<'_>]| src.slice(node.at(path).span).to_owned();
    assert_eq!(text(&[Seg::Key("a")]), "'it''s'");
    assert_eq!(text(&[Seg::Key("b")]), "\"q\\\"\"");
    assert_eq!(text(&[Seg::Key("k")]), "'v'");
    assert_eq!(src.slice(node.key_span("k")), "\"k\"");
    assert_eq!(text(&[Seg::Key("l"), Seg::Index(0)]), "\"p\"");
}

#[test]
fn json_gives_the_same_tree() {
    let yaml = parse_str("name: x\nsteps: [{id: a, uses: pass}]\n").unwrap();
    let text = "{\n\t\"name\": \"x\",\n\t\"steps\": [{\"id\": \"a\", \"uses\": \"pass\"}]\n}\n";
    let json = parse(&Source::new("t.json", text)).unwrap();
    assert_eq!(yaml.to_value(), json.to_value());
}

#[test]
fn reports_duplicate_keys_and_syntax_errors_with_positions() {
    let errs = parse_str("a: 1\nb: 2\na: 3\n").unwrap_err();
    assert_eq!(errs[0].code, Code::DuplicateKey);
    let errs = parse_str("a: [1, 2\nb: 3\n").unwrap_err();
    assert_eq!(errs[0].code, Code::Syntax);
}

#[test]
fn aliases_expand_but_are_bounded() {
    let node = parse_str("a: &x {k: 1}\nb: *x\n").unwrap();
    assert_eq!(node.to_value(), serde_json::json!({"a": {"k": 1}, "b": {"k": 1}}));
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert!(parse_str(&bomb).is_err());
}

/// What a document must read as: a value, or an error whose message says `says` with its caret
/// at byte `at` (the offending character).
enum Expect {
    Value(serde_json::Value),
    Error { at: usize, says: &'static str },
}

use Expect::{Error, Value as Is};
use serde_json::json;

fn check(name: &str, corpus: &[(&str, Expect)]) {
    for (text, expect) in corpus {
        let result = read(&Source::new(name, *text)).and_then(|parsed| match parsed.problems.first() {
            Some(_) => Err(parsed.problems),
            None => Ok(parsed.root),
        });
        match (expect, result) {
            (Is(value), Ok(node)) => assert_eq!(&node.to_value(), value, "{text:?}"),
            (Error { at, says }, Err(diagnostics)) => {
                let d = &diagnostics[0];
                assert!(d.message.contains(says), "{text:?}: {:?} does not say {says:?}", d.message);
                assert_eq!(d.span.map(|s| s.start), Some(*at), "{text:?}: {}", d.message);
            }
            (Is(_), Err(d)) => panic!("{text:?} must be accepted, but: {}", d[0].message),
            (Error { .. }, Ok(node)) => panic!("{text:?} must be refused, but reads as {}", node.to_value()),
        }
    }
}

fn deep(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

/// RFC 8259 JSON: what it allows, with the values it means, and what it does not, refused at
/// the character that breaks it.
#[test]
fn json_corpus() {
    let deepest = deep(MAX_DEPTH);
    let too_deep = deep(MAX_DEPTH + 1);
    let corpus = [
        // Structure and whitespace.
        ("[]", Is(json!([]))),
        ("{}", Is(json!({}))),
        (" \t\r\n[ 1 , 2 ]\n", Is(json!([1, 2]))),
        ("\u{FEFF}{\"a\": 1}", Is(json!({"a": 1}))),
        ("[true, false, null]", Is(json!([true, false, null]))),
        ("{\"a\": {\"b\": [{}]}}", Is(json!({"a": {"b": [{}]}}))),
        (deepest.as_str(), Is((1..MAX_DEPTH).fold(json!([]), |inner, _| json!([inner])))),
        (too_deep.as_str(), Error { at: MAX_DEPTH, says: "nests deeper than 128" }),
        ("", Error { at: 0, says: "the file is empty" }),
        (" \n ", Error { at: 0, says: "the file is empty" }),
        ("[1,]", Error { at: 3, says: "expected a value after `,`" }),
        ("[,1]", Error { at: 1, says: "expected a value, found `,`" }),
        ("{\"a\": 1,}", Error { at: 8, says: "expected a key in double quotes" }),
        ("{\"a\" 1}", Error { at: 5, says: "expected `:`" }),
        ("{\"a\": 1 \"b\": 2}", Error { at: 8, says: "expected `,` or `}`" }),
        ("[1 2]", Error { at: 3, says: "expected `,` or `]`" }),
        ("[1] [2]", Error { at: 4, says: "after the document's value" }),
        ("{a: 1}", Error { at: 1, says: "expected a key in double quotes" }),
        ("[1", Error { at: 2, says: "found the end of the file" }),
        ("// c\n{}", Error { at: 0, says: "JSON has no comments" }),
        ("{} # c", Error { at: 3, says: "JSON has no comments" }),
        ("[1]\u{FEFF}", Error { at: 3, says: "after the document's value" }),
        ("{\"a\": 1, \"a\": 2}", Error { at: 9, says: "duplicate key \"a\"" }),
        // Literals.
        ("[tru]", Error { at: 1, says: "`tru` is not a JSON value" }),
        ("[True]", Error { at: 1, says: "`True` is not a JSON value" }),
        ("[nul]", Error { at: 1, says: "`nul` is not a JSON value" }),
        ("[abc]", Error { at: 1, says: "`abc` is not a JSON value" }),
        ("['a']", Error { at: 1, says: "found `'`" }),
        ("[NaN]", Error { at: 1, says: "`NaN` is not a JSON value" }),
        // Numbers: exact integers, finite floats, RFC 8259's grammar.
        ("[0, -0, 1, -1]", Is(json!([0, 0, 1, -1]))),
        ("[1.5, -0.25, 1e3, 1E+2, 2e-2]", Is(json!([1.5, -0.25, 1000.0, 100.0, 0.02]))),
        ("[18446744073709551615]", Is(json!([u64::MAX]))),
        ("[-9223372036854775808]", Is(json!([i64::MIN]))),
        ("[18446744073709551616]", Error { at: 1, says: "beyond the 64-bit integers" }),
        ("[-9223372036854775809]", Error { at: 1, says: "beyond the 64-bit integers" }),
        ("[100000000000000000000000000000]", Error { at: 1, says: "beyond the 64-bit integers" }),
        ("[1.5e+9999]", Error { at: 1, says: "too large for a 64-bit float" }),
        ("[-1e400]", Error { at: 1, says: "too large for a 64-bit float" }),
        ("[1e-9999]", Error { at: 1, says: "too small for a 64-bit float" }),
        ("[0x42]", Error { at: 1, says: "`0x42` is not a JSON number" }),
        ("[+1]", Error { at: 1, says: "found `+`" }),
        ("[01]", Error { at: 1, says: "`01` is not a JSON number" }),
        ("[1.]", Error { at: 1, says: "`1.` is not a JSON number" }),
        ("[.5]", Error { at: 1, says: "found `.`" }),
        ("[1e]", Error { at: 1, says: "`1e` is not a JSON number" }),
        ("[-]", Error { at: 1, says: "`-` is not a JSON number" }),
        ("[1.5.2]", Error { at: 1, says: "`1.5.2` is not a JSON number" }),
        ("[-Infinity]", Error { at: 1, says: "`-Infinity` is not a JSON number" }),
        // Strings: escapes, surrogate pairs, control characters.
        (r#"["\"\\\/\b\f\n\r\t"]"#, Is(json!(["\"\\/\u{8}\u{c}\n\r\t"]))),
        (r#"["\u0041\u00e9\u20AC"]"#, Is(json!(["Aé€"]))),
        (r#"["\uD83D\uDE80", "x\ud83d\ude80y"]"#, Is(json!(["🚀", "x🚀y"]))),
        (r#"["\u0000"]"#, Is(json!(["\u{0}"]))),
        ("[\"é \u{7f} \u{85} \u{FFFF}\"]", Is(json!(["é \u{7f} \u{85} \u{FFFF}"]))),
        (r#"["\uD83D"]"#, Error { at: 2, says: "lone surrogate `\\uD83D`" }),
        (r#"["\uDE80"]"#, Error { at: 2, says: "a low surrogate must follow a high one" }),
        (r#"["\uD83Dx"]"#, Error { at: 2, says: "lone surrogate" }),
        (r#"["\uD83D\u0041"]"#, Error { at: 2, says: "lone surrogate" }),
        (r#"["\u12"]"#, Error { at: 2, says: "four hex digits" }),
        (r#"["\x41"]"#, Error { at: 2, says: "invalid escape `\\x`" }),
        (r#"["\'"]"#, Error { at: 2, says: "invalid escape" }),
        ("[\"a\tb\"]", Error { at: 3, says: "control character U+0009 must be escaped" }),
        ("[\"a\nb\"]", Error { at: 3, says: "control character U+000A must be escaped" }),
        ("[\"a\u{1}\"]", Error { at: 3, says: "control character U+0001" }),
        ("[\"abc", Error { at: 1, says: "never closed" }),
    ];
    check("t.json", &corpus);
}

/// YAML 1.2: the same rule for numbers, surrogate pairs in double-quoted strings, the
/// characters YAML allows, and errors at the mistake.
#[test]
fn yaml_corpus() {
    let corpus = [
        // Numbers: one rule for every spelling of the core schema.
        ("a: [0xFFFFFFFFFFFFFFFF, 18446744073709551615]", Is(json!({"a": [u64::MAX, u64::MAX]}))),
        ("a: [+1, -1, 0o17, 0x1f, -9223372036854775808]", Is(json!({"a": [1, -1, 15, 31, i64::MIN]}))),
        ("a: [1e3, .5, 1., -1.5E-2, +2.0]", Is(json!({"a": [1000.0, 0.5, 1.0, -0.015, 2.0]}))),
        (
            "a: [1.2.0, e3, 0x, 0xG, 1_000, -.nan]",
            Is(json!({"a": ["1.2.0", "e3", "0x", "0xG", "1_000", "-.nan"]})),
        ),
        ("a: 18446744073709551616", Error { at: 3, says: "beyond the 64-bit integers" }),
        ("a: 0x10000000000000000", Error { at: 3, says: "beyond the 64-bit integers" }),
        ("a: -9223372036854775809", Error { at: 3, says: "beyond the 64-bit integers" }),
        ("a: 1.5e+9999", Error { at: 3, says: "too large for a 64-bit float" }),
        ("a: 1e-9999", Error { at: 3, says: "too small for a 64-bit float" }),
        ("a: .inf", Error { at: 3, says: "no JSON equivalent" }),
        ("a: -.Inf", Error { at: 3, says: "no JSON equivalent" }),
        ("a: +.INF", Error { at: 3, says: "no JSON equivalent" }),
        ("a: .NaN", Error { at: 3, says: "no JSON equivalent" }),
        ("a: '.inf'", Is(json!({"a": ".inf"}))),
        // Surrogate pairs decode in double-quoted strings only; elsewhere a backslash is text.
        (r#"a: "\uD83D\uDE80""#, Is(json!({"a": "🚀"}))),
        (r#"a: ["x\uD83D\uDE80", "\ud83d\ude80y\u00e9"]"#, Is(json!({"a": ["x🚀", "🚀yé"]}))),
        (r#"{a: "\uD83D\uDE80", b: "\uD83D\uDE00"}"#, Is(json!({"a": "🚀", "b": "😀"}))),
        (
            "a: '\\uD83D\\uDE80'\nb: x \\uD83D\\uDE80",
            Is(json!({"a": "\\uD83D\\uDE80", "b": "x \\uD83D\\uDE80"})),
        ),
        (r#"a: "\U0001F680 \x41""#, Is(json!({"a": "🚀 A"}))),
        (r#"a: "ok \uD83D""#, Error { at: 7, says: "lone surrogate `\\uD83D`" }),
        (r#"a: "\uD83D\uDE80 \uDE80""#, Error { at: 17, says: "a low surrogate must follow" }),
        (r#"a: "x \q""#, Error { at: 6, says: "invalid escape `\\q`" }),
        // Characters YAML does not allow, unescaped, are refused where they stand.
        ("a: \"x\\x01\"", Is(json!({"a": "x\u{1}"}))),
        ("a: \"x\ty\"\nb: \u{85}é", Is(json!({"a": "x\ty", "b": "\u{85}é"}))),
        ("\u{FEFF}a: 1", Is(json!({"a": 1}))),
        ("a: x\u{1}", Error { at: 4, says: "control character U+0001" }),
        ("a: 'x\u{7f}'", Error { at: 5, says: "control character U+007F" }),
        ("a: x\u{9f}", Error { at: 4, says: "control character U+009F" }),
        ("a: \"\u{FFFE}\"", Error { at: 4, says: "noncharacter U+FFFE" }),
        ("a: x\u{0}", Error { at: 4, says: "control character U+0000" }),
        // Syntax errors at the mistake.
        ("a:\n  b: 1\n\tc: 2\n", Error { at: 10, says: "a tab is used for indentation" }),
        ("steps:\n  - id: a\n\tuses: pass\n", Error { at: 17, says: "a tab is used for indentation" }),
        ("a: {x: 1\n", Error { at: 3, says: "unclosed flow mapping" }),
        ("a: {x: 1\nb: 2\n", Error { at: 3, says: "unclosed flow mapping" }),
        ("a: [1, {x: 1}\n", Error { at: 3, says: "unclosed flow sequence" }),
        ("a: 1\na: 2\n", Error { at: 5, says: "duplicate key \"a\"" }),
        ("", Error { at: 0, says: "the file is empty" }),
    ];
    check("t.yaml", &corpus);
}

#[test]
fn a_duplicate_key_leaves_the_tree_for_the_other_checks() {
    for (name, text) in
        [("t.yaml", "a: 1\nb: 2\na: 3\nc: 4\n"), ("t.json", r#"{"a": 1, "b": 2, "a": 3, "c": 4}"#)]
    {
        let parsed = read(&Source::new(name, text)).unwrap();
        assert_eq!(parsed.problems.len(), 1, "{name}");
        assert_eq!(parsed.problems[0].code, Code::DuplicateKey);
        assert_eq!(parsed.root.get("c").and_then(|n| n.to_value().as_i64()), Some(4), "{name}");
        assert!(parse(&Source::new(name, text)).is_err(), "{name}: parse refuses what read reports");
    }
}

#[test]
fn the_format_follows_the_extension_and_stdin_by_its_first_character() {
    let format = |name: &str, text: &str| Format::of(&Source::new(name, text));
    assert_eq!(format("p.json", "name: x"), Format::Json);
    assert_eq!(format("P.JSON", "{}"), Format::Json);
    assert_eq!(format("p.yaml", "{\"a\": 1}"), Format::Yaml);
    assert_eq!(format("p.yml", "a: 1"), Format::Yaml);
    assert_eq!(format("<stdin>", "\n  {\"a\": 1}"), Format::Json);
    assert_eq!(format("<stdin>", "a: 1"), Format::Yaml);
    // A `.json` file is held to JSON: what YAML would read as text is refused.
    assert!(parse(&Source::new("p.json", "[tru]")).is_err());
    assert_eq!(parse(&Source::new("p.yaml", "[tru]")).unwrap().to_value(), json!(["tru"]));
}

#[test]
fn many_strings_with_surrogate_pairs_are_bounded() {
    let line = |i: usize| format!("k{i}: \"\\uD83D\\uDE80\"\n");
    let fine: String = (0..64).map(line).collect();
    assert_eq!(parse_str(&fine).unwrap().get("k63").and_then(Node::as_str), Some("🚀"));
    let many: String = (0..65).map(line).collect();
    let errs = parse_str(&many).unwrap_err();
    assert!(errs[0].message.contains("more than 64 strings"), "{}", errs[0].message);
}
