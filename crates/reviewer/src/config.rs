//! The reviewer's settings section (`REVIEWER__*`); every key is documented in `.env.example` and
//! `docs/reviewer.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use orch_github::{GITHUB_API_URL, GithubAuth, GithubConfig, RetryPolicy};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The reviewer's own settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewerConfig {
    /// Where the health server listens (`REVIEWER__HTTP_LISTEN`), default `127.0.0.1:8095`.
    pub http_listen: SocketAddr,
    /// The consumer group on `review:request` (`REVIEWER__CONSUMER_GROUP`), default `reviewer`.
    pub consumer_group: String,
    /// Reviews handled at once by this process (`REVIEWER__MAX_IN_FLIGHT`), default 4.
    pub max_in_flight: usize,
    /// Review iterations of one pull request before a person must decide (`REVIEWER__MAX_ITERATIONS`),
    /// default 3: a request with a higher iteration is escalated without asking the model.
    pub max_iterations: u32,
    /// The `model_configs` role the reviewer asks (`REVIEWER__MODEL_ROLE`), default `reviewer`.
    pub model_role: String,
    /// Diff bytes shown to the model at most (`REVIEWER__MAX_DIFF_BYTES`), default 60000; a longer diff is
    /// cut at a line boundary and the model is told so.
    pub max_diff_bytes: usize,
    /// HTTP attempts per LLM call, retries included (`REVIEWER__LLM_MAX_ATTEMPTS`), default 4.
    pub llm_max_attempts: u32,
    /// Upper bound of one LLM HTTP request in seconds (`REVIEWER__LLM_REQUEST_TIMEOUT_SECS`), default 180.
    pub llm_request_timeout_secs: u64,
    /// The GitHub API (`REVIEWER__GITHUB_API_URL`), default `https://api.github.com`; the testkit simulator's
    /// URL in tests and the offline demo.
    pub github_api_url: String,
    /// A personal access token (`REVIEWER__GITHUB_TOKEN`); or use the app settings below. It must not be
    /// the token of the account that opens the pull requests: GitHub refuses to approve one's own PR.
    pub github_token: Option<SecretString>,
    /// The GitHub App id (`REVIEWER__GITHUB_APP_ID`), with the private key file.
    pub github_app_id: Option<u64>,
    /// The GitHub App's RSA private key, PEM (`REVIEWER__GITHUB_APP_PRIVATE_KEY_FILE`).
    pub github_app_private_key_file: Option<PathBuf>,
    /// The installation to act through (`REVIEWER__GITHUB_INSTALLATION_ID`); unset uses the app's only one.
    pub github_installation_id: Option<u64>,
    /// Attempts per GitHub request (`REVIEWER__GITHUB_MAX_ATTEMPTS`), default 4 (5xx, transport errors and
    /// short rate limits are retried).
    pub github_max_attempts: u32,
    /// The longest GitHub rate-limit pause sat out in place (`REVIEWER__GITHUB_MAX_RATE_LIMIT_WAIT_SECS`),
    /// default 60; a longer one fails the delivery, which the bus retries later.
    pub github_max_rate_limit_wait_secs: u64,
    /// A `reviewer` model configuration inserted at startup when `model_configs` has none
    /// (`REVIEWER__MODEL__*`); unset relies on the operator's row.
    pub model: Option<ModelSeed>,
}

impl Default for ReviewerConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8095)),
            consumer_group: "reviewer".into(),
            max_in_flight: 4,
            max_iterations: 3,
            model_role: "reviewer".into(),
            max_diff_bytes: 60_000,
            llm_max_attempts: 4,
            llm_request_timeout_secs: 180,
            github_api_url: GITHUB_API_URL.into(),
            github_token: None,
            github_app_id: None,
            github_app_private_key_file: None,
            github_installation_id: None,
            github_max_attempts: 4,
            github_max_rate_limit_wait_secs: 60,
            model: None,
        }
    }
}

