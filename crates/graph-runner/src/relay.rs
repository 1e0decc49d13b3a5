//! Replies leave through the transactional outbox: written in the same transaction as the state change (or
//! as an exactly-once effect), then published to `chat:out` by this relay.
//!
//! Delivery guarantee: at-least-once in outbox order; a republished row carries the same event id, which the
//! gateway deduplicates. The relay wakes as soon as this process wrote a row ([`Wake`]) and otherwise polls
//! every `idle` (rows written by a peer or left by a crash).

use std::sync::Arc;
use std::time::Duration;

use orch_bus::Bus;
use orch_contracts::messages::chat::{ChatAction, ChatOut};
use orch_contracts::{Envelope, RunId, StreamKey, streams};
use orch_service_kit::outbox_relay::OutboxRelay;
use orch_store::{Store, StoreError, outbox};
use sqlx::PgConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Wakes the relay after a commit that queued replies.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Signals that rows are waiting (a signal given while the relay is busy is kept for its next wait).
    pub fn notify(&self) {
        self.0.notify_one();
    }
}

/// Queues `actions` for `chat_id` on `chat:out` in the caller's transaction, in order.
pub async fn enqueue(
    conn: &mut PgConnection,
    chat_id: i64,
    run: Option<RunId>,
    actions: Vec<ChatAction>,
) -> Result<(), StoreError> {
    let stream = StreamKey::from(streams::CHAT_OUT);
    for action in actions {
        let mut envelope = Envelope::new(ChatOut { chat_id, action });
        if let Some(run) = run {
            envelope = envelope.with_run(run);
        }
        outbox::enqueue_message(&mut *conn, &stream, &envelope).await?;
    }
    Ok(())
}

/// The relay loop.
pub struct Relay {
    relay: OutboxRelay,
    wake: Wake,
    batch: i64,
    idle: Duration,
}

impl Relay {
    /// Creates a relay publishing up to `batch` rows per pass.
    pub fn new(store: Store, bus: Bus, wake: Wake, batch: i64, idle: Duration) -> Self {
        let batch = batch.max(1);
        Self {
            relay: OutboxRelay::new(store, bus, batch, idle),
            wake,
            batch,
            idle,
        }
    }

    /// Publishes until `stop`, then makes one last pass so replies written during the drain go out too.
    pub async fn run(self, stop: CancellationToken) {
        while !stop.is_cancelled() {
            let pause = match self.relay.relay_once().await {
                Ok(n) if n as i64 == self.batch => continue,
                Ok(_) => self.idle,
                Err(e) => {
                    warn!(error.cause_chain = ?e, "outbox relay pass failed; retrying");
                    self.idle.max(Duration::from_secs(1))
                }
            };
            tokio::select! {
                () = self.wake.0.notified() => {}
                () = tokio::time::sleep(pause) => {}
                () = stop.cancelled() => {}
            }
        }
        self.flush().await;
    }

    async fn flush(&self) {
        loop {
            match self.relay.relay_once().await {
                Ok(n) if n as i64 == self.batch => {}
                Ok(_) => return,
                Err(e) => {
                    warn!(error.cause_chain = ?e, "final outbox pass failed; the rows stay for the next start");
                    return;
                }
            }
        }
    }
}
