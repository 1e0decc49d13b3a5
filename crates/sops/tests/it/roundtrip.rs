//! Property tests: random trees survive plaintext and encrypt → text → parse → decrypt round trips.

use orch_sops::{
    Document, Format, Identities, List, ListItem, Map, MapItem, SecretText, SopsFile, Value,
    encrypt,
};
use proptest::prelude::*;

use crate::common::*;

fn comment() -> impl Strategy<Value = SecretText> {
    "[ -~é🔑]{0,16}".prop_map(SecretText::new)
}

fn leaf(format: Format) -> BoxedStrategy<Value> {
    let float = if format == Format::Json {
        (prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL).boxed()
    } else {
        prop::num::f64::ANY
            .prop_filter("nan is not equal to itself", |f| !f.is_nan())
            .boxed()
    };
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        float.prop_map(Value::Float),
        ".*".prop_map(Value::string),
        "[a-z0-9 ]{0,8}".prop_map(Value::string),
        Just(Value::string("")),
    ]
    .boxed()
}

/// Maps and lists, with comments (YAML only) placed in collections that have entries.
fn tree(format: Format) -> impl Strategy<Value = Value> {
    let comments = format == Format::Yaml;
    leaf(format).prop_recursive(4, 48, 6, move |inner| {
        let entries = prop::collection::vec(
            (
                "(.*|[a-z_]{1,8})",
                inner.clone(),
                prop::option::of(comment()),
            ),
            0..6,
        );
        let items = prop::collection::vec((inner, prop::option::of(comment())), 0..6);
        prop_oneof![
            entries.prop_map(move |entries| {
                let mut map = Map::new();
                for (key, value, note) in entries {
                    if let (true, Some(note)) = (comments, note) {
                        map.items_mut().push(MapItem::Comment(note));
                    }
                    map.insert(key, value);
                }
                Value::Map(map)
            }),
            items.prop_map(move |items| {
                let mut list = List::new();
                for (value, note) in items {
                    if let (true, Some(note)) = (comments, note) {
                        list.items_mut().push(ListItem::Comment(note));
                    }
                    list.push(value);
                }
                Value::List(list)
            }),
        ]
    })
}

fn document(format: Format) -> impl Strategy<Value = Document> {
    tree(format).prop_map(|value| {
        let mut root = match value {
            Value::Map(map) => map,
            other => {
                let mut map = Map::new();
                map.insert("root", other);
                map
            }
        };
        root.remove("sops");
        Document::new(root)
    })
}

/// What sops does to JSON numbers: every number is a float64, and an integral one prints as an int.
fn json_numbers(value: &Value) -> Value {
    let float = |f: f64| {
        format!("{f}")
            .parse::<i64>()
            .map_or(Value::Float(f), Value::Int)
    };
    match value {
        Value::Int(n) => float(*n as f64),
        Value::Float(f) => float(*f),
        Value::Map(map) => {
            let mut out = Map::new();
            for (k, v) in map.entries() {
                out.insert(k, json_numbers(v));
            }
            Value::Map(out)
        }
        Value::List(list) => Value::List(list.values().map(json_numbers).collect()),
        other => other.clone(),
    }
}

fn expected_after_encryption(doc: &Document, format: Format) -> Document {
    match format {
        Format::Yaml => doc.clone(),
        Format::Json => Document::new(strip_map(
            json_numbers(&Value::Map(doc.root().clone()))
                .as_map()
                .expect("a map stays a map"),
        )),
    }
}

fn check_encrypt_round_trip(doc: &Document, format: Format, keys: &Identities) {
    let file = encrypt(doc, &[recipient(RECIPIENT_1)], format).expect("encrypts");
    let text = file.to_string();
    let parsed = SopsFile::parse(&text, format).expect("our output parses");
    let back = parsed.decrypt(keys).expect("our output decrypts");
    let expected = expected_after_encryption(doc, format);
    assert_same_data(&back, &expected, "encrypt round trip");
    if format == Format::Yaml {
        assert_eq!(
            comments(back.root()),
            comments(doc.root()),
            "comments\n{text}"
        );
    }
}

fn check_plaintext_round_trip(doc: &Document, format: Format) {
    let text = doc.to_text(format).expect("writes");
    let back = Document::parse(&text, format).unwrap_or_else(|e| panic!("{e}\n{}", *text));
    assert_same_data(&back, doc, "plaintext round trip");
    if format == Format::Yaml {
        // Comments keep their order; one above a nested list item may move up to the outer list.
        assert_eq!(
            comments(back.root()),
            comments(doc.root()),
            "comments:\n{}",
            *text
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn yaml_trees_survive_encryption(doc in document(Format::Yaml)) {
        check_encrypt_round_trip(&doc, Format::Yaml, &key1());
    }

    #[test]
    fn json_trees_survive_encryption(doc in document(Format::Json)) {
        check_encrypt_round_trip(&doc, Format::Json, &key1());
    }

    #[test]
    fn yaml_plaintext_round_trips(doc in document(Format::Yaml)) {
        check_plaintext_round_trip(&doc, Format::Yaml);
    }

    #[test]
    fn json_plaintext_round_trips(doc in document(Format::Json)) {
        check_plaintext_round_trip(&doc, Format::Json);
    }
}
