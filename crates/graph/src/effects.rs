//! Exactly-once side effects inside PostgreSQL, keyed by an idempotency key in the `effects` table.
//!
//! [`crate::Ctx::once`] covers effects on external systems (at-least-once calls carrying a stable key). When
//! the effect is a write to this database, [`once_in_tx`] does better: the effect and its `effects` row commit
//! in one transaction, so a node that re-runs after a crash finds the row and skips the effect.

use std::error::Error;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

/// Why an exactly-once effect failed.
#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    /// The database failed.
    #[error("database error while {action}: {source}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// The effect itself failed (nothing was committed).
    #[error("effect {key} failed: {source}")]
    Effect {
        /// The idempotency key.
        key: String,
        /// What the effect returned.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
    /// The result does not (de)serialize.
    #[error("the result of effect {key} does not (de)serialize: {source}")]
    Result {
        /// The idempotency key.
        key: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
}

fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> EffectError {
    move |source| EffectError::Database { action, source }
}

/// The effect closure: runs on the transaction's connection.
pub type TxEffect<'c, T> = BoxFuture<'c, Result<T, Box<dyn Error + Send + Sync>>>;

/// Runs `effect` on a transaction that also records `key`; if `key` was recorded before, returns the recorded
/// result instead. Concurrent callers with one key serialize on the row: exactly one runs the effect.
pub async fn once_in_tx<T, F>(pool: &PgPool, key: &str, effect: F) -> Result<T, EffectError>
where
    T: Serialize + DeserializeOwned,
    F: for<'c> FnOnce(&'c mut PgConnection) -> TxEffect<'c, T>,
{
    let mut tx = pool.begin().await.map_err(db("starting an effect"))?;
    let claimed = sqlx::query!(
        "INSERT INTO effects (idempotency_key, result) VALUES ($1, 'null'::jsonb) ON CONFLICT DO NOTHING",
        key
    )
    .execute(&mut *tx)
    .await
    .map_err(db("claiming an effect key"))?
    .rows_affected()
        == 1;
    if !claimed {
        tx.rollback().await.map_err(db("rolling back"))?;
        return recorded(pool, key).await;
    }
    let result = effect(&mut tx)
        .await
        .map_err(|source| EffectError::Effect {
            key: key.to_owned(),
            source,
        })?;
    let value = to_value(key, &result)?;
    sqlx::query!(
        "UPDATE effects SET result = $2 WHERE idempotency_key = $1",
        key,
        value
    )
    .execute(&mut *tx)
    .await
    .map_err(db("recording an effect"))?;
    tx.commit().await.map_err(db("committing an effect"))?;
    Ok(result)
}

async fn recorded<T: DeserializeOwned>(pool: &PgPool, key: &str) -> Result<T, EffectError> {
    let value: Value =
        sqlx::query_scalar!("SELECT result FROM effects WHERE idempotency_key = $1", key)
            .fetch_one(pool)
            .await
            .map_err(db("reading an effect"))?;
    T::deserialize(value).map_err(|source| EffectError::Result {
        key: key.to_owned(),
        source,
    })
}

fn to_value<T: Serialize>(key: &str, result: &T) -> Result<Value, EffectError> {
    serde_json::to_value(result).map_err(|source| EffectError::Result {
        key: key.to_owned(),
        source,
    })
}
