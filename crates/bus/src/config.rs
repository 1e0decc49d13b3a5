//! Tuning of the bus; the defaults suit production.

use std::time::Duration;

/// Tuning knobs of the bus.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// A key prefix (`<prefix>:<stream>`) that isolates tenants or tests; empty in production.
    pub prefix: String,
    /// After this many deliveries without an ack, an entry moves to the dead-letter stream.
    pub max_deliveries: u32,
    /// An entry pending this long is considered abandoned and is reclaimed by another consumer.
    pub claim_min_idle: Duration,
    /// How often a consumer looks for abandoned entries.
    pub reclaim_interval: Duration,
    /// How long one `XREADGROUP` blocks waiting for new entries.
    pub block: Duration,
    /// How many entries one read returns at most.
    pub batch: usize,
    /// How many handlers of one consumer run at once.
    pub max_in_flight: usize,
    /// How long a draining consumer waits for in-flight handlers before leaving them to be reclaimed.
    pub shutdown_grace: Duration,
    /// Acknowledged entries younger than this are kept (for inspection) when trimming.
    pub retention: Duration,
    /// How often the janitor trims a consumer's stream.
    pub trim_interval: Duration,
    /// How long a per-id result stream lives after its last write.
    pub result_ttl: Duration,
    /// Connections in the pool.
    pub pool_size: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            max_deliveries: 5,
            claim_min_idle: Duration::from_secs(30),
            reclaim_interval: Duration::from_secs(5),
            block: Duration::from_secs(2),
            batch: 64,
            max_in_flight: 16,
            shutdown_grace: Duration::from_secs(30),
            retention: Duration::from_secs(24 * 3600),
            trim_interval: Duration::from_secs(60),
            result_ttl: Duration::from_secs(7 * 24 * 3600),
            pool_size: 16,
        }
    }
}

impl BusConfig {
    /// How often an in-flight entry's idle time is reset so that no peer reclaims it while it is being handled.
    pub fn keepalive_interval(&self) -> Duration {
        self.claim_min_idle / 3
    }

    /// The response timeout of a connection: long enough for the longest blocking read.
    pub(crate) fn response_timeout(&self) -> Duration {
        self.block.max(crate::results::MAX_BLOCK) + Duration::from_secs(5)
    }
}
