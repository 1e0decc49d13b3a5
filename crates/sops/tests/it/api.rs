//! The public API: editing, recipients, options, errors, and secrets staying out of Debug output.

use orch_sops::{
    DecryptError, Document, EncryptError, EncryptOptions, EncryptionRule, Format, KeyPath, MapItem,
    SopsFile, Value, encrypt, encrypt_with,
};

use crate::common::*;

fn path(text: &str) -> KeyPath {
    KeyPath::parse(text).expect("valid path")
}

fn secrets_doc() -> Document {
    plain_fixture("secrets.yaml")
}

fn enc_value(file: &SopsFile, at: &str) -> String {
    let doc = Document::new(file.encrypted_tree().clone());
    doc.get(&path(at))
        .and_then(Value::as_str)
        .expect("an encrypted string")
        .to_owned()
}

#[test]
fn set_keeps_other_ciphertexts_and_rotate_changes_all() {
    let file = encrypt(&secrets_doc(), &[recipient(RECIPIENT_1)], Format::Yaml).expect("encrypts");
    let mut opened = file.open(&key1()).expect("opens");
    opened
        .set(&path("app.name"), Value::from("renamed"))
        .expect("sets");
    let edited = opened.encrypt().expect("re-encrypts");
    assert_eq!(
        enc_value(&edited, "database.url"),
        enc_value(&file, "database.url")
    );
    assert_ne!(enc_value(&edited, "app.name"), enc_value(&file, "app.name"));
    let doc = edited.decrypt(&key1()).expect("decrypts");
    assert_eq!(doc.get(&path("app.name")), Some(&Value::from("renamed")));

    let mut opened = edited.open(&key1()).expect("opens");
    opened.rotate().expect("rotates");
    let rotated = opened.encrypt().expect("re-encrypts");
    assert_ne!(
        enc_value(&rotated, "database.url"),
        enc_value(&edited, "database.url")
    );
    assert_same_data(
        &rotated.decrypt(&key1()).expect("decrypts"),
        &doc,
        "after rotate",
    );
}

#[test]
fn recipient_changes_are_checked() {
    let file = encrypt(&secrets_doc(), &[recipient(RECIPIENT_1)], Format::Json).expect("encrypts");
    let mut opened = file.open(&key1()).expect("opens");
    let err = opened.remove_recipient(RECIPIENT_1).expect_err("last one");
    assert!(matches!(err, EncryptError::LastRecipient { .. }), "{err}");
    let err = opened
        .remove_recipient(RECIPIENT_2)
        .expect_err("not listed");
    assert!(
        matches!(err, EncryptError::UnknownRecipient { .. }),
        "{err}"
    );
    opened.add_recipient(&recipient(RECIPIENT_2)).expect("adds");
    opened
        .add_recipient(&recipient(RECIPIENT_2))
        .expect("idempotent");
    assert_eq!(opened.recipients(), [RECIPIENT_1, RECIPIENT_2]);
    opened.remove_recipient(RECIPIENT_2).expect("removes");
    let written = opened.encrypt().expect("re-encrypts");
    assert_eq!(written.recipients(), [RECIPIENT_1]);
    assert!(written.decrypt(&key2()).is_err());
}

#[test]
fn encrypt_rejects_bad_input() {
    let doc = secrets_doc();
    assert!(matches!(
        encrypt(&doc, &[], Format::Yaml),
        Err(EncryptError::NoRecipients)
    ));
    let mut with_sops = doc;
    with_sops.root_mut().insert("sops", Value::Null);
    assert!(matches!(
        encrypt(&with_sops, &[recipient(RECIPIENT_1)], Format::Yaml),
        Err(EncryptError::AlreadyEncrypted)
    ));
    assert!(orch_sops::Recipient::parse("age1notakey").is_err());
    let mut nan = Document::default();
    nan.root_mut()
        .insert("x_unencrypted", Value::Float(f64::NAN));
    assert!(encrypt(&nan, &[recipient(RECIPIENT_1)], Format::Json).is_err());
}

#[test]
fn unencrypted_suffix_and_rules_control_what_is_encrypted() {
    let file = encrypt(&secrets_doc(), &[recipient(RECIPIENT_1)], Format::Yaml).expect("encrypts");
    let text = file.to_string();
    assert!(
        text.contains("public_unencrypted: visible-in-clear"),
        "{text}"
    );
    assert!(
        text.contains("    unencrypted_suffix: _unencrypted\n    version: 3.11.0\n"),
        "{text}"
    );
    assert!(!text.contains("coding-agent-platform"));

    let options = EncryptOptions {
        rule: EncryptionRule::EncryptedRegex("^(database|telegram)$".into()),
        mac_only_encrypted: true,
    };
    let file = encrypt_with(
        &secrets_doc(),
        &[recipient(RECIPIENT_1)],
        Format::Yaml,
        &options,
    )
    .expect("encrypts");
    let text = file.to_string();
    assert!(text.contains("name: coding-agent-platform"), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("mac_only_encrypted: true"), "{text}");
    let parsed = SopsFile::parse(&text, Format::Yaml).expect("parses");
    assert!(parsed.mac_only_encrypted());
    assert_eq!(parsed.rule(), &options.rule);
    assert_same_data(
        &parsed.decrypt(&key1()).expect("decrypts"),
        &secrets_doc(),
        "regex rule",
    );
}

