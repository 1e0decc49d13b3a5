//! Runs one hardened coding-worker container per `worker:spawn` message and publishes a verified result on
//! `worker:result:<id>`.
//!
//! # Overview
//! A spawn is recorded in the `workers` table, admitted under its project's worker limit, and run in a container
//! named after its idempotency key: the configured runtime (`sysbox-runc` in production), memory/CPU/pids
//! limits, no capabilities, a read-only root, no Docker socket, a private network whose only way out is the
//! allowlisting egress proxy. Secrets are resolved from their handles and handed to the container on stdin.
//! The worker's log lines stream to `worker:progress:<id>`; its runner writes `/out/result.json`, which the
//! spawner copies out, and a claimed push counts only once the commit is seen on the remote branch. Timeouts,
//! OOM kills and pid exhaustion are classified; everything the worker used is removed afterwards, and a reaper
//! removes what a crashed spawner left behind.
//!
//! Delivery: at-least-once from the bus; the idempotency key makes redelivery resume, not duplicate, a worker
//! (see [`handler`]).
//!
//! # Layout
//! - [`config`]: the `WORKER_SPAWNER__*` settings.
//! - [`handler`]: the `worker:spawn` handler (admission, requeue, conclusion).
//! - [`run`]: one worker's launch, supervision and judgement; [`classify`] the pure judgement.
//! - [`sandbox`]: the hardened container profile; [`egress`]: networks and the proxy.
//! - [`container`], [`docker`]: Docker operations; [`monitor`]: progress and pid sampling.
//! - [`verify`]: reading the branch head from the git host; [`secrets`]: handle resolution and redaction.
//! - [`workers`]: the `workers` table; [`reaper`]: orphan removal; [`names`]: names and labels.

pub mod classify;
pub mod config;
pub mod container;
pub mod docker;
pub mod egress;
pub mod handler;
pub mod metrics;
pub mod monitor;
pub mod names;
pub mod reaper;
pub mod run;
pub mod sandbox;
pub mod secrets;
pub mod spawner;
pub mod verify;
pub mod workers;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use bollard::Docker;
use orch_bus::{Bus, BusConfig, Consumer};
use orch_contracts::StreamKey;
use orch_service_kit::base::{Base, BaseOptions, Needs};
use orch_service_kit::health::Check;
use orch_service_kit::{CommonSettings, Service, Settings, infra};
use prometheus_client::registry::Registry;
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use config::WorkerSpawnerConfig;
pub use spawner::Spawner;

/// The running service.
pub struct Application {
    base: Base,
    spawner: Spawner,
    consumer_name: String,
}

impl Application {
    /// Returns the address of the health server.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.base.local_addr()
    }

    /// Returns the spawner (tests drive the reaper through it).
    pub fn spawner(&self) -> &Spawner {
        &self.spawner
    }
}

impl Service for Application {
    const NAME: &'static str = "worker-spawner";
    const ENV_PREFIX: &'static str = "WORKER_SPAWNER";
    type Config = WorkerSpawnerConfig;

