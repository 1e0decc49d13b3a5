//! Get, List, Release and Renew for the acting person, and the lease reaper.
//!
//! Another person's resource is reported as NOT_FOUND (never PERMISSION_DENIED), so ids cannot be probed.
//! Release revokes the resource's handles in the same transaction; the reaper does the same for leases
//! that ran out (`release_reason = 'expired'`).

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use tracing::{info, instrument, warn};
use uuid::Uuid;

use orch_zavhoz_client::Refusal;

use crate::auth::{Caller, Permission};
use crate::core::{Audit, SELF_ACTOR, Zavhoz, check_owner};
use crate::db::handles;
use crate::db::resources::{self, ResourceRow};
use crate::error::ZavhozError;

/// How many expired resources one reaper pass handles.
const REAP_BATCH: i64 = 500;

impl Zavhoz {
    /// Returns one of the acting person's resources.
    #[instrument(skip_all, fields(caller = %caller.identity, user = acting_user_id, resource = %id))]
    pub async fn get(
        &self,
        caller: Caller,
        acting_user_id: i64,
        id: Uuid,
    ) -> Result<ResourceRow, ZavhozError> {
        caller.require(Permission::Resources)?;
        let mut conn = self.acquire().await?;
        owned_row(&mut conn, acting_user_id, id).await
    }

    /// Lists the acting person's resources, optionally of one of their projects.
    #[instrument(skip_all, fields(caller = %caller.identity, user = acting_user_id))]
    pub async fn list(
        &self,
        caller: Caller,
        acting_user_id: i64,
        project_id: Option<Uuid>,
        include_released: bool,
    ) -> Result<Vec<ResourceRow>, ZavhozError> {
        caller.require(Permission::Resources)?;
        let mut conn = self.acquire().await?;
        check_owner(&mut conn, acting_user_id, project_id, false).await?;
        resources::list(&mut conn, acting_user_id, project_id, include_released)
            .await
            .map_err(ZavhozError::db("listing resources"))
    }

    /// Releases a resource and revokes its handles; releasing again returns it unchanged.
    #[instrument(skip_all, fields(caller = %caller.identity, user = acting_user_id, resource = %id))]
    pub async fn release(
        &self,
        caller: Caller,
        acting_user_id: i64,
        id: Uuid,
    ) -> Result<ResourceRow, ZavhozError> {
        caller.require(Permission::Resources)?;
        let now = self.now();
        let mut tx = self.begin().await?;
        lock_owned(&mut tx, acting_user_id, id).await?;
        let changed = resources::release(&mut tx, id, now, "released")
            .await
            .map_err(ZavhozError::db("releasing a resource"))?;
        if changed {
            let revoked = revoke(&mut tx, id, now).await?;
            let subject = id.to_string();
            Audit {
                actor: caller.identity.as_str(),
                action: "resource.release",
                subject: &subject,
                detail: json!({ "acting_user_id": acting_user_id, "revoked_handles": revoked }),
                run_id: None,
            }
            .write(&mut tx)
            .await?;
            info!(revoked_handles = revoked, "released");
        }
        let row = owned_row(&mut tx, acting_user_id, id).await?;
        tx.commit().await.map_err(ZavhozError::db("committing"))?;
        Ok(row)
    }

