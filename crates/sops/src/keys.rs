//! age identities and recipients, wrapping of the data key, and where sops looks for keys.
//!
//! The public API always takes [`Identities`] explicitly; [`KeySources::from_env`] is the one place
//! that reads the environment, so callers (and tests) can bypass it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::x25519;

use crate::cipher::DataKey;
use crate::error::{DecryptError, EncryptError, KeyError};
use crate::value::SecretText;

/// An age X25519 recipient (`age1…`): a public key the data key is wrapped to.
#[derive(Clone)]
pub struct Recipient(x25519::Recipient);

impl Recipient {
    /// Parses an `age1…` string.
    pub fn parse(text: &str) -> Result<Self, EncryptError> {
        x25519::Recipient::from_str(text.trim())
            .map(Self)
            .map_err(|reason| EncryptError::InvalidRecipient {
                recipient: text.to_owned(),
                reason: reason.to_string(),
            })
    }
}

impl FromStr for Recipient {
    type Err = EncryptError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({})", self.0)
    }
}

impl PartialEq for Recipient {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Recipient {}

/// A set of age X25519 identities (secret keys). `Debug` shows only their public keys.
#[derive(Clone, Default)]
pub struct Identities {
    keys: Vec<x25519::Identity>,
}

impl Identities {
    /// Creates an empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses identities in the age key-file format (`#` comments, one `AGE-SECRET-KEY-1…` per line).
    ///
    /// `origin` names the source in errors (a path, or `SOPS_AGE_KEY`); key material is never shown.
    pub fn parse(text: &str, origin: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let location = || (origin.to_owned(), index + 1);
            if !line.starts_with("AGE-SECRET-KEY-1") {
                let (origin, line) = location();
                return Err(KeyError::UnsupportedIdentity { origin, line });
            }
            let key = x25519::Identity::from_str(line).map_err(|_| {
                let (origin, line) = location();
                KeyError::InvalidIdentity { origin, line }
            })?;
            keys.push(key);
        }
        Ok(Self { keys })
    }

    /// Reads an age key file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let text = SecretText::new(text);
        Self::parse(text.expose(), &path.display().to_string())
    }

    /// Loads every identity the sources name, in sops's order: inline keys, key file, default file.
    ///
    /// A missing default file is not an error; a missing explicit key file is.
    pub fn load(sources: &KeySources) -> Result<Self, KeyError> {
        let mut all = Self::new();
        if let Some(inline) = &sources.inline {
            all.extend(Self::parse(inline.expose(), "SOPS_AGE_KEY")?);
        }
        if let Some(path) = &sources.key_file {
            all.extend(Self::from_file(path)?);
        }
        if let Some(path) = sources.default_file.as_ref().filter(|p| p.is_file()) {
            all.extend(Self::from_file(path)?);
        }
        Ok(all)
    }

    /// Loads identities from the environment the way sops does (see [`KeySources::from_env`]).
    pub fn from_env() -> Result<Self, KeyError> {
        Self::load(&KeySources::from_env())
    }

    /// Adds one identity.
    pub fn push(&mut self, identity: x25519::Identity) {
        self.keys.push(identity);
    }

    /// Adds all identities of `other`.
    pub fn extend(&mut self, other: Identities) {
        self.keys.extend(other.keys);
    }

    /// Returns the public keys of the identities.
    pub fn recipients(&self) -> Vec<Recipient> {
        self.keys.iter().map(|k| Recipient(k.to_public())).collect()
    }

    /// Counts the identities.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Tells whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("public_keys", &self.recipients())
            .finish()
    }
}

/// Where sops looks for age identities; build it with [`KeySources::from_env`] or by hand.
#[derive(Clone, Debug, Default)]
pub struct KeySources {
    /// Inline keys (`SOPS_AGE_KEY`).
    pub inline: Option<SecretText>,
    /// An explicit key file (`SOPS_AGE_KEY_FILE`); it must exist.
    pub key_file: Option<PathBuf>,
    /// The default key file, used if it exists: `$XDG_CONFIG_HOME/sops/age/keys.txt`,
    /// else `$HOME/.config/sops/age/keys.txt`.
    pub default_file: Option<PathBuf>,
}

impl KeySources {
    /// Reads `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `XDG_CONFIG_HOME` and `HOME`.
    ///
    /// This is the crate's only access to the environment. `SOPS_AGE_KEY_CMD` and SSH keys are not supported.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let config_dir = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".config")));
        Self {
            inline: std::env::var("SOPS_AGE_KEY")
                .ok()
                .filter(|v| !v.is_empty())
                .map(SecretText::new),
            key_file: var("SOPS_AGE_KEY_FILE").map(PathBuf::from),
            default_file: config_dir.map(|dir| dir.join("sops").join("age").join("keys.txt")),
        }
    }
}

