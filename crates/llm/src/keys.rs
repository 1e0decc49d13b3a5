//! API keys: `model_configs.api_key_ref` holds a reference, a [`KeyResolver`] turns it into the key.
//!
//! A reference is `scheme:name` or a bare environment variable name (`OPENAI_API_KEY` =
//! `env:OPENAI_API_KEY`); variable names must be upper snake case, so a key pasted into the
//! reference column by mistake is rejected without being echoed in the error. [`EnvKeyResolver`] serves `env:`; a SOPS/zavhoz-backed resolver will serve
//! its own scheme later. Keys are [`SecretString`]s: their `Debug` is redacted and they are exposed
//! only to build the request header.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::error::KeyError;

/// The future a [`KeyResolver`] returns.
pub type KeyFuture<'a> = Pin<Box<dyn Future<Output = Result<SecretString, KeyError>> + Send + 'a>>;

/// A parsed key reference: a scheme (`env`, `sops`, …) and a name inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyRef {
    scheme: String,
    name: String,
}

impl KeyRef {
    /// Parses `scheme:name`, or a bare environment variable name.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let invalid = || KeyError::InvalidRef;
        let (scheme, name) = match text.split_once(':') {
            Some((scheme, name)) => (scheme, name),
            None if is_env_name(text) => ("env", text),
            None => return Err(invalid()),
        };
        let scheme_ok = !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !scheme_ok || name.is_empty() || (scheme == "env" && !is_env_name(name)) {
            return Err(invalid());
        }
        Ok(Self {
            scheme: scheme.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The scheme (`env` for bare names).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The name inside the scheme (the variable name for `env`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scheme, self.name)
    }
}

/// An upper-snake-case environment variable name (`OPENAI_API_KEY`).
fn is_env_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Turns a key reference into the key.
pub trait KeyResolver: Send + Sync {
    /// Resolves `key_ref`; an unknown scheme is [`KeyError::UnsupportedScheme`], a missing key
    /// [`KeyError::NotFound`].
    fn resolve<'a>(&'a self, key_ref: &'a KeyRef) -> KeyFuture<'a>;
}

impl<T: KeyResolver + ?Sized> KeyResolver for Arc<T> {
    fn resolve<'a>(&'a self, key_ref: &'a KeyRef) -> KeyFuture<'a> {
        (**self).resolve(key_ref)
    }
}

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Resolves `env:NAME` references from the process environment (or an injected lookup).
#[derive(Clone)]
pub struct EnvKeyResolver {
    lookup: Arc<Lookup>,
}

impl EnvKeyResolver {
    /// Reads the process environment at call time, so a rotated key is picked up on the next call.
    pub fn new() -> Self {
        Self::with_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (an embedding's own settings, tests).
    pub fn with_lookup(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            lookup: Arc::new(lookup),
        }
    }
}

impl Default for EnvKeyResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for EnvKeyResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvKeyResolver").finish_non_exhaustive()
    }
}

impl KeyResolver for EnvKeyResolver {
    fn resolve<'a>(&'a self, key_ref: &'a KeyRef) -> KeyFuture<'a> {
        Box::pin(async move {
            if key_ref.scheme() != "env" {
                return Err(KeyError::UnsupportedScheme {
                    scheme: key_ref.scheme().to_owned(),
                    resolver: "env",
                });
            }
            match (self.lookup)(key_ref.name()) {
                Some(value) if !value.trim().is_empty() => Ok(SecretString::from(value)),
                _ => Err(KeyError::NotFound {
                    key_ref: key_ref.to_string(),
                }),
            }
        })
    }
}

/// Keys held in memory under their full reference (`env:X`, `sops:llm.openai`); for embedding and tests.
#[derive(Clone, Default)]
pub struct StaticKeyResolver {
    keys: HashMap<KeyRef, SecretString>,
}

impl StaticKeyResolver {
    /// An empty resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key under `key_ref` (parsed like a `model_configs` reference).
    pub fn with_key(mut self, key_ref: &str, key: SecretString) -> Result<Self, KeyError> {
        self.keys.insert(KeyRef::parse(key_ref)?, key);
        Ok(self)
    }
}

impl fmt::Debug for StaticKeyResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let refs: Vec<String> = self.keys.keys().map(ToString::to_string).collect();
        f.debug_struct("StaticKeyResolver")
            .field("refs", &refs)
            .finish()
    }
}

impl KeyResolver for StaticKeyResolver {
    fn resolve<'a>(&'a self, key_ref: &'a KeyRef) -> KeyFuture<'a> {
        let found = self
            .keys
            .get(key_ref)
            .map(|key| SecretString::from(key.expose_secret().to_owned()));
        Box::pin(async move {
            found.ok_or_else(|| KeyError::NotFound {
                key_ref: key_ref.to_string(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bare_and_scheme_references() {
        let bare = KeyRef::parse("OPENAI_API_KEY").expect("bare");
        assert_eq!((bare.scheme(), bare.name()), ("env", "OPENAI_API_KEY"));
        assert_eq!(bare, KeyRef::parse("env:OPENAI_API_KEY").expect("env"));
        let sops = KeyRef::parse("sops:llm.providers.openai").expect("sops");
        assert_eq!(sops.scheme(), "sops");
        assert_eq!(sops.to_string(), "sops:llm.providers.openai");
    }

    #[test]
    fn rejects_malformed_references() {
        for text in [
            "",
            "env:",
            ":x",
            "env:1ABC",
            "env:lower",
            "has space",
            "Env:X",
            "sk-abc123",
            "AbCdEf0123456789",
        ] {
            assert!(KeyRef::parse(text).is_err(), "{text:?}");
        }
    }

    #[tokio::test]
    async fn env_resolver_reads_the_lookup_and_rejects_other_schemes() {
        let resolver = EnvKeyResolver::with_lookup(|name| match name {
            "GOOD" => Some("sk-good".to_owned()),
            "BLANK" => Some("  ".to_owned()),
            _ => None,
        });
        let good = resolver
            .resolve(&KeyRef::parse("env:GOOD").expect("ref"))
            .await
            .expect("found");
        assert_eq!(good.expose_secret(), "sk-good");
        for missing in ["env:BLANK", "MISSING"] {
            let error = resolver
                .resolve(&KeyRef::parse(missing).expect("ref"))
                .await
                .expect_err("missing");
            assert!(matches!(error, KeyError::NotFound { .. }), "{error}");
        }
        let error = resolver
            .resolve(&KeyRef::parse("sops:a.b").expect("ref"))
            .await
            .expect_err("scheme");
        assert!(
            matches!(error, KeyError::UnsupportedScheme { .. }),
            "{error}"
        );
    }

    #[tokio::test]
    async fn env_resolver_reads_the_process_environment() {
        let resolver = EnvKeyResolver::new();
        let path = resolver
            .resolve(&KeyRef::parse("PATH").expect("ref"))
            .await
            .expect("PATH is set in every test environment");
        assert!(!path.expose_secret().is_empty());
    }

    #[tokio::test]
    async fn static_resolver_debug_shows_refs_only() {
        let resolver = StaticKeyResolver::new()
            .with_key("env:K", SecretString::from("sk-very-secret-value"))
            .expect("valid ref");
        let debug = format!("{resolver:?}");
        assert!(
            debug.contains("env:K") && !debug.contains("sk-very-secret"),
            "{debug}"
        );
        let key = resolver
            .resolve(&KeyRef::parse("K").expect("ref"))
            .await
            .expect("found");
        assert_eq!(key.expose_secret(), "sk-very-secret-value");
    }
}
