//! Publishes the transactional outbox to Redis: messages written with the state change that causes them reach
//! their stream even if the writer crashed right after committing.
//!
//! Delivery guarantee: at-least-once, in outbox order per relay pass. A crash between publishing and marking the
//! rows published republishes them; consumers deduplicate by event id (the inbox). Several relays may run: rows
//! are locked with `FOR UPDATE SKIP LOCKED`, so each pass owns its batch.

use std::time::Duration;

use anyhow::Context;
use orch_bus::Bus;
use orch_contracts::StreamKey;
use orch_store::{Store, outbox};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Moves outbox rows onto their streams.
pub struct OutboxRelay {
    store: Store,
    bus: Bus,
    batch: i64,
    idle: Duration,
}

impl OutboxRelay {
    /// Creates a relay publishing up to `batch` rows per pass and polling every `idle` when there is nothing.
    pub fn new(store: Store, bus: Bus, batch: i64, idle: Duration) -> Self {
        Self {
            store,
            bus,
            batch,
            idle,
        }
    }

    /// Publishes one batch; returns how many rows it published.
    pub async fn relay_once(&self) -> anyhow::Result<usize> {
        let mut tx = self.store.begin().await?;
        let messages = outbox::claim_unpublished(&mut tx, self.batch).await?;
        for message in &messages {
            let fields = outbox::wire_fields(message)?;
            self.bus
                .publish_fields(&StreamKey::new(message.stream.clone()), &fields)
                .await
                .with_context(|| format!("failed to publish outbox row {}", message.id))?;
        }
        let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
        outbox::mark_published(&mut tx, &ids).await?;
        tx.commit()
            .await
            .context("failed to mark outbox rows published")?;
        Ok(messages.len())
    }

    /// Relays until `shutdown`; errors (database or Redis down) are logged and retried.
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let pause = match self.relay_once().await {
                Ok(n) if n as i64 == self.batch => Duration::ZERO,
                Ok(_) => self.idle,
                Err(e) => {
                    warn!(error.cause_chain = ?e, "outbox relay pass failed; retrying");
                    self.idle.max(Duration::from_secs(1))
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }
}
