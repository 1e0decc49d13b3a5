//! [`SopsFile`] (encrypted, as stored) and [`DecryptedFile`] (opened with the data key, editable).

use std::fmt;

use crate::cipher::{self, DataKey};
use crate::codec::{DataType, now_rfc3339};
use crate::document::{Document, Format};
use crate::error::{DecryptError, EmitError, EncryptError, ParseError, PathError};
use crate::keys::{self, AgeStanza, Identities, Recipient};
use crate::metadata::{Metadata, SOPS_VERSION};
use crate::path::KeyPath;
use crate::value::{Map, Value};
use crate::walk::{EncryptionRule, IvStash, Stash, Walk, random_iv};
use crate::{json, yaml};

/// An encrypted sops file: the tree with `ENC[...]` values, plus its `sops` metadata.
///
/// `Display` writes it in its format (YAML: 4-space indent; JSON: tab indent), ready for real sops.
#[derive(Clone, Debug)]
pub struct SopsFile {
    format: Format,
    tree: Map,
    metadata: Metadata,
}

/// Options for [`encrypt_with`].
#[derive(Clone, Debug, Default)]
pub struct EncryptOptions {
    /// Which values are encrypted (default: all but those under a `*_unencrypted` key).
    pub rule: EncryptionRule,
    /// Authenticate only the encrypted values (sops `--mac-only-encrypted`).
    pub mac_only_encrypted: bool,
}

/// Encrypts a plaintext document to age recipients with the default options.
pub fn encrypt(
    document: &Document,
    recipients: &[Recipient],
    format: Format,
) -> Result<SopsFile, EncryptError> {
    encrypt_with(document, recipients, format, &EncryptOptions::default())
}

/// Encrypts a plaintext document to age recipients with a fresh data key.
pub fn encrypt_with(
    document: &Document,
    recipients: &[Recipient],
    format: Format,
    options: &EncryptOptions,
) -> Result<SopsFile, EncryptError> {
    if recipients.is_empty() {
        return Err(EncryptError::NoRecipients);
    }
    if document.root().get("sops").is_some() {
        return Err(EncryptError::AlreadyEncrypted);
    }
    let key = DataKey::generate()?;
    let mut opened = DecryptedFile {
        format,
        document: document.clone(),
        metadata: Metadata {
            age: Vec::new(),
            lastmodified: String::new(),
            mac: String::new(),
            rule: options.rule.clone(),
            mac_only_encrypted: options.mac_only_encrypted,
            version: SOPS_VERSION.to_owned(),
            foreign_sources: Vec::new(),
        },
        key,
        stash: IvStash::default(),
    };
    for recipient in recipients {
        opened.add_recipient(recipient)?;
    }
    opened.encrypt()
}

