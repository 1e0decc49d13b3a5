//! How to reach GitHub: the API base URL, the credentials and the retry policy.

use std::time::Duration;

use secrecy::SecretString;

/// The public GitHub API.
pub const GITHUB_API_URL: &str = "https://api.github.com";

/// Who the client acts as.
#[derive(Debug, Clone)]
pub enum GithubAuth {
    /// A personal access token (or any bearer token), sent as `Authorization: Bearer <token>`.
    Token {
        /// The token.
        token: SecretString,
        /// The organization new repositories go to; `None` creates them under the token's user.
        org: Option<String>,
    },
    /// A GitHub App: the private key signs a JWT, which mints installation access tokens.
    App {
        /// The app id (the JWT `iss`).
        app_id: u64,
        /// The app's RSA private key in PEM form.
        private_key_pem: SecretString,
        /// The installation to act through; `None` picks the app's only installation.
        installation_id: Option<u64>,
    },
}

/// Retries of transient failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included (5xx, transport errors and short rate limits are retried).
    pub max_attempts: u32,
    /// The pause before the first retry of a 5xx or transport error; it doubles on every retry.
    pub base_delay: Duration,
    /// The longest rate-limit pause the client sits out by itself; a longer one is returned as
    /// [`GithubError::RateLimited`](crate::GithubError::RateLimited).
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_rate_limit_wait: Duration::from_secs(60),
        }
    }
}

/// Everything [`Github::connect`](crate::Github::connect) needs.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// The API base URL: [`GITHUB_API_URL`], a GitHub Enterprise API URL or a simulator.
    pub api_url: String,
    /// The credentials.
    pub auth: GithubAuth,
    /// Retries.
    pub retry: RetryPolicy,
    /// Upper bound of opening a connection.
    pub connect_timeout: Duration,
    /// Upper bound of reading one response.
    pub read_timeout: Duration,
}

impl GithubConfig {
    /// A configuration with the default retry policy and timeouts.
    pub fn new(api_url: impl Into<String>, auth: GithubAuth) -> Self {
        Self {
            api_url: api_url.into(),
            auth,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}