    async fn build(settings: Settings<WorkerSpawnerConfig>) -> anyhow::Result<Self> {
        let config = Arc::new(settings.service);
        let secrets = secrets::from_config(&config)
            .await
            .context("failed to set up secret resolution")?;
        let docker = docker::connect().await?;
        docker::check_engine(&docker, &config).await?;
        let egress = egress::Egress::new(docker.clone(), Arc::clone(&config))
            .map_err(|e| anyhow::anyhow!("invalid egress settings: {e}"))?;
        egress
            .ensure_fleet()
            .await
            .context("failed to start the egress proxy")?;
        let metrics = metrics::Metrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let options = base_options(&config, &docker, registry);
        let pool_size = pool_size(config.max_workers);
        let connections = u32::try_from(pool_size).unwrap_or(u32::MAX);
        let base = Base::build_sized(&settings.common, options, connections).await?;
        let bus = work_bus(&base, &settings.common, &config)?;
        let pool = base
            .store
            .as_ref()
            .context("the spawner needs PostgreSQL")?
            .pool()
            .clone();
        let spawner = Spawner {
            containers: container::Containers::new(docker.clone()),
            verifier: verify::Verifier::new(config.github_api_url.clone()),
            secrets,
            active: Arc::new(Mutex::new(HashSet::new())),
            launches: Arc::new(tokio::sync::Semaphore::new(pool_size - POOL_HEADROOM)),
            config,
            docker,
            egress,
            pool,
            bus,
            metrics,
        };
        Ok(Self {
            base,
            spawner,
            consumer_name: infra::consumer_name(Self::NAME),
        })
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            base,
            spawner,
            consumer_name,
        } = self;
        let reaper = tokio::spawn(spawner.clone().reaper_loop(shutdown.clone()));
        let handler_spawner = spawner.clone();
        let handler = move |delivery| {
            let spawner = handler_spawner.clone();
            async move { spawner.handle(delivery).await }
        };
        let config = &spawner.config;
        let consumer = Consumer::new(
            &spawner.bus,
            &Spawner::spawn_stream(),
            &config.consumer_group,
            &consumer_name,
            handler,
        )
        .with_config(consumer_config(spawner.bus.config(), config));
        info!(max_workers = config.max_workers, runtime = %config.docker.runtime,
            image = %config.docker.image, egress = ?config.egress.policy, "worker spawner running");
        let (served, consumed) =
            tokio::join!(base.http.serve(shutdown.clone()), consumer.run(shutdown));
        let _ = reaper.await;
        if let Err(e) = spawner.shutdown_fleet_if_idle().await {
            warn!(error = %e, "could not remove the egress proxy");
        }
        served?;
        consumed?;
        Ok(())
    }
}

/// Connections kept free of launches, for the reaper, admissions and results.
const POOL_HEADROOM: usize = 4;
/// The most PostgreSQL connections one spawner opens (PostgreSQL's default limit is 100 for everyone).
const MAX_POOL: usize = 32;

/// PostgreSQL connections for `max_workers` handlers: each holds at most one at a time (a launch keeps its
/// idempotency lock's connection for the whole launch), plus headroom; at most [`MAX_POOL`].
fn pool_size(max_workers: usize) -> usize {
    max_workers.saturating_add(POOL_HEADROOM).min(MAX_POOL)
}

fn base_options(config: &WorkerSpawnerConfig, docker: &Docker, registry: Registry) -> BaseOptions {
    let docker = docker.clone();
    let docker_check = Check::new("docker", move || {
        let docker = docker.clone();
        Box::pin(async move { docker.ping().await.map(|_| ()).map_err(|e| e.to_string()) })
    });
    BaseOptions {
        service: Application::NAME,
        needs: Needs {
            postgres: true,
            redis: true,
        },
        http_listen: config.http_listen,
        dlq_streams: vec![StreamKey::from(orch_contracts::streams::WORKER_SPAWN)],
        checks: vec![docker_check],
        registry,
    }
}

/// The bus for work: the service's own, or one with the configured stream prefix.
fn work_bus(
    base: &Base,
    common: &CommonSettings,
    config: &WorkerSpawnerConfig,
) -> anyhow::Result<Bus> {
    if config.stream_prefix.is_empty() {
        return base.bus.clone().context("the spawner needs Redis");
    }
    let url = common.require_redis_url()?;
    let bus_config = BusConfig {
        prefix: config.stream_prefix.clone(),
        ..common.bus_config()
    };
    Ok(Bus::connect(url.expose_secret(), bus_config)?)
}

/// At most `max_workers` handlers at once, and never more entries read than free slots.
fn consumer_config(bus: &BusConfig, config: &WorkerSpawnerConfig) -> BusConfig {
    BusConfig {
        max_in_flight: config.max_workers.max(1),
        batch: config.max_workers.max(1),
        ..bus.clone()
    }
}