impl SopsFile {
    /// Parses an encrypted file (UTF-8 YAML or JSON with a top-level `sops` key).
    pub fn parse(input: impl AsRef<[u8]>, format: Format) -> Result<Self, ParseError> {
        let text = std::str::from_utf8(input.as_ref()).map_err(|e| ParseError::Yaml {
            line: 0,
            column: e.valid_up_to(),
            message: "input is not valid utf-8".to_owned(),
        })?;
        let mut tree = match format {
            Format::Yaml => yaml::parse(text)?,
            Format::Json => json::parse(text)?,
        };
        let sops = tree.remove("sops").ok_or(ParseError::MetadataNotFound)?;
        let metadata = Metadata::from_value(&sops)?;
        Ok(Self {
            format,
            tree,
            metadata,
        })
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The age recipients the data key is wrapped to.
    pub fn recipients(&self) -> Vec<String> {
        self.metadata
            .age
            .iter()
            .map(|s| s.recipient.clone())
            .collect()
    }

    /// The `lastmodified` timestamp as written.
    pub fn last_modified(&self) -> &str {
        &self.metadata.lastmodified
    }

    /// The sops version that wrote the file.
    pub fn version(&self) -> &str {
        &self.metadata.version
    }

    /// The encryption rule recorded in the file.
    pub fn rule(&self) -> &EncryptionRule {
        &self.metadata.rule
    }

    /// Whether only encrypted values are authenticated by the MAC.
    pub fn mac_only_encrypted(&self) -> bool {
        self.metadata.mac_only_encrypted
    }

    /// The encrypted tree (values are `ENC[...]` strings), without the `sops` block.
    pub fn encrypted_tree(&self) -> &Map {
        &self.tree
    }

    /// Decrypts and verifies the MAC, returning the plaintext document.
    pub fn decrypt(&self, identities: &Identities) -> Result<Document, DecryptError> {
        self.open(identities).map(DecryptedFile::into_document)
    }

    /// Decrypts and verifies the MAC, keeping the data key so the file can be edited and re-encrypted.
    pub fn open(&self, identities: &Identities) -> Result<DecryptedFile, DecryptError> {
        let key = keys::unwrap(&self.metadata.age, identities)?;
        let rule = self
            .metadata
            .rule
            .compile()
            .map_err(|e| DecryptError::Rule {
                reason: e.to_string(),
            })?;
        let mut stash = IvStash::default();
        let mut walk = Walk::new(
            &key,
            &rule,
            self.metadata.mac_only_encrypted,
            self.format,
            Stash::Record(&mut stash),
        );
        let root = walk.decrypt_map(&self.tree)?;
        let computed = walk.finish();
        self.verify_mac(&key, &computed)?;
        Ok(DecryptedFile {
            format: self.format,
            document: Document::new(root),
            metadata: self.metadata.clone(),
            key,
            stash,
        })
    }

    fn verify_mac(&self, key: &DataKey, computed: &str) -> Result<(), DecryptError> {
        let aad = self.metadata.mac_aad();
        let stored = cipher::open(key, &self.metadata.mac, aad.as_bytes())
            .map_err(|source| DecryptError::Mac { source })?;
        if stored.plaintext.as_slice() != computed.as_bytes() {
            return Err(DecryptError::MacMismatch);
        }
        Ok(())
    }

    /// Writes the file as text.
    pub fn to_text(&self) -> Result<String, EmitError> {
        let mut root = self.tree.clone();
        root.insert("sops", self.metadata.to_value());
        match self.format {
            Format::Yaml => Ok(yaml::emit(&root)),
            Format::Json => json::emit(&root),
        }
    }
}

impl fmt::Display for SopsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Constructors check that the tree can be written, so this only fails on a formatter error.
        let text = self.to_text().map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// An opened file: the plaintext document plus the data key, for edits, rotation and recipient changes.
///
/// Nothing is written until [`DecryptedFile::encrypt`]. `Debug` shows no plaintext.
#[derive(Debug)]
pub struct DecryptedFile {
    format: Format,
    document: Document,
    metadata: Metadata,
    key: DataKey,
    stash: IvStash,
}

impl DecryptedFile {
    /// The plaintext document.
    pub fn document(&self) -> &Document {
        &self.document
    }

    /// The plaintext document, mutably.
    pub fn document_mut(&mut self) -> &mut Document {
        &mut self.document
    }

