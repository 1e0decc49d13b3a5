//! The parts every service starts with: its connections and its health server.

use std::net::SocketAddr;

use axum::Router;
use orch_bus::Bus;
use orch_contracts::StreamKey;
use orch_store::Store;
use prometheus_client::registry::Registry;

use crate::config::CommonSettings;
use crate::health::{Check, HealthState, HttpServer};
use crate::infra;

/// Which shared dependencies a service uses (each becomes a readiness check).
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// PostgreSQL.
    pub postgres: bool,
    /// Redis.
    pub redis: bool,
}

/// How to build a [`Base`].
pub struct BaseOptions {
    /// The service name.
    pub service: &'static str,
    /// The dependencies to connect to.
    pub needs: Needs,
    /// Where the health server listens.
    pub http_listen: SocketAddr,
    /// Streams whose dead-letter size `/metrics` reports.
    pub dlq_streams: Vec<StreamKey>,
    /// Extra readiness checks (Docker, a gRPC port, …).
    pub checks: Vec<Check>,
    /// The registry the service registered its own metrics in (bus metrics are added).
    pub registry: Registry,
}

/// PostgreSQL connections a service's pool holds unless it asks for another size.
pub const DEFAULT_POSTGRES_CONNECTIONS: u32 = 8;

/// The shared dependencies a service connected to.
#[derive(Clone, Default)]
pub struct Connections {
    /// The database, when needed.
    pub store: Option<Store>,
    /// The bus, when needed.
    pub bus: Option<Bus>,
}

impl Connections {
    /// Connects what `needs` lists (lazily: a dependency that is down shows in `/ready`, not as a crash).
    pub async fn open(common: &CommonSettings, needs: Needs) -> anyhow::Result<Self> {
        Self::open_sized(common, needs, DEFAULT_POSTGRES_CONNECTIONS).await
    }

    /// Like [`Connections::open`], with a PostgreSQL pool of `postgres_connections`.
    pub async fn open_sized(
        common: &CommonSettings,
        needs: Needs,
        postgres_connections: u32,
    ) -> anyhow::Result<Self> {
        let store = if needs.postgres {
            Some(infra::store(common, postgres_connections).await?)
        } else {
            None
        };
        let bus = if needs.redis {
            Some(infra::bus(common)?)
        } else {
            None
        };
        Ok(Self { store, bus })
    }
}

/// A service's connections and its bound health server.
pub struct Base {
    /// The health/readiness/metrics server (serve it in `run_until_stopped`).
    pub http: HttpServer,
    /// The database, when needed.
    pub store: Option<Store>,
    /// The bus, when needed.
    pub bus: Option<Bus>,
}

impl Base {
    /// Connects the needed dependencies and binds the health server.
    pub async fn build(common: &CommonSettings, options: BaseOptions) -> anyhow::Result<Self> {
        Self::build_sized(common, options, DEFAULT_POSTGRES_CONNECTIONS).await
    }

    /// Like [`Base::build`], with a PostgreSQL pool of `postgres_connections`.
    pub async fn build_sized(
        common: &CommonSettings,
        options: BaseOptions,
        postgres_connections: u32,
    ) -> anyhow::Result<Self> {
        let connections =
            Connections::open_sized(common, options.needs, postgres_connections).await?;
        Self::assemble(connections, options, Router::new()).await
    }

    /// Binds the health server over existing connections, with the service's own `routes` merged in.
    pub async fn assemble(
        connections: Connections,
        options: BaseOptions,
        routes: Router,
    ) -> anyhow::Result<Self> {
        let BaseOptions {
            service,
            http_listen,
            dlq_streams,
            checks,
            mut registry,
            ..
        } = options;
        let Connections { store, bus } = connections;
        if let Some(bus) = &bus {
            bus.metrics().register(&mut registry);
        }
        let mut health = HealthState::new(service, registry);
        if let Some(store) = &store {
            health = health.check(Check::postgres(store));
        }
        if let Some(bus) = &bus {
            health = health.check(Check::redis(bus)).dlq_sizes(bus, dlq_streams);
        }
        for check in checks {
            health = health.check(check);
        }
        let http = HttpServer::bind(http_listen, health.router().merge(routes)).await?;
        Ok(Self { http, store, bus })
    }

    /// Returns the health server's address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.http.local_addr()
    }
}
