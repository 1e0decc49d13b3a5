//! Per-key ordering: messages with the same key (a chat id) are handled one after another in stream order,
//! while different keys run in parallel.
//!
//! The order is fixed when entries are dispatched (in stream order, by the single intake loop): each message
//! waits for the completion signal of the previous message with its key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Computes the ordering key of a message.
pub(crate) type KeyFn<M> = Arc<dyn Fn(&M) -> u64 + Send + Sync>;

/// Entries beyond which finished chains are swept from the map.
const SWEEP_AT: usize = 4096;

/// The tail of every key's chain of in-flight messages.
#[derive(Default)]
pub(crate) struct Chains {
    tails: Mutex<HashMap<u64, oneshot::Receiver<()>>>,
}

/// A message's place in its key's chain: wait for the predecessor, then hold `done` until finished.
pub(crate) struct Turn {
    previous: Option<oneshot::Receiver<()>>,
    done: oneshot::Sender<()>,
}

impl Chains {
    /// Appends a message with `key` to its chain.
    pub(crate) fn enqueue(&self, key: u64) -> Turn {
        let (done, tail) = oneshot::channel();
        let previous = match self.tails.lock() {
            Ok(mut tails) => {
                if tails.len() >= SWEEP_AT {
                    tails.retain(|_, rx| {
                        matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty))
                    });
                }
                tails.insert(key, tail)
            }
            Err(_) => None,
        };
        Turn { previous, done }
    }
}

impl Turn {
    /// Waits until the previous message with the same key has finished (successfully or not).
    pub(crate) async fn wait(&mut self) {
        if let Some(previous) = self.previous.take() {
            let _ = previous.await;
        }
    }

    /// Lets the next message with the same key run.
    pub(crate) fn finish(self) {
        let _ = self.done.send(());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn same_key_runs_in_order_other_keys_do_not_wait() {
        let chains = Chains::default();
        let mut first = chains.enqueue(1);
        let mut second = chains.enqueue(1);
        let mut other = chains.enqueue(2);
        first.wait().await;
        other.wait().await; // a different key is not blocked by key 1
        assert!(
            tokio::time::timeout(Duration::from_millis(50), second.wait())
                .await
                .is_err(),
            "must wait"
        );
        first.finish();
        tokio::time::timeout(Duration::from_millis(50), second.wait())
            .await
            .expect("released");
        second.finish();
        other.finish();
    }

    #[tokio::test]
    async fn a_dropped_turn_releases_the_next() {
        let chains = Chains::default();
        let first = chains.enqueue(7);
        let mut second = chains.enqueue(7);
        drop(first); // a handler that panicked or was aborted
        tokio::time::timeout(Duration::from_millis(50), second.wait())
            .await
            .expect("released");
    }
}
