//! Resolve (handle → value), storing secrets people give, and reloading secrets.yaml.
//!
//! Resolve is the only way a value leaves zavhoz. It runs in one transaction: lock the handle, check it
//! (revoked, expired, already redeemed), read the value, mark a single-use handle redeemed, append the
//! `secret.resolve` audit record (caller, handle, resource, purpose — never the value), commit, and only
//! then return the value. If any step fails, including the audit insert, nothing is returned and the
//! handle stays unredeemed (fail closed). Refusals are audited too; a second redemption of a single-use
//! handle also logs an `ALERT` at error level and counts `zavhoz_secret_replays_total`.

use chrono::{DateTime, Utc};
use orch_contracts::messages::worker::SecretHandle;
use orch_sops::KeyPath;
use orch_zavhoz_client::Refusal;
use secrecy::SecretString;
use serde_json::json;
use sqlx::PgConnection;
use tracing::{error, info, instrument};
use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::core::{Audit, Zavhoz, check_owner};
use crate::db::handles::{self, HandleState};
use crate::db::user_secrets::{self, NewUserSecret};
use crate::error::ZavhozError;
use crate::model::check_secret_name;
use crate::secrets::LoadSummary;

/// Longest accepted secret value given in chat.
const MAX_USER_SECRET_BYTES: usize = 64 * 1024;

/// A Resolve request.
#[derive(Debug, Clone)]
pub struct ResolveParams {
    /// The handle.
    pub handle: String,
    /// Why (audited).
    pub purpose: String,
    /// The run, if any (audited).
    pub run_id: Option<Uuid>,
}

/// A resolved value.
#[derive(Debug)]
pub struct Resolved {
    /// The value.
    pub value: SecretString,
    /// The handle's resource.
    pub resource_id: Uuid,
}

/// A StoreUserSecret request.
pub struct StoreParams {
    /// The person.
    pub acting_user_id: i64,
    /// Their project.
    pub project_id: Option<Uuid>,
    /// The name.
    pub name: String,
    /// The value.
    pub value: SecretString,
}

impl Zavhoz {
    /// Exchanges a handle for its value (worker-spawner and devops-runner only).
    #[instrument(skip_all, fields(caller = %caller.identity, handle = %params.handle))]
    pub async fn resolve(
        &self,
        caller: Caller,
        params: ResolveParams,
    ) -> Result<Resolved, ZavhozError> {
        let result = self.resolve_inner(caller, &params).await;
        let outcome = match &result {
            Ok(_) => "resolved",
            Err(ZavhozError::Refused { .. } | ZavhozError::NotFound { .. }) => "refused",
            Err(ZavhozError::Forbidden { .. }) => "denied",
            Err(_) => "error",
        };
        self.metrics.resolve(outcome);
        result
    }

    async fn resolve_inner(
        &self,
        caller: Caller,
        params: &ResolveParams,
    ) -> Result<Resolved, ZavhozError> {
        if let Err(denied) = caller.require(Permission::Resolve) {
            self.audit_denied(caller, &params.handle).await;
            return Err(denied);
        }
        check_request(params)?;
        let now = self.now();
        let mut tx = self.begin().await?;
        let state = handles::lock_for_resolve(&mut tx, &params.handle)
            .await
            .map_err(ZavhozError::db("looking up a handle"))?;
        let verdict = match &state {
            None => Err(ZavhozError::NotFound { what: "handle" }),
            Some(state) => check_state(state, now),
        };
        if let Err(refusal) = verdict {
            self.audit_refusal(&mut tx, caller, params, &refusal)
                .await?;
            tx.commit().await.map_err(ZavhozError::db("committing"))?;
            return Err(refusal);
        }
        let Some(state) = state else {
            return Err(ZavhozError::NotFound { what: "handle" });
        };
        let value = self.value_of(&mut tx, &state.source).await?;
        if state.single_use {
            handles::redeem(&mut tx, &params.handle, now)
                .await
                .map_err(ZavhozError::db("redeeming a handle"))?;
        }
        audit_resolve(&mut tx, caller, params, &state).await?;
        tx.commit().await.map_err(ZavhozError::db("committing"))?;
        info!(resource = %state.resource_id, single_use = state.single_use, "handle resolved");
        Ok(Resolved {
            value,
            resource_id: state.resource_id,
        })
    }

    async fn value_of(
        &self,
        conn: &mut PgConnection,
        source: &str,
    ) -> Result<SecretString, ZavhozError> {
        let missing = || {
            ZavhozError::refused(
                Refusal::SecretMissing,
                "the secret behind this handle no longer exists",
            )
        };
        if let Some(path) = source.strip_prefix("sops:") {
            let path = KeyPath::parse(path).map_err(|_| missing())?;
            return self.secrets.sops_value(&path).ok_or_else(missing);
        }
        let id = source
            .strip_prefix("user:")
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(missing)?;
        let sealed = user_secrets::ciphertext(conn, id)
            .await
            .map_err(ZavhozError::db("reading a user secret"))?
            .ok_or_else(missing)?;
        Ok(self.secrets.open_sealed(&sealed)?)
    }

