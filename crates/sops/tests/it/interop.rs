//! Round trips against the real sops 3.11 binary, both ways.
//!
//! The binary is found through `SOPS_BIN`, then `PATH`, then the venv `scripts/install-sops.sh` creates.
//! If none is there the tests fail (they never skip): run `scripts/install-sops.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use orch_sops::{DecryptError, Document, Format, KeyPath, List, Map, SopsFile, Value, encrypt};

use crate::common::*;

const RICH_YAML: &str = r#"# head comment
app:
    name: demo
    port: 8080
    ratio: 0.5
    big: 9007199254740993
    neg: -12
    debug: true
    "off": false
    when: !!timestamp 2024-05-06T07:08:09.123+02:00
    # comment inside app
    url: "postgres://u:p@h:5432/db?x=1#frag"
secrets_unencrypted:
    visible: plain text
    n: 5
list:
    # list comment
    - one
    - 2
    - 3.25
    - null
    - ""
    - - nested
      - list
    - key: value # inline comment
      other: 1
multi: |
    line 1
    line 2
unicode: "пароль-🔑"
quoted: "yes"
empty: ""
nothing: null
tricky: "a: b # c"
bin: !!binary /w==
# trailing comment
"#;

const RICH_JSON: &str = r#"{
  "app": {"name": "demo", "port": 8080, "ratio": 0.5, "neg": -12, "debug": true, "off": false},
  "secrets_unencrypted": {"visible": "plain text", "n": 5, "f": 1.5},
  "list": ["one", 2, 3.25, null, "", ["nested", "list"], {"key": "value", "other": 1}],
  "unicode": "пароль-🔑\n\"q\"",
  "empty": "",
  "nothing": null,
  "empty_map": {},
  "empty_list": []
}"#;

