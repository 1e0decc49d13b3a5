//! Zavhoz's settings section (`ZAVHOZ__*`), the caller identities and their token digests, and where the
//! age identities come from. The only module that reads the environment (through [`KeySources::from_env`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use orch_sops::KeySources;
use serde::{Deserialize, Deserializer};

/// This service's own settings (`ZAVHOZ__*`); unset keys take their defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZavhozConfig {
    /// Health server (`ZAVHOZ__HTTP_LISTEN`), default `127.0.0.1:8093`.
    pub http_listen: SocketAddr,
    /// gRPC server (`ZAVHOZ__GRPC_LISTEN`), default `127.0.0.1:50051`; bound at build time.
    pub grpc_listen: SocketAddr,
    /// The SOPS+age encrypted secrets file (`ZAVHOZ__SECRETS_FILE`), default `secrets.yaml`.
    pub secrets_file: PathBuf,
    /// An age key file (`ZAVHOZ__AGE_KEY_FILE`); unset means sops's conventions (`SOPS_AGE_KEY`,
    /// `SOPS_AGE_KEY_FILE`, `~/.config/sops/age/keys.txt`).
    pub age_key_file: Option<PathBuf>,
    /// Who may call, by SHA-256 digest of their token (`ZAVHOZ__CALLERS__WORKER_SPAWNER=sha256:<hex>`).
    pub callers: BTreeMap<CallerIdentity, TokenDigest>,
    /// Lease when a request names none (`ZAVHOZ__DEFAULT_LEASE_SECS`), default 1 hour.
    pub default_lease_secs: u32,
    /// Longest lease a request may ask for (`ZAVHOZ__MAX_LEASE_SECS`), default 30 days.
    pub max_lease_secs: u32,
    /// How often expired leases are reaped (`ZAVHOZ__REAPER_INTERVAL_MS`), default 5000.
    pub reaper_interval_ms: u64,
    /// The server pool for ports and whole servers (`ZAVHOZ__SERVERS=[srv-1,srv-2]`).
    pub servers: Vec<String>,
    /// First port handed out on a server (`ZAVHOZ__PORT_RANGE_START`), default 20000.
    pub port_range_start: u16,
    /// Last port handed out on a server (`ZAVHOZ__PORT_RANGE_END`), default 20999.
    pub port_range_end: u16,
    /// Domains are subdomains of this (`ZAVHOZ__BASE_DOMAIN`); empty refuses domain requests.
    pub base_domain: String,
    /// Repositories are created under this owner (`ZAVHOZ__REPOSITORY_OWNER`); empty refuses them.
    pub repository_owner: String,
    /// Live resources per person and kind when the `quotas` table has no row (`ZAVHOZ__DEFAULT_QUOTA`), 20.
    pub default_quota: u32,
}

impl Default for ZavhozConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8093)),
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            secrets_file: PathBuf::from("secrets.yaml"),
            age_key_file: None,
            callers: BTreeMap::new(),
            default_lease_secs: 3600,
            max_lease_secs: 30 * 24 * 3600,
            reaper_interval_ms: 5000,
            servers: Vec::new(),
            port_range_start: 20000,
            port_range_end: 20999,
            base_domain: String::new(),
            repository_owner: String::new(),
            default_quota: 20,
        }
    }
}

impl ZavhozConfig {
    /// Checks what cannot be expressed in types; returns a message naming the variable.
    pub fn validate(&self) -> Result<(), String> {
        if self.callers.is_empty() {
            return Err(
                "no callers configured: set ZAVHOZ__CALLERS__<IDENTITY>=sha256:<hex> \
                 (scripts/zavhoz-mint-token.sh mints one)"
                    .into(),
            );
        }
        if self.port_range_start == 0 || self.port_range_start > self.port_range_end {
            return Err("ZAVHOZ__PORT_RANGE_START must be 1..=ZAVHOZ__PORT_RANGE_END".into());
        }
        if self.default_lease_secs == 0 || self.default_lease_secs > self.max_lease_secs {
            return Err("ZAVHOZ__DEFAULT_LEASE_SECS must be 1..=ZAVHOZ__MAX_LEASE_SECS".into());
        }
        if self.reaper_interval_ms == 0 {
            return Err("ZAVHOZ__REAPER_INTERVAL_MS must be positive".into());
        }
        Ok(())
    }

    /// Where to find the age identities that open the secrets file.
    pub fn key_sources(&self) -> KeySources {
        match &self.age_key_file {
            Some(path) => KeySources {
                key_file: Some(path.clone()),
                ..KeySources::default()
            },
            None => KeySources::from_env(),
        }
    }
}

/// A service that may call zavhoz; its permissions are fixed in [`crate::auth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallerIdentity {
    /// Runs the graph; allocates for people and stores secrets they give.
    GraphRunner,
    /// Starts workers; resolves the handles it injects.
    WorkerSpawner,
    /// Deploys; resolves the handles it injects.
    DevopsRunner,
    /// Receives chat; may store secrets people give.
    TelegramGateway,
    /// The dashboard; reads and manages resources.
    Api,
    /// A person at the command line; reloads secrets and manages resources.
    Operator,
}

impl CallerIdentity {
    /// The name used in audit records and logs (`worker-spawner`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GraphRunner => "graph-runner",
            Self::WorkerSpawner => "worker-spawner",
            Self::DevopsRunner => "devops-runner",
            Self::TelegramGateway => "telegram-gateway",
            Self::Api => "api",
            Self::Operator => "operator",
        }
    }
}

impl fmt::Display for CallerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The SHA-256 digest of a caller's token, written `sha256:<64 hex>`; zavhoz's configuration holds no token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    /// Parses `sha256:<64 hex digits>`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let hex_part = text.trim().strip_prefix("sha256:").ok_or(
            "a caller credential must be `sha256:<hex digest of the token>`, not the token itself",
        )?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut digest)
            .map_err(|_| "a sha256 digest is 64 hex digits".to_owned())?;
        Ok(Self(digest))
    }

    /// Digests a token.
    pub fn of_token(token: &str) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(token.as_bytes()).into())
    }
}

impl fmt::Display for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}…", hex::encode(&self.0[..4]))
    }
}

impl<'de> Deserialize<'de> for TokenDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
