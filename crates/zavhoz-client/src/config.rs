//! Where zavhoz is and the caller's own credentials; a service embeds [`ZavhozClientConfig`] in its settings
//! (e.g. `WORKER_SPAWNER__ZAVHOZ__URL`, `WORKER_SPAWNER__ZAVHOZ__TOKEN`).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

/// How to reach zavhoz and authenticate as this service.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZavhozClientConfig {
    /// The gRPC endpoint, e.g. `http://127.0.0.1:50051`.
    pub url: String,
    /// This service's bearer token (minted by `scripts/zavhoz-mint-token.sh`). Redacted in `Debug`, and
    /// serialized as an empty string so it never leaves through serialization.
    #[serde(serialize_with = "serialize_redacted")]
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

fn serialize_redacted<S: Serializer>(_: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_redacted_in_debug_and_serialization() {
        let config = ZavhozClientConfig::new("http://127.0.0.1:1", "tok-canary");
        assert!(!format!("{config:?}").contains("tok-canary"));
        let json = serde_json::to_string(&config).expect("serializes");
        assert!(!json.contains("tok-canary"), "{json}");
        let back: ZavhozClientConfig =
            serde_json::from_str(r#"{"url":"http://x:1","token":"t"}"#).expect("parses");
        assert!(back.has_token());
        assert!(!ZavhozClientConfig::default().has_token());
    }
}