/// The model row seeded into `model_configs` when the role has none; an existing row is never changed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSeed {
    /// Provider (`openai`, `anthropic`, `openrouter`, `openai_compatible`, …) (`…__MODEL__PROVIDER`).
    pub provider: String,
    /// Model id (`…__MODEL__MODEL`).
    pub model: String,
    /// Endpoint; required for `openai_compatible` (`…__MODEL__ENDPOINT`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Where the API key is found (an environment variable name), never the key (`…__MODEL__API_KEY_REF`).
    #[serde(default)]
    pub api_key_ref: Option<String>,
    /// Sampling temperature (`…__MODEL__TEMPERATURE`), default 0.1.
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    /// Completion token limit (`…__MODEL__MAX_TOKENS`), default 4096.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: i32,
    /// Price of a million prompt tokens in micro-dollars (`…__MODEL__INPUT_PRICE_PER_MTOK_MICROS`).
    #[serde(default)]
    pub input_price_per_mtok_micros: i64,
    /// Price of a million completion tokens in micro-dollars (`…__MODEL__OUTPUT_PRICE_PER_MTOK_MICROS`).
    #[serde(default)]
    pub output_price_per_mtok_micros: i64,
}

fn default_temperature() -> f32 {
    0.1
}

fn default_max_tokens() -> i32 {
    4096
}

impl ReviewerConfig {
    /// Returns the LLM request timeout.
    pub fn llm_request_timeout(&self) -> Duration {
        Duration::from_secs(self.llm_request_timeout_secs.max(1))
    }

    /// Builds the GitHub client settings: a token, or an app id with its key file (read now).
    pub fn github(&self) -> anyhow::Result<GithubConfig> {
        let token = self
            .github_token
            .as_ref()
            .filter(|t| !t.expose_secret().trim().is_empty());
        let auth = match (token, self.github_app_id) {
            (Some(_), Some(_)) => anyhow::bail!(
                "set either REVIEWER__GITHUB_TOKEN or REVIEWER__GITHUB_APP_ID, not both"
            ),
            (Some(token), None) => GithubAuth::Token {
                token: token.clone(),
                org: None,
            },
            (None, Some(app_id)) => self.app_auth(app_id)?,
            (None, None) => anyhow::bail!(
                "the reviewer needs GitHub credentials: REVIEWER__GITHUB_TOKEN, or REVIEWER__GITHUB_APP_ID with \
                 REVIEWER__GITHUB_APP_PRIVATE_KEY_FILE"
            ),
        };
        let retry = RetryPolicy {
            max_attempts: self.github_max_attempts.max(1),
            max_rate_limit_wait: Duration::from_secs(self.github_max_rate_limit_wait_secs),
            ..RetryPolicy::default()
        };
        Ok(GithubConfig::new(self.github_api_url.clone(), auth).with_retry(retry))
    }

    fn app_auth(&self, app_id: u64) -> anyhow::Result<GithubAuth> {
        let Some(path) = &self.github_app_private_key_file else {
            anyhow::bail!("REVIEWER__GITHUB_APP_ID needs REVIEWER__GITHUB_APP_PRIVATE_KEY_FILE");
        };
        let pem = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "failed to read the GitHub App key file {}: {e}",
                path.display()
            )
        })?;
        Ok(GithubAuth::App {
            app_id,
            private_key_pem: SecretString::from(pem),
            installation_id: self.github_installation_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_required_and_exclusive() {
        let none = ReviewerConfig::default();
        assert!(none.github().is_err());
        let empty = ReviewerConfig {
            github_token: Some(SecretString::from(" ".to_owned())),
            ..ReviewerConfig::default()
        };
        assert!(empty.github().is_err(), "an empty token is no token");
        let token = ReviewerConfig {
            github_token: Some(SecretString::from("ghp_x".to_owned())),
            ..ReviewerConfig::default()
        };
        assert!(token.github().is_ok());
        let both = ReviewerConfig {
            github_app_id: Some(1),
            ..token
        };
        assert!(both.github().is_err());
        let app_without_key = ReviewerConfig {
            github_app_id: Some(1),
            ..ReviewerConfig::default()
        };
        let err = app_without_key.github().expect_err("no key file");
        assert!(err.to_string().contains("PRIVATE_KEY_FILE"));
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let config = ReviewerConfig {
            github_token: Some(SecretString::from("ghp_secret_value".to_owned())),
            ..ReviewerConfig::default()
        };
        assert!(!format!("{config:?}").contains("ghp_secret_value"));
        assert_eq!(config.max_iterations, 3);
    }
}
