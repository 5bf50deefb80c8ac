//! `weir init`: the written file validates strictly and its tests pass; nothing is overwritten.

use crate::{scratch, stderr, stdout, weir};
use std::fs;

#[test]
fn every_template_validates_strictly_and_passes_weir_test() {
    let dir = scratch("init-templates");
    // The `http` template needs the `http` kind.
    let templates = ["basic", "branching", "http", "fanout"]
        .into_iter()
        .filter(|t| cfg!(feature = "http") || *t != "http");
    for template in templates {
        let name = format!("my-{template}");
        let out = weir(&dir, &["init", &name, "--template", template, "--dir", "new"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let file = format!("new/{name}.yaml");
        assert!(stdout(&out).contains(&format!("weir test {file}")), "{}", stdout(&out));
        let out = weir(&dir, &["validate", "--strict", &file]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let out = weir(&dir, &["test", &file]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    }
}

#[test]
fn an_existing_file_is_not_overwritten() {
    let dir = scratch("init-exists");
    fs::write(dir.join("hello.yaml"), "mine\n").unwrap();
    let out = weir(&dir, &["init", "hello"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("hello.yaml already exists"), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(dir.join("hello.yaml")).unwrap(), "mine\n");
}

#[test]
fn an_invalid_name_exits_2_and_writes_nothing() {
    let dir = scratch("init-bad-name");
    let out = weir(&dir, &["init", "Hello World"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("\"hello-world\""), "{}", stderr(&out));
    assert_eq!(fs::read_dir(&*dir).unwrap().count(), 0);
}
