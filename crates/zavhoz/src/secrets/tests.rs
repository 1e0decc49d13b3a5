use std::path::PathBuf;

use orch_sops::{Recipient, encrypt};
use secrecy::ExposeSecret;

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    secrets: PathBuf,
    sources: KeySources,
    recipient: Recipient,
}

fn fixture(plain: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let identity = age::x25519::Identity::generate();
    let key_file = dir.path().join("keys.txt");
    std::fs::write(&key_file, identity.to_string().expose_secret()).expect("key file");
    let recipient = Recipient::parse(&identity.to_public().to_string()).expect("recipient");
    let secrets = dir.path().join("secrets.yaml");
    write(&secrets, plain, &recipient);
    Fixture {
        _dir: dir,
        secrets,
        sources: KeySources {
            key_file: Some(key_file),
            ..KeySources::default()
        },
        recipient,
    }
}

fn write(path: &Path, plain: &str, recipient: &Recipient) {
    let doc = Document::parse(plain, Format::Yaml).expect("yaml");
    let file = encrypt(&doc, std::slice::from_ref(recipient), Format::Yaml).expect("encrypts");
    std::fs::write(path, file.to_string()).expect("writes");
}

fn value(store: &SecretStore, path: &str) -> Option<String> {
    store
        .sops_value(&KeyPath::parse(path).expect("path"))
        .map(|v| v.expose_secret().to_owned())
}

#[test]
fn values_are_read_by_path_and_only_scalars_resolve() {
    let f = fixture("llm:\n    key: sk-1\n    port: 8080\n    list: [a, b]\nempty: null\n");
    let store = SecretStore::open(&f.secrets, &f.sources).expect("opens");
    assert_eq!(value(&store, "llm.key").as_deref(), Some("sk-1"));
    assert_eq!(value(&store, "llm.port").as_deref(), Some("8080"));
    assert_eq!(value(&store, "llm.list[1]").as_deref(), Some("b"));
    assert_eq!(value(&store, "llm"), None);
    assert_eq!(value(&store, "empty"), None);
    assert_eq!(value(&store, "nope"), None);
    assert_eq!(store.summary().values, 4);
}

#[test]
fn reload_picks_up_changes_and_a_broken_file_keeps_the_old_values() {
    let f = fixture("a: one\n");
    let store = SecretStore::open(&f.secrets, &f.sources).expect("opens");
    write(&f.secrets, "a: two\nb: three\n", &f.recipient);
    assert_eq!(store.reload().expect("reloads").values, 2);
    assert_eq!(value(&store, "a").as_deref(), Some("two"));
    std::fs::write(&f.secrets, "not: [sops").expect("breaks");
    let error = store.reload().expect_err("broken");
    assert!(error.to_string().contains("secrets.yaml"), "{error}");
    assert_eq!(value(&store, "b").as_deref(), Some("three"));
}

#[test]
fn user_secrets_seal_to_the_file_recipients() {
    let f = fixture("a: one\n");
    let store = SecretStore::open(&f.secrets, &f.sources).expect("opens");
    let sealed = store.seal("bot-token").expect("seals");
    assert!(!sealed.contains("bot-token"));
    assert_eq!(
        store.open_sealed(&sealed).expect("opens").expose_secret(),
        "bot-token"
    );
}

#[test]
fn missing_keys_and_files_are_clear_errors() {
    let f = fixture("a: one\n");
    let error = SecretStore::open(&f.secrets, &KeySources::default()).expect_err("no keys");
    assert!(error.to_string().contains("no age identity"), "{error}");
    let error =
        SecretStore::open(Path::new("/nonexistent/secrets.yaml"), &f.sources).expect_err("no file");
    assert!(
        error.to_string().contains("/nonexistent/secrets.yaml"),
        "{error}"
    );
}
