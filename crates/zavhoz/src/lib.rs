//! The quartermaster: allocates resources (ports, servers, domains, repositories, secret handles, LLM budget)
//! and hands out **handles**, never secret values, over authenticated gRPC. Only worker-spawner and
//! devops-runner may resolve a handle; every resolution is audited in the same transaction that redeems it.
//!
//! # Overview
//! - gRPC on `ZAVHOZ__GRPC_LISTEN` (`proto/zavhoz.proto`): `zavhoz.v1.ResourceService` and
//!   `zavhoz.v1.SecretService` behind per-service bearer tokens ([`auth`]), plus standard health and
//!   reflection. Health, readiness and metrics over HTTP on `ZAVHOZ__HTTP_LISTEN`.
//! - Secrets come from the SOPS+age `secrets.yaml` ([`secrets`], read natively at start, on SIGHUP and on
//!   the reload RPC) and from people in chat (age-sealed into `user_secrets`).
//! - Leases end; a reaper releases expired resources and revokes their handles every
//!   `ZAVHOZ__REAPER_INTERVAL_MS`.
//!
//! # Layout
//! [`config`] (settings, identities), [`auth`], [`error`] (one [`error::ErrorCode`]), [`clock`],
//! [`model`] (validated requests), `db` (SQL), [`core`] + `allocate`, `lifecycle`, `resolve` (operations),
//! `grpc` (tonic services), [`secrets`], [`metrics`].

mod allocate;
pub mod auth;
pub mod clock;
pub mod config;
pub mod core;
mod db;
pub mod error;
mod grpc;
mod lifecycle;
pub mod metrics;
pub mod model;
mod resolve;
pub mod secrets;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use orch_service_kit::base::{Base, BaseOptions, Needs};
use orch_service_kit::{Service, Settings};
use prometheus_client::registry::Registry;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use allocate::mint_handle;
use auth::Authenticator;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{CallerIdentity, TokenDigest, ZavhozConfig};
pub use core::{Policy, Zavhoz};
use grpc::GrpcServer;
use metrics::Metrics;
use secrets::SecretStore;

/// The running service.
pub struct Application {
    base: Base,
    grpc: GrpcServer,
    zavhoz: Arc<Zavhoz>,
    reaper_interval: Duration,
}

impl Application {
    /// Builds the service on an injected clock (tests move a [`ManualClock`]); `build` uses the wall clock.
    pub async fn build_with_clock(
        settings: Settings<ZavhozConfig>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let config = &settings.service;
        config.validate().map_err(anyhow::Error::msg)?;
        let secrets = Arc::new(
            SecretStore::open(&config.secrets_file, &config.key_sources())
                .context("failed to load the secrets file")?,
        );
        let metrics = Metrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let base = Base::build(&settings.common, base_options(config, registry)).await?;
        let store = base.store.clone().context("zavhoz needs PostgreSQL")?;
        let policy = Policy::from_config(config);
        let zavhoz = Arc::new(Zavhoz::new(store, clock, secrets, policy, metrics));
        let authenticator = Authenticator::new(&config.callers);
        let grpc = GrpcServer::bind(config.grpc_listen, zavhoz.clone(), authenticator).await?;
        info!(grpc = %grpc.local_addr()?, callers = config.callers.len(), "zavhoz ready to serve");
        Ok(Self {
            base,
            grpc,
            zavhoz,
            reaper_interval: Duration::from_millis(config.reaper_interval_ms),
        })
    }

    /// Returns the address of the health server.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.base.local_addr()
    }

    /// Returns the address of the gRPC server.
    pub fn grpc_addr(&self) -> std::io::Result<SocketAddr> {
        self.grpc.local_addr()
    }

    /// Returns the operations (tests and benchmarks drive the reaper through it).
    pub fn zavhoz(&self) -> Arc<Zavhoz> {
        self.zavhoz.clone()
    }
}

fn base_options(config: &ZavhozConfig, registry: Registry) -> BaseOptions {
    BaseOptions {
        service: Application::NAME,
        needs: Needs {
            postgres: true,
            redis: false,
        },
        http_listen: config.http_listen,
        dlq_streams: vec![],
        checks: Vec::new(),
        registry,
    }
}

impl Service for Application {
    const NAME: &'static str = "zavhoz";
    const ENV_PREFIX: &'static str = "ZAVHOZ";
    type Config = ZavhozConfig;

    async fn build(settings: Settings<ZavhozConfig>) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            base,
            grpc,
            zavhoz,
            reaper_interval,
        } = self;
        let reaper = tokio::spawn(reap_until(
            zavhoz.clone(),
            reaper_interval,
            shutdown.clone(),
        ));
        let hangup = tokio::spawn(reload_on_sighup(zavhoz, shutdown.clone()));
        let http = base.http.serve(shutdown.clone());
        let (grpc, http) = tokio::join!(grpc.serve(shutdown.clone()), http);
        shutdown.cancel();
        let _ = tokio::join!(reaper, hangup);
        grpc?;
        http.context("the health server failed")?;
        Ok(())
    }
}

/// Releases expired leases every `interval` until shutdown (best-effort: a failed pass is logged).
async fn reap_until(zavhoz: Arc<Zavhoz>, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let Err(e) = zavhoz.reap().await {
            warn!(error.cause_chain = ?e, "reaper pass failed; retrying next tick");
        }
    }
}

/// Reloads secrets.yaml on every SIGHUP until shutdown; a failed reload keeps the previous secrets.
async fn reload_on_sighup(zavhoz: Arc<Zavhoz>, shutdown: CancellationToken) {
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(e) => {
            error!(error = %e, "cannot listen for SIGHUP; reload with the ReloadSecrets RPC");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = hangups.recv() => {}
        }
        match zavhoz.secrets().reload() {
            Ok(summary) => info!(values = summary.values, "SIGHUP: secrets reloaded"),
            Err(e) => {
                error!(error.cause_chain = ?e, "SIGHUP: reload failed; keeping the previous secrets")
            }
        }
    }
}
