//! Per-id result streams (`worker:result:<id>`): one producer writes, the one party waiting reads.
//!
//! The result stays readable until it expires ([`BusConfig::result_ttl`](crate::BusConfig::result_ttl)), so a
//! waiter that restarts reads it again from the start — nothing is lost between publishing and reading.

use std::time::Duration;

use orch_contracts::{Contract, Envelope, StreamKey};
use redis::streams::StreamReadReply;
use tokio::time::Instant;
use tracing::instrument;

use crate::client::Bus;
use crate::entry::RawEntry;
use crate::error::BusError;

/// The longest single blocking read; longer waits loop, so a Redis restart is noticed.
pub(crate) const MAX_BLOCK: Duration = Duration::from_secs(5);

impl Bus {
    /// Publishes a result and (re)sets the stream's expiry, atomically.
    #[instrument(skip_all, fields(stream = %stream, event_id = %envelope.event_id))]
    pub async fn publish_result<M: Contract>(
        &self,
        stream: &StreamKey,
        envelope: &Envelope<M>,
    ) -> Result<String, BusError> {
        let key = self.key(stream);
        let fields = envelope.to_fields()?;
        let mut conn = self.conn().await?;
        let (id, _): (String, bool) = redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg(&fields)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(self.config().result_ttl.as_millis() as u64)
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XADD", &key))?;
        Ok(id)
    }

    /// Waits up to `timeout` for the first message on a result stream; `Ok(None)` on timeout.
    #[instrument(skip_all, fields(stream = %stream))]
    pub async fn wait_for_result<M: Contract>(
        &self,
        stream: &StreamKey,
        timeout: Duration,
    ) -> Result<Option<Envelope<M>>, BusError> {
        let deadline = Instant::now() + timeout;
        loop {
            let block = deadline
                .saturating_duration_since(Instant::now())
                .min(MAX_BLOCK);
            if let Some((_, envelope)) = self
                .read_after::<M>(stream, "0-0", 1, block)
                .await?
                .into_iter()
                .next()
            {
                return Ok(Some(envelope?));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// Returns the newest entry of a stream, if any (a progress stream's latest lines).
    #[instrument(skip_all, fields(stream = %stream))]
    pub async fn latest<M: Contract>(
        &self,
        stream: &StreamKey,
    ) -> Result<Option<Envelope<M>>, BusError> {
        let key = self.key(stream);
        let mut conn = self.conn().await?;
        let reply: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(&key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XREVRANGE", &key))?;
        match reply.ids.into_iter().next() {
            Some(entry) => {
                let raw = RawEntry::from_stream_id(entry, 1);
                Ok(Some(Envelope::from_fields(&raw.fields)?))
            }
            None => Ok(None),
        }
    }

    /// Reads up to `count` entries after `after_id` (blocking up to `block` for the first), each decoded on its
    /// own so one bad entry does not hide the others. Used for progress streams.
    pub async fn read_after<M: Contract>(
        &self,
        stream: &StreamKey,
        after_id: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<(String, Result<Envelope<M>, BusError>)>, BusError> {
        let key = self.key(stream);
        let mut conn = self.conn().await?;
        let reply: Option<StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(&key)
            .arg(after_id)
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XREAD", &key))?;
        let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
        Ok(entries
            .map(|e| {
                let raw = RawEntry::from_stream_id(e, 1);
                let decoded = Envelope::from_fields(&raw.fields).map_err(BusError::from);
                (raw.id, decoded)
            })
            .collect())
    }
}
