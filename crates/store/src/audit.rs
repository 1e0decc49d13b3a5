//! The append-only audit log: who did what to which subject. Details carry ids and handles, never secrets.

use chrono::{DateTime, Utc};
use orch_contracts::RunId;
use serde_json::Value;
use sqlx::PgConnection;

use crate::StoreError;

/// One audit record to append.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    /// Who acted (`zavhoz`, `telegram:42`, …).
    pub actor: &'a str,
    /// What was done (`secret.resolve`, `chat.refused`, …).
    pub action: &'a str,
    /// What it was done to (a handle, a user id, a repository).
    pub subject: &'a str,
    /// Structured detail; never a secret value.
    pub detail: Value,
    /// The run, when there is one.
    pub run_id: Option<RunId>,
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Sequence number.
    pub id: i64,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Who acted.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// To what.
    pub subject: String,
    /// Detail.
    pub detail: Value,
}

/// Appends an entry; returns its id.
pub async fn append(conn: &mut PgConnection, entry: &AuditEntry<'_>) -> Result<i64, StoreError> {
    sqlx::query_scalar!(
        "INSERT INTO audit_log (actor, action, subject, detail, run_id) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        entry.actor,
        entry.action,
        entry.subject,
        entry.detail,
        entry.run_id.map(|r| r.0)
    )
    .fetch_one(conn)
    .await
    .map_err(StoreError::db("appending to the audit log"))
}

/// Returns the latest `limit` records of `action`, newest first.
pub async fn recent(
    conn: &mut PgConnection,
    action: &str,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    sqlx::query_as!(
        AuditRecord,
        "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE action = $1 ORDER BY id DESC LIMIT $2",
        action,
        limit
    )
    .fetch_all(conn)
    .await
    .map_err(StoreError::db("reading the audit log"))
}
