//! People and projects, as far as zavhoz needs them: existence, ownership and a per-person lock.

use sqlx::PgConnection;
use uuid::Uuid;

/// Locks the person's row for this transaction, serializing their allocations (quota counts and
/// idempotency checks then see each other); returns false if there is no such person.
pub async fn lock(conn: &mut PgConnection, user_id: i64) -> Result<bool, sqlx::Error> {
    let row = sqlx::query_scalar!(
        "SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE",
        user_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Tells whether the person exists.
pub async fn exists(conn: &mut PgConnection, user_id: i64) -> Result<bool, sqlx::Error> {
    let row = sqlx::query_scalar!("SELECT id FROM users WHERE id = $1", user_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// Returns the owner of a project, if it exists.
pub async fn project_owner(
    conn: &mut PgConnection,
    project_id: Uuid,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT owner_user_id FROM projects WHERE id = $1",
        project_id
    )
    .fetch_optional(conn)
    .await
}

/// Returns the person's quota for a kind, if the `quotas` table has one.
pub async fn quota(
    conn: &mut PgConnection,
    user_id: i64,
    kind: super::Kind,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT max_live FROM quotas WHERE user_id = $1 AND kind = $2",
        user_id,
        kind as super::Kind
    )
    .fetch_optional(conn)
    .await
}
