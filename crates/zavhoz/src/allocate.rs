//! Allocate: idempotent per (person, idempotency key), within the person's quota, picking from shared pools
//! under an advisory lock, audited in the same transaction.

use chrono::{DateTime, TimeDelta, Utc};
use orch_zavhoz_client::Refusal;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};
use sqlx::PgConnection;
use tracing::{debug, info, instrument};
use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::core::{Audit, Zavhoz, check_owner};
use crate::db::handles::{self, NewHandle};
use crate::db::resources::{self, NewResource, ResourceRow};
use crate::db::{Kind, lock_pool, user_secrets, users};
use crate::error::ZavhozError;
use crate::model::{AllocateParams, SecretSource, Want, check_label, check_repository};

/// Length of the random part of a handle (the contract allows 20..=64 alphanumerics).
const HANDLE_RANDOM_LEN: usize = 32;

/// What a request turns into before it is stored.
struct Planned {
    name: String,
    attributes: Value,
    handle: Option<PlannedHandle>,
}

struct PlannedHandle {
    source: String,
    single_use: bool,
}

/// Mints a handle: `hdl_` and 32 random alphanumerics (≈190 bits).
pub fn mint_handle() -> String {
    format!(
        "hdl_{}",
        Alphanumeric.sample_string(&mut rand::rng(), HANDLE_RANDOM_LEN)
    )
}

impl Zavhoz {
    /// Allocates a resource, or returns the one an earlier call with the same key allocated.
    #[instrument(skip_all, fields(caller = %caller.identity, user = params.acting_user_id, kind = params.want.kind().as_str()))]
    pub async fn allocate(
        &self,
        caller: Caller,
        params: AllocateParams,
    ) -> Result<ResourceRow, ZavhozError> {
        let kind = params.want.kind().as_str();
        let result = self.allocate_inner(caller, &params).await;
        let outcome = match &result {
            Ok((_, true)) => "replayed",
            Ok((_, false)) => "allocated",
            Err(ZavhozError::Refused { .. }) => "refused",
            Err(_) => "error",
        };
        self.metrics.allocation(kind, outcome);
        result.map(|(row, _)| row)
    }

    async fn allocate_inner(
        &self,
        caller: Caller,
        params: &AllocateParams,
    ) -> Result<(ResourceRow, bool), ZavhozError> {
        caller.require(Permission::Resources)?;
        let lease = self.policy.lease(params.lease_ttl_secs)?;
        let now = self.now();
        let mut tx = self.begin().await?;
        check_owner(&mut tx, params.acting_user_id, params.project_id, true).await?;
        if let Some(existing) = replay(&mut tx, params).await? {
            tx.commit().await.map_err(ZavhozError::db("committing"))?;
            debug!(resource = %existing.id, "idempotent replay");
            return Ok((existing, true));
        }
        self.reap_in(&mut tx, now).await?;
        self.check_quota(&mut tx, params, now).await?;
        let planned = self.plan(&mut tx, params).await?;
        let row = store(&mut tx, params, planned, now, lease).await?;
        audit_allocation(&mut tx, caller, params, &row).await?;
        tx.commit().await.map_err(ZavhozError::db("committing"))?;
        info!(resource = %row.id, name = %row.name, "allocated");
        Ok((row, false))
    }

    async fn check_quota(
        &self,
        conn: &mut PgConnection,
        params: &AllocateParams,
        now: DateTime<Utc>,
    ) -> Result<(), ZavhozError> {
        let kind = params.want.kind();
        let user = params.acting_user_id;
        let max = users::quota(conn, user, kind)
            .await
            .map_err(ZavhozError::db("reading the quota"))?
            .map_or(i64::from(self.policy.default_quota), i64::from);
        let live = resources::count_live(conn, user, kind, now)
            .await
            .map_err(ZavhozError::db("counting live resources"))?;
        if live >= max {
            return Err(ZavhozError::refused(
                Refusal::QuotaExceeded,
                format!(
                    "quota exceeded: user {user} holds {live} of {max} live {} resources",
                    kind.as_str()
                ),
            ));
        }
        Ok(())
    }

    async fn plan(
        &self,
        conn: &mut PgConnection,
        params: &AllocateParams,
    ) -> Result<Planned, ZavhozError> {
        match &params.want {
            Want::Port { server } => self.plan_port(conn, server.as_deref()).await,
            Want::Server => self.plan_server(conn).await,
            Want::Domain { label } => self.plan_domain(conn, label).await,
            Want::Repository { name } => self.plan_repository(conn, name).await,
            Want::Secret { source, single_use } => {
                self.plan_secret(conn, params, source, *single_use).await
            }
            Want::LlmBudget { usd_micros } => plan_budget(*usd_micros),
        }
    }

