//! The quartermaster: allocates resources (ports, servers, domains, repositories, secrets, LLM budget) and hands
//! out handles over authenticated gRPC; only worker-spawner and devops-runner may resolve a secret handle.
//!
//! Today it starts, connects to PostgreSQL, answers health and stops cleanly; the gRPC services and the SOPS
//! secret store arrive with the secrets issue.

use std::net::SocketAddr;

use orch_service_kit::base::{Base, BaseOptions, Needs};
use orch_service_kit::{Service, Settings};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// This service's own settings (`ZAVHOZ__*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZavhozConfig {
    /// Where the health server listens (`ZAVHOZ__HTTP_LISTEN`), default `127.0.0.1:8093`.
    pub http_listen: SocketAddr,
}

impl Default for ZavhozConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8093)),
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
    const NAME: &'static str = "zavhoz";
    const ENV_PREFIX: &'static str = "ZAVHOZ";
    type Config = ZavhozConfig;

    async fn build(settings: Settings<ZavhozConfig>) -> anyhow::Result<Self> {
        let options = BaseOptions {
            service: Self::NAME,
            needs: Needs {
                postgres: true,
                redis: false,
            },
            http_listen: settings.service.http_listen,
            dlq_streams: vec![],
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
