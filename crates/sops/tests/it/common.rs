//! Shared helpers: fixture paths, test keys, comparison of trees.

use std::path::PathBuf;

use orch_sops::{Document, Format, Identities, List, Map, Recipient, Value};

/// Recipient of `age-key.txt`.
pub const RECIPIENT_1: &str = "age146dfwdn23dr7ayt42wnq04x7etxcxh0x5plqs6yv8t3l77dwv4nsahdhlm";
/// Recipient of `age-key-2.txt`.
pub const RECIPIENT_2: &str = "age1vnlcnyt52mww728t3877s9kalkataeehydzqts6kqm3tnfmpkczscy7x8z";

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

pub fn fixture(name: &str) -> String {
    let path = fixture_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn key1() -> Identities {
    Identities::from_file(fixture_path("age-key.txt")).expect("fixture key 1 loads")
}

pub fn key2() -> Identities {
    Identities::from_file(fixture_path("age-key-2.txt")).expect("fixture key 2 loads")
}

pub fn recipient(text: &str) -> Recipient {
    Recipient::parse(text).expect("valid recipient")
}

pub fn format_of(name: &str) -> Format {
    Format::from_path(name).expect("fixture has a known extension")
}

pub fn plain_fixture(name: &str) -> Document {
    Document::parse(&fixture(name), format_of(name)).expect("plaintext fixture parses")
}

/// Drops comments, so trees can be compared by data only.
pub fn without_comments(value: &Value) -> Value {
    match value {
        Value::Map(map) => Value::Map(strip_map(map)),
        Value::List(list) => Value::List(list.values().map(without_comments).collect::<List>()),
        other => other.clone(),
    }
}

pub fn strip_map(map: &Map) -> Map {
    let mut out = Map::new();
    for (key, value) in map.entries() {
        out.insert(key, without_comments(value));
    }
    out
}

/// Compares two documents by data, ignoring comments, with a redaction-free message on failure.
pub fn assert_same_data(left: &Document, right: &Document, context: &str) {
    let (l, r) = (strip_map(left.root()), strip_map(right.root()));
    if l != r {
        let show = |d: &Map| {
            Document::new(d.clone())
                .to_text(Format::Yaml)
                .map(|t| t.to_string())
                .unwrap_or_default()
        };
        panic!(
            "{context}: documents differ\n--- left\n{}\n--- right\n{}",
            show(&l),
            show(&r)
        );
    }
}

/// Collects the comments of a tree, depth first.
pub fn comments(map: &Map) -> Vec<String> {
    let mut out = Vec::new();
    collect_map(map, &mut out);
    out
}

fn collect_map(map: &Map, out: &mut Vec<String>) {
    for item in map.items() {
        match item {
            orch_sops::MapItem::Comment(c) => out.push(c.expose().to_owned()),
            orch_sops::MapItem::Entry(_, v) => collect_value(v, out),
        }
    }
}

fn collect_value(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Map(map) => collect_map(map, out),
        Value::List(list) => {
            for item in list.items() {
                match item {
                    orch_sops::ListItem::Comment(c) => out.push(c.expose().to_owned()),
                    orch_sops::ListItem::Value(v) => collect_value(v, out),
                }
            }
        }
        _ => {}
    }
}