/// One `sops.age` entry: a recipient and the data key wrapped (armored) to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AgeStanza {
    pub(crate) recipient: String,
    pub(crate) enc: String,
}

/// Wraps the data key to one recipient (ASCII-armored age file, as sops writes it).
pub(crate) fn wrap(key: &DataKey, recipient: &Recipient) -> Result<AgeStanza, EncryptError> {
    let enc =
        age::encrypt_and_armor(&recipient.0, key.as_bytes()).map_err(|e| EncryptError::Wrap {
            recipient: recipient.to_string(),
            reason: e.to_string(),
        })?;
    Ok(AgeStanza {
        recipient: recipient.to_string(),
        enc,
    })
}

/// Unwraps the data key with the first identity that opens any stanza.
///
/// Identities whose public key matches a stanza's recipient are tried first.
pub(crate) fn unwrap(
    stanzas: &[AgeStanza],
    identities: &Identities,
) -> Result<DataKey, DecryptError> {
    if stanzas.is_empty() {
        return Err(DecryptError::NoAgeRecipients);
    }
    let publics: Vec<String> = identities
        .recipients()
        .iter()
        .map(|r| r.to_string())
        .collect();
    let mut attempts: Vec<(&AgeStanza, &x25519::Identity)> = Vec::new();
    for matching in [true, false] {
        for stanza in stanzas {
            for (identity, public) in identities.keys.iter().zip(&publics) {
                if (stanza.recipient.trim() == public) == matching {
                    attempts.push((stanza, identity));
                }
            }
        }
    }
    for (stanza, identity) in attempts {
        let Ok(plain) = age::decrypt(identity, stanza.enc.as_bytes()) else {
            continue;
        };
        let plain = zeroize::Zeroizing::new(plain);
        return DataKey::from_slice(&plain).ok_or_else(|| DecryptError::BadDataKey {
            recipient: stanza.recipient.clone(),
            len: plain.len(),
        });
    }
    Err(DecryptError::NoMatchingIdentity {
        recipients: stanzas.iter().map(|s| s.recipient.clone()).collect(),
        tried: identities.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AGE-SECRET-KEY-14C5T2WE22JCUUNQ6WJG0HF3JRMG8AF4W4GP7GRYCD0NFPKUAZELQW8KNZE";
    const PUBLIC: &str = "age146dfwdn23dr7ayt42wnq04x7etxcxh0x5plqs6yv8t3l77dwv4nsahdhlm";

    #[test]
    fn parses_key_files_and_derives_recipients() {
        let text = format!("# created: x\n# public key: {PUBLIC}\n{KEY}\n\n");
        let ids = Identities::parse(&text, "test").expect("valid key file");
        assert_eq!(ids.len(), 1);
        assert_eq!(ids.recipients()[0].to_string(), PUBLIC);
        assert!(!format!("{ids:?}").contains(KEY));
    }

    #[test]
    fn errors_name_the_line_but_not_the_key() {
        let err = Identities::parse("# c\nAGE-SECRET-KEY-1NOTAKEY\n", "k.txt").expect_err("bad");
        let msg = err.to_string();
        assert!(msg.contains("k.txt at line 2"), "{msg}");
        assert!(!msg.contains("NOTAKEY"), "{msg}");
        let err = Identities::parse("ssh-ed25519 AAAA\n", "k.txt").expect_err("ssh");
        assert!(matches!(err, KeyError::UnsupportedIdentity { line: 1, .. }));
    }

    #[test]
    fn load_combines_sources_and_skips_missing_default() {
        let sources = KeySources {
            inline: Some(SecretText::new(KEY)),
            key_file: None,
            default_file: Some(PathBuf::from("/nonexistent/keys.txt")),
        };
        assert_eq!(Identities::load(&sources).expect("loads").len(), 1);
        let missing = KeySources {
            key_file: Some(PathBuf::from("/nonexistent/keys.txt")),
            ..KeySources::default()
        };
        assert!(matches!(
            Identities::load(&missing),
            Err(KeyError::Read { .. })
        ));
    }

    #[test]
    fn wrap_unwrap_round_trip_and_no_match_error() {
        let key = DataKey::generate().expect("key");
        let ids = Identities::parse(KEY, "t").expect("ids");
        let stanza = wrap(&key, &ids.recipients()[0]).expect("wraps");
        assert!(
            stanza
                .enc
                .starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n")
        );
        let back = unwrap(std::slice::from_ref(&stanza), &ids).expect("unwraps");
        assert_eq!(back.as_bytes(), key.as_bytes());
        let other = Identities::from_iter_keys(vec![x25519::Identity::generate()]);
        let err = unwrap(&[stanza], &other).expect_err("wrong key");
        assert!(err.to_string().contains(PUBLIC), "{err}");
    }

    impl Identities {
        fn from_iter_keys(keys: Vec<x25519::Identity>) -> Self {
            Self { keys }
        }
    }
}
