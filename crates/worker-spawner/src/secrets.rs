//! Resolving secret handles into values, and keeping those values out of everything the spawner writes.
//!
//! The zavhoz gRPC client will implement [`SecretResolver`]; until then a file or environment backend selected
//! by configuration stands in. Resolved values only ever travel to the one container that needs them, over its
//! stdin; [`Redactor`] scrubs them from log lines before they reach Redis or a result.

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use orch_contracts::messages::worker::SecretHandle;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{self, SecretBackend, SecretsConfig};

/// Why a handle could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No secret exists for the handle (a refusal: the spawn cannot run).
    #[error("unknown secret handle {handle}")]
    Unknown {
        /// The handle.
        handle: String,
    },
    /// The backend failed (retryable).
    #[error("secret backend failed for {handle}: {reason}")]
    Backend {
        /// The handle.
        handle: String,
        /// What went wrong.
        reason: String,
    },
}

/// Resolves a secret handle into its value.
pub trait SecretResolver: Send + Sync + 'static {
    /// Returns the value of `handle`; never logs it.
    fn resolve<'a>(
        &'a self,
        handle: &'a SecretHandle,
    ) -> BoxFuture<'a, Result<SecretString, SecretError>>;
}

/// Builds the resolver the configuration selects.
pub fn from_config(config: &SecretsConfig) -> Arc<dyn SecretResolver> {
    match config.backend {
        SecretBackend::File => Arc::new(FileSecrets {
            dir: config.dir.clone(),
        }),
        SecretBackend::Env => Arc::new(EnvSecrets),
    }
}

/// One file per handle under a directory (`<dir>/<handle>`).
#[derive(Debug, Clone)]
pub struct FileSecrets {
    /// The directory.
    pub dir: PathBuf,
}

impl SecretResolver for FileSecrets {
    fn resolve<'a>(
        &'a self,
        handle: &'a SecretHandle,
    ) -> BoxFuture<'a, Result<SecretString, SecretError>> {
        Box::pin(async move {
            if !handle.is_well_formed() {
                return Err(SecretError::Unknown {
                    handle: handle.0.clone(),
                });
            }
            match tokio::fs::read_to_string(self.dir.join(&handle.0)).await {
                Ok(value) => Ok(SecretString::from(
                    value.strip_suffix('\n').unwrap_or(&value).to_owned(),
                )),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SecretError::Unknown {
                    handle: handle.0.clone(),
                }),
                Err(e) => Err(SecretError::Backend {
                    handle: handle.0.clone(),
                    reason: e.to_string(),
                }),
            }
        })
    }
}

/// One environment variable per handle (`ORCH_SECRET_<HANDLE>`).
#[derive(Debug, Clone, Copy)]
pub struct EnvSecrets;

impl SecretResolver for EnvSecrets {
    fn resolve<'a>(
        &'a self,
        handle: &'a SecretHandle,
    ) -> BoxFuture<'a, Result<SecretString, SecretError>> {
        Box::pin(async move {
            config::secret_from_env(&handle.0).ok_or_else(|| SecretError::Unknown {
                handle: handle.0.clone(),
            })
        })
    }
}

/// The secrets of one worker, resolved.
#[derive(Default)]
pub struct ResolvedSecrets {
    entries: Vec<(String, SecretString)>,
}

impl std::fmt::Debug for ResolvedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ResolvedSecrets")
            .field("names", &names)
            .finish()
    }
}

impl ResolvedSecrets {
    /// Adds the value of environment variable `name`.
    pub fn push(&mut self, name: impl Into<String>, value: SecretString) {
        self.entries.push((name.into(), value));
    }

    /// Returns `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SecretString)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Returns the value of `name`.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Returns a redactor for these values.
    pub fn redactor(&self) -> Redactor {
        Redactor {
            values: self.entries.iter().map(|(_, v)| v.clone()).collect(),
        }
    }
}

/// Replaces secret values in text with `[REDACTED]`.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Vec<SecretString>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} values)", self.values.len())
    }
}

/// Values shorter than this are not redacted (they would shred ordinary text); secrets are longer.
const MIN_REDACTED_LEN: usize = 6;

impl Redactor {
    /// Returns `text` with every known secret value replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.values {
            let value = value.expose_secret();
            if value.len() >= MIN_REDACTED_LEN && out.contains(value) {
                out = out.replace(value, "[REDACTED]");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(s: &str) -> SecretHandle {
        SecretHandle(s.to_owned())
    }

    #[tokio::test]
    async fn the_file_backend_reads_one_file_per_handle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = "hdl_aaaaaaaaaaaaaaaaaaaaaaaa";
        std::fs::write(dir.path().join(h), "s3cr3t-value\n").expect("write");
        let secrets = FileSecrets {
            dir: dir.path().to_path_buf(),
        };
        let value = secrets.resolve(&handle(h)).await.expect("resolves");
        assert_eq!(value.expose_secret(), "s3cr3t-value");
        let missing = secrets
            .resolve(&handle("hdl_bbbbbbbbbbbbbbbbbbbbbbbb"))
            .await;
        assert!(matches!(missing, Err(SecretError::Unknown { .. })));
    }

    #[tokio::test]
    async fn a_malformed_handle_never_reaches_the_file_system() {
        let secrets = FileSecrets {
            dir: PathBuf::from("/"),
        };
        let result = secrets.resolve(&handle("../etc/passwd")).await;
        assert!(matches!(result, Err(SecretError::Unknown { .. })));
    }

    #[test]
    fn the_redactor_scrubs_values_and_debug_shows_no_value() {
        let mut secrets = ResolvedSecrets::default();
        secrets.push("GIT_TOKEN", SecretString::from("ghp_verysecret"));
        let text = secrets
            .redactor()
            .redact("cloning with ghp_verysecret twice ghp_verysecret");
        assert_eq!(text, "cloning with [REDACTED] twice [REDACTED]");
        assert!(!format!("{secrets:?}").contains("verysecret"));
    }
}
