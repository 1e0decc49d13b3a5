//! Settings from the environment (and a `.env` file): shared infrastructure settings under their conventional
//! names (`DATABASE_URL`, `REDIS_URL`, `RUST_LOG`, …) and each service's own section as `<SERVICE>__<KEY>`.
//! This is the only module that reads the environment.
//!
//! A service's section is a struct with `#[serde(default, deny_unknown_fields)]`: missing keys take their
//! defaults, and unknown keys are refused, so a typo fails at startup instead of being ignored.

use std::time::Duration;

use figment::Figment;
use figment::providers::Env;
use orch_bus::BusConfig;
use orch_telemetry::{LogFormat, TelemetryConfig};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Settings of one service: the shared part and its own section.
#[derive(Debug, Clone)]
pub struct Settings<T> {
    /// Infrastructure every service shares.
    pub common: CommonSettings,
    /// The service's own section.
    pub service: T,
}

/// Infrastructure settings shared by every service.
#[derive(Debug, Clone, Deserialize)]
pub struct CommonSettings {
    /// PostgreSQL URL (`DATABASE_URL`); may hold a password, so it is redacted in Debug.
    pub database_url: Option<SecretString>,
    /// Redis URL (`REDIS_URL`); may hold a password.
    pub redis_url: Option<SecretString>,
    /// Log format, `json` or `pretty` (`LOG_FORMAT`).
    #[serde(default)]
    pub log_format: LogFormat,
    /// Log filter (`RUST_LOG`), default `info`.
    #[serde(default = "default_filter")]
    pub rust_log: String,
    /// OTLP/gRPC collector (`OTEL_EXPORTER_OTLP_ENDPOINT`); unset disables span export.
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// Apply database migrations at startup (`RUN_MIGRATIONS`), default false.
    #[serde(default)]
    pub run_migrations: bool,
    /// Deliveries before an entry is dead-lettered (`BUS_MAX_DELIVERIES`), default 5.
    #[serde(default = "default_max_deliveries")]
    pub bus_max_deliveries: u32,
    /// Seconds an entry may stay pending before a peer reclaims it (`BUS_CLAIM_MIN_IDLE_SECS`), default 30.
    #[serde(default = "default_claim_min_idle")]
    pub bus_claim_min_idle_secs: u64,
    /// Seconds a stopping service waits for in-flight work (`SHUTDOWN_GRACE_SECS`), default 30.
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
    /// A prefix for every Redis key (`BUS_PREFIX`), isolating deployments or test runs sharing one Redis.
    #[serde(default)]
    pub bus_prefix: String,
}

const COMMON_KEYS: [&str; 10] = [
    "DATABASE_URL",
    "REDIS_URL",
    "LOG_FORMAT",
    "RUST_LOG",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "RUN_MIGRATIONS",
    "BUS_MAX_DELIVERIES",
    "BUS_CLAIM_MIN_IDLE_SECS",
    "SHUTDOWN_GRACE_SECS",
    "BUS_PREFIX",
];

fn default_filter() -> String {
    "info".into()
}
fn default_max_deliveries() -> u32 {
    5
}
fn default_claim_min_idle() -> u64 {
    30
}
fn default_grace() -> u64 {
    30
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is missing, malformed or unknown.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A value the service needs is not set.
    #[error("missing configuration: {name} must be set ({why})")]
    Missing {
        /// The environment variable.
        name: &'static str,
        /// Why the service needs it.
        why: &'static str,
    },
}

impl<T: DeserializeOwned> Settings<T> {
    /// Loads `.env` (if present) and then the environment; `prefix` names the service section (`API`).
    pub fn load(prefix: &str) -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_figment(
            Figment::from(Env::raw().only(&COMMON_KEYS)),
            service_figment(prefix),
        )
    }

    fn from_figment(common: Figment, service: Figment) -> Result<Self, ConfigError> {
        let common = common
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let service = service
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Ok(Self { common, service })
    }
}

fn service_figment(prefix: &str) -> Figment {
    Figment::from(Env::prefixed(&format!("{prefix}__")).split("__"))
}

impl Default for CommonSettings {
    fn default() -> Self {
        Self {
            database_url: None,
            redis_url: None,
            log_format: LogFormat::default(),
            rust_log: default_filter(),
            otel_exporter_otlp_endpoint: None,
            run_migrations: false,
            bus_max_deliveries: default_max_deliveries(),
            bus_claim_min_idle_secs: default_claim_min_idle(),
            shutdown_grace_secs: default_grace(),
            bus_prefix: String::new(),
        }
    }
}

