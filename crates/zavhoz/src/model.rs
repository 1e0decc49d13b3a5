//! What callers ask for, validated: the kinds of resources, secret sources and names.

use orch_sops::KeyPath;
use uuid::Uuid;

use crate::db::Kind;
use crate::error::ZavhozError;

/// What to allocate.
#[derive(Debug, Clone, PartialEq)]
pub enum Want {
    /// A port on `server`, or on any configured server.
    Port {
        /// The server, if the caller cares.
        server: Option<String>,
    },
    /// A whole server from the pool.
    Server,
    /// `label.<base domain>`.
    Domain {
        /// A DNS label.
        label: String,
    },
    /// `<owner>/<name>`.
    Repository {
        /// The repository name.
        name: String,
    },
    /// A handle to a secret.
    Secret {
        /// Where the value comes from.
        source: SecretSource,
        /// Resolves once.
        single_use: bool,
    },
    /// LLM spend.
    LlmBudget {
        /// Millionths of a US dollar.
        usd_micros: i64,
    },
}

impl Want {
    /// The stored kind.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Port { .. } => Kind::Port,
            Self::Server => Kind::Server,
            Self::Domain { .. } => Kind::Domain,
            Self::Repository { .. } => Kind::Repository,
            Self::Secret { .. } => Kind::Secret,
            Self::LlmBudget { .. } => Kind::LlmBudget,
        }
    }
}

/// Where a secret handle's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    /// A path in secrets.yaml.
    Sops(KeyPath),
    /// A secret the person stored, by name.
    User(String),
}

impl SecretSource {
    /// Parses a secrets.yaml path.
    pub fn sops(path: &str) -> Result<Self, ZavhozError> {
        let parsed = KeyPath::parse(path.trim())
            .map_err(|e| ZavhozError::invalid("secret.sops_path", e.to_string()))?;
        if parsed.is_empty() {
            return Err(ZavhozError::invalid("secret.sops_path", "is empty"));
        }
        Ok(Self::Sops(parsed))
    }

    /// Validates a user secret name.
    pub fn user(name: &str) -> Result<Self, ZavhozError> {
        check_secret_name("secret.user_secret", name)?;
        Ok(Self::User(name.to_owned()))
    }

    /// The non-secret label shown to clients: `sops:<path>` or `user:<name>`.
    pub fn label(&self) -> String {
        match self {
            Self::Sops(path) => format!("sops:{path}"),
            Self::User(name) => format!("user:{name}"),
        }
    }
}

/// An allocation request.
#[derive(Debug, Clone)]
pub struct AllocateParams {
    /// The person (users.id).
    pub acting_user_id: i64,
    /// Their project.
    pub project_id: Option<Uuid>,
    /// Makes retries return the same resource.
    pub idempotency_key: String,
    /// Requested lease in seconds; 0 means the default.
    pub lease_ttl_secs: u32,
    /// What.
    pub want: Want,
}

/// Checks an idempotency key: 1..=200 printable characters.
pub fn check_idempotency_key(key: &str) -> Result<(), ZavhozError> {
    let ok = (1..=200).contains(&key.len()) && key.chars().all(|c| !c.is_control());
    ok.then_some(()).ok_or_else(|| {
        ZavhozError::invalid("idempotency_key", "must be 1..=200 printable characters")
    })
}

/// Checks a DNS label: lowercase letters, digits and inner hyphens, 1..=63.
pub fn check_label(label: &str) -> Result<(), ZavhozError> {
    let chars_ok = label
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let ok = (1..=63).contains(&label.len())
        && chars_ok
        && !label.starts_with('-')
        && !label.ends_with('-');
    ok.then_some(()).ok_or_else(|| {
        ZavhozError::invalid(
            "domain.label",
            "must be one DNS label: a-z, 0-9 and inner '-', up to 63",
        )
    })
}

/// Checks a repository name: lowercase letters, digits, '-', '_', '.', 1..=100, not `.` or `..`.
pub fn check_repository(name: &str) -> Result<(), ZavhozError> {
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    let ok = (1..=100).contains(&name.len()) && chars_ok && name != "." && name != "..";
    ok.then_some(()).ok_or_else(|| {
        ZavhozError::invalid(
            "repository.name",
            "must be 1..=100 of a-z, 0-9, '-', '_', '.'",
        )
    })
}

/// Checks a user secret name: 1..=100 of a-z, 0-9, '_', '.', '-'.
pub fn check_secret_name(field: &'static str, name: &str) -> Result<(), ZavhozError> {
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    let ok = (1..=100).contains(&name.len()) && chars_ok;
    ok.then_some(())
        .ok_or_else(|| ZavhozError::invalid(field, "must be 1..=100 of a-z, 0-9, '_', '.', '-'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(check_label("weather-bot").is_ok());
        for bad in ["", "-a", "a-", "Upper", "a.b", &"x".repeat(64)] {
            assert!(check_label(bad).is_err(), "{bad}");
        }
        assert!(check_repository("weather_bot.v2").is_ok());
        for bad in ["", ".", "..", "a/b", "A"] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
        assert!(check_secret_name("n", "telegram_bot_token").is_ok());
        assert!(check_secret_name("n", "has space").is_err());
        assert!(check_idempotency_key("run:1:node:call_7").is_ok());
        assert!(check_idempotency_key("").is_err());
        assert!(check_idempotency_key("a\nb").is_err());
    }

    #[test]
    fn sources_have_labels() {
        let sops = SecretSource::sops("llm.providers[0].api_key").expect("path");
        assert_eq!(sops.label(), "sops:llm.providers[0].api_key");
        assert_eq!(SecretSource::user("bot").expect("name").label(), "user:bot");
        assert!(SecretSource::sops("").is_err());
    }
}