    async fn plan_port(
        &self,
        conn: &mut PgConnection,
        server: Option<&str>,
    ) -> Result<Planned, ZavhozError> {
        let candidates = self.port_servers(server)?;
        lock_pool(conn, "zavhoz:port")
            .await
            .map_err(ZavhozError::db("locking the port pool"))?;
        for server in &candidates {
            let held = resources::held_ports(conn, server)
                .await
                .map_err(ZavhozError::db("reading held ports"))?;
            let free = self
                .policy
                .ports
                .clone()
                .find(|p| !held.contains(&i32::from(*p)));
            if let Some(port) = free {
                return Ok(Planned {
                    name: format!("{server}:{port}"),
                    attributes: json!({ "server": server, "port": port }),
                    handle: None,
                });
            }
        }
        let ports = &self.policy.ports;
        Err(ZavhozError::refused(
            Refusal::NoPortFree,
            format!(
                "no port free in {}-{} on {}",
                ports.start(),
                ports.end(),
                candidates.join(", ")
            ),
        ))
    }

    fn port_servers(&self, server: Option<&str>) -> Result<Vec<String>, ZavhozError> {
        if self.policy.servers.is_empty() {
            return Err(not_configured("servers", "ZAVHOZ__SERVERS"));
        }
        match server {
            None => Ok(self.policy.servers.clone()),
            Some(s) if self.policy.servers.iter().any(|c| c == s) => Ok(vec![s.to_owned()]),
            Some(s) => Err(ZavhozError::invalid(
                "port.server",
                format!("`{s}` is not a configured server"),
            )),
        }
    }

    async fn plan_server(&self, conn: &mut PgConnection) -> Result<Planned, ZavhozError> {
        if self.policy.servers.is_empty() {
            return Err(not_configured("servers", "ZAVHOZ__SERVERS"));
        }
        lock_pool(conn, "zavhoz:server")
            .await
            .map_err(ZavhozError::db("locking the server pool"))?;
        let held = resources::held_names(conn, Kind::Server)
            .await
            .map_err(ZavhozError::db("reading held servers"))?;
        let free = self.policy.servers.iter().find(|s| !held.contains(s));
        let server = free.ok_or_else(|| {
            ZavhozError::refused(
                Refusal::NoServerFree,
                format!("no server free: all {} are held", self.policy.servers.len()),
            )
        })?;
        Ok(Planned {
            name: server.clone(),
            attributes: json!({ "server": server }),
            handle: None,
        })
    }

    async fn plan_domain(
        &self,
        conn: &mut PgConnection,
        label: &str,
    ) -> Result<Planned, ZavhozError> {
        check_label(label)?;
        if self.policy.base_domain.is_empty() {
            return Err(not_configured("a base domain", "ZAVHOZ__BASE_DOMAIN"));
        }
        let fqdn = format!("{label}.{}", self.policy.base_domain);
        claim_name(conn, Kind::Domain, &fqdn).await?;
        Ok(Planned {
            attributes: json!({ "fqdn": fqdn }),
            name: fqdn,
            handle: None,
        })
    }

    async fn plan_repository(
        &self,
        conn: &mut PgConnection,
        name: &str,
    ) -> Result<Planned, ZavhozError> {
        check_repository(name)?;
        if self.policy.repository_owner.is_empty() {
            return Err(not_configured(
                "a repository owner",
                "ZAVHOZ__REPOSITORY_OWNER",
            ));
        }
        let full = format!("{}/{name}", self.policy.repository_owner);
        claim_name(conn, Kind::Repository, &full).await?;
        Ok(Planned {
            attributes: json!({ "repository": full }),
            name: full,
            handle: None,
        })
    }

    async fn plan_secret(
        &self,
        conn: &mut PgConnection,
        params: &AllocateParams,
        source: &SecretSource,
        single_use: bool,
    ) -> Result<Planned, ZavhozError> {
        let label = source.label();
        let stored = match source {
            SecretSource::Sops(path) => {
                if self.secrets.sops_value(path).is_none() {
                    return Err(secret_missing(&label));
                }
                label.clone()
            }
            SecretSource::User(name) => {
                let id = user_secrets::find(conn, params.acting_user_id, params.project_id, name)
                    .await
                    .map_err(ZavhozError::db("finding a user secret"))?
                    .ok_or_else(|| secret_missing(&label))?;
                format!("user:{id}")
            }
        };
        Ok(Planned {
            name: format!("secret:{label}"),
            attributes: json!({ "source": label, "single_use": single_use }),
            handle: Some(PlannedHandle {
                source: stored,
                single_use,
            }),
        })
    }
}

