//! Bridge between Telegram and the bus: Telegram updates from allowed people become `chat:in` messages, and
//! `chat:out` messages become Telegram messages, buttons and progress edits.
//!
//! Today it starts, connects to Redis and PostgreSQL, answers health and stops cleanly; the Telegram polling
//! and delivery loops arrive with the conversation issue.

use std::net::SocketAddr;

use orch_contracts::{StreamKey, streams};
use orch_service_kit::base::{Base, BaseOptions, Needs};
use orch_service_kit::{Service, Settings};
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// This service's own settings (`TELEGRAM_GATEWAY__*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelegramGatewayConfig {
    /// Where the health server listens (`TELEGRAM_GATEWAY__HTTP_LISTEN`), default `127.0.0.1:8091`.
    pub http_listen: SocketAddr,
}

impl Default for TelegramGatewayConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8091)),
        }
    }
}

/// The running service.
pub struct Application {
    base: Base,
}

impl Application {
    /// Returns the address of the health server.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.base.local_addr()
    }
}

impl Service for Application {
    const NAME: &'static str = "telegram-gateway";
    const ENV_PREFIX: &'static str = "TELEGRAM_GATEWAY";
    type Config = TelegramGatewayConfig;

    async fn build(settings: Settings<TelegramGatewayConfig>) -> anyhow::Result<Self> {
        let options = BaseOptions {
            service: Self::NAME,
            needs: Needs {
                postgres: true,
                redis: true,
            },
            http_listen: settings.service.http_listen,
            dlq_streams: vec![StreamKey::from(streams::CHAT_OUT)],
            checks: Vec::new(),
            registry: Registry::default(),
        };
        Ok(Self {
            base: Base::build(&settings.common, options).await?,
        })
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.base.http.serve(shutdown).await?;
        Ok(())
    }
}
