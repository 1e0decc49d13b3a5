//! The `user_secrets` table: secrets people gave in chat, stored only as age ciphertext.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A sealed secret to store.
#[derive(Debug, Clone)]
pub struct NewUserSecret<'a> {
    /// Owner.
    pub owner_user_id: i64,
    /// Project, if any.
    pub project_id: Option<Uuid>,
    /// Name.
    pub name: &'a str,
    /// Armored age ciphertext.
    pub ciphertext: &'a str,
    /// Time of storing.
    pub now: DateTime<Utc>,
}

/// Stores or replaces a sealed secret; returns its row id (stable across replacements).
pub async fn upsert(conn: &mut PgConnection, new: &NewUserSecret<'_>) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!(
        "INSERT INTO user_secrets (id, owner_user_id, project_id, name, ciphertext, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (owner_user_id, project_id, name)
         DO UPDATE SET ciphertext = EXCLUDED.ciphertext, updated_at = EXCLUDED.updated_at
         RETURNING id",
        Uuid::now_v7(),
        new.owner_user_id,
        new.project_id,
        new.name,
        new.ciphertext,
        new.now
    )
    .fetch_one(conn)
    .await
}

/// Finds a person's secret by name: the project's own first, then the person's project-less one.
pub async fn find(
    conn: &mut PgConnection,
    owner_user_id: i64,
    project_id: Option<Uuid>,
    name: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM user_secrets
         WHERE owner_user_id = $1 AND name = $3 AND (project_id = $2 OR project_id IS NULL)
         ORDER BY project_id NULLS LAST LIMIT 1",
        owner_user_id,
        project_id,
        name
    )
    .fetch_optional(conn)
    .await
}

/// Returns the ciphertext of a stored secret.
pub async fn ciphertext(conn: &mut PgConnection, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT ciphertext FROM user_secrets WHERE id = $1", id)
        .fetch_optional(conn)
        .await
}
