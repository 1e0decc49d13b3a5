//! Reviews pull requests (`review:request`): reads the diff, asks an LLM for a structured review against the
//! spec and task, posts it, and merges approved pull requests.
//!
//! Today it starts, connects to Redis and PostgreSQL, answers health and stops cleanly; reviewing arrives with
//! the factory issue.

use std::net::SocketAddr;

use orch_contracts::{StreamKey, streams};
use orch_service_kit::base::{Base, BaseOptions, Needs};
use orch_service_kit::{Service, Settings};
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// This service's own settings (`REVIEWER__*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewerConfig {
    /// Where the health server listens (`REVIEWER__HTTP_LISTEN`), default `127.0.0.1:8095`.
    pub http_listen: SocketAddr,
}

impl Default for ReviewerConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8095)),
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
    const NAME: &'static str = "reviewer";
    const ENV_PREFIX: &'static str = "REVIEWER";
    type Config = ReviewerConfig;

    async fn build(settings: Settings<ReviewerConfig>) -> anyhow::Result<Self> {
        let options = BaseOptions {
            service: Self::NAME,
            needs: Needs {
                postgres: true,
                redis: true,
            },
            http_listen: settings.service.http_listen,
            dlq_streams: vec![StreamKey::from(streams::REVIEW_REQUEST)],
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
