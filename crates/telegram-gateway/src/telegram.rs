//! The Bot API client: teloxide for sending, and a raw `getUpdates` that parses each update on its own, so one
//! malformed update is skipped (and audited) instead of blocking every update behind it.

use std::future::Future;
use std::time::Duration;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use teloxide::prelude::*;
use teloxide::types::Update;
use teloxide::{ApiError, RequestError};
use tracing::warn;

use crate::config::GatewayConfigError;

/// How many times a call is retried after Telegram answered 429 with `retry_after`.
const RATE_LIMIT_RETRIES: u32 = 5;

/// One update as received: its id, and the typed update when it parsed.
#[derive(Debug, Clone)]
pub struct RawUpdate {
    /// `update_id`.
    pub update_id: i64,
    /// The typed update, or why it did not parse.
    pub parsed: Result<Update, String>,
    /// The JSON as received (for the audit log when it did not parse).
    pub raw: Value,
}

impl RawUpdate {
    /// Parses one update object; `None` when it has no `update_id` at all.
    pub fn from_value(raw: Value) -> Option<Self> {
        let update_id = raw.get("update_id")?.as_i64()?;
        // teloxide's `Update` must be read from text: read from a `serde_json::Value`, its message variants
        // silently degrade to `UpdateKind::Error`.
        let parsed = serde_json::from_str::<Update>(&raw.to_string()).map_err(|e| e.to_string());
        Some(Self {
            update_id,
            parsed,
            raw,
        })
    }
}

/// Why polling failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// Another poller or a webhook holds the bot (HTTP 409).
    #[error("telegram refused polling: {0}")]
    Conflict(String),
    /// The Bot API answered with an error.
    #[error("telegram answered getUpdates with error {code}: {description}")]
    Api {
        /// Telegram's error code.
        code: i64,
        /// Telegram's description.
        description: String,
    },
    /// The Bot API could not be reached (the URL, which holds the token, is stripped).
    #[error("telegram is unreachable: {0}")]
    Network(#[source] reqwest::Error),
    /// The answer was not the Bot API's envelope.
    #[error("telegram answered getUpdates with something unreadable: {0}")]
    Malformed(String),
}

/// A connection to one bot.
#[derive(Clone)]
pub struct Telegram {
    bot: Bot,
    bot_id: i64,
}

impl Telegram {
    /// Builds the client; the HTTP timeout outlasts the long poll.
    pub fn new(
        token: &SecretString,
        api_url: &str,
        poll_timeout: Duration,
    ) -> Result<Self, GatewayConfigError> {
        let bot_id = token
            .expose_secret()
            .split_once(':')
            .and_then(|(id, _)| id.parse().ok())
            .ok_or(GatewayConfigError::MalformedToken)?;
        let url: Url = api_url
            .parse()
            .map_err(|_| GatewayConfigError::BadApiUrl(api_url.to_owned()))?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(poll_timeout + Duration::from_secs(15))
            .build()
            .map_err(|_| GatewayConfigError::BadApiUrl(api_url.to_owned()))?;
        let bot = Bot::with_client(token.expose_secret(), client).set_api_url(url);
        Ok(Self { bot, bot_id })
    }

    /// Returns the teloxide bot.
    pub fn bot(&self) -> &Bot {
        &self.bot
    }

    /// Returns the bot's user id (the token's prefix).
    pub fn bot_id(&self) -> i64 {
        self.bot_id
    }

    /// Long-polls for updates from `offset`, confirming everything below it.
    pub async fn get_updates(
        &self,
        offset: i64,
        timeout: Duration,
        limit: u32,
    ) -> Result<Vec<RawUpdate>, PollError> {
        let url = self.method_url("getUpdates");
        let body = json!({
            "offset": offset,
            "timeout": timeout.as_secs(),
            "limit": limit,
            "allowed_updates": ["message", "callback_query"],
        });
        let response = self
            .bot
            .client()
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| PollError::Network(e.without_url()))?;
        let envelope: Value = response
            .json()
            .await
            .map_err(|e| PollError::Network(e.without_url()))?;
        parse_updates(envelope)
    }

    fn method_url(&self, method: &str) -> Url {
        let mut url = self.bot.api_url();
        let path = format!(
            "{}/bot{}/{method}",
            url.path().trim_end_matches('/'),
            self.bot.token()
        );
        url.set_path(&path);
        url
    }

    /// Runs a Bot API call, waiting out 429 `retry_after` answers (a few times) without reordering anything.
    pub async fn with_rate_limit<T, F, Fut>(&self, mut call: F) -> Result<T, RequestError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RequestError>>,
    {
        let mut attempt = 0;
        loop {
            match call().await {
                Err(RequestError::RetryAfter(wait)) if attempt < RATE_LIMIT_RETRIES => {
                    attempt += 1;
                    warn!(
                        retry_after_secs = wait.seconds(),
                        attempt, "telegram rate limit; waiting"
                    );
                    tokio::time::sleep(wait.duration()).await;
                }
                other => return other,
            }
        }
    }
}

fn parse_updates(envelope: Value) -> Result<Vec<RawUpdate>, PollError> {
    if envelope.get("ok") != Some(&Value::Bool(true)) {
        let code = envelope
            .get("error_code")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let description = envelope
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("no description")
            .to_owned();
        return Err(if code == 409 {
            PollError::Conflict(description)
        } else {
            PollError::Api { code, description }
        });
    }
    let list = envelope
        .get("result")
        .and_then(Value::as_array)
        .ok_or_else(|| PollError::Malformed("no result list".into()))?;
    let updates: Vec<RawUpdate> = list
        .iter()
        .cloned()
        .filter_map(RawUpdate::from_value)
        .collect();
    if updates.len() < list.len() {
        warn!(
            dropped = list.len() - updates.len(),
            "updates without an update_id cannot be confirmed or used"
        );
    }
    Ok(updates)
}

/// Returns true when an API error means the person can never receive messages from the bot.
pub fn is_undeliverable(error: &RequestError) -> bool {
    matches!(
        error,
        RequestError::Api(
            ApiError::BotBlocked
                | ApiError::ChatNotFound
                | ApiError::UserDeactivated
                | ApiError::BotKicked
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_update_is_kept_apart_from_good_ones() {
        let envelope = json!({"ok": true, "result": [
            {"update_id": 5, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private", "first_name": "A"}, "text": "hi"}},
            {"update_id": 6, "message": {"nonsense": true}},
            {"no_id": true}
        ]});
        let updates = parse_updates(envelope).expect("parses");
        assert_eq!(updates.len(), 2);
        assert!(updates[0].parsed.is_ok());
        assert_eq!(updates[1].update_id, 6);
    }

    #[test]
    fn a_409_is_a_conflict() {
        let envelope = json!({"ok": false, "error_code": 409, "description": "Conflict: terminated by other getUpdates request"});
        assert!(matches!(
            parse_updates(envelope),
            Err(PollError::Conflict(_))
        ));
    }

    #[test]
    fn the_bot_id_comes_from_the_token() {
        let t = Telegram::new(
            &"12345:abc".into(),
            "http://127.0.0.1:1",
            Duration::from_secs(1),
        )
        .expect("builds");
        assert_eq!(t.bot_id(), 12345);
        assert!(
            Telegram::new(&"abc".into(), "http://127.0.0.1:1", Duration::from_secs(1)).is_err()
        );
    }
}
