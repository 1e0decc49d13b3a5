//! The `resources` table (plus each secret resource's handle, joined).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Kind;

/// A stored resource with its handle, if it is a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceRow {
    /// Id.
    pub id: Uuid,
    /// Kind.
    pub kind: Kind,
    /// Owner (users.id).
    pub owner_user_id: i64,
    /// Project, if any.
    pub project_id: Option<Uuid>,
    /// Non-secret description.
    pub name: String,
    /// Non-secret details (server, port, fqdn, repository, usd_micros, source label).
    pub attributes: Value,
    /// The key that makes allocation idempotent.
    pub idempotency_key: String,
    /// When the lease ends.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// When it was released or reaped.
    pub released_at: Option<DateTime<Utc>>,
    /// `released` or `expired`.
    pub release_reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// The handle of a secret resource.
    pub handle: Option<String>,
    /// Whether that handle is single-use.
    pub single_use: Option<bool>,
}

/// A resource to insert.
#[derive(Debug, Clone)]
pub struct NewResource<'a> {
    /// Id.
    pub id: Uuid,
    /// Kind.
    pub kind: Kind,
    /// Owner.
    pub owner_user_id: i64,
    /// Project.
    pub project_id: Option<Uuid>,
    /// Description.
    pub name: &'a str,
    /// Details.
    pub attributes: &'a Value,
    /// Idempotency key.
    pub idempotency_key: &'a str,
    /// Lease end.
    pub lease_expires_at: DateTime<Utc>,
    /// Creation time (from zavhoz's clock).
    pub created_at: DateTime<Utc>,
}

/// Inserts a resource.
pub async fn insert(conn: &mut PgConnection, new: &NewResource<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO resources (id, kind, owner_user_id, project_id, name, attributes, idempotency_key,
                                lease_expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        new.id,
        new.kind as Kind,
        new.owner_user_id,
        new.project_id,
        new.name,
        new.attributes,
        new.idempotency_key,
        new.lease_expires_at,
        new.created_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Reads one resource.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<ResourceRow>, sqlx::Error> {
    sqlx::query_as!(
        ResourceRow,
        r#"SELECT r.id, r.kind AS "kind: Kind", r.owner_user_id, r.project_id, r.name, r.attributes,
                  r.idempotency_key, r.lease_expires_at, r.released_at, r.release_reason, r.created_at,
                  h.handle AS "handle?", h.single_use AS "single_use?"
           FROM resources r LEFT JOIN secret_handles h ON h.resource_id = r.id
           WHERE r.id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}

/// Locks one resource row for this transaction; returns its owner.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT owner_user_id FROM resources WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(conn)
    .await
}

/// Finds the resource an earlier allocation with the same key created.
pub async fn by_idempotency_key(
    conn: &mut PgConnection,
    owner_user_id: i64,
    key: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM resources WHERE owner_user_id = $1 AND idempotency_key = $2",
        owner_user_id,
        key
    )
    .fetch_optional(conn)
    .await
}

/// Lists a person's resources, newest first; optionally one project's, optionally only live ones.
pub async fn list(
    conn: &mut PgConnection,
    owner_user_id: i64,
    project_id: Option<Uuid>,
    include_released: bool,
) -> Result<Vec<ResourceRow>, sqlx::Error> {
    sqlx::query_as!(
        ResourceRow,
        r#"SELECT r.id, r.kind AS "kind: Kind", r.owner_user_id, r.project_id, r.name, r.attributes,
                  r.idempotency_key, r.lease_expires_at, r.released_at, r.release_reason, r.created_at,
                  h.handle AS "handle?", h.single_use AS "single_use?"
           FROM resources r LEFT JOIN secret_handles h ON h.resource_id = r.id
           WHERE r.owner_user_id = $1
             AND ($2::uuid IS NULL OR r.project_id = $2)
             AND ($3 OR r.released_at IS NULL)
           ORDER BY r.created_at DESC, r.id DESC
           LIMIT 1000"#,
        owner_user_id,
        project_id,
        include_released
    )
    .fetch_all(conn)
    .await
}

/// Counts a person's live resources of a kind (not released, lease not over at `now`).
pub async fn count_live(
    conn: &mut PgConnection,
    owner_user_id: i64,
    kind: Kind,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM resources
           WHERE owner_user_id = $1 AND kind = $2 AND released_at IS NULL AND lease_expires_at > $3"#,
        owner_user_id,
        kind as Kind,
        now
    )
    .fetch_one(conn)
    .await
}

/// Returns the ports held on a server.
pub async fn held_ports(conn: &mut PgConnection, server: &str) -> Result<Vec<i32>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT (attributes->>'port')::int AS "port!" FROM resources
           WHERE kind = 'port' AND released_at IS NULL AND attributes->>'server' = $1"#,
        server
    )
    .fetch_all(conn)
    .await
}

/// Returns the names held by live resources of a kind.
pub async fn held_names(conn: &mut PgConnection, kind: Kind) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT name FROM resources WHERE kind = $1 AND released_at IS NULL",
        kind as Kind
    )
    .fetch_all(conn)
    .await
}

/// Marks a resource released (`reason`: `released` or `expired`) unless it already is; returns whether it
/// changed.
pub async fn release(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE resources SET released_at = $2, release_reason = $3 WHERE id = $1 AND released_at IS NULL",
        id,
        now,
        reason
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a resource's lease end.
pub async fn set_lease(
    conn: &mut PgConnection,
    id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE resources SET lease_expires_at = $2 WHERE id = $1",
        id,
        expires_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A live resource whose lease is over.
#[derive(Debug, Clone)]
pub struct Expired {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub owner_user_id: i64,
    /// Kind.
    pub kind: Kind,
    /// Description.
    pub name: String,
}

/// Locks up to `limit` live resources whose lease ended by `now`, skipping rows another reaper holds.
pub async fn lock_expired(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Expired>, sqlx::Error> {
    sqlx::query_as!(
        Expired,
        r#"SELECT id, owner_user_id, kind AS "kind: Kind", name FROM resources
           WHERE released_at IS NULL AND lease_expires_at <= $1
           ORDER BY lease_expires_at LIMIT $2
           FOR UPDATE SKIP LOCKED"#,
        now,
        limit
    )
    .fetch_all(conn)
    .await
}
