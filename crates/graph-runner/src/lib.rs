//! Runs each conversation's durable state graph: consumes `chat:in`, checkpoints every step in PostgreSQL,
//! fans out work (`worker:spawn`, `review:request`, `deploy:request`), waits for results and publishes `chat:out`.
//!
//! Today it starts, connects to Redis and PostgreSQL, answers health and stops cleanly; the graph engine and
//! the brainstorm graph arrive with the conversation issue.

use std::net::SocketAddr;

use orch_contracts::{StreamKey, streams};
use orch_service_kit::base::{Base, BaseOptions, Needs};
use orch_service_kit::{Service, Settings};
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// This service's own settings (`GRAPH_RUNNER__*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphRunnerConfig {
    /// Where the health server listens (`GRAPH_RUNNER__HTTP_LISTEN`), default `127.0.0.1:8092`.
    pub http_listen: SocketAddr,
}

impl Default for GraphRunnerConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8092)),
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
    const NAME: &'static str = "graph-runner";
    const ENV_PREFIX: &'static str = "GRAPH_RUNNER";
    type Config = GraphRunnerConfig;

    async fn build(settings: Settings<GraphRunnerConfig>) -> anyhow::Result<Self> {
        let options = BaseOptions {
            service: Self::NAME,
            needs: Needs {
                postgres: true,
                redis: true,
            },
            http_listen: settings.service.http_listen,
            dlq_streams: vec![StreamKey::from(streams::CHAT_IN)],
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
