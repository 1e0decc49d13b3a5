//! Exactly one poller per bot token: a Redis lease (`SET NX PX`, renewed while held). Telegram itself ends
//! an older concurrent `getUpdates` with 409, so even a lease lost mid-poll cannot make two pollers share updates.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// A lease on polling one bot.
pub struct Leader {
    redis: ConnectionManager,
    key: String,
    holder: String,
    ttl: Duration,
}

impl Leader {
    /// Prepares a lease on `telegram:poller:<bot_id>` for this process.
    pub async fn new(
        redis_url: &str,
        bot_id: i64,
        holder: String,
        ttl: Duration,
    ) -> redis::RedisResult<Self> {
        let client = redis::Client::open(redis_url)?;
        let redis = ConnectionManager::new(client).await?;
        Ok(Self {
            redis,
            key: format!("telegram:poller:{bot_id}"),
            holder,
            ttl,
        })
    }

    /// Waits until this process holds the lease (or shutdown); returns false on shutdown.
    pub async fn acquire(&mut self, shutdown: &CancellationToken) -> bool {
        loop {
            match self.try_acquire().await {
                Ok(true) => {
                    info!(key = %self.key, "holding the polling lease");
                    return true;
                }
                Ok(false) => {}
                Err(e) => warn!(error = %e, "cannot reach redis for the polling lease"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.ttl / 3) => {}
                () = shutdown.cancelled() => return false,
            }
        }
    }

    async fn try_acquire(&mut self) -> redis::RedisResult<bool> {
        let set: Option<String> = redis::cmd("SET")
            .arg(&self.key)
            .arg(&self.holder)
            .arg("NX")
            .arg("PX")
            .arg(self.ttl.as_millis() as u64)
            .query_async(&mut self.redis)
            .await?;
        Ok(set.is_some())
    }

    /// Extends the lease; false means it was lost (expired and taken, or Redis unreachable).
    pub async fn renew(&mut self) -> bool {
        let renewed: redis::RedisResult<i64> = redis::Script::new(RENEW)
            .key(&self.key)
            .arg(&self.holder)
            .arg(self.ttl.as_millis() as u64)
            .invoke_async(&mut self.redis)
            .await;
        matches!(renewed, Ok(1))
    }

    /// Gives the lease up so a peer can take over at once.
    pub async fn release(&mut self) {
        let _: redis::RedisResult<i64> = redis::Script::new(RELEASE)
            .key(&self.key)
            .arg(&self.holder)
            .invoke_async(&mut self.redis)
            .await;
    }

    /// Returns how often the holder must renew.
    pub fn renew_interval(&self) -> Duration {
        self.ttl / 3
    }
}
