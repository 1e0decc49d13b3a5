//! Telegram Bot API simulator.
//!
//! A local HTTP server speaking the Bot API the way `api.telegram.org` does, so that the real
//! `teloxide` client (or any other) can be pointed at it by URL only
//! (`Bot::new(token).set_api_url(sim.api_url().parse()?)`).
//!
//! # Overview
//! - Calls arrive as `POST /bot{TOKEN}/{Method}`; method names match case-insensitively (teloxide
//!   sends `SendMessage`). Answers are `{"ok":true,"result":…}` or
//!   `{"ok":false,"error_code":N,"description":"…","parameters":{"retry_after":N}}` with
//!   Telegram's exact descriptions; the simulator never answers 5xx.
//! - Implemented methods: `getMe`, `getUpdates` (long poll with offset, limit, timeout,
//!   allowed_updates, the webhook and concurrent-poller 409s), `sendMessage` (MarkdownV2 /
//!   Markdown / HTML parsed like tdlib, inline keyboards, replies, the 4096-character limit),
//!   `editMessageText`, `editMessageReplyMarkup`, `deleteMessage`, `answerCallbackQuery`,
//!   `sendChatAction`, `setMyCommands`/`getMyCommands`/`deleteMyCommands`,
//!   `setWebhook`/`deleteWebhook`/`getWebhookInfo`, `logOut`, `close`. Others answer
//!   `404 Not Found`, an unknown token `401 Unauthorized`.
//! - With a webhook set, updates are POSTed to it with `X-Telegram-Bot-Api-Secret-Token`,
//!   retried with backoff, instead of being served to `getUpdates`.
//! - Rate limits: an optional per-chat flood limit, and [`SimBot::fail_next_sends`] forcing
//!   `429 Too Many Requests: retry after N`.
//! - Tests drive users through [`SimBot`] (or the HTTP control API, see [`control`]'s table):
//!   inject messages, commands and button presses, read what the bot sent, wait for it.
//!
//! # Deliberate differences from Telegram
//! - Chats exist once a user wrote (or [`SimBot::add_chat`]); everything is in memory.
//! - Plain-`http` webhook URLs are accepted unless [`TelegramConfig::require_https_webhook`].
//! - No files, media, inline mode, payments or chat administration.

mod api;
pub mod config;
pub mod control;
mod error;
mod handle;
mod inject;
mod keyboard;
mod markup;
mod methods;
mod params;
mod polling;
mod shared;
mod state;
pub mod types;
mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{BotIdentity, DEFAULT_TOKEN, FloodLimit, TelegramConfig, WebhookRetry};
pub use error::TelegramSimError;
pub use handle::SimBot;
pub use methods::MAX_TEXT_LEN;
pub use types::{
    BotCall, ButtonPress, ChatSpec, IncomingMessage, InjectedCallback, SentMessage, TgUser,
    Transcript,
};
pub use webhook::SECRET_HEADER;

use shared::Shared;

/// How long [`TelegramSim::shutdown`] waits for open connections before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running Telegram Bot API simulator; stops when shut down or dropped.
#[derive(Debug)]
pub struct TelegramSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl TelegramSim {
    /// Binds `config.listen` and starts serving.
    pub async fn start(config: TelegramConfig) -> Result<Self, TelegramSimError> {
        let requested = config.listen;
        let bind_error = |source| TelegramSimError::Bind {
            addr: requested,
            source,
        };
        let listener = TcpListener::bind(requested).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let shared = Shared::new(config);
        let app = api::router(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let graceful = async {
                let _ = stopped.await;
            };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(graceful)
                .await
            {
                tracing::warn!(%error, "telegram simulator server failed");
            }
        });
        tracing::info!(%addr, "telegram simulator listening");
        Ok(Self {
            shared,
            addr,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// Starts a simulator with [`TelegramConfig::default`] (one bot, [`DEFAULT_TOKEN`]).
    pub async fn start_default() -> Result<Self, TelegramSimError> {
        Self::start(TelegramConfig::default()).await
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL for `Bot::set_api_url` / `TELOXIDE_API_URL`, e.g. `http://127.0.0.1:8081`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL of the control API, e.g. `http://127.0.0.1:8081/control`.
    pub fn control_url(&self) -> String {
        format!("{}/control", self.api_url())
    }

    /// Token of the first configured bot.
    pub fn token(&self) -> &str {
        self.shared
            .config
            .bots
            .first()
            .map_or("", |bot| bot.token.as_str())
    }

    /// Handle of the bot with `token`.
    pub fn bot(&self, token: &str) -> Result<SimBot, TelegramSimError> {
        SimBot::new(Arc::clone(&self.shared), token)
    }

    /// Handle of the first configured bot.
    pub fn default_bot(&self) -> Result<SimBot, TelegramSimError> {
        self.bot(self.token())
    }

    /// Resets every bot (see [`SimBot::reset`]).
    pub fn reset(&self) {
        for bot in self.shared.lock().bots.values_mut() {
            bot.reset();
        }
        self.shared.notify();
    }

    /// Stops serving: held long polls answer empty, webhook delivery stops, connections close.
    pub async fn shutdown(mut self) {
        self.shared.close();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
    }
}

impl Drop for TelegramSim {
    fn drop(&mut self) {
        self.shared.close();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
