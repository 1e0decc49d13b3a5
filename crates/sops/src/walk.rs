//! The tree walk that encrypts or decrypts every leaf and computes the MAC, as `sops.Tree.Encrypt/Decrypt`.
//!
//! - AAD of a value: the map keys on its path joined by `:` plus a trailing `:` (list indices are not part
//!   of the path); a comment uses the path of the collection holding it.
//! - MAC: SHA-512 over the plaintext bytes of every non-null leaf in document order (comments excluded),
//!   only encrypted leaves when `mac_only_encrypted` (then seeded with `sha256("sops")`), upper-case hex.
//! - List comments are written as `ENC[...,type:comment]` list items, as sops does.

use std::collections::HashMap;

use regex::Regex;
use sha2::{Digest, Sha256, Sha512};

use crate::cipher::{self, DataKey, IV_LEN, fill_random, is_encrypted};
use crate::codec::{DataType, leaf_from_plaintext, leaf_plaintext};
use crate::document::Format;
use crate::error::{CipherError, DecryptError, EncryptError};
use crate::value::{List, ListItem, Map, MapItem, SecretText, Value};

/// `sha256("sops")`, fed first into the MAC when only encrypted values are authenticated.
const MAC_ONLY_ENCRYPTED_SEED: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// Which values get encrypted; sops allows one rule per file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncryptionRule {
    /// Leave values clear if any key on their path ends with this suffix (sops default: `_unencrypted`).
    UnencryptedSuffix(String),
    /// Encrypt only values with a key on their path ending with this suffix.
    EncryptedSuffix(String),
    /// Leave values clear if any key on their path matches this regex.
    UnencryptedRegex(String),
    /// Encrypt only values with a key on their path matching this regex.
    EncryptedRegex(String),
}

impl Default for EncryptionRule {
    fn default() -> Self {
        Self::UnencryptedSuffix("_unencrypted".to_owned())
    }
}

impl EncryptionRule {
    /// The metadata key sops stores this rule under.
    pub fn metadata_key(&self) -> &'static str {
        match self {
            Self::UnencryptedSuffix(_) => "unencrypted_suffix",
            Self::EncryptedSuffix(_) => "encrypted_suffix",
            Self::UnencryptedRegex(_) => "unencrypted_regex",
            Self::EncryptedRegex(_) => "encrypted_regex",
        }
    }

    /// The suffix or regex text.
    pub fn pattern(&self) -> &str {
        match self {
            Self::UnencryptedSuffix(p)
            | Self::EncryptedSuffix(p)
            | Self::UnencryptedRegex(p)
            | Self::EncryptedRegex(p) => p,
        }
    }

    pub(crate) fn compile(&self) -> Result<CompiledRule, EncryptError> {
        let regex = |p: &str| {
            Regex::new(p).map_err(|e| EncryptError::Rule {
                rule: self.metadata_key(),
                reason: e.to_string(),
            })
        };
        Ok(match self {
            Self::UnencryptedSuffix(s) => CompiledRule::UnencryptedSuffix(s.clone()),
            Self::EncryptedSuffix(s) => CompiledRule::EncryptedSuffix(s.clone()),
            Self::UnencryptedRegex(p) => CompiledRule::UnencryptedRegex(regex(p)?),
            Self::EncryptedRegex(p) => CompiledRule::EncryptedRegex(regex(p)?),
        })
    }
}

pub(crate) enum CompiledRule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
}

impl CompiledRule {
    /// `Tree.shouldBeEncrypted` for the non-comment rules.
    fn should_encrypt(&self, path: &[String]) -> bool {
        match self {
            Self::UnencryptedSuffix(s) => s.is_empty() || !path.iter().any(|k| k.ends_with(s)),
            Self::EncryptedSuffix(s) => s.is_empty() || path.iter().any(|k| k.ends_with(s)),
            Self::UnencryptedRegex(r) => !path.iter().any(|k| r.is_match(k)),
            Self::EncryptedRegex(r) => path.iter().any(|k| r.is_match(k)),
        }
    }
}

/// IVs of decrypted values, reused when the same value is re-encrypted at the same path, so unchanged
/// values keep their ciphertext (sops's cipher stash). Keys are hashes, never plaintext.
#[derive(Clone, Default)]
pub(crate) struct IvStash(HashMap<[u8; 32], [u8; IV_LEN]>);

impl IvStash {
    fn key(aad: &str, datatype: DataType, plaintext: &[u8]) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update((aad.len() as u64).to_le_bytes());
        hash.update(aad.as_bytes());
        hash.update(datatype.name().as_bytes());
        hash.update([0]);
        hash.update(plaintext);
        hash.finalize().into()
    }
}

impl std::fmt::Debug for IvStash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IvStash({} entries)", self.0.len())
    }
}

/// What the walk does with the stash.
pub(crate) enum Stash<'a> {
    Record(&'a mut IvStash),
    Reuse(&'a IvStash),
}

pub(crate) struct Walk<'a> {
    key: &'a DataKey,
    rule: &'a CompiledRule,
    mac_only_encrypted: bool,
    format: Format,
    stash: Stash<'a>,
    hasher: Sha512,
    path: Vec<String>,
}