fn sops_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SOPS_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("sops"))
            .find(|candidate| candidate.is_file())
    });
    let venv = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/codegen-orchestrator/sops-venv/bin/sops"))
        .filter(|p| p.is_file());
    on_path.or(venv).unwrap_or_else(|| {
        panic!(
            "the real sops binary was not found (SOPS_BIN unset, no `sops` on PATH): \
             run scripts/install-sops.sh and export SOPS_BIN=<the path it prints>"
        )
    })
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("orch-sops-it-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs sops with only the given key file visible; returns stdout, or stderr on failure.
fn sops(dir: &TempDir, key_file: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(sops_bin())
        .arg("--disable-version-check")
        .args(args)
        .current_dir(&dir.0)
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_CMD")
        .env("SOPS_AGE_KEY_FILE", fixture_path(key_file))
        .env("XDG_CONFIG_HOME", &dir.0)
        .output()
        .expect("sops runs (see scripts/install-sops.sh)");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("sops prints utf-8");
    if output.status.success() {
        Ok(text(output.stdout))
    } else {
        Err(text(output.stderr))
    }
}

fn sops_decrypt(dir: &TempDir, file: &Path, key_file: &str) -> Result<String, String> {
    sops(dir, key_file, &["decrypt", &file.display().to_string()])
}

/// sops prints timestamps as plain scalars, which read back as strings.
fn times_as_strings(value: &Value) -> Value {
    match value {
        Value::Time(t) => Value::string(t.to_rfc3339()),
        Value::Map(map) => {
            let mut out = Map::from_items(Vec::new());
            for (k, v) in map.entries() {
                out.insert(k, times_as_strings(v));
            }
            Value::Map(out)
        }
        Value::List(list) => Value::List(list.values().map(times_as_strings).collect::<List>()),
        other => other.clone(),
    }
}

fn check_sops_reads_ours(text: &str, format: Format, name: &str) {
    let doc = Document::parse(text, format).expect("plaintext parses");
    let file = encrypt(
        &doc,
        &[recipient(RECIPIENT_1), recipient(RECIPIENT_2)],
        format,
    )
    .expect("encrypts");
    let dir = TempDir::new();
    let path = dir.write(name, &file.to_string());
    for key in ["age-key.txt", "age-key-2.txt"] {
        let out = sops_decrypt(&dir, &path, key).unwrap_or_else(|e| panic!("sops decrypt: {e}"));
        let back = Document::parse(&out, format).expect("sops output parses");
        let expected = Document::new(
            times_as_strings(&Value::Map(doc.root().clone()))
                .as_map()
                .cloned()
                .unwrap_or_default(),
        );
        assert_same_data(&back, &expected, name);
        if format == Format::Yaml {
            assert_eq!(
                comments(back.root()),
                comments(doc.root()),
                "{name}: comments"
            );
        }
    }
}

#[test]
fn sops_decrypts_our_yaml() {
    check_sops_reads_ours(RICH_YAML, Format::Yaml, "ours.enc.yaml");
}

#[test]
fn sops_decrypts_our_json() {
    check_sops_reads_ours(RICH_JSON, Format::Json, "ours.enc.json");
}

fn check_we_read_sops(text: &str, format: Format, name: &str) {
    let dir = TempDir::new();
    let plain = dir.write(name, text);
    let recipients = format!("{RECIPIENT_1},{RECIPIENT_2}");
    let encrypted = sops(
        &dir,
        "age-key.txt",
        &[
            "encrypt",
            "--age",
            &recipients,
            &plain.display().to_string(),
        ],
    )
    .unwrap_or_else(|e| panic!("sops encrypt: {e}"));
    let file = SopsFile::parse(&encrypted, format).expect("sops output parses");
    let expected = Document::parse(text, format).expect("plaintext parses");
    for keys in [key1(), key2()] {
        let doc = file.decrypt(&keys).expect("we decrypt sops output");
        assert_same_data(&doc, &expected, name);
        if format == Format::Yaml {
            assert_eq!(
                comments(doc.root()),
                comments(expected.root()),
                "{name}: comments"
            );
        }
    }
}

#[test]
fn we_decrypt_sops_yaml() {
    check_we_read_sops(RICH_YAML, Format::Yaml, "theirs.yaml");
}

#[test]
fn we_decrypt_sops_json() {
    check_we_read_sops(RICH_JSON, Format::Json, "theirs.json");
}

fn path(text: &str) -> KeyPath {
    KeyPath::parse(text).expect("valid path")
}

fn sops_value(dir: &TempDir, file: &SopsFile, key: &str, at: &str) -> Result<Value, String> {
    let path_on_disk = dir.write("edited.enc.yaml", &file.to_string());
    let out = sops_decrypt(dir, &path_on_disk, key)?;
    let doc = Document::parse(&out, Format::Yaml).expect("sops output parses");
    Ok(doc.get(&path(at)).cloned().unwrap_or(Value::Null))
}

#[test]
fn sops_reads_files_after_set_rotate_and_recipient_changes() {
    let dir = TempDir::new();
    let doc = Document::parse(RICH_YAML, Format::Yaml).expect("parses");
    let file = encrypt(&doc, &[recipient(RECIPIENT_1)], Format::Yaml).expect("encrypts");

    let mut opened = file.open(&key1()).expect("opens");
    opened
        .set(&path("app.name"), Value::from("changed"))
        .expect("set");
    opened
        .set(&path("list[1]"), Value::Int(42))
        .expect("set list item");
    opened.add_recipient(&recipient(RECIPIENT_2)).expect("add");
    let edited = opened.encrypt().expect("re-encrypts");
    for key in ["age-key.txt", "age-key-2.txt"] {
        assert_eq!(
            sops_value(&dir, &edited, key, "app.name"),
            Ok(Value::from("changed"))
        );
        assert_eq!(
            sops_value(&dir, &edited, key, "list[1]"),
            Ok(Value::Int(42))
        );
    }

    let mut opened = edited.open(&key2()).expect("opens with the added key");
    opened.rotate().expect("rotates");
    let rotated = opened.encrypt().expect("re-encrypts");
    assert_eq!(
        sops_value(&dir, &rotated, "age-key.txt", "app.port"),
        Ok(Value::Int(8080))
    );

    let mut opened = rotated.open(&key1()).expect("opens");
    opened.remove_recipient(RECIPIENT_1).expect("removes");
    let removed = opened.encrypt().expect("re-encrypts");
    assert_eq!(removed.recipients(), [RECIPIENT_2]);
    assert_eq!(
        sops_value(&dir, &removed, "age-key-2.txt", "app.name"),
        Ok(Value::from("changed"))
    );
    let refused = sops_value(&dir, &removed, "age-key.txt", "app.name");
    assert!(
        refused.is_err(),
        "the removed key must not decrypt: {refused:?}"
    );
    assert!(matches!(
        removed.decrypt(&key1()),
        Err(DecryptError::NoMatchingIdentity { .. })
    ));
}

#[test]
fn sops_accepts_our_rules_and_mac_only_encrypted() {
    use orch_sops::{EncryptOptions, EncryptionRule, encrypt_with};
    let doc = plain_fixture("secrets.yaml");
    let dir = TempDir::new();
    let rules = [
        EncryptionRule::EncryptedRegex("^(database|llm)$".into()),
        EncryptionRule::UnencryptedRegex("^app$".into()),
        EncryptionRule::EncryptedSuffix("_key".into()),
    ];
    for (i, rule) in rules.into_iter().enumerate() {
        let options = EncryptOptions {
            rule,
            mac_only_encrypted: i % 2 == 0,
        };
        let file = encrypt_with(&doc, &[recipient(RECIPIENT_1)], Format::Yaml, &options)
            .expect("encrypts");
        let path = dir.write(&format!("rule{i}.enc.yaml"), &file.to_string());
        let out =
            sops_decrypt(&dir, &path, "age-key.txt").unwrap_or_else(|e| panic!("{options:?}: {e}"));
        let back = Document::parse(&out, Format::Yaml).expect("parses");
        assert_same_data(&back, &doc, &format!("{options:?}"));
    }
}
