//! People, identified by their Telegram user id.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::StoreError;

/// A person known to the orchestrator.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Internal id.
    pub id: i64,
    /// Telegram user id, when they came through Telegram.
    pub telegram_user_id: Option<i64>,
    /// Name to address them by.
    pub display_name: String,
    /// Whether they may use the bot.
    pub is_allowed: bool,
    /// Budget given to each new project, in millionths of a dollar.
    pub default_budget_usd_micros: i64,
    /// When they first appeared.
    pub created_at: DateTime<Utc>,
}

/// Creates or updates the person behind a Telegram user id; returns the stored row.
pub async fn upsert_telegram(
    conn: &mut PgConnection,
    telegram_user_id: i64,
    display_name: &str,
    is_allowed: bool,
) -> Result<User, StoreError> {
    sqlx::query_as!(
        User,
        "INSERT INTO users (telegram_user_id, display_name, is_allowed) VALUES ($1, $2, $3)
         ON CONFLICT (telegram_user_id) DO UPDATE SET display_name = EXCLUDED.display_name, is_allowed = EXCLUDED.is_allowed
         RETURNING id, telegram_user_id, display_name, is_allowed, default_budget_usd_micros, created_at",
        telegram_user_id,
        display_name,
        is_allowed
    )
    .fetch_one(conn)
    .await
    .map_err(StoreError::db("saving a user"))
}

/// Finds the person behind a Telegram user id.
pub async fn by_telegram_id(
    conn: &mut PgConnection,
    telegram_user_id: i64,
) -> Result<Option<User>, StoreError> {
    sqlx::query_as!(
        User,
        "SELECT id, telegram_user_id, display_name, is_allowed, default_budget_usd_micros, created_at
         FROM users WHERE telegram_user_id = $1",
        telegram_user_id
    )
    .fetch_optional(conn)
    .await
    .map_err(StoreError::db("finding a user"))
}
