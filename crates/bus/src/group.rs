//! Consumer-group primitives. [`Consumer`](crate::Consumer) composes them into a safe loop; they are public
//! so that tools (and negative-control tests) can drive a group step by step.

use std::time::Duration;

use orch_contracts::StreamKey;
use redis::streams::{
    StreamAutoClaimReply, StreamPendingCountReply, StreamPendingReply, StreamReadReply,
};
use tracing::warn;

use crate::client::Bus;
use crate::entry::{DeadLetter, RawEntry};
use crate::error::BusError;

/// One consumer's view of one consumer group on one stream.
#[derive(Debug, Clone)]
pub struct Group {
    bus: Bus,
    stream: StreamKey,
    key: String,
    group: String,
    consumer: String,
}

impl Group {
    /// Names a consumer in a group; nothing is sent to Redis until [`Group::ensure`].
    pub fn new(bus: &Bus, stream: &StreamKey, group: &str, consumer: &str) -> Self {
        Self {
            key: bus.key(stream),
            bus: bus.clone(),
            stream: stream.clone(),
            group: group.to_owned(),
            consumer: consumer.to_owned(),
        }
    }

    /// Returns the stream this group reads.
    pub fn stream(&self) -> &StreamKey {
        &self.stream
    }

    /// Returns the bus this group runs on.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Returns this consumer's name.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Returns the group's name.
    pub fn name(&self) -> &str {
        &self.group
    }

    /// Creates the group (and the stream) if missing. New groups start at the beginning of the stream, so work
    /// published before the first consumer started is not skipped.
    pub async fn ensure(&self) -> Result<(), BusError> {
        let mut conn = self.bus.conn().await?;
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.key)
            .arg(&self.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => {
                Err(BusError::redis("XGROUP CREATE", &self.key)(e))
            }
            _ => Ok(()),
        }
    }

    /// Reads up to `count` entries never delivered to this group, blocking up to `block` for the first one.
    pub async fn read_new(&self, count: usize, block: Duration) -> Result<Vec<RawEntry>, BusError> {
        let mut conn = self.bus.conn().await?;
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(">")
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XREADGROUP", &self.key))?;
        let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
        Ok(entries.map(|id| RawEntry::from_stream_id(id, 1)).collect())
    }

    /// Claims up to `count` entries pending longer than `min_idle` (whoever owned them), starting the scan at
    /// `cursor`; returns the next cursor (`0-0` when the scan wrapped) and the entries with their delivery counts.
    pub async fn reclaim(
        &self,
        min_idle: Duration,
        cursor: &str,
        count: usize,
    ) -> Result<(String, Vec<RawEntry>), BusError> {
        let mut conn = self.bus.conn().await?;
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&self.key)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(min_idle.as_millis() as u64)
            .arg(cursor)
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XAUTOCLAIM", &self.key))?;
        if !reply.deleted_ids.is_empty() {
            warn!(stream = %self.key, ids = ?reply.deleted_ids, "pending entries were deleted from the stream before being acknowledged");
        }
        let counts = self
            .delivery_counts(
                &reply
                    .claimed
                    .iter()
                    .map(|e| e.id.clone())
                    .collect::<Vec<_>>(),
            )
            .await?;
        let entries = reply
            .claimed
            .into_iter()
            .zip(counts)
            .map(|(e, n)| RawEntry::from_stream_id(e, n))
            .collect();
        Ok((reply.next_stream_id, entries))
    }

    async fn delivery_counts(&self, ids: &[String]) -> Result<Vec<u64>, BusError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("XPENDING")
                .arg(&self.key)
                .arg(&self.group)
                .arg(id)
                .arg(id)
                .arg(1);
        }
        let mut conn = self.bus.conn().await?;
        let replies: Vec<StreamPendingCountReply> = pipe
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XPENDING", &self.key))?;
        // An entry acknowledged in between has no pending record: count it as delivered once more than seen.
        Ok(replies
            .into_iter()
            .map(|r| r.ids.first().map_or(1, |p| p.times_delivered as u64))
            .collect())
    }

    /// Acknowledges entries: they will not be delivered again.
    pub async fn ack(&self, ids: &[String]) -> Result<u64, BusError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.bus.conn().await?;
        redis::cmd("XACK")
            .arg(&self.key)
            .arg(&self.group)
            .arg(ids)
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XACK", &self.key))
    }

    /// Resets the idle time of entries this consumer is still working on, so no peer reclaims them.
    pub async fn keepalive(&self, ids: &[String]) -> Result<(), BusError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.bus.conn().await?;
        let _: Vec<String> = redis::cmd("XCLAIM")
            .arg(&self.key)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(0)
            .arg(ids)
            .arg("JUSTID")
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XCLAIM", &self.key))?;
        Ok(())
    }

    /// Moves an entry to `<stream>:dlq` with the reason and acknowledges it, in one transaction.
    pub async fn dead_letter(&self, entry: &RawEntry, reason: &str) -> Result<(), BusError> {
        let dlq_key = self.bus.key(&self.stream.dlq());
        let fields = DeadLetter::fields_for(
            entry,
            self.stream.as_str(),
            &self.group,
            &self.consumer,
            reason,
        );
        let mut conn = self.bus.conn().await?;
        let _: (String, u64) = redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(&dlq_key)
            .arg("*")
            .arg(&fields)
            .cmd("XACK")
            .arg(&self.key)
            .arg(&self.group)
            .arg(&entry.id)
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XADD", &dlq_key))?;
        self.bus.metrics().dead_lettered(self.stream.as_str());
        Ok(())
    }

    /// Returns how many entries are delivered but not acknowledged in this group.
    pub async fn pending(&self) -> Result<u64, BusError> {
        let mut conn = self.bus.conn().await?;
        let reply: StreamPendingReply = redis::cmd("XPENDING")
            .arg(&self.key)
            .arg(&self.group)
            .query_async(&mut conn)
            .await
            .map_err(BusError::redis("XPENDING", &self.key))?;
        Ok(reply.count() as u64)
    }
}