fn plan_budget(usd_micros: i64) -> Result<Planned, ZavhozError> {
    if usd_micros <= 0 {
        return Err(ZavhozError::invalid(
            "llm_budget.usd_micros",
            "must be positive",
        ));
    }
    Ok(Planned {
        name: format!("llm-budget:{usd_micros}"),
        attributes: json!({ "usd_micros": usd_micros }),
        handle: None,
    })
}

fn not_configured(what: &str, variable: &str) -> ZavhozError {
    ZavhozError::refused(
        Refusal::NotConfigured,
        format!("zavhoz has no {what} configured ({variable})"),
    )
}

fn secret_missing(label: &str) -> ZavhozError {
    ZavhozError::refused(
        Refusal::SecretMissing,
        format!("secret {label} does not exist (or is not a single value)"),
    )
}

/// Refuses a name a live resource holds (domains and repositories, whoever holds them).
async fn claim_name(conn: &mut PgConnection, kind: Kind, name: &str) -> Result<(), ZavhozError> {
    lock_pool(conn, &format!("zavhoz:name:{}", kind.as_str()))
        .await
        .map_err(ZavhozError::db("locking the name pool"))?;
    let held = resources::held_names(conn, kind)
        .await
        .map_err(ZavhozError::db("reading held names"))?;
    if held.iter().any(|h| h == name) {
        return Err(ZavhozError::refused(
            Refusal::NameTaken,
            format!("{} {name} is already taken", kind.as_str()),
        ));
    }
    Ok(())
}

/// Returns the resource of an earlier allocation with the same key; a different request under the same key
/// is refused.
async fn replay(
    conn: &mut PgConnection,
    params: &AllocateParams,
) -> Result<Option<ResourceRow>, ZavhozError> {
    let found = resources::by_idempotency_key(conn, params.acting_user_id, &params.idempotency_key)
        .await
        .map_err(ZavhozError::db("looking up the idempotency key"))?;
    let Some(id) = found else {
        return Ok(None);
    };
    let row = resources::get(conn, id)
        .await
        .map_err(ZavhozError::db("reading a resource"))?
        .ok_or(ZavhozError::NotFound { what: "resource" })?;
    if row.kind != params.want.kind() || row.project_id != params.project_id {
        return Err(ZavhozError::refused(
            Refusal::IdempotencyConflict,
            "this idempotency key was used for a different request",
        ));
    }
    Ok(Some(row))
}

async fn store(
    conn: &mut PgConnection,
    params: &AllocateParams,
    planned: Planned,
    now: DateTime<Utc>,
    lease: TimeDelta,
) -> Result<ResourceRow, ZavhozError> {
    let id = Uuid::now_v7();
    let expires_at = now + lease;
    let new = NewResource {
        id,
        kind: params.want.kind(),
        owner_user_id: params.acting_user_id,
        project_id: params.project_id,
        name: &planned.name,
        attributes: &planned.attributes,
        idempotency_key: &params.idempotency_key,
        lease_expires_at: expires_at,
        created_at: now,
    };
    resources::insert(conn, &new)
        .await
        .map_err(ZavhozError::db("inserting a resource"))?;
    if let Some(handle) = &planned.handle {
        let minted = mint_handle();
        let new = NewHandle {
            handle: &minted,
            resource_id: id,
            source: &handle.source,
            single_use: handle.single_use,
            expires_at,
            created_at: now,
        };
        handles::insert(conn, &new)
            .await
            .map_err(ZavhozError::db("inserting a handle"))?;
    }
    resources::get(conn, id)
        .await
        .map_err(ZavhozError::db("reading a resource"))?
        .ok_or(ZavhozError::NotFound { what: "resource" })
}

async fn audit_allocation(
    conn: &mut PgConnection,
    caller: Caller,
    params: &AllocateParams,
    row: &ResourceRow,
) -> Result<(), ZavhozError> {
    let subject = row.id.to_string();
    Audit {
        actor: caller.identity.as_str(),
        action: "resource.allocate",
        subject: &subject,
        detail: json!({
            "acting_user_id": params.acting_user_id,
            "project_id": params.project_id,
            "kind": row.kind.as_str(),
            "name": row.name,
            "handle": row.handle,
            "lease_expires_at": row.lease_expires_at,
        }),
        run_id: None,
    }
    .write(conn)
    .await
}

#[cfg(test)]
mod tests {
    use orch_contracts::messages::worker::SecretHandle;

    use super::*;

    #[test]
    fn minted_handles_have_the_contract_shape_and_differ() {
        let a = mint_handle();
        let b = mint_handle();
        assert!(SecretHandle(a.clone()).is_well_formed(), "{a}");
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + HANDLE_RANDOM_LEN);
    }
}
