//! Keeps streams bounded without losing work.
//!
//! A stream is trimmed (`XTRIM MINID ~`) below the oldest entry that any group still needs — the oldest pending
//! entry, or the first entry after the group's last delivered id — and below the retention window, whichever is
//! older. A stream that no group reads yet is never trimmed: its entries are work nobody has received.
//! Consumers that left the group long ago with nothing pending are removed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::streams::{StreamInfoConsumersReply, StreamInfoGroupsReply, StreamPendingReply};

use crate::error::BusError;
use crate::group::Group;

/// A stream entry id, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntryId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl EntryId {
    /// Parses `<ms>-<seq>` (a bare `<ms>` means sequence 0).
    pub fn parse(raw: &str) -> Option<Self> {
        let (ms, seq) = raw.split_once('-').unwrap_or((raw, "0"));
        Some(Self {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// Returns the id right after this one.
    pub fn next(self) -> Self {
        match self.seq.checked_add(1) {
            Some(seq) => Self { ms: self.ms, seq },
            None => Self {
                ms: self.ms + 1,
                seq: 0,
            },
        }
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Trims the group's stream as far as is safe and removes long-idle empty consumers; returns the `MINID` used.
pub async fn tidy(group: &Group, retention: Duration) -> Result<Option<EntryId>, BusError> {
    let key = group.bus().key(group.stream());
    let Some(floor) = safe_floor(group, &key).await? else {
        return Ok(None);
    };
    let minid = floor.min(retention_floor(retention));
    let mut conn = group.bus().conn().await?;
    let _: u64 = redis::cmd("XTRIM")
        .arg(&key)
        .arg("MINID")
        .arg("~")
        .arg(minid.to_string())
        .query_async(&mut conn)
        .await
        .map_err(BusError::redis("XTRIM", &key))?;
    remove_idle_consumers(group, &key, retention).await?;
    Ok(Some(minid))
}

/// The oldest entry any group of the stream still needs; `None` when no group reads the stream.
async fn safe_floor(group: &Group, key: &str) -> Result<Option<EntryId>, BusError> {
    let mut conn = group.bus().conn().await?;
    let groups: StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(key)
        .query_async(&mut conn)
        .await
        .map_err(BusError::redis("XINFO GROUPS", key))?;
    let mut floor: Option<EntryId> = None;
    for g in &groups.groups {
        let mut needed = EntryId::parse(&g.last_delivered_id).map(EntryId::next);
        if g.pending > 0 {
            let pending: StreamPendingReply = redis::cmd("XPENDING")
                .arg(key)
                .arg(&g.name)
                .query_async(&mut conn)
                .await
                .map_err(BusError::redis("XPENDING", key))?;
            if let StreamPendingReply::Data(data) = pending {
                needed = needed.min(EntryId::parse(&data.start_id));
            }
        }
        let Some(needed) = needed else {
            return Ok(None);
        }; // unparseable: do not guess
        floor = Some(floor.map_or(needed, |f| f.min(needed)));
    }
    Ok(floor)
}

fn retention_floor(retention: Duration) -> EntryId {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    EntryId {
        ms: now.saturating_sub(retention).as_millis() as u64,
        seq: 0,
    }
}

async fn remove_idle_consumers(group: &Group, key: &str, idle: Duration) -> Result<(), BusError> {
    let mut conn = group.bus().conn().await?;
    let consumers: StreamInfoConsumersReply = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(key)
        .arg(group.name())
        .query_async(&mut conn)
        .await
        .map_err(BusError::redis("XINFO CONSUMERS", key))?;
    for c in consumers.consumers {
        if c.pending == 0 && c.idle as u128 > idle.as_millis() && c.name != group.consumer() {
            let _: u64 = redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(key)
                .arg(group.name())
                .arg(&c.name)
                .query_async(&mut conn)
                .await
                .map_err(BusError::redis("XGROUP DELCONSUMER", key))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_order_like_redis() {
        let a = EntryId::parse("1700000000000-5").expect("id");
        let b = EntryId::parse("1700000000001-0").expect("id");
        assert!(a < b);
        assert_eq!(a.next().to_string(), "1700000000000-6");
        assert_eq!(EntryId::parse("0-0").expect("id").next().to_string(), "0-1");
        assert_eq!(EntryId::parse("42").expect("id").to_string(), "42-0");
        assert!(EntryId::parse("x-1").is_none());
    }

    #[test]
    fn a_sequence_overflow_moves_to_the_next_millisecond() {
        let id = EntryId {
            ms: 5,
            seq: u64::MAX,
        };
        assert_eq!(id.next(), EntryId { ms: 6, seq: 0 });
    }
}
