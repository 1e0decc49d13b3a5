//! Pub/sub for disposable signals only ("a model config changed"): a subscriber that is down misses them.
//! Never use this for work — that is what streams are for (see the negative-control test).

use futures::StreamExt;
use futures::stream::BoxStream;

use crate::error::BusError;

/// Publishes `payload` on `channel`; returns how many subscribers received it.
pub async fn publish(redis_url: &str, channel: &str, payload: &str) -> Result<u64, BusError> {
    let client = redis::Client::open(redis_url).map_err(|e| BusError::Config(e.to_string()))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(BusError::redis("CONNECT", channel))?;
    redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload)
        .query_async(&mut conn)
        .await
        .map_err(BusError::redis("PUBLISH", channel))
}

/// Subscribes to `channel`; the stream yields payloads until the connection drops.
pub async fn subscribe(
    redis_url: &str,
    channel: &str,
) -> Result<BoxStream<'static, String>, BusError> {
    let client = redis::Client::open(redis_url).map_err(|e| BusError::Config(e.to_string()))?;
    let mut pubsub = client
        .get_async_pubsub()
        .await
        .map_err(BusError::redis("CONNECT", channel))?;
    pubsub
        .subscribe(channel)
        .await
        .map_err(BusError::redis("SUBSCRIBE", channel))?;
    Ok(pubsub
        .into_on_message()
        .filter_map(|m| async move { m.get_payload::<String>().ok() })
        .boxed())
}