impl CommonSettings {
    /// Returns the database URL or a clear error naming the variable.
    pub fn require_database_url(&self) -> Result<&SecretString, ConfigError> {
        self.database_url.as_ref().ok_or(ConfigError::Missing {
            name: "DATABASE_URL",
            why: "the service stores state in PostgreSQL",
        })
    }

    /// Returns the Redis URL or a clear error naming the variable.
    pub fn require_redis_url(&self) -> Result<&SecretString, ConfigError> {
        self.redis_url.as_ref().ok_or(ConfigError::Missing {
            name: "REDIS_URL",
            why: "the service talks over Redis streams",
        })
    }

    /// Returns the telemetry setup for `service`.
    pub fn telemetry(&self, service: &'static str) -> TelemetryConfig {
        TelemetryConfig {
            service,
            format: self.log_format,
            filter: self.rust_log.clone(),
            otlp_endpoint: self
                .otel_exporter_otlp_endpoint
                .clone()
                .filter(|e| !e.is_empty()),
        }
    }

    /// Returns the bus tuning these settings ask for.
    pub fn bus_config(&self) -> BusConfig {
        BusConfig {
            prefix: self.bus_prefix.clone(),
            max_deliveries: self.bus_max_deliveries,
            claim_min_idle: Duration::from_secs(self.bus_claim_min_idle_secs),
            shutdown_grace: self.shutdown_grace(),
            ..BusConfig::default()
        }
    }

    /// Returns how long a stopping service waits for in-flight work.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use figment::providers::Serialized;
    use secrecy::ExposeSecret;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Demo {
        http_listen: SocketAddr,
        workers: u32,
    }

    impl Default for Demo {
        fn default() -> Self {
            Self {
                http_listen: "127.0.0.1:1".parse().expect("addr"),
                workers: 2,
            }
        }
    }

    fn common(values: serde_json::Value) -> Figment {
        Figment::from(Serialized::defaults(values))
    }

    #[test]
    fn defaults_apply_and_secrets_are_redacted() {
        let service = Figment::from(Serialized::default("workers", 4));
        let url = "postgres://u:hunter2@db/x";
        let s = Settings::<Demo>::from_figment(common(json!({ "database_url": url })), service)
            .expect("loads");
        assert_eq!(s.service.workers, 4);
        assert_eq!(s.common.rust_log, "info");
        assert_eq!(s.common.bus_max_deliveries, 5);
        assert_eq!(
            s.common.database_url.as_ref().expect("set").expose_secret(),
            url
        );
        let printed = format!("{s:?}");
        assert!(
            !printed.contains("hunter2"),
            "Debug must not print secrets: {printed}"
        );
        assert!(printed.contains("REDACTED"));
    }

    #[test]
    fn an_unknown_service_key_is_refused() {
        let service = Figment::from(Serialized::default("wrokers", 4));
        let err =
            Settings::<Demo>::from_figment(common(json!({})), service).expect_err("typo refused");
        assert!(err.to_string().contains("wrokers"), "{err}");
    }

    #[test]
    fn a_missing_url_names_the_variable() {
        let s = Settings::<Demo>::from_figment(common(json!({})), Figment::new()).expect("loads");
        let err = s
            .common
            .require_redis_url()
            .expect_err("missing")
            .to_string();
        assert!(err.contains("REDIS_URL"), "{err}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type
    fn environment_variables_fill_both_sections() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("REDIS_URL", "redis://127.0.0.1:6390");
            jail.set_env("RUN_MIGRATIONS", "true");
            jail.set_env("DEMO__WORKERS", "9");
            jail.set_env("UNRELATED_VAR", "ignored");
            let s = Settings::<Demo>::from_figment(
                Figment::from(Env::raw().only(&COMMON_KEYS)),
                service_figment("DEMO"),
            )
            .map_err(|e| e.to_string())?;
            assert_eq!(s.service.workers, 9);
            assert!(s.common.run_migrations);
            assert_eq!(
                s.common
                    .redis_url
                    .as_ref()
                    .map(|u| u.expose_secret().to_owned())
                    .as_deref(),
                Some("redis://127.0.0.1:6390")
            );
            Ok(())
        });
    }
}
