//! Configuration of the GitHub simulator: listen address, data directory, credentials and limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A personal access token that authenticates as a user login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalToken {
    /// The login of the user the token belongs to.
    pub login: String,
    /// The token value, sent as `Authorization: Bearer <token>` or as a git password.
    pub token: String,
}

/// An installation of the GitHub App on an organization account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationConfig {
    /// The installation id (`POST /app/installations/{id}/access_tokens`).
    pub id: u64,
    /// The organization login the app is installed on; it gets access to all its repositories.
    pub account: String,
}

/// A GitHub App whose RS256 JWTs the simulator verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// The app id, expected as the JWT `iss` claim.
    pub id: u64,
    /// The app slug; installation actions are attributed to `<slug>[bot]`.
    pub slug: String,
    /// An RSA key in PEM form: a public key (SPKI or PKCS#1) or the private key, whose public half is used.
    pub key_pem: String,
    /// The installations of the app.
    pub installations: Vec<InstallationConfig>,
}

impl AppConfig {
    /// Creates an app configuration with the slug `sim-app` and no installations.
    pub fn new(id: u64, key_pem: impl Into<String>) -> Self {
        Self {
            id,
            slug: "sim-app".to_owned(),
            key_pem: key_pem.into(),
            installations: Vec::new(),
        }
    }

    /// Adds an installation of the app on the organization `account`.
    pub fn with_installation(mut self, id: u64, account: impl Into<String>) -> Self {
        self.installations.push(InstallationConfig {
            id,
            account: account.into(),
        });
        self
    }

    /// Sets the app slug.
    pub fn with_slug(mut self, slug: impl Into<String>) -> Self {
        self.slug = slug.into();
        self
    }
}

/// Everything [`GithubSim::start`](super::GithubSim::start) needs.
#[derive(Debug, Clone)]
pub struct GithubSimConfig {
    /// The address to listen on; `None` means `127.0.0.1:0`.
    pub listen: Option<SocketAddr>,
    /// Where bare repositories are stored; `None` means a temporary directory removed on drop.
    pub data_dir: Option<PathBuf>,
    /// Personal access tokens.
    pub tokens: Vec<PersonalToken>,
    /// Organization memberships as `(org, login)`; members may create and push to the org's repos.
    pub org_members: Vec<(String, String)>,
    /// The GitHub App, if any.
    pub app: Option<AppConfig>,
    /// The lifetime of installation access tokens (GitHub: one hour).
    pub installation_token_ttl: Duration,
    /// Requests per hour per authenticated principal before the primary rate limit applies (GitHub: 5000).
    pub rate_limit_per_hour: u32,
    /// The `git` executable used for repositories and `git http-backend`.
    pub git_binary: PathBuf,
}

impl Default for GithubSimConfig {
    fn default() -> Self {
        Self {
            listen: None,
            data_dir: None,
            tokens: Vec::new(),
            org_members: Vec::new(),
            app: None,
            installation_token_ttl: Duration::from_secs(3600),
            rate_limit_per_hour: 5000,
            git_binary: PathBuf::from("git"),
        }
    }
}

impl GithubSimConfig {
    /// Adds a personal access token for `login`.
    pub fn with_token(mut self, login: impl Into<String>, token: impl Into<String>) -> Self {
        self.tokens.push(PersonalToken {
            login: login.into(),
            token: token.into(),
        });
        self
    }

    /// Makes `login` a member of the organization `org`.
    pub fn with_org_member(mut self, org: impl Into<String>, login: impl Into<String>) -> Self {
        self.org_members.push((org.into(), login.into()));
        self
    }

    /// Configures the GitHub App.
    pub fn with_app(mut self, app: AppConfig) -> Self {
        self.app = Some(app);
        self
    }

    /// Stores repositories under `dir` instead of a temporary directory.
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Listens on `addr` instead of an ephemeral port.
    pub fn with_listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Sets the lifetime of installation access tokens.
    pub fn with_installation_token_ttl(mut self, ttl: Duration) -> Self {
        self.installation_token_ttl = ttl;
        self
    }

    /// Sets the primary rate limit (requests per hour per principal).
    pub fn with_rate_limit(mut self, per_hour: u32) -> Self {
        self.rate_limit_per_hour = per_hour;
        self
    }
}
