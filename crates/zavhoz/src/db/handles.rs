//! The `secret_handles` table: minting, resolution state, revocation.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A handle to insert.
#[derive(Debug, Clone)]
pub struct NewHandle<'a> {
    /// `hdl_…`.
    pub handle: &'a str,
    /// Its resource.
    pub resource_id: Uuid,
    /// `sops:<path>` or `user:<user_secrets id>`.
    pub source: &'a str,
    /// Resolves once.
    pub single_use: bool,
    /// TTL end.
    pub expires_at: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Inserts a handle.
pub async fn insert(conn: &mut PgConnection, new: &NewHandle<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO secret_handles (handle, resource_id, source, single_use, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        new.handle,
        new.resource_id,
        new.source,
        new.single_use,
        new.expires_at,
        new.created_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A handle's state, with its resource's.
#[derive(Debug, Clone)]
pub struct HandleState {
    /// Its resource.
    pub resource_id: Uuid,
    /// Where the value comes from.
    pub source: String,
    /// Resolves once.
    pub single_use: bool,
    /// TTL end.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was redeemed (single-use).
    pub redeemed_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The resource's lease end.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// When the resource was released.
    pub released_at: Option<DateTime<Utc>>,
}

/// Locks a handle for resolution (so a single-use handle is redeemed by exactly one caller).
pub async fn lock_for_resolve(
    conn: &mut PgConnection,
    handle: &str,
) -> Result<Option<HandleState>, sqlx::Error> {
    sqlx::query_as!(
        HandleState,
        "SELECT h.resource_id, h.source, h.single_use, h.expires_at, h.redeemed_at, h.revoked_at,
                r.lease_expires_at, r.released_at
         FROM secret_handles h JOIN resources r ON r.id = h.resource_id
         WHERE h.handle = $1
         FOR UPDATE OF h",
        handle
    )
    .fetch_optional(conn)
    .await
}

/// Marks a handle redeemed.
pub async fn redeem(
    conn: &mut PgConnection,
    handle: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE secret_handles SET redeemed_at = $2 WHERE handle = $1",
        handle,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes every live handle of a resource; returns how many.
pub async fn revoke_for_resource(
    conn: &mut PgConnection,
    resource_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE secret_handles SET revoked_at = $2 WHERE resource_id = $1 AND revoked_at IS NULL",
        resource_id,
        now
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Moves the TTL end of a resource's unrevoked handles (lease renewal).
pub async fn extend_for_resource(
    conn: &mut PgConnection,
    resource_id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE secret_handles SET expires_at = $2 WHERE resource_id = $1 AND revoked_at IS NULL",
        resource_id,
        expires_at
    )
    .execute(conn)
    .await?;
    Ok(())
}
