//! Reader/writer tests: types, layout, and where comments land (which decides their AAD).

use super::{emit, parse};
use crate::value::{ListItem, Map, MapItem, Value};

fn comments_of(map: &Map) -> Vec<String> {
    map.comments().map(|c| c.expose().to_owned()).collect()
}

fn child<'a>(map: &'a Map, key: &str) -> &'a Map {
    map.get(key).and_then(Value::as_map).expect("nested map")
}

#[test]
fn keeps_order_types_and_block_scalars() {
    let map =
        parse("b: 1\na: 0.5\nc: \"2\"\nd: |\n  x\n  y\ne: ~\nf: !!str 3\ng: [1, {h: true}]\n")
            .expect("valid");
    let keys: Vec<_> = map.entries().map(|(k, _)| k).collect();
    assert_eq!(keys, ["b", "a", "c", "d", "e", "f", "g"]);
    assert_eq!(map.get("b"), Some(&Value::Int(1)));
    assert_eq!(map.get("a"), Some(&Value::Float(0.5)));
    assert_eq!(map.get("c"), Some(&Value::from("2")));
    assert_eq!(map.get("d"), Some(&Value::from("x\ny\n")));
    assert_eq!(map.get("e"), Some(&Value::Null));
    assert_eq!(map.get("f"), Some(&Value::from("3")));
}

#[test]
fn places_comments_like_sops() {
    let text = "# top\nsvc:\n  # head\n  token: abc # inline\n  n: 1\n  # trailing in svc\n# head of next\nnext: [1] # after flow\nseq:\n  # list head\n  - a # item inline\n  - b\n";
    let map = parse(text).expect("valid");
    assert_eq!(comments_of(&map), [" top", " head of next", " after flow"]);
    assert_eq!(
        comments_of(child(&map, "svc")),
        [" head", " inline", " trailing in svc"]
    );
    let seq = map.get("seq").and_then(Value::as_list).expect("list");
    let seq_comments: Vec<_> = seq
        .items()
        .iter()
        .filter_map(|i| match i {
            ListItem::Comment(c) => Some(c.expose()),
            ListItem::Value(_) => None,
        })
        .collect();
    assert_eq!(seq_comments, [" list head", " item inline"]);
    // An inline comment goes before its entry, as go-yaml's line comment does in sops.
    assert!(
        matches!(&child(&map, "svc").items()[1], MapItem::Comment(c) if c.expose() == " inline")
    );
}

#[test]
fn hash_inside_scalars_is_not_a_comment() {
    let map =
        parse("a: \"x # y\" # real\nb: 'it''s # no'\nc: |\n  # content\nd: e#f\n").expect("valid");
    assert_eq!(map.get("a"), Some(&Value::from("x # y")));
    assert_eq!(map.get("b"), Some(&Value::from("it's # no")));
    assert_eq!(map.get("c"), Some(&Value::from("# content\n")));
    assert_eq!(map.get("d"), Some(&Value::from("e#f")));
    assert_eq!(comments_of(&map), [" real"]);
}

#[test]
fn writes_sops_layout_and_reads_it_back() {
    let text = "# top\napp:\n    name: x\n    list:\n        - 1\n        - k: v\n          # inside\n          m: |\n            l1\n            l2\n        - - a\n          - b\n    empty: {}\n    none: []\nquoted: \"yes\"\nnum: \"123\"\nf: 2.0\n";
    let map = parse(text).expect("valid");
    assert_eq!(emit(&map), text);
}

#[test]
fn rejects_what_sops_cannot_store() {
    assert!(parse("- a\n").is_err());
    assert!(parse("a: 1\n---\nb: 2\n").is_err());
    assert!(parse("? [a]\n: 1\n").is_err());
    assert!(parse("a: *nope\n").is_err());
    assert!(parse("a: [1\n").is_err());
    assert_eq!(parse("").expect("empty").len(), 0);
    assert_eq!(
        parse("# only a comment\n")
            .expect("comment")
            .comments()
            .count(),
        1
    );
}

#[test]
fn aliases_copy_their_anchor() {
    let map = parse("base: &b {x: 1}\nother: *b\n").expect("valid");
    assert_eq!(map.get("base"), map.get("other"));
}
