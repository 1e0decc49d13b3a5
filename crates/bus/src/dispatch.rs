//! Runs one entry through its handler and settles it: ack, leave pending for a retry, or dead-letter.

use std::collections::HashSet;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use orch_contracts::{Contract, Envelope};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info_span, warn};

use crate::entry::RawEntry;
use crate::group::Group;
use crate::handler::{Delivery, Handler, HandlerError};
use crate::ordering::{Chains, KeyFn};

/// Shared state of one consumer's in-flight work.
pub(crate) struct Dispatcher<M, H> {
    pub(crate) group: Group,
    pub(crate) handler: Arc<H>,
    pub(crate) in_flight: Arc<Mutex<HashSet<String>>>,
    pub(crate) acks: mpsc::UnboundedSender<String>,
    pub(crate) tracker: TaskTracker,
    pub(crate) max_deliveries: u64,
    pub(crate) order: Option<KeyFn<M>>,
    pub(crate) chains: Chains,
    pub(crate) _message: PhantomData<fn() -> M>,
}

impl<M, H> Dispatcher<M, H>
where
    M: Contract + Send + 'static,
    H: Handler<M>,
{
    /// Decodes `entry` and hands it to the handler on a tracked task; an unreadable entry is dead-lettered.
    pub(crate) async fn dispatch(self: &Arc<Self>, entry: RawEntry, permit: OwnedSemaphorePermit) {
        if entry.deliveries > self.max_deliveries {
            let reason = format!(
                "delivered {} times without being acknowledged (its consumers crashed or timed out)",
                entry.deliveries - 1
            );
            self.give_up(&entry, &reason, "dead_lettered").await;
            return;
        }
        let envelope = match decode::<M>(&entry) {
            Ok(envelope) => envelope,
            Err(reason) => {
                self.give_up(&entry, &reason, "invalid").await;
                return;
            }
        };
        if !self.mark_in_flight(&entry.id) {
            return; // already being handled here (reclaimed from ourselves)
        }
        let mut turn = self
            .order
            .as_ref()
            .map(|key| self.chains.enqueue(key(&envelope.body)));
        let this = Arc::clone(self);
        let span = info_span!("handle", stream = %self.group.stream(), event_id = %envelope.event_id,
            run_id = envelope.run_id.map(|r| r.to_string()), entry_id = %entry.id, deliveries = entry.deliveries);
        self.tracker.spawn(
            async move {
                if let Some(turn) = turn.as_mut() {
                    turn.wait().await;
                }
                this.handle(entry, envelope).await;
                if let Some(turn) = turn {
                    turn.finish();
                }
                drop(permit);
            }
            .instrument(span),
        );
    }

    fn mark_in_flight(&self, id: &str) -> bool {
        self.in_flight
            .lock()
            .map(|mut set| set.insert(id.to_owned()))
            .unwrap_or(false)
    }

    fn clear_in_flight(&self, id: &str) {
        if let Ok(mut set) = self.in_flight.lock() {
            set.remove(id);
        }
    }

    async fn handle(&self, entry: RawEntry, envelope: Envelope<M>) {
        let delivery = Delivery {
            envelope,
            entry_id: entry.id.clone(),
            deliveries: entry.deliveries,
        };
        let outcome = AssertUnwindSafe(self.handler.handle(delivery))
            .catch_unwind()
            .await;
        let stream = self.group.stream().as_str();
        match outcome {
            Ok(Ok(())) => {
                self.group_metrics().handled(stream, "ok");
                // Ack only now that the handler's effect is durable; a send error means the ack task is gone
                // and the entry simply stays pending (redelivered, deduplicated by the inbox).
                let _ = self.acks.send(entry.id.clone());
            }
            Ok(Err(HandlerError::Reject(reason))) => {
                self.give_up(&entry, &reason, "rejected").await
            }
            Ok(Err(HandlerError::Retry(reason))) => self.failed(&entry, &reason).await,
            Err(panic) => {
                self.failed(
                    &entry,
                    &format!("handler panicked: {}", panic_text(&*panic)),
                )
                .await
            }
        }
        self.clear_in_flight(&entry.id);
    }

    async fn failed(&self, entry: &RawEntry, reason: &str) {
        if entry.deliveries >= self.max_deliveries {
            let reason = format!(
                "failed on delivery {} of {}: {reason}",
                entry.deliveries, self.max_deliveries
            );
            self.give_up(entry, &reason, "dead_lettered").await;
        } else {
            warn!(
                reason,
                "handler failed; the entry stays pending and will be redelivered"
            );
            self.group_metrics()
                .handled(self.group.stream().as_str(), "retry");
        }
    }

    async fn give_up(&self, entry: &RawEntry, reason: &str, outcome: &'static str) {
        self.group_metrics()
            .handled(self.group.stream().as_str(), outcome);
        match self.group.dead_letter(entry, reason).await {
            Ok(()) => warn!(entry_id = %entry.id, reason, "moved to the dead-letter stream"),
            // The entry stays pending and comes back through the reclaimer; nothing is lost.
            Err(e) => {
                error!(entry_id = %entry.id, error = %e, "could not dead-letter; the entry stays pending")
            }
        }
    }

    fn group_metrics(&self) -> &crate::metrics::BusMetrics {
        self.group.bus().metrics()
    }
}

fn decode<M: Contract>(entry: &RawEntry) -> Result<Envelope<M>, String> {
    if let Some(reason) = &entry.malformed {
        return Err(reason.clone());
    }
    Envelope::from_fields(&entry.fields).map_err(|e| e.to_string())
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}
