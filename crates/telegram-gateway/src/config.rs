//! The gateway's settings section (`TELEGRAM_GATEWAY__*`).

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// How updates reach the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Long polling `getUpdates` (one poller per bot token, elected through Redis).
    #[default]
    Polling,
    /// Telegram POSTs updates to `webhook_url` (served on `http_listen` at `/telegram/webhook`).
    Webhook,
}

/// The gateway's own settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Health, metrics and (in webhook mode) the webhook endpoint (`TELEGRAM_GATEWAY__HTTP_LISTEN`).
    pub http_listen: SocketAddr,
    /// The bot token from @BotFather (`TELEGRAM_GATEWAY__BOT_TOKEN`); required.
    pub bot_token: Option<SecretString>,
    /// The Bot API base URL (`TELEGRAM_GATEWAY__API_URL`); a local simulator in tests and the demo.
    pub api_url: String,
    /// `polling` (default) or `webhook` (`TELEGRAM_GATEWAY__MODE`).
    pub mode: Mode,
    /// The public HTTPS URL Telegram posts to in webhook mode (`TELEGRAM_GATEWAY__WEBHOOK_URL`).
    pub webhook_url: Option<String>,
    /// The secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token` (`TELEGRAM_GATEWAY__WEBHOOK_SECRET`).
    pub webhook_secret: Option<SecretString>,
    /// Telegram user ids allowed to use the bot, comma separated (`TELEGRAM_GATEWAY__ALLOWED_USER_IDS`).
    /// Empty means nobody: the gateway fails closed.
    #[serde(deserialize_with = "user_ids")]
    pub allowed_user_ids: Vec<i64>,
    /// Long-poll timeout in seconds (`TELEGRAM_GATEWAY__POLL_TIMEOUT_SECS`).
    pub poll_timeout_secs: u32,
    /// What people not on the allowlist are told; `{id}` becomes their user id.
    pub refusal_text: String,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8091)),
            bot_token: None,
            api_url: "https://api.telegram.org".into(),
            mode: Mode::Polling,
            webhook_url: None,
            webhook_secret: None,
            allowed_user_ids: Vec::new(),
            poll_timeout_secs: 25,
            refusal_text: "Sorry, this bot is private. Ask its owner to add your Telegram id ({id}) to the allowlist."
                .into(),
        }
    }
}

/// A setting that does not make sense.
#[derive(Debug, thiserror::Error)]
pub enum GatewayConfigError {
    /// No token.
    #[error("TELEGRAM_GATEWAY__BOT_TOKEN must be set (the token @BotFather gave the bot)")]
    MissingToken,
    /// A token that is not `<bot id>:<secret>`.
    #[error("TELEGRAM_GATEWAY__BOT_TOKEN is not a bot token (expected `<bot id>:<secret>`)")]
    MalformedToken,
    /// Webhook mode without the pieces it needs.
    #[error(
        "webhook mode needs TELEGRAM_GATEWAY__WEBHOOK_URL and TELEGRAM_GATEWAY__WEBHOOK_SECRET"
    )]
    IncompleteWebhook,
    /// The API URL does not parse.
    #[error("TELEGRAM_GATEWAY__API_URL `{0}` is not a URL")]
    BadApiUrl(String),
}

impl GatewayConfig {
    /// Returns the allowlist.
    pub fn allowlist(&self) -> &[i64] {
        &self.allowed_user_ids
    }

    /// Returns the long-poll timeout.
    pub fn poll_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.poll_timeout_secs))
    }

    /// Returns the bot token; an empty value (as in `.env.example`) counts as missing.
    pub fn token(&self) -> Result<SecretString, GatewayConfigError> {
        non_empty(&self.bot_token).ok_or(GatewayConfigError::MissingToken)
    }

    /// Returns the webhook URL and secret, required in webhook mode.
    pub fn webhook(&self) -> Result<(String, SecretString), GatewayConfigError> {
        let url = self.webhook_url.clone().filter(|u| !u.trim().is_empty());
        url.zip(non_empty(&self.webhook_secret))
            .ok_or(GatewayConfigError::IncompleteWebhook)
    }

    /// Checks that the settings make sense for the mode.
    pub fn validate(&self) -> Result<(), GatewayConfigError> {
        self.token()?;
        if self.mode == Mode::Webhook {
            self.webhook()?;
        }
        Ok(())
    }
}

/// Reads `42`, `"42, 7"` or `[42, 7]` (the environment gives a number for a single id).
fn user_ids<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ids {
        One(i64),
        Text(String),
        Many(Vec<i64>),
    }
    match Ids::deserialize(deserializer)? {
        Ids::One(id) => Ok(vec![id]),
        Ids::Many(ids) => Ok(ids),
        Ids::Text(text) => parse_ids(&text).map_err(serde::de::Error::custom),
    }
}

fn parse_ids(text: &str) -> Result<Vec<i64>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| format!("`{s}` is not a Telegram user id"))
        })
        .collect()
}

fn non_empty(secret: &Option<SecretString>) -> Option<SecretString> {
    use secrecy::ExposeSecret;
    secret
        .clone()
        .filter(|s| !s.expose_secret().trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowlist_parses_every_shape_and_refuses_garbage() {
        let parse = |v: serde_json::Value| user_ids(v).map_err(|e| e.to_string());
        assert_eq!(parse(serde_json::json!(" 42, 7 ,")), Ok(vec![42, 7]));
        assert_eq!(parse(serde_json::json!(42)), Ok(vec![42]));
        assert_eq!(parse(serde_json::json!([1, 2])), Ok(vec![1, 2]));
        assert_eq!(parse(serde_json::json!("")), Ok(vec![]));
        assert!(
            parse(serde_json::json!("42,alice"))
                .expect_err("refused")
                .contains("`alice`")
        );
    }

    #[test]
    fn webhook_mode_needs_url_and_secret() {
        let config = GatewayConfig {
            mode: Mode::Webhook,
            bot_token: Some("1:x".into()),
            webhook_secret: Some("".into()),
            webhook_url: Some("https://bot.example.com/telegram/webhook".into()),
            ..GatewayConfig::default()
        };
        assert!(
            matches!(
                config.validate(),
                Err(GatewayConfigError::IncompleteWebhook)
            ),
            "an empty secret is missing"
        );
    }

    #[test]
    fn an_empty_token_is_missing() {
        let config = GatewayConfig {
            bot_token: Some(" ".into()),
            ..GatewayConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(GatewayConfigError::MissingToken)
        ));
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let config = GatewayConfig {
            bot_token: Some("123:very-secret".into()),
            ..GatewayConfig::default()
        };
        assert!(!format!("{config:?}").contains("very-secret"));
    }
}
