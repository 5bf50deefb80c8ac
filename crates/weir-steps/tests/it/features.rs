//! Kinds behind cargo features: in the registry exactly when their feature is on, and otherwise
//! named in the diagnostic, so a user of a smaller build learns what to rebuild with.

use weir_pipeline::{Code, Source};

#[test]
fn the_http_kind_is_there_exactly_when_its_feature_is() {
    let yaml = "name: t\nsteps:\n  - id: call\n    uses: http\n    with: { url: 'http://192.0.2.1/' }\n";
    let loaded = weir_pipeline::load(Source::new("test.yaml", yaml), &weir_steps::builtin());
    if cfg!(feature = "http") {
        assert!(loaded.plan.is_some(), "{:?}", loaded.diagnostics);
        return;
    }
    let [diag] = &loaded.diagnostics[..] else { panic!("one diagnostic: {:?}", loaded.diagnostics) };
    assert_eq!(diag.code, Code::UnknownKind);
    assert_eq!(diag.message, "unknown step kind \"http\"");
    let hint = diag.hint.as_deref().unwrap_or_default();
    assert!(hint.contains("`http` cargo feature"), "{hint}");
}
