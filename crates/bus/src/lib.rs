//! The Redis Streams bus every service talks over: work is never lost, and nothing is done twice by accident.
//!
//! # Guarantees
//! - **At-least-once.** A consumer acknowledges an entry only after its handler returned `Ok`; an entry whose
//!   consumer died stays pending and is reclaimed (`XAUTOCLAIM`) by a live consumer of the group after
//!   [`BusConfig::claim_min_idle`]. Handlers must therefore be idempotent: the envelope's event id is the key
//!   (see the store's inbox).
//! - **Nothing dropped silently.** An entry that cannot be read (wrong type, bad version, invalid body) or that
//!   failed [`BusConfig::max_deliveries`] times moves to `<stream>:dlq` together with its original fields, id,
//!   delivery count and the reason — atomically with its acknowledgement.
//! - **Bounded streams.** The janitor trims acknowledged entries older than the retention window; it never trims
//!   an entry that some group has not yet received or acknowledged. Per-id result streams expire.
//! - **Survives Redis restarts.** Every loop reconnects with backoff and recreates a missing group.
//!
//! Pub/sub ([`signals`]) is for disposable signals only: a subscriber that is down misses them.
//!
//! # Layout
//! - [`Bus`]: connection pool, publishing, result streams.
//! - [`Group`]: the consumer-group primitives (read, reclaim, ack, dead-letter).
//! - [`Consumer`]: the run loop that drives a [`Handler`] with bounded concurrency and graceful drain.
//! - [`janitor`]: safe trimming of streams.

mod client;
mod config;
mod consumer;
mod dispatch;
mod entry;
mod error;
mod group;
mod handler;
pub mod janitor;
mod metrics;
mod ordering;
mod results;
pub mod signals;

pub use client::Bus;
pub use config::BusConfig;
pub use consumer::Consumer;
pub use entry::{DeadLetter, RawEntry};
pub use error::BusError;
pub use group::Group;
pub use handler::{Delivery, Handler, HandlerError};
pub use metrics::BusMetrics;
