//! The inbox makes effects exactly-once on top of at-least-once delivery.
//!
//! Inside the transaction that applies an event's effect, [`claim`] records `(consumer, event_id)`. If the row
//! already exists the event was applied before (a redelivery after a crash between commit and ack): the caller
//! skips the effect, commits and acks.

use orch_contracts::EventId;
use sqlx::PgConnection;

use crate::StoreError;

/// Records that `consumer` applies `event_id`; returns false when it already did.
pub async fn claim(
    conn: &mut PgConnection,
    consumer: &str,
    event_id: EventId,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query!(
        "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        consumer,
        event_id.0
    )
    .execute(conn)
    .await
    .map_err(StoreError::db("recording an inbox entry"))?;
    Ok(inserted.rows_affected() == 1)
}

/// Returns how many events `consumer` has applied.
pub async fn count(conn: &mut PgConnection, consumer: &str) -> Result<i64, StoreError> {
    sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM inbox WHERE consumer = $1",
        consumer
    )
    .fetch_one(conn)
    .await
    .map_err(StoreError::db("counting inbox entries"))
}

/// Returns true when `consumer` already applied `event_id` (for effects that cannot share the transaction, such
/// as a Telegram send: check, act, then [`claim`]).
pub async fn contains(
    conn: &mut PgConnection,
    consumer: &str,
    event_id: EventId,
) -> Result<bool, StoreError> {
    sqlx::query_scalar!(
        "SELECT EXISTS (SELECT 1 FROM inbox WHERE consumer = $1 AND event_id = $2) AS \"found!\"",
        consumer,
        event_id.0
    )
    .fetch_one(conn)
    .await
    .map_err(StoreError::db("reading the inbox"))
}
