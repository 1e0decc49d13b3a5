//! The orchestrator's HTTP API: `/health`, `/ready` (PostgreSQL and Redis) and `/metrics` with the bus counters
//! and dead-letter sizes of every work stream. The admin dashboard and the REST API of the `orchestrator` CLI
//! join this router as they are built.

use std::net::SocketAddr;

use anyhow::Context;
use orch_bus::Bus;
use orch_contracts::{StreamKey, streams};
use orch_service_kit::base::{Base, BaseOptions, Needs};
use orch_service_kit::health::HttpServer;
use orch_service_kit::{Service, Settings};
use orch_store::Store;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// The api's own settings (`API__*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Where to listen (`API__HTTP_LISTEN`), default `127.0.0.1:8080`.
    pub http_listen: SocketAddr,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

/// The running api.
pub struct Application {
    http: HttpServer,
    store: Store,
    bus: Bus,
}

impl Application {
    /// Returns the address the API listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.http.local_addr()
    }

    /// Returns the database handle (tests, future REST handlers).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Returns the bus handle.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }
}

impl Service for Application {
    const NAME: &'static str = "api";
    const ENV_PREFIX: &'static str = "API";
    type Config = ApiConfig;

    async fn build(settings: Settings<ApiConfig>) -> anyhow::Result<Self> {
        let options = BaseOptions {
            service: Self::NAME,
            needs: Needs {
                postgres: true,
                redis: true,
            },
            http_listen: settings.service.http_listen,
            dlq_streams: streams::WORK_STREAMS
                .iter()
                .map(|s| StreamKey::from(*s))
                .collect(),
            checks: Vec::new(),
            registry: Registry::default(),
        };
        let base = Base::build(&settings.common, options).await?;
        let store = base.store.context("the api needs PostgreSQL")?;
        let bus = base.bus.context("the api needs Redis")?;
        Ok(Self {
            http: base.http,
            store,
            bus,
        })
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.http.serve(shutdown).await?;
        Ok(())
    }
}
