//! Names of sent chat messages (`ref_key`) → their Telegram message ids, so progress updates edit the message
//! they started in.

use sqlx::PgConnection;

use crate::StoreError;

/// Returns the Telegram message id sent under `ref_key` in a chat.
pub async fn get(
    conn: &mut PgConnection,
    chat_id: i64,
    ref_key: &str,
) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar!(
        "SELECT telegram_message_id FROM chat_message_refs WHERE telegram_chat_id = $1 AND ref_key = $2",
        chat_id,
        ref_key
    )
    .fetch_optional(conn)
    .await
    .map_err(StoreError::db("reading a chat message reference"))
}

/// Records (or moves) `ref_key` to a Telegram message id.
pub async fn set(
    conn: &mut PgConnection,
    chat_id: i64,
    ref_key: &str,
    message_id: i64,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO chat_message_refs (telegram_chat_id, ref_key, telegram_message_id) VALUES ($1, $2, $3)
         ON CONFLICT (telegram_chat_id, ref_key) DO UPDATE
         SET telegram_message_id = EXCLUDED.telegram_message_id, updated_at = now()",
        chat_id,
        ref_key,
        message_id
    )
    .execute(conn)
    .await
    .map_err(StoreError::db("saving a chat message reference"))?;
    Ok(())
}