enum Leaf {
    Value(Value),
    Comment(SecretText),
}

impl<'a> Walk<'a> {
    pub(crate) fn new(
        key: &'a DataKey,
        rule: &'a CompiledRule,
        mac_only_encrypted: bool,
        format: Format,
        stash: Stash<'a>,
    ) -> Self {
        let mut hasher = Sha512::new();
        if mac_only_encrypted {
            hasher.update(MAC_ONLY_ENCRYPTED_SEED);
        }
        Self {
            key,
            rule,
            mac_only_encrypted,
            format,
            stash,
            hasher,
            path: Vec::new(),
        }
    }

    /// The MAC as upper-case hex.
    pub(crate) fn finish(self) -> String {
        self.hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    fn aad(&self) -> String {
        let mut aad = self.path.join(":");
        aad.push(':');
        aad
    }

    fn encrypted_here(&self) -> bool {
        self.rule.should_encrypt(&self.path)
    }

    fn hash(&mut self, encrypted: bool, bytes: &[u8]) {
        if encrypted || !self.mac_only_encrypted {
            self.hasher.update(bytes);
        }
    }

    pub(crate) fn decrypt_map(&mut self, map: &Map) -> Result<Map, DecryptError> {
        let mut out = Vec::with_capacity(map.items().len());
        for item in map.items() {
            out.push(match item {
                MapItem::Comment(text) => MapItem::Comment(self.decrypt_comment(text)),
                MapItem::Entry(key, value) => {
                    self.path.push(key.clone());
                    let value = self.decrypt_value(value);
                    self.path.pop();
                    MapItem::Entry(key.clone(), value?)
                }
            });
        }
        Ok(Map::from_items(out))
    }

    fn decrypt_list(&mut self, list: &List) -> Result<List, DecryptError> {
        let mut out = Vec::with_capacity(list.items().len());
        for item in list.items() {
            out.push(match item {
                ListItem::Comment(text) => ListItem::Comment(self.decrypt_comment(text)),
                ListItem::Value(Value::Str(text)) if self.encrypted_here() => {
                    match self.decrypt_leaf(text)? {
                        Leaf::Value(value) => ListItem::Value(value),
                        Leaf::Comment(text) => ListItem::Comment(text),
                    }
                }
                ListItem::Value(value) => ListItem::Value(self.decrypt_value(value)?),
            });
        }
        Ok(List::from_items(out))
    }

    fn decrypt_value(&mut self, value: &Value) -> Result<Value, DecryptError> {
        let encrypted = self.encrypted_here();
        match value {
            Value::Map(map) => Ok(Value::Map(self.decrypt_map(map)?)),
            Value::List(list) => Ok(Value::List(self.decrypt_list(list)?)),
            Value::Null => Ok(Value::Null),
            Value::Str(text) if encrypted => match self.decrypt_leaf(text)? {
                Leaf::Value(value) => Ok(value),
                Leaf::Comment(text) => Ok(Value::Str(text)),
            },
            other if encrypted => Err(DecryptError::NotEncrypted {
                path: self.aad(),
                kind: other.kind(),
            }),
            other => {
                if let Some(plain) = leaf_plaintext(other, self.format) {
                    self.hash(false, &plain.bytes);
                }
                Ok(other.clone())
            }
        }
    }

    /// Decrypts an encrypted string leaf (an empty string stays empty, as in sops).
    fn decrypt_leaf(&mut self, text: &SecretText) -> Result<Leaf, DecryptError> {
        if text.expose().is_empty() {
            return Ok(Leaf::Value(Value::string("")));
        }
        let aad = self.aad();
        let value_error = |source: CipherError| DecryptError::Value {
            path: aad.clone(),
            source,
        };
        let opened = cipher::open(self.key, text.expose(), aad.as_bytes()).map_err(value_error)?;
        if let Stash::Record(stash) = &mut self.stash {
            let key = IvStash::key(&aad, opened.datatype, &opened.plaintext);
            stash.0.insert(key, opened.iv);
        }
        if opened.datatype == DataType::Comment {
            let text = String::from_utf8(opened.plaintext.to_vec()).map_err(|_| {
                value_error(CipherError::InvalidPlaintext {
                    datatype: "comment",
                })
            })?;
            return Ok(Leaf::Comment(SecretText::new(text)));
        }
        let value = leaf_from_plaintext(opened.datatype, &opened.plaintext, self.format)
            .map_err(value_error)?;
        if let Some(plain) = leaf_plaintext(&value, self.format) {
            self.hash(true, &plain.bytes);
        }
        Ok(Leaf::Value(value))
    }

    /// Decrypts a comment; like sops, one that does not decrypt is kept as written.
    ///
    /// The AAD is the holding collection's path; ancestors are tried too, for hand-placed comments.
    fn decrypt_comment(&mut self, text: &SecretText) -> SecretText {
        if !self.encrypted_here() || !is_encrypted(text.expose()) {
            return text.clone();
        }
        for depth in (0..=self.path.len()).rev() {
            let mut aad = self.path[..depth].join(":");
            aad.push(':');
            let Ok(opened) = cipher::open(self.key, text.expose(), aad.as_bytes()) else {
                continue;
            };
            if let Stash::Record(stash) = &mut self.stash {
                let key = IvStash::key(&aad, opened.datatype, &opened.plaintext);
                stash.0.insert(key, opened.iv);
            }
            if let Ok(plain) = std::str::from_utf8(&opened.plaintext) {
                return SecretText::new(plain);
            }
        }
        text.clone()
    }

    pub(crate) fn encrypt_map(&mut self, map: &Map) -> Result<Map, EncryptError> {
        let mut out = Vec::with_capacity(map.items().len());
        for item in map.items() {
            out.push(match item {
                MapItem::Comment(text) => MapItem::Comment(self.encrypt_comment(text)?),
                MapItem::Entry(key, value) => {
                    self.path.push(key.clone());
                    let value = self.encrypt_value(value);
                    self.path.pop();
                    MapItem::Entry(key.clone(), value?)
                }
            });
        }
        Ok(Map::from_items(out))
    }

    fn encrypt_list(&mut self, list: &List) -> Result<List, EncryptError> {
        let mut out = Vec::with_capacity(list.items().len());
        for item in list.items() {
            out.push(match item {
                ListItem::Comment(text) if self.encrypted_here() && !text.expose().is_empty() => {
                    ListItem::Value(Value::Str(self.encrypt_comment(text)?))
                }
                ListItem::Comment(text) => ListItem::Comment(text.clone()),
                ListItem::Value(value) => ListItem::Value(self.encrypt_value(value)?),
            });
        }
        Ok(List::from_items(out))
    }

    fn encrypt_value(&mut self, value: &Value) -> Result<Value, EncryptError> {
        match value {
            Value::Map(map) => return Ok(Value::Map(self.encrypt_map(map)?)),
            Value::List(list) => return Ok(Value::List(self.encrypt_list(list)?)),
            _ => {}
        }
        let Some(plain) = leaf_plaintext(value, self.format) else {
            return Ok(value.clone());
        };
        let encrypted = self.encrypted_here();
        self.hash(encrypted, &plain.bytes);
        if !encrypted || plain.bytes.is_empty() && plain.datatype == DataType::Str {
            return Ok(value.clone());
        }
        let sealed = self.seal(plain.datatype, &plain.bytes)?;
        Ok(Value::Str(SecretText::new(sealed)))
    }

    fn encrypt_comment(&mut self, text: &SecretText) -> Result<SecretText, EncryptError> {
        if !self.encrypted_here() || text.expose().is_empty() {
            return Ok(text.clone());
        }
        let sealed = self.seal(DataType::Comment, text.expose().as_bytes())?;
        Ok(SecretText::new(sealed))
    }

    fn seal(&mut self, datatype: DataType, plaintext: &[u8]) -> Result<String, EncryptError> {
        let aad = self.aad();
        let reused = match &self.stash {
            Stash::Reuse(stash) => stash
                .0
                .get(&IvStash::key(&aad, datatype, plaintext))
                .copied(),
            Stash::Record(_) => None,
        };
        let iv = match reused {
            Some(iv) => iv,
            None => random_iv()?,
        };
        Ok(cipher::seal(
            self.key,
            &iv,
            aad.as_bytes(),
            plaintext,
            datatype,
        ))
    }
}

/// A fresh random IV.
pub(crate) fn random_iv() -> Result<[u8; IV_LEN], EncryptError> {
    let mut iv = [0u8; IV_LEN];
    fill_random(&mut iv)?;
    Ok(iv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn rules_follow_should_be_encrypted() {
        let default = EncryptionRule::default().compile().expect("compiles");
        assert!(default.should_encrypt(&path(&["a", "b"])));
        assert!(!default.should_encrypt(&path(&["a_unencrypted", "b"])));
        let suffix = EncryptionRule::EncryptedSuffix("_enc".into())
            .compile()
            .expect("compiles");
        assert!(suffix.should_encrypt(&path(&["x_enc", "b"])));
        assert!(!suffix.should_encrypt(&path(&["x", "b"])));
        let regex = EncryptionRule::EncryptedRegex("^(data|stringData)$".into())
            .compile()
            .expect("compiles");
        assert!(regex.should_encrypt(&path(&["data", "k"])));
        assert!(!regex.should_encrypt(&path(&["metadata", "k"])));
        assert!(
            EncryptionRule::UnencryptedRegex("(".into())
                .compile()
                .is_err()
        );
    }

    #[test]
    fn mac_seed_is_sha256_of_sops() {
        let seed: [u8; 32] = Sha256::digest(b"sops").into();
        assert_eq!(seed, MAC_ONLY_ENCRYPTED_SEED);
    }
}
