//! Bridge between Telegram and the bus.
//!
//! # Overview
//! - **In:** updates arrive by long polling (default; exactly one poller per bot token, elected with a Redis
//!   lease) or by webhook (`/telegram/webhook`, checked against the secret token). People on the allowlist become
//!   `chat:in` messages — texts, `/commands`, button presses; everyone else gets a polite refusal and an audit
//!   row. An update is confirmed to Telegram only after it was published or audited.
//! - **Out:** `chat:out` messages become Telegram messages (Markdown escaped for MarkdownV2, split at 4,096
//!   characters, inline keyboards), edits of named progress messages, and button answers — in order per chat,
//!   with 429s waited out in place.
//!
//! # Layout
//! [`config`] settings · [`telegram`] the Bot API client · [`inbound`] update → `chat:in` · [`polling`],
//! [`webhook`], [`leader`] how updates arrive · [`outbound`] `chat:out` → Telegram · [`markdown`] text rendering.

pub mod config;
pub mod inbound;
pub mod leader;
pub mod markdown;
pub mod outbound;
pub mod polling;
pub mod telegram;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use orch_bus::{Bus, Consumer, Delivery};
use orch_contracts::messages::chat::ChatOut;
use orch_contracts::{StreamKey, streams};
use orch_service_kit::base::{Base, BaseOptions, Connections, Needs};
use orch_service_kit::{Service, Settings, infra};
use prometheus_client::registry::Registry;
use secrecy::{ExposeSecret, SecretString};
use teloxide::prelude::Requester;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use config::{GatewayConfig, Mode};
use inbound::Intake;
use leader::Leader;
use outbound::Outbound;
use telegram::Telegram;

/// How long the polling lease lives without renewal.
const LEASE_TTL: Duration = Duration::from_secs(30);

/// The running gateway.
pub struct Application {
    base: Base,
    bus: Bus,
    intake: Arc<Intake>,
    outbound: Outbound,
    inbound: Inbound,
}

/// How this instance receives updates.
enum Inbound {
    Polling { leader: Leader, timeout: Duration },
    Webhook,
}

impl Application {
    /// Returns the address of the HTTP server (health, metrics, webhook).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.base.local_addr()
    }
}

impl Service for Application {
    const NAME: &'static str = "telegram-gateway";
    const ENV_PREFIX: &'static str = "TELEGRAM_GATEWAY";
    type Config = GatewayConfig;

    async fn build(settings: Settings<GatewayConfig>) -> anyhow::Result<Self> {
        let config = settings.service;
        config.validate()?;
        let token = config.token()?;
        let telegram = Telegram::new(&token, &config.api_url, config.poll_timeout())?;
        check_token(&telegram).await?;
        let connections = Connections::open(
            &settings.common,
            Needs {
                postgres: true,
                redis: true,
            },
        )
        .await?;
        let (store, bus) = (
            connections.store.clone().context("needs PostgreSQL")?,
            connections.bus.clone().context("needs Redis")?,
        );
        let intake = Arc::new(Intake {
            bus: bus.clone(),
            store: store.clone(),
            telegram: telegram.clone(),
            allowlist: config.allowlist().to_vec(),
            refusal_text: config.refusal_text.clone(),
        });
        if intake.allowlist.is_empty() {
            tracing::warn!("TELEGRAM_GATEWAY__ALLOWED_USER_IDS is empty: everyone will be refused");
        }
        let (inbound, routes) = inbound_mode(&settings.common, &config, &telegram, &intake).await?;
        let options = BaseOptions {
            service: Self::NAME,
            needs: Needs {
                postgres: true,
                redis: true,
            },
            http_listen: config.http_listen,
            dlq_streams: vec![StreamKey::from(streams::CHAT_OUT)],
            checks: Vec::new(),
            registry: Registry::default(),
        };
        let base = Base::assemble(connections, options, routes).await?;
        Ok(Self {
            base,
            bus,
            outbound: Outbound { telegram, store },
            intake,
            inbound,
        })
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            base,
            bus,
            intake,
            outbound,
            inbound,
        } = self;
        let consumer = Consumer::new(
            &bus,
            &StreamKey::from(streams::CHAT_OUT),
            outbound::CONSUMER,
            &infra::consumer_name(Self::NAME),
            move |d: Delivery<ChatOut>| {
                let outbound = outbound.clone();
                async move { outbound.handle(d).await }
            },
        )
        .with_ordering_key(|m: &ChatOut| m.chat_id as u64);
        let delivering = tokio::spawn(consumer.run(shutdown.clone()));
        let receiving = match inbound {
            Inbound::Polling { leader, timeout } => Some(tokio::spawn(polling::run(
                intake,
                leader,
                timeout,
                shutdown.clone(),
            ))),
            Inbound::Webhook => None,
        };
        base.http.serve(shutdown).await?;
        if let Some(receiving) = receiving {
            receiving.await?;
        }
        delivering.await??;
        info!("gateway drained");
        Ok(())
    }
}

/// Fails fast on a token Telegram refuses; an unreachable Telegram is only logged (it may come back).
async fn check_token(telegram: &Telegram) -> anyhow::Result<()> {
    match tokio::time::timeout(Duration::from_secs(10), telegram.bot().get_me()).await {
        Ok(Ok(me)) => {
            info!(bot = %me.username(), "connected to telegram");
            Ok(())
        }
        Ok(Err(teloxide::RequestError::Api(teloxide::ApiError::InvalidToken))) => {
            anyhow::bail!("telegram refused TELEGRAM_GATEWAY__BOT_TOKEN (Unauthorized)")
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "telegram is not reachable yet; continuing");
            Ok(())
        }
        Err(_) => {
            tracing::warn!("telegram did not answer getMe within 10 s; continuing");
            Ok(())
        }
    }
}

async fn inbound_mode(
    common: &orch_service_kit::CommonSettings,
    config: &GatewayConfig,
    telegram: &Telegram,
    intake: &Arc<Intake>,
) -> anyhow::Result<(Inbound, Router)> {
    match config.mode {
        Mode::Polling => {
            let redis_url = common.require_redis_url()?;
            let holder = infra::consumer_name("telegram-gateway");
            let leader = Leader::new(
                redis_url.expose_secret(),
                telegram.bot_id(),
                holder,
                LEASE_TTL,
            )
            .await?;
            Ok((
                Inbound::Polling {
                    leader,
                    timeout: config.poll_timeout(),
                },
                Router::new(),
            ))
        }
        Mode::Webhook => {
            let (url, secret) = config.webhook()?;
            register_webhook(telegram, &url, &secret).await?;
            Ok((
                Inbound::Webhook,
                webhook::router(Arc::clone(intake), secret),
            ))
        }
    }
}

async fn register_webhook(
    telegram: &Telegram,
    url: &str,
    secret: &SecretString,
) -> anyhow::Result<()> {
    use teloxide::payloads::SetWebhookSetters;
    use teloxide::types::AllowedUpdate;
    let parsed = url
        .parse()
        .with_context(|| format!("TELEGRAM_GATEWAY__WEBHOOK_URL `{url}` is not a URL"))?;
    telegram
        .bot()
        .set_webhook(parsed)
        .secret_token(secret.expose_secret().to_owned())
        .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
        .await
        .context("telegram refused setWebhook")?;
    Ok(())
}
