//! Files written by real sops 3.11 decrypt to the expected values, MACs and data keys.

use orch_sops::{DecryptError, Document, Format, KeyPath, SopsFile, Value};

use crate::common::*;

const ENCRYPTED: [&str; 5] = [
    "secrets.enc.yaml",
    "secrets.enc.json",
    "secrets.multi.enc.yaml",
    "comments.enc.yaml",
    "lists.enc.yaml",
];

fn open(name: &str) -> SopsFile {
    SopsFile::parse(fixture(name), format_of(name)).expect("fixture parses")
}

fn path(text: &str) -> KeyPath {
    KeyPath::parse(text).expect("valid path")
}

#[test]
fn every_fixture_decrypts_with_key_1() {
    for name in ENCRYPTED {
        let file = open(name);
        assert_eq!(file.version(), "3.11.0", "{name}");
        file.decrypt(&key1())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn secrets_match_what_sops_decrypted() {
    let expected_yaml = Document::parse(&fixture("secrets.sops-decrypted.yaml"), Format::Yaml)
        .expect("sops output parses");
    let expected_json = Document::parse(&fixture("secrets.sops-decrypted.json"), Format::Json)
        .expect("sops output parses");
    for name in ["secrets.enc.yaml", "secrets.multi.enc.yaml"] {
        let doc = open(name).decrypt(&key1()).expect("decrypts");
        assert_same_data(&doc, &expected_yaml, name);
    }
    let doc = open("secrets.enc.json").decrypt(&key1()).expect("decrypts");
    assert_same_data(&doc, &expected_json, "secrets.enc.json");
    assert_same_data(
        &doc,
        &plain_fixture("secrets.json"),
        "json vs plaintext input",
    );
}

#[test]
fn values_have_their_sops_types() {
    let doc = open("secrets.enc.yaml").decrypt(&key1()).expect("decrypts");
    let get = |p: &str| doc.get(&path(p)).cloned();
    assert_eq!(get("app.port"), Some(Value::Int(8080)));
    assert_eq!(get("app.ratio"), Some(Value::Float(0.75)));
    assert_eq!(get("app.debug"), Some(Value::Bool(false)));
    assert_eq!(
        get("llm.providers[1].api_key"),
        Some(Value::from("sk-ant-test"))
    );
    assert_eq!(get("llm.nested_list[1][0]"), Some(Value::Int(1)));
    assert_eq!(get("unicode"), Some(Value::from("пароль-密码-🔑")));
    assert_eq!(get("empty_string"), Some(Value::from("")));
    assert_eq!(get("nothing"), Some(Value::Null));
    assert_eq!(
        get("public_unencrypted"),
        Some(Value::from("visible-in-clear"))
    );
    let key = get("github.private_key").expect("present");
    assert!(
        key.as_str()
            .expect("a string")
            .ends_with("-----END TEST KEY-----\n")
    );
    let json = open("secrets.enc.json").decrypt(&key1()).expect("decrypts");
    assert_eq!(json.get(&path("app.port")), Some(&Value::Int(8080)));
    assert_eq!(json.get(&path("app.ratio")), Some(&Value::Float(0.75)));
}

#[test]
fn multi_recipient_file_opens_with_either_key() {
    let file = open("secrets.multi.enc.yaml");
    assert_eq!(file.recipients(), [RECIPIENT_1, RECIPIENT_2]);
    let a = file.decrypt(&key1()).expect("key 1");
    let b = file.decrypt(&key2()).expect("key 2");
    assert_eq!(a, b);
}

#[test]
fn tampered_file_fails_with_mac_mismatch() {
    let err = open("secrets.tampered.enc.yaml")
        .decrypt(&key1())
        .expect_err("tampered");
    assert!(matches!(err, DecryptError::MacMismatch), "{err:?}");
    assert!(err.to_string().contains("MAC mismatch"), "{err}");
    assert!(!err.to_string().contains("tampered-in-clear"));
}

#[test]
fn wrong_key_names_the_recipients() {
    let err = open("secrets.enc.yaml")
        .decrypt(&key2())
        .expect_err("wrong key");
    let msg = err.to_string();
    assert!(
        matches!(err, DecryptError::NoMatchingIdentity { .. }),
        "{err:?}"
    );
    assert!(msg.contains(RECIPIENT_1), "{msg}");
    let none = open("secrets.enc.yaml")
        .decrypt(&orch_sops::Identities::new())
        .expect_err("no keys");
    assert!(
        none.to_string().contains("0 identities were tried"),
        "{none}"
    );
}

#[test]
fn comments_decrypt_in_order() {
    let doc = open("comments.enc.yaml")
        .decrypt(&key1())
        .expect("decrypts");
    assert_eq!(
        comments(doc.root()),
        [
            " top comment",
            " the token below is fake",
            " inline comment"
        ]
    );
    assert_eq!(
        doc.get(&path("service.token")),
        Some(&Value::from("abc123"))
    );
    assert_same_data(&doc, &plain_fixture("comments.yaml"), "comments");
}

#[test]
fn list_comments_and_timestamps_decrypt() {
    let doc = open("lists.enc.yaml").decrypt(&key1()).expect("decrypts");
    let plain = plain_fixture("lists.yaml");
    assert_same_data(&doc, &plain, "lists");
    assert_eq!(comments(doc.root()), comments(plain.root()));
    assert!(matches!(doc.get(&path("c")), Some(Value::Time(_))));
}
