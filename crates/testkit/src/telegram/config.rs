//! Configuration of the Telegram Bot API simulator.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Token of the bot that [`TelegramConfig::default`] registers.
pub const DEFAULT_TOKEN: &str = "123456789:SIM-default-bot-token";

/// Settings of one simulator instance.
#[derive(Debug, Clone)]
pub struct TelegramConfig {
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Bots the simulator knows; any other token gets `401 Unauthorized`.
    pub bots: Vec<BotIdentity>,
    /// Per-chat flood limit for `sendMessage`; `None` disables it.
    pub flood_limit: Option<FloodLimit>,
    /// Upper bound for the `timeout` of a `getUpdates` long poll.
    pub max_poll_timeout: Duration,
    /// How webhook deliveries are retried.
    pub webhook_retry: WebhookRetry,
    /// Refuses plain-`http` webhook URLs as Telegram does (off by default so that a local
    /// webhook server can be used).
    pub require_https_webhook: bool,
    /// `update_id` of every bot's first update (default 1). Telegram numbers updates sequentially but starts
    /// from a random value after a week without updates; a long-lived consumer that deduplicates by update
    /// id sees the same effect when a simulator restarts, so restarts should pick a fresh start.
    pub first_update_id: i64,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            bots: vec![BotIdentity::from_token(DEFAULT_TOKEN)],
            flood_limit: None,
            max_poll_timeout: Duration::from_secs(50),
            webhook_retry: WebhookRetry::default(),
            require_https_webhook: false,
            first_update_id: 1,
        }
    }
}

impl TelegramConfig {
    /// Creates a configuration with a single bot using `token`.
    pub fn with_token(token: impl Into<String>) -> Self {
        Self {
            bots: vec![BotIdentity::from_token(token)],
            ..Self::default()
        }
    }

    /// Creates a configuration with one bot per token.
    pub fn with_tokens<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            bots: tokens.into_iter().map(BotIdentity::from_token).collect(),
            ..Self::default()
        }
    }

    /// Sets the listen address.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Sets the first `update_id` of every bot.
    pub fn first_update_id(mut self, id: i64) -> Self {
        self.first_update_id = id;
        self
    }

    /// Enables the per-chat flood limit.
    pub fn flood_limit(mut self, limit: FloodLimit) -> Self {
        self.flood_limit = Some(limit);
        self
    }
}

/// Who a simulated bot is, as `getMe` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    /// Full token, e.g. `123456789:AAH…`.
    pub token: String,
    /// Bot user id; Telegram uses the number before the colon of the token.
    pub id: i64,
    /// Display name.
    pub first_name: String,
    /// Username without `@`.
    pub username: String,
}

impl BotIdentity {
    /// Derives an identity from a token the way Telegram does (id = digits before `:`).
    pub fn from_token(token: impl Into<String>) -> Self {
        let token = token.into();
        let id = token
            .split(':')
            .next()
            .and_then(|digits| digits.parse::<i64>().ok())
            .unwrap_or(1);
        Self {
            token,
            id,
            first_name: "SimBot".to_owned(),
            username: format!("sim_{id}_bot"),
        }
    }
}

/// A sliding-window limit of messages per chat, answered with `429 Too Many Requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimit {
    /// Messages allowed per window.
    pub max_messages: u32,
    /// Window length.
    pub window: Duration,
}

/// Retry policy of webhook deliveries: Telegram repeats a failed POST a number of times, then
/// gives up on the update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookRetry {
    /// Attempts per update before it is dropped.
    pub max_attempts: u32,
    /// Delay after the first failure; doubled after each further failure.
    pub initial_backoff: Duration,
    /// Cap of the delay.
    pub max_backoff: Duration,
}

impl Default for WebhookRetry {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl WebhookRetry {
    /// Delay before the attempt following `failures` consecutive failures.
    pub fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_takes_id_from_token() {
        let bot = BotIdentity::from_token("4242:abc");
        assert_eq!(bot.id, 4242);
        assert_eq!(bot.username, "sim_4242_bot");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let retry = WebhookRetry {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
        };
        assert_eq!(retry.backoff(1), Duration::from_millis(100));
        assert_eq!(retry.backoff(2), Duration::from_millis(200));
        assert_eq!(retry.backoff(3), Duration::from_millis(300));
    }
}