#[test]
fn mac_only_encrypted_ignores_clear_values_but_default_mac_does_not() {
    let options = EncryptOptions {
        mac_only_encrypted: true,
        ..EncryptOptions::default()
    };
    let file = encrypt_with(
        &secrets_doc(),
        &[recipient(RECIPIENT_1)],
        Format::Yaml,
        &options,
    )
    .expect("encrypts");
    let edited = file
        .to_string()
        .replace("visible-in-clear", "edited-in-clear");
    SopsFile::parse(&edited, Format::Yaml)
        .expect("parses")
        .decrypt(&key1())
        .expect("clear values are outside the MAC");
    let strict =
        encrypt(&secrets_doc(), &[recipient(RECIPIENT_1)], Format::Yaml).expect("encrypts");
    let edited = strict
        .to_string()
        .replace("visible-in-clear", "edited-in-clear");
    let err = SopsFile::parse(&edited, Format::Yaml)
        .expect("parses")
        .decrypt(&key1())
        .expect_err("clear values are in the MAC");
    assert!(matches!(err, DecryptError::MacMismatch));
}

#[test]
fn moved_ciphertexts_do_not_decrypt() {
    let file = encrypt(&secrets_doc(), &[recipient(RECIPIENT_1)], Format::Yaml).expect("encrypts");
    let text = file.to_string();
    let name = enc_value(&file, "app.name");
    let url = enc_value(&file, "database.url");
    let swapped = text
        .replace(&name, "@@")
        .replace(&url, &name)
        .replace("@@", &url);
    let err = SopsFile::parse(&swapped, Format::Yaml)
        .expect("parses")
        .decrypt(&key1())
        .expect_err("AAD binds values to paths");
    assert!(err.to_string().contains("app:name:"), "{err}");
}

#[test]
fn debug_and_errors_hide_secrets() {
    let file = SopsFile::parse(fixture("secrets.enc.yaml"), Format::Yaml).expect("parses");
    let opened = file.open(&key1()).expect("opens");
    let shown = format!("{opened:?} {:?} {:?}", opened.document(), key1());
    for secret in [
        "s3cr3t",
        "sk-test-openai",
        "TEST-TOKEN",
        "AGE-SECRET-KEY",
        "8080",
    ] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    let mut doc = opened.into_document();
    doc.root_mut()
        .items_mut()
        .push(MapItem::Comment("hush".into()));
    assert!(!format!("{doc:?}").contains("hush"));
}

#[test]
fn parse_errors_are_clear() {
    let plain = SopsFile::parse(fixture("secrets.yaml"), Format::Yaml).expect_err("not encrypted");
    assert!(
        plain.to_string().contains("sops metadata not found"),
        "{plain}"
    );
    let broken = SopsFile::parse("a: [1, 2\n", Format::Yaml).expect_err("bad yaml");
    assert!(broken.to_string().starts_with("invalid yaml"), "{broken}");
    let list_root = Document::parse("- 1\n", Format::Yaml).expect_err("list root");
    assert!(
        list_root.to_string().contains("must be a mapping"),
        "{list_root}"
    );
}

#[test]
fn yaml_output_has_sops_layout() {
    let file = encrypt(
        &plain_fixture("comments.yaml"),
        &[recipient(RECIPIENT_1)],
        Format::Yaml,
    )
    .expect("encrypts");
    let text = file.to_string();
    assert!(text.starts_with("#ENC[AES256_GCM,data:"), "{text}");
    assert!(text.contains("\nservice:\n    #ENC[AES256_GCM,"), "{text}");
    assert!(text.contains("\n        - recipient: age1"), "{text}");
    assert!(
        text.contains("          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{text}"
    );
    let modified = file.last_modified();
    assert!(
        modified.len() == 20 && modified.ends_with('Z'),
        "{modified}"
    );
    assert!(
        text.contains(&format!("    lastmodified: \"{modified}\"\n")),
        "{text}"
    );
    let json = encrypt(&secrets_doc(), &[recipient(RECIPIENT_1)], Format::Json)
        .expect("encrypts")
        .to_string();
    assert!(
        json.starts_with("{\n\t\"app\": {\n\t\t\"name\": \"ENC[AES256_GCM,"),
        "{json}"
    );
    assert!(json.contains("\"version\": \"3.11.0\""), "{json}");
}
