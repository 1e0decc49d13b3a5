//! State shared by the HTTP handlers, the webhook deliverer and the handles: one mutex plus a
//! change counter that wakes everyone waiting for a condition (long polls, `wait_for_*`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::config::TelegramConfig;
use super::state::{BotState, SimState};

/// Timeout of one webhook POST.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The simulator's shared core.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: TelegramConfig,
    pub http: reqwest::Client,
    state: Mutex<SimState>,
    changes: watch::Sender<u64>,
}

impl Shared {
    /// Creates the state with every configured bot.
    pub fn new(config: TelegramConfig) -> Arc<Self> {
        let mut state = SimState::default();
        for identity in &config.bots {
            let mut bot = BotState::new(identity.clone());
            bot.next_update_id = config.first_update_id;
            state.bots.insert(identity.token.clone(), bot);
        }
        let http = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .build()
            .unwrap_or_default();
        Arc::new(Self {
            config,
            http,
            state: Mutex::new(state),
            changes: watch::Sender::new(0),
        })
    }

    /// Locks the state; a panic in another holder does not make the state unusable.
    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes every waiter so it re-checks its condition.
    pub fn notify(&self) {
        self.changes
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    /// Whether a bot with this token exists.
    pub fn knows(&self, token: &str) -> bool {
        self.lock().bots.contains_key(token)
    }

    /// Runs `f` on a bot's state, then wakes the waiters; `None` for an unknown token.
    pub fn with_bot<R>(&self, token: &str, f: impl FnOnce(&mut BotState) -> R) -> Option<R> {
        let result = self.lock().bots.get_mut(token).map(f);
        self.notify();
        result
    }

    /// Marks the simulator closed and releases every waiter.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify();
    }

    /// Waits until `check` returns `Some`, the deadline passes or the simulator closes.
    pub async fn wait_for<T>(
        &self,
        deadline: Option<Instant>,
        mut check: impl FnMut(&mut SimState) -> Option<T>,
    ) -> Option<T> {
        let mut changes = self.changes.subscribe();
        loop {
            changes.borrow_and_update();
            {
                let mut state = self.lock();
                if let Some(value) = check(&mut state) {
                    return Some(value);
                }
                if state.closed {
                    return None;
                }
            }
            let expired = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return None },
                () = expired => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_bot_starts_at_the_configured_update_id() {
        let shared = Shared::new(TelegramConfig::with_tokens(["1:a", "2:b"]).first_update_id(5000));
        for token in ["1:a", "2:b"] {
            let first = shared.with_bot(token, |bot| bot.enqueue("message", json!({})));
            assert_eq!(first, Some(5000), "{token}");
        }
    }
}
