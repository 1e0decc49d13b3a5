//! [`Zavhoz`]: the service's operations, independent of gRPC. Every state change and its audit record are
//! written in one transaction; if the audit record cannot be written, nothing happens (fail closed).

use std::ops::RangeInclusive;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use orch_contracts::RunId;
use orch_store::Store;
use orch_store::audit::{self, AuditEntry};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::clock::Clock;
use crate::config::ZavhozConfig;
use crate::db::users;
use crate::error::ZavhozError;
use crate::metrics::Metrics;
use crate::secrets::SecretStore;

/// The actor recorded for zavhoz's own actions (the reaper).
pub const SELF_ACTOR: &str = "zavhoz";

/// What may be handed out, from the configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Servers for ports and whole servers.
    pub servers: Vec<String>,
    /// Ports handed out on each server.
    pub ports: RangeInclusive<u16>,
    /// Domains are subdomains of this (empty: none).
    pub base_domain: String,
    /// Repositories are created under this owner (empty: none).
    pub repository_owner: String,
    /// Default lease, seconds.
    pub default_lease_secs: u32,
    /// Longest lease, seconds.
    pub max_lease_secs: u32,
    /// Live resources per person and kind without a `quotas` row.
    pub default_quota: u32,
}

impl Policy {
    /// Takes the policy from the configuration.
    pub fn from_config(config: &ZavhozConfig) -> Self {
        Self {
            servers: config.servers.clone(),
            ports: config.port_range_start..=config.port_range_end,
            base_domain: config.base_domain.trim_matches('.').to_owned(),
            repository_owner: config.repository_owner.clone(),
            default_lease_secs: config.default_lease_secs,
            max_lease_secs: config.max_lease_secs,
            default_quota: config.default_quota,
        }
    }

    /// Returns the lease for a requested TTL (0: default); longer than the maximum is invalid.
    pub fn lease(&self, requested_secs: u32) -> Result<TimeDelta, ZavhozError> {
        let secs = if requested_secs == 0 {
            self.default_lease_secs
        } else {
            requested_secs
        };
        if secs > self.max_lease_secs {
            return Err(ZavhozError::invalid(
                "lease_ttl_seconds",
                format!("must be at most {}", self.max_lease_secs),
            ));
        }
        Ok(TimeDelta::seconds(i64::from(secs)))
    }
}

/// The zavhoz operations.
pub struct Zavhoz {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) secrets: Arc<SecretStore>,
    pub(crate) policy: Policy,
    pub(crate) metrics: Metrics,
}

impl std::fmt::Debug for Zavhoz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zavhoz")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Zavhoz {
    /// Assembles the operations.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        secrets: Arc<SecretStore>,
        policy: Policy,
        metrics: Metrics,
    ) -> Self {
        Self {
            store,
            clock,
            secrets,
            policy,
            metrics,
        }
    }

    /// The current time by zavhoz's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The secret store.
    pub fn secrets(&self) -> &SecretStore {
        &self.secrets
    }

    pub(crate) async fn begin(
        &self,
    ) -> Result<orch_store::Transaction<'static, orch_store::Postgres>, ZavhozError> {
        Ok(self.store.begin().await?)
    }

    pub(crate) async fn acquire(
        &self,
    ) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, ZavhozError> {
        self.store
            .pool()
            .acquire()
            .await
            .map_err(ZavhozError::db("acquiring a connection"))
    }
}

/// Checks that the person exists (locking their row when `lock`) and owns `project_id`.
pub(crate) async fn check_owner(
    conn: &mut PgConnection,
    user_id: i64,
    project_id: Option<Uuid>,
    lock: bool,
) -> Result<(), ZavhozError> {
    let exists = if lock {
        users::lock(conn, user_id).await
    } else {
        users::exists(conn, user_id).await
    }
    .map_err(ZavhozError::db("looking up the acting user"))?;
    if !exists {
        return Err(ZavhozError::NotFound { what: "user" });
    }
    let Some(project_id) = project_id else {
        return Ok(());
    };
    let owner = users::project_owner(conn, project_id)
        .await
        .map_err(ZavhozError::db("looking up the project"))?;
    if owner != Some(user_id) {
        return Err(ZavhozError::NotFound { what: "project" });
    }
    Ok(())
}

/// One audit record; a failure to write it fails the operation (fail closed).
pub(crate) struct Audit<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub detail: Value,
    pub run_id: Option<Uuid>,
}

impl Audit<'_> {
    /// Appends the record in the caller's transaction.
    pub(crate) async fn write(self, conn: &mut PgConnection) -> Result<(), ZavhozError> {
        let entry = AuditEntry {
            actor: self.actor,
            action: self.action,
            subject: self.subject,
            detail: self.detail,
            run_id: self.run_id.map(RunId),
        };
        audit::append(conn, &entry)
            .await
            .map(|_| ())
            .map_err(|source| ZavhozError::Audit { source })
    }
}