    /// Unwraps the plaintext document (the data key is wiped).
    pub fn into_document(self) -> Document {
        self.document
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Returns the value at `path`.
    pub fn get(&self, path: &KeyPath) -> Option<&Value> {
        self.document.get(path)
    }

    /// Sets the value at `path`; other values keep their ciphertext when re-encrypted.
    pub fn set(&mut self, path: &KeyPath, value: Value) -> Result<(), PathError> {
        self.document.set(path, value)
    }

    /// The age recipients the data key is wrapped to.
    pub fn recipients(&self) -> Vec<String> {
        self.metadata
            .age
            .iter()
            .map(|s| s.recipient.clone())
            .collect()
    }

    fn only_age(&self) -> Result<(), EncryptError> {
        if self.metadata.foreign_sources.is_empty() {
            return Ok(());
        }
        Err(EncryptError::ForeignKeySources {
            sources: self.metadata.foreign_sources.join(", "),
        })
    }

    /// Replaces the data key with a fresh one and re-wraps it to every recipient; every value gets a
    /// new ciphertext on the next [`DecryptedFile::encrypt`].
    pub fn rotate(&mut self) -> Result<(), EncryptError> {
        self.only_age()?;
        let recipients = self
            .metadata
            .age
            .iter()
            .map(|s| Recipient::parse(&s.recipient))
            .collect::<Result<Vec<_>, _>>()?;
        self.key = DataKey::generate()?;
        self.stash = IvStash::default();
        self.metadata.age = recipients
            .iter()
            .map(|r| keys::wrap(&self.key, r))
            .collect::<Result<Vec<AgeStanza>, _>>()?;
        Ok(())
    }

    /// Wraps the data key to one more recipient (no-op if it is already one).
    pub fn add_recipient(&mut self, recipient: &Recipient) -> Result<(), EncryptError> {
        self.only_age()?;
        let name = recipient.to_string();
        if self.metadata.age.iter().any(|s| s.recipient == name) {
            return Ok(());
        }
        let stanza = keys::wrap(&self.key, recipient)?;
        self.metadata.age.push(stanza);
        Ok(())
    }

    /// Removes a recipient and rotates the data key, since the removed key may have kept the old one.
    ///
    /// Removing the last recipient is an error.
    pub fn remove_recipient(&mut self, recipient: &str) -> Result<(), EncryptError> {
        self.only_age()?;
        let recipient = recipient.trim();
        let index = self
            .metadata
            .age
            .iter()
            .position(|s| s.recipient == recipient)
            .ok_or_else(|| EncryptError::UnknownRecipient {
                recipient: recipient.to_owned(),
            })?;
        if self.metadata.age.len() == 1 {
            return Err(EncryptError::LastRecipient {
                recipient: recipient.to_owned(),
            });
        }
        self.metadata.age.remove(index);
        self.rotate()
    }

    /// Encrypts the document with the current data key: new `lastmodified`, new MAC.
    pub fn encrypt(&self) -> Result<SopsFile, EncryptError> {
        self.only_age()?;
        if self.metadata.age.is_empty() {
            return Err(EncryptError::NoRecipients);
        }
        let rule = self.metadata.rule.compile()?;
        let mut walk = Walk::new(
            &self.key,
            &rule,
            self.metadata.mac_only_encrypted,
            self.format,
            Stash::Reuse(&self.stash),
        );
        let tree = walk.encrypt_map(self.document.root())?;
        let mac = walk.finish();
        let lastmodified = now_rfc3339();
        let sealed_mac = cipher::seal(
            &self.key,
            &random_iv()?,
            lastmodified.as_bytes(),
            mac.as_bytes(),
            DataType::Str,
        );
        let metadata = Metadata {
            lastmodified,
            mac: sealed_mac,
            version: SOPS_VERSION.to_owned(),
            ..self.metadata.clone()
        };
        let file = SopsFile {
            format: self.format,
            tree,
            metadata,
        };
        file.to_text()?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn expected() -> serde_json::Value {
        serde_json::from_str(&fixture("expected.json")).expect("expected.json parses")
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn key1() -> Identities {
        Identities::parse(&fixture("age-key.txt"), "age-key.txt").expect("key")
    }

    /// Unwraps the data key and recomputes the plaintext MAC, step by step.
    fn steps(name: &str) -> (SopsFile, DataKey, String) {
        let format = Format::from_path(name).expect("known extension");
        let file = SopsFile::parse(fixture(name), format).expect("parses");
        let key = keys::unwrap(&file.metadata.age, &key1()).expect("unwraps");
        let rule = file.metadata.rule.compile().expect("rule");
        let mut stash = IvStash::default();
        let mut walk = Walk::new(&key, &rule, false, format, Stash::Record(&mut stash));
        walk.decrypt_map(&file.tree).expect("values decrypt");
        let mac = walk.finish();
        (file, key, mac)
    }

    #[test]
    fn data_keys_macs_and_lastmodified_match_expected_json() {
        let expected = expected();
        for name in [
            "secrets.enc.yaml",
            "secrets.enc.json",
            "secrets.multi.enc.yaml",
            "comments.enc.yaml",
        ] {
            let (file, key, mac) = steps(name);
            assert_eq!(
                hex(key.as_bytes()),
                expected["data_key_hex"][name],
                "{name}"
            );
            assert_eq!(
                file.metadata.lastmodified, expected["lastmodified"][name],
                "{name}"
            );
            let mac_key = if name.starts_with("comments") {
                "mac_plaintext_comments"
            } else {
                "mac_plaintext_secrets"
            };
            assert_eq!(mac, expected[mac_key], "{name}");
        }
    }

    #[test]
    fn aad_examples_from_expected_json_open_the_values() {
        let (file, key, _) = steps("secrets.enc.yaml");
        let examples = &expected()["aad_examples"];
        let lookup = |path: &[&str], index: &[usize]| -> String {
            let mut node = Value::Map(file.tree.clone());
            let mut indices = index.iter();
            for key in path {
                node = node
                    .as_map()
                    .and_then(|m| m.get(key))
                    .cloned()
                    .expect("key exists");
                while let (Some(list), Some(i)) = (node.as_list(), indices.clone().next()) {
                    node = list.get(*i).cloned().expect("index exists");
                    indices.next();
                }
            }
            node.as_str().expect("an ENC string").to_owned()
        };
        let cases: [(&str, &[&str], &[usize]); 4] = [
            ("app.port", &["app", "port"], &[]),
            (
                "telegram.admin_chat_ids[1]",
                &["telegram", "admin_chat_ids"],
                &[1],
            ),
            (
                "llm.providers[0].api_key",
                &["llm", "providers", "api_key"],
                &[0],
            ),
            ("llm.nested_list[1][0]", &["llm", "nested_list"], &[1, 0]),
        ];
        for (example, path, index) in cases {
            let aad = examples[example].as_str().expect("aad example");
            let enc = lookup(path, index);
            cipher::open(&key, &enc, aad.as_bytes()).unwrap_or_else(|e| panic!("{example}: {e}"));
        }
        let mac = cipher::open(
            &key,
            &file.metadata.mac,
            file.metadata.lastmodified.as_bytes(),
        );
        assert!(mac.is_ok(), "the MAC opens with AAD = lastmodified");
    }
}
