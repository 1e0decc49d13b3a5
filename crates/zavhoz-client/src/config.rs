//! Where zavhoz is and the caller's own credentials; a service embeds [`ZavhozClientConfig`] in its settings
//! (e.g. `WORKER_SPAWNER__ZAVHOZ__URL`, `WORKER_SPAWNER__ZAVHOZ__TOKEN`).

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// How to reach zavhoz and authenticate as this service.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZavhozClientConfig {
    /// The gRPC endpoint, e.g. `http://127.0.0.1:50051`.
    pub url: String,
    /// This service's bearer token (minted by `scripts/zavhoz-mint-token.sh`); redacted in `Debug`.
    pub token: SecretString,
}

impl Default for ZavhozClientConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:50051".into(),
            token: SecretString::from(String::new()),
        }
    }
}

impl ZavhozClientConfig {
    /// Builds a configuration from a URL and a token.
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: SecretString::from(token.into()),
        }
    }

    /// Tells whether a token is set.
    pub fn has_token(&self) -> bool {
        !self.token.expose_secret().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_redacted_and_missing_keys_take_defaults() {
        let config = ZavhozClientConfig::new("http://127.0.0.1:1", "tok-canary");
        assert!(!format!("{config:?}").contains("tok-canary"));
        let back: ZavhozClientConfig = serde_json::from_str(r#"{"token":"t"}"#).expect("parses");
        assert!(back.has_token());
        assert_eq!(back.url, "http://127.0.0.1:50051");
        assert!(!ZavhozClientConfig::default().has_token());
        assert!(serde_json::from_str::<ZavhozClientConfig>(r#"{"tokn":"t"}"#).is_err());
    }
}