    /// Extends a live resource's lease (and its handles') to `ttl_secs` from now (0: default).
    #[instrument(skip_all, fields(caller = %caller.identity, user = acting_user_id, resource = %id))]
    pub async fn renew(
        &self,
        caller: Caller,
        acting_user_id: i64,
        id: Uuid,
        ttl_secs: u32,
    ) -> Result<ResourceRow, ZavhozError> {
        caller.require(Permission::Resources)?;
        let lease = self.policy.lease(ttl_secs)?;
        let now = self.now();
        let mut tx = self.begin().await?;
        lock_owned(&mut tx, acting_user_id, id).await?;
        let row = owned_row(&mut tx, acting_user_id, id).await?;
        if !is_live(&row, now) {
            return Err(ZavhozError::refused(
                Refusal::LeaseExpired,
                format!("resource {id} was released or its lease ran out; allocate a new one"),
            ));
        }
        let expires_at = now + lease;
        resources::set_lease(&mut tx, id, expires_at)
            .await
            .map_err(ZavhozError::db("renewing a lease"))?;
        handles::extend_for_resource(&mut tx, id, expires_at)
            .await
            .map_err(ZavhozError::db("extending handles"))?;
        let subject = id.to_string();
        Audit {
            actor: caller.identity.as_str(),
            action: "resource.renew",
            subject: &subject,
            detail: json!({ "acting_user_id": acting_user_id, "lease_expires_at": expires_at }),
            run_id: None,
        }
        .write(&mut tx)
        .await?;
        let row = owned_row(&mut tx, acting_user_id, id).await?;
        tx.commit().await.map_err(ZavhozError::db("committing"))?;
        Ok(row)
    }

    /// Releases every resource whose lease ran out (one batch); returns how many.
    pub async fn reap(&self) -> Result<usize, ZavhozError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let reaped = self.reap_in(&mut tx, now).await?;
        tx.commit().await.map_err(ZavhozError::db("committing"))?;
        Ok(reaped)
    }

    /// Releases expired resources inside the caller's transaction, revoking handles and auditing each.
    pub(crate) async fn reap_in(
        &self,
        conn: &mut PgConnection,
        now: DateTime<Utc>,
    ) -> Result<usize, ZavhozError> {
        let expired = resources::lock_expired(conn, now, REAP_BATCH)
            .await
            .map_err(ZavhozError::db("finding expired leases"))?;
        for resource in &expired {
            resources::release(conn, resource.id, now, "expired")
                .await
                .map_err(ZavhozError::db("expiring a resource"))?;
            let revoked = revoke(conn, resource.id, now).await?;
            let subject = resource.id.to_string();
            Audit {
                actor: SELF_ACTOR,
                action: "resource.expire",
                subject: &subject,
                detail: json!({
                    "owner_user_id": resource.owner_user_id,
                    "kind": resource.kind.as_str(),
                    "name": resource.name,
                    "revoked_handles": revoked,
                }),
                run_id: None,
            }
            .write(conn)
            .await?;
        }
        if !expired.is_empty() {
            info!(count = expired.len(), "expired leases released");
            self.metrics.expired(expired.len() as u64);
        }
        Ok(expired.len())
    }
}

/// Tells whether a resource is held and its lease has not run out at `now`.
pub fn is_live(row: &ResourceRow, now: DateTime<Utc>) -> bool {
    row.released_at.is_none() && row.lease_expires_at.is_some_and(|end| end > now)
}

async fn revoke(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> Result<u64, ZavhozError> {
    handles::revoke_for_resource(conn, id, now)
        .await
        .map_err(ZavhozError::db("revoking handles"))
}

async fn owned_row(
    conn: &mut PgConnection,
    acting_user_id: i64,
    id: Uuid,
) -> Result<ResourceRow, ZavhozError> {
    let row = resources::get(conn, id)
        .await
        .map_err(ZavhozError::db("reading a resource"))?;
    match row {
        Some(row) if row.owner_user_id == acting_user_id => Ok(row),
        Some(_) => {
            warn!(resource = %id, acting_user_id, "another person's resource was asked for");
            Err(ZavhozError::NotFound { what: "resource" })
        }
        None => Err(ZavhozError::NotFound { what: "resource" }),
    }
}

async fn lock_owned(
    conn: &mut PgConnection,
    acting_user_id: i64,
    id: Uuid,
) -> Result<(), ZavhozError> {
    let owner = resources::lock(conn, id)
        .await
        .map_err(ZavhozError::db("locking a resource"))?;
    if owner != Some(acting_user_id) {
        if owner.is_some() {
            warn!(resource = %id, acting_user_id, "another person's resource was asked for");
        }
        return Err(ZavhozError::NotFound { what: "resource" });
    }
    Ok(())
}