    async fn audit_refusal(
        &self,
        conn: &mut PgConnection,
        caller: Caller,
        params: &ResolveParams,
        refusal: &ZavhozError,
    ) -> Result<(), ZavhozError> {
        let replay = matches!(
            refusal,
            ZavhozError::Refused {
                refusal: Refusal::HandleRedeemed,
                ..
            }
        );
        if replay {
            self.metrics.replay();
            error!(
                alert = "secret_handle_replay",
                caller = %caller.identity,
                handle = %params.handle,
                "ALERT: a single-use secret handle was presented again after redemption"
            );
        }
        Audit {
            actor: caller.identity.as_str(),
            action: if replay {
                "secret.replay"
            } else {
                "secret.resolve_refused"
            },
            subject: &params.handle,
            detail: json!({ "reason": refusal.to_string(), "purpose": params.purpose }),
            run_id: params.run_id,
        }
        .write(conn)
        .await
    }

    async fn audit_denied(&self, caller: Caller, handle: &str) {
        let written = async {
            let mut conn = self.acquire().await?;
            Audit {
                actor: caller.identity.as_str(),
                action: "secret.resolve_denied",
                subject: handle,
                detail: json!({}),
                run_id: None,
            }
            .write(&mut conn)
            .await
        };
        if let Err(e) = written.await {
            error!(error.cause_chain = ?e, "could not audit a denied resolve");
        }
    }

    /// Seals and stores a secret a person gave; it replaces an earlier one of the same name.
    #[instrument(skip_all, fields(caller = %caller.identity, user = params.acting_user_id, name = %params.name))]
    pub async fn store_user_secret(
        &self,
        caller: Caller,
        params: StoreParams,
    ) -> Result<DateTime<Utc>, ZavhozError> {
        caller.require(Permission::StoreUserSecret)?;
        check_secret_name("name", &params.name)?;
        let value = secrecy::ExposeSecret::expose_secret(&params.value);
        if value.is_empty() || value.len() > MAX_USER_SECRET_BYTES {
            return Err(ZavhozError::invalid("value", "must be 1 byte to 64 KiB"));
        }
        let sealed = self.secrets.seal(value)?;
        let now = self.now();
        let mut tx = self.begin().await?;
        check_owner(&mut tx, params.acting_user_id, params.project_id, false).await?;
        let new = NewUserSecret {
            owner_user_id: params.acting_user_id,
            project_id: params.project_id,
            name: &params.name,
            ciphertext: &sealed,
            now,
        };
        let id = user_secrets::upsert(&mut tx, &new)
            .await
            .map_err(ZavhozError::db("storing a user secret"))?;
        let subject = id.to_string();
        Audit {
            actor: caller.identity.as_str(),
            action: "user_secret.store",
            subject: &subject,
            detail: json!({ "acting_user_id": params.acting_user_id, "project_id": params.project_id, "name": params.name }),
            run_id: None,
        }
        .write(&mut tx)
        .await?;
        tx.commit().await.map_err(ZavhozError::db("committing"))?;
        Ok(now)
    }

    /// Re-reads secrets.yaml (operator only); on failure the previous secrets stay in use.
    #[instrument(skip_all, fields(caller = %caller.identity))]
    pub async fn reload_secrets(&self, caller: Caller) -> Result<LoadSummary, ZavhozError> {
        caller.require(Permission::Reload)?;
        let summary = self.secrets.reload()?;
        let mut conn = self.acquire().await?;
        Audit {
            actor: caller.identity.as_str(),
            action: "secrets.reload",
            subject: "secrets.yaml",
            detail: json!({ "values": summary.values }),
            run_id: None,
        }
        .write(&mut conn)
        .await?;
        Ok(summary)
    }
}

fn check_request(params: &ResolveParams) -> Result<(), ZavhozError> {
    if !SecretHandle(params.handle.clone()).is_well_formed() {
        return Err(ZavhozError::invalid(
            "handle",
            "is not a zavhoz handle (hdl_…)",
        ));
    }
    if params.purpose.len() > 500 {
        return Err(ZavhozError::invalid("purpose", "must be at most 500 bytes"));
    }
    Ok(())
}

/// Refuses an expired, revoked or already redeemed handle (checked in that order).
fn check_state(state: &HandleState, now: DateTime<Utc>) -> Result<(), ZavhozError> {
    let ended = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t <= now);
    if ended(state.expires_at) || ended(state.lease_expires_at) {
        return Err(ZavhozError::refused(
            Refusal::HandleExpired,
            "the handle expired",
        ));
    }
    if state.revoked_at.is_some() || state.released_at.is_some() {
        return Err(ZavhozError::refused(
            Refusal::HandleRevoked,
            "the handle was revoked (its resource was released)",
        ));
    }
    if state.single_use && state.redeemed_at.is_some() {
        return Err(ZavhozError::refused(
            Refusal::HandleRedeemed,
            "the single-use handle was already redeemed",
        ));
    }
    Ok(())
}

async fn audit_resolve(
    conn: &mut PgConnection,
    caller: Caller,
    params: &ResolveParams,
    state: &HandleState,
) -> Result<(), ZavhozError> {
    Audit {
        actor: caller.identity.as_str(),
        action: "secret.resolve",
        subject: &params.handle,
        detail: json!({
            "resource_id": state.resource_id,
            "single_use": state.single_use,
            "purpose": params.purpose,
        }),
        run_id: params.run_id,
    }
    .write(conn)
    .await
}
