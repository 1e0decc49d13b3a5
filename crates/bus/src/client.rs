//! The bus handle: a Redis connection pool, publishing and dead-letter inspection.

use std::sync::Arc;

use deadpool_redis::{Connection, Manager, Pool, Runtime};
use orch_contracts::{Contract, Envelope, StreamKey};
use redis::AsyncConnectionConfig;
use redis::streams::StreamRangeReply;
use tracing::instrument;

use crate::config::BusConfig;
use crate::entry::{DeadLetter, RawEntry};
use crate::error::BusError;
use crate::metrics::BusMetrics;

/// A cheap-to-clone handle on the bus.
#[derive(Clone)]
pub struct Bus {
    pool: Pool,
    config: Arc<BusConfig>,
    metrics: BusMetrics,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("prefix", &self.config.prefix)
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// Builds a connection pool for `url`; connections are opened lazily and re-opened after a Redis restart.
    pub fn connect(url: &str, config: BusConfig) -> Result<Self, BusError> {
        let connection = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
            .set_response_timeout(Some(config.response_timeout()));
        let manager = Manager::new_with_config(url, connection)
            .map_err(|e| BusError::Config(e.to_string()))?;
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| BusError::Config(e.to_string()))?;
        Ok(Self {
            pool,
            config: Arc::new(config),
            metrics: BusMetrics::default(),
        })
    }

    /// Returns the tuning this bus runs with.
    pub fn config(&self) -> &BusConfig {
        &self.config
    }

    /// Returns the counters this bus updates (register them with the service's metrics registry).
    pub fn metrics(&self) -> &BusMetrics {
        &self.metrics
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(BusError::redis("PING", ""))?;
        Ok(())
    }

    /// Returns the Redis key of `stream` under this bus's prefix.
    pub fn key(&self, stream: &StreamKey) -> String {
        stream.prefixed(&self.config.prefix).as_str().to_owned()
    }

    pub(crate) async fn conn(&self) -> Result<Connection, BusError> {
        Ok(self.pool.get().await?)
    }

    /// Validates and appends one message; returns its entry id.
    #[instrument(skip_all, fields(stream = %stream, event_id = %envelope.event_id))]
    pub async fn publish<M: Contract>(
        &self,
        stream: &StreamKey,
        envelope: &Envelope<M>,
    ) -> Result<String, BusError> {
        let fields = envelope.to_fields()?;
        self.publish_fields(stream, &fields).await
    }

    /// Validates and appends many messages in one pipeline; returns their entry ids in order.
    pub async fn publish_batch<M: Contract>(
        &self,
        stream: &StreamKey,
        envelopes: &[Envelope<M>],
    ) -> Result<Vec<String>, BusError> {
        let key = self.key(stream);
        let mut pipe = redis::pipe();
        for envelope in envelopes {
            pipe.cmd("XADD")
                .arg(&key)
                .arg("*")
                .arg(envelope.to_fields()?);
        }
        let mut conn = self.conn().await?;
        pipe.query_async(&mut conn)
            .await
            .map_err(BusError::redis("XADD", &key))
    }

    /// Appends raw fields without validation: for replaying dead letters and for tests of bad input.
    pub async fn publish_fields(
        &self,
        stream: &StreamKey,
        fields: &[(&str, String)],
    ) -> Result<String, BusError> {
        let key = self.key(stream);
        let mut conn = self.conn().await?;
        redis::cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg(fields)
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XADD", &key))
    }

    /// Returns the number of entries in `stream`.
    pub async fn len(&self, stream: &StreamKey) -> Result<u64, BusError> {
        let key = self.key(stream);
        let mut conn = self.conn().await?;
        redis::cmd("XLEN")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XLEN", &key))
    }

    /// Lists up to `count` records of `stream`'s dead-letter stream, oldest first.
    pub async fn dead_letters(
        &self,
        stream: &StreamKey,
        count: usize,
    ) -> Result<Vec<DeadLetter>, BusError> {
        let key = self.key(&stream.dlq());
        let mut conn = self.conn().await?;
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XRANGE", &key))?;
        reply
            .ids
            .into_iter()
            .map(|id| DeadLetter::parse(&key, RawEntry::from_stream_id(id, 0)))
            .collect()
    }

    /// Puts a dead-lettered entry back on its stream (unchanged) and removes the record, atomically.
    pub async fn replay_dead_letter(
        &self,
        stream: &StreamKey,
        letter: &DeadLetter,
    ) -> Result<String, BusError> {
        let key = self.key(stream);
        let dlq = self.key(&stream.dlq());
        let fields: Vec<(&str, &str)> = letter
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut conn = self.conn().await?;
        let (id, _removed): (String, u64) = redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg(&fields)
            .cmd("XDEL")
            .arg(&dlq)
            .arg(&letter.dlq_id)
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XADD", &key))?;
        Ok(id)
    }
}
