//! Resolving secret handles into values, and keeping those values out of everything the spawner writes.
//!
//! In production [`ZavhozSecrets`] resolves handles through zavhoz with the spawner's own credentials (and
//! zavhoz audits every resolution); a file or environment backend, selected by configuration, serves
//! development. Resolved values only ever travel to the one container that needs them, over its stdin;
//! [`Redactor`] scrubs them from log lines before they reach Redis or a result.

mod zavhoz;

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use orch_contracts::messages::worker::SecretHandle;
use orch_contracts::{RunId, WorkerId};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{self, SecretBackend, WorkerSpawnerConfig};

pub use zavhoz::{RESOLVE_TIMEOUT, ZavhozSecrets, ZavhozSetupError};

/// Why a handle could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No secret exists for the handle (a refusal: the spawn cannot run).
    #[error("unknown secret handle {handle}")]
    Unknown {
        /// The handle.
        handle: String,
    },
    /// The secret service refused the handle (expired, revoked, already redeemed, its secret gone) or the
    /// spawner's credentials; the spawn cannot run.
    #[error("secret handle {handle} refused: {reason}")]
    Refused {
        /// The handle.
        handle: String,
        /// Why, in the secret service's words.
        reason: String,
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

impl SecretError {
    /// Tells whether the spawn must be refused (as opposed to retried later).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Unknown { .. } | Self::Refused { .. })
    }
}

/// What a value is resolved for (zavhoz audits it as the purpose).
#[derive(Debug, Clone)]
pub struct ResolveContext {
    /// The worker the value is for.
    pub worker_id: WorkerId,
    /// The environment variable it becomes.
    pub env: String,
    /// The run that asked for the worker.
    pub run_id: Option<RunId>,
}

/// Resolves a secret handle into its value.
pub trait SecretResolver: Send + Sync + 'static {
    /// Returns the value of `handle`; never logs it.
    fn resolve<'a>(
        &'a self,
        handle: &'a SecretHandle,
        context: &'a ResolveContext,
    ) -> BoxFuture<'a, Result<SecretString, SecretError>>;
}

/// Builds the resolver the configuration selects; for zavhoz, checks that it accepts the spawner's
/// credentials (a zavhoz that cannot be reached yet is only warned about: each spawn retries).
pub async fn from_config(
    config: &WorkerSpawnerConfig,
) -> Result<Arc<dyn SecretResolver>, ZavhozSetupError> {
    Ok(match config.secrets.backend {
        SecretBackend::File => Arc::new(FileSecrets {
            dir: config.secrets.dir.clone(),
        }),
        SecretBackend::Env => Arc::new(EnvSecrets),
        SecretBackend::Zavhoz => {
            let secrets = ZavhozSecrets::new(&config.zavhoz)?;
            if !secrets.check_credentials().await? {
                tracing::warn!(url = %config.zavhoz.url, "zavhoz is not reachable yet; spawns with secrets wait for it");
            }
            Arc::new(secrets)
        }
    })
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
        _context: &'a ResolveContext,
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
        _context: &'a ResolveContext,
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

    fn context() -> ResolveContext {
        ResolveContext {
            worker_id: WorkerId::new(),
            env: "X".into(),
            run_id: None,
        }
    }

    #[tokio::test]
    async fn the_file_backend_reads_one_file_per_handle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = "hdl_aaaaaaaaaaaaaaaaaaaaaaaa";
        std::fs::write(dir.path().join(h), "s3cr3t-value\n").expect("write");
        let secrets = FileSecrets {
            dir: dir.path().to_path_buf(),
        };
        let value = secrets
            .resolve(&handle(h), &context())
            .await
            .expect("resolves");
        assert_eq!(value.expose_secret(), "s3cr3t-value");
        let missing = secrets
            .resolve(&handle("hdl_bbbbbbbbbbbbbbbbbbbbbbbb"), &context())
            .await;
        assert!(matches!(missing, Err(SecretError::Unknown { .. })));
    }

    #[tokio::test]
    async fn a_malformed_handle_never_reaches_the_file_system() {
        let secrets = FileSecrets {
            dir: PathBuf::from("/"),
        };
        let result = secrets.resolve(&handle("../etc/passwd"), &context()).await;
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
