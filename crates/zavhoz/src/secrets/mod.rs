//! Where secret values come from: the SOPS+age `secrets.yaml` (decrypted natively at start, on SIGHUP and
//! on the reload RPC; a failed reload keeps the previous values) and secrets people give in chat, sealed
//! with age to the same recipients as secrets.yaml (armored) for the `user_secrets` table.
//!
//! Values are held as [`SecretString`] or zeroize-on-drop buffers and never appear in `Debug` or errors.

mod keys;
mod seal;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use orch_sops::{Document, Format, KeyPath, KeySources, SopsFile, Value};
use secrecy::SecretString;
use tracing::info;

use crate::error::ErrorCode;
use keys::AgeKeys;

/// Why the secret store failed. Messages name files and paths, never values.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The secrets file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The secrets file is not a SOPS file.
    #[error("cannot parse {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: orch_sops::ParseError,
    },
    /// The secrets file could not be decrypted (no matching key, MAC mismatch, …).
    #[error("cannot decrypt {path}: {source}")]
    Decrypt {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: orch_sops::DecryptError,
    },
    /// The age identities could not be loaded.
    #[error("cannot load age identities: {0}")]
    Keys(String),
    /// A recipient of secrets.yaml is not an age X25519 recipient.
    #[error("secrets file recipient `{0}` is not an age X25519 recipient")]
    Recipient(String),
    /// A user secret could not be sealed or opened.
    #[error("user secret {action} failed: {reason}")]
    Seal {
        /// `seal` or `open`.
        action: &'static str,
        /// The cause (never a value).
        reason: String,
    },
}

impl SecretsError {
    /// Classifies the error: a broken secrets file is the platform's state, a sealing failure is internal.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Seal { .. } => ErrorCode::Internal,
            _ => ErrorCode::FailedPrecondition,
        }
    }
}

/// What secrets.yaml holds right now.
struct Loaded {
    document: Document,
    recipients: Vec<age::x25519::Recipient>,
    values: u32,
    loaded_at: DateTime<Utc>,
}

/// The outcome of a (re)load.
#[derive(Debug, Clone, Copy)]
pub struct LoadSummary {
    /// Secret values in the file.
    pub values: u32,
    /// When it was loaded.
    pub loaded_at: DateTime<Utc>,
}

/// The secret store: secrets.yaml in memory plus the age keys for user secrets.
pub struct SecretStore {
    path: PathBuf,
    keys: AgeKeys,
    current: RwLock<Arc<Loaded>>,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SecretStore {
    /// Loads the age identities and decrypts `path`; fails if either is unusable.
    pub fn open(path: &Path, sources: &KeySources) -> Result<Self, SecretsError> {
        let keys = AgeKeys::load(sources)?;
        let loaded = load(path, &keys)?;
        info!(path = %path.display(), values = loaded.values, "secrets loaded");
        Ok(Self {
            path: path.to_owned(),
            keys,
            current: RwLock::new(Arc::new(loaded)),
        })
    }

    /// Re-reads the file; on failure the previous secrets stay in use.
    pub fn reload(&self) -> Result<LoadSummary, SecretsError> {
        let loaded = load(&self.path, &self.keys)?;
        let summary = LoadSummary {
            values: loaded.values,
            loaded_at: loaded.loaded_at,
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        info!(path = %self.path.display(), values = summary.values, "secrets reloaded");
        Ok(summary)
    }

    /// Describes what is loaded.
    pub fn summary(&self) -> LoadSummary {
        let current = self.snapshot();
        LoadSummary {
            values: current.values,
            loaded_at: current.loaded_at,
        }
    }

    fn snapshot(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Returns the single value at `path` in secrets.yaml; `None` if absent or not a single value.
    pub fn sops_value(&self, path: &KeyPath) -> Option<SecretString> {
        let current = self.snapshot();
        scalar_text(current.document.get(path)?)
    }

    /// Seals a value with age to the recipients of secrets.yaml (ASCII armor).
    pub fn seal(&self, value: &str) -> Result<String, SecretsError> {
        seal::seal(&self.snapshot().recipients, value)
    }

    /// Opens a value sealed by [`SecretStore::seal`].
    pub fn open_sealed(&self, armored: &str) -> Result<SecretString, SecretsError> {
        seal::open(self.keys.identities(), armored)
    }
}

fn load(path: &Path, keys: &AgeKeys) -> Result<Loaded, SecretsError> {
    let bytes = std::fs::read(path).map_err(|source| SecretsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let format = Format::from_path(path).unwrap_or(Format::Yaml);
    let file = SopsFile::parse(&bytes, format).map_err(|source| SecretsError::Parse {
        path: path.to_owned(),
        source,
    })?;
    let document = file
        .decrypt(keys.sops())
        .map_err(|source| SecretsError::Decrypt {
            path: path.to_owned(),
            source,
        })?;
    let recipients = file
        .recipients()
        .iter()
        .map(|r| {
            r.trim()
                .parse()
                .map_err(|_| SecretsError::Recipient(r.clone()))
        })
        .collect::<Result<Vec<age::x25519::Recipient>, _>>()?;
    let values = document
        .root()
        .entries()
        .map(|(_, v)| count_scalars(v))
        .sum();
    Ok(Loaded {
        document,
        recipients,
        values,
        loaded_at: Utc::now(),
    })
}

fn count_scalars(value: &Value) -> u32 {
    match value {
        Value::Map(map) => map.entries().map(|(_, v)| count_scalars(v)).sum(),
        Value::List(list) => list.values().map(count_scalars).sum(),
        Value::Null => 0,
        _ => 1,
    }
}

fn scalar_text(value: &Value) -> Option<SecretString> {
    let text = match value {
        Value::Str(text) => text.expose().to_owned(),
        Value::Int(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Time(t) => t.to_rfc3339(),
        Value::Bytes(bytes) => String::from_utf8(bytes.expose().to_vec()).ok()?,
        Value::Null | Value::Map(_) | Value::List(_) => return None,
    };
    Some(SecretString::from(text))
}

#[cfg(test)]
mod tests;
