//! The transactional outbox: a message is written in the same transaction as the state change that causes it,
//! and a relay publishes it afterwards — so a crash between commit and publish loses nothing.

use orch_contracts::{Contract, Envelope, StreamKey};
use serde_json::Value;
use sqlx::PgConnection;

use crate::StoreError;

/// A message waiting to be published.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// Sequence number (publication order).
    pub id: i64,
    /// Target stream.
    pub stream: String,
    /// The wire fields, as a JSON object of strings.
    pub fields: Value,
}

/// Queues a message in the caller's transaction.
pub async fn enqueue(
    conn: &mut PgConnection,
    stream: &str,
    fields: &Value,
) -> Result<i64, StoreError> {
    sqlx::query_scalar!(
        "INSERT INTO outbox (stream, fields) VALUES ($1, $2) RETURNING id",
        stream,
        fields
    )
    .fetch_one(conn)
    .await
    .map_err(StoreError::db("queueing an outbox message"))
}

/// Validates `envelope` and queues its wire fields for `stream` in the caller's transaction.
pub async fn enqueue_message<M: Contract>(
    conn: &mut PgConnection,
    stream: &StreamKey,
    envelope: &Envelope<M>,
) -> Result<i64, StoreError> {
    let fields: serde_json::Map<String, Value> = envelope
        .to_fields()?
        .into_iter()
        .map(|(name, value)| (name.to_owned(), Value::String(value)))
        .collect();
    enqueue(conn, stream.as_str(), &Value::Object(fields)).await
}

/// Returns the wire fields of a queued message, refusing anything but a flat object of strings.
pub fn wire_fields(message: &OutboxMessage) -> Result<Vec<(&str, String)>, StoreError> {
    let object = message
        .fields
        .as_object()
        .ok_or(StoreError::MalformedOutbox { id: message.id })?;
    object
        .iter()
        .map(|(name, value)| match value {
            Value::String(text) => Ok((name.as_str(), text.clone())),
            _ => Err(StoreError::MalformedOutbox { id: message.id }),
        })
        .collect()
}

/// Returns up to `limit` unpublished messages, oldest first, locking them against other relays.
pub async fn claim_unpublished(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<Vec<OutboxMessage>, StoreError> {
    sqlx::query_as!(
        OutboxMessage,
        "SELECT id, stream, fields FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit
    )
    .fetch_all(conn)
    .await
    .map_err(StoreError::db("reading the outbox"))
}

/// Marks messages as published.
pub async fn mark_published(conn: &mut PgConnection, ids: &[i64]) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE outbox SET published_at = now() WHERE id = ANY($1)",
        ids
    )
    .execute(conn)
    .await
    .map_err(StoreError::db("marking outbox messages published"))?;
    Ok(())
}
