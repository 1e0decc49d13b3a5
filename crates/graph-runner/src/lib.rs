//! Runs each conversation's durable state graph: consumes `chat:in`, runs the chat's thread of the brainstorm
//! graph (checkpointed every step in PostgreSQL) and answers on `chat:out` through the transactional outbox.
//!
//! # Overview
//! A chat has at most one active thread — one project being talked through. Text starts a thread (or
//! answers the question it waits for); the `brainstorm` model asks questions until the idea is clear, then
//! writes a `project_spec`, shown with Approve / Change buttons. Approve stores the spec and the project;
//! Change asks what to change and brainstorms on with the draft as context. Commands: `/start`, `/new`,
//! `/status`, `/cancel`, `/help`. Details, settings and guarantees: `docs/graph-runner.md`.
//!
//! # Layout
//! - [`config`]: the `GRAPH_RUNNER__*` settings; [`seed`]: the default `brainstorm` model row.
//! - [`handler`]: the `chat:in` handler (idempotency, retries, model trouble).
//! - [`conversations`]: applying an event to a thread; [`commands`]: the commands.
//! - [`graph`], [`nodes`], [`state`]: the brainstorm graph; [`prompt`]: what the model is told.
//! - [`factory`]: after approval, the architect step — plan, repository, tasks (orch-factory);
//!   [`git_token`]: each project's git token handle for its workers, from zavhoz.
//! - [`develop`]: tasks on coding workers and their pull requests; [`watcher`]: brings worker results in;
//!   [`progress`]: workers' latest log lines in the chat.
//! - [`escalation`]: questions to the person with buttons and their reminders; [`answers`]: what the
//!   answers do; [`rework`]: what a review's result does to its task.
//! - [`budget`]: warnings at 80% and 100% of a project's budget.
//! - [`relay`]: replies through the outbox; [`texts`]: what the person reads; [`callback`]: button data.
//! - [`db`]: chats, threads, runs, project names.

pub mod answers;
pub mod budget;
pub mod callback;
pub mod commands;
pub mod config;
pub mod conversations;
pub mod db;
pub mod develop;
pub mod error;
pub mod escalation;
pub mod factory;
pub mod git_token;
pub mod graph;
pub mod handler;
pub mod nodes;
pub mod progress;
pub mod prompt;
pub mod relay;
pub mod rework;
pub mod seed;
pub mod state;
pub mod texts;
pub mod watcher;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use orch_bus::{Bus, Consumer, Delivery};
use orch_contracts::messages::chat::ChatIn;
use orch_contracts::{StreamKey, streams};
use orch_graph::{LeaseConfig, PgCheckpointer, Runner};
use orch_llm::{ClientOptions, EnvKeyResolver, Llm, RetryPolicy};
use orch_service_kit::base::{Base, BaseOptions, Connections, Needs};
use orch_service_kit::{Service, Settings, infra};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use config::{GithubSettings, GraphRunnerConfig, ModelSeed};
use conversations::Conversations;
use handler::{ChatHandler, EventCounter};
use nodes::Deps;
use relay::{Relay, Wake};

/// The running service.
pub struct Application {
    base: Base,
    bus: Bus,
    handler: Arc<ChatHandler>,
    relay: Relay,
    config: GraphRunnerConfig,
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
        let Settings {
            common,
            service: config,
        } = settings;
        if let Some(seed) = &config.brainstorm {
            seed::check(seed, seed::BRAINSTORM)
                .context("GRAPH_RUNNER__BRAINSTORM__* is not a usable model configuration")?;
        }
        if let Some(seed) = &config.architect {
            seed::check(seed, seed::ARCHITECT)
                .context("GRAPH_RUNNER__ARCHITECT__* is not a usable model configuration")?;
        }
        let git_tokens = git_token::GitTokens::from_settings(config.zavhoz.as_ref())?;
        let factory = factory::Factory::new(config.github.as_ref(), &config.workers, git_tokens);
        let store = infra::store(&common, config.db_pool_size).await?;
        let bus = infra::bus(&common)?;
        let wake = Wake::default();
        let llm = Llm::new(
            store.clone(),
            Arc::new(EnvKeyResolver::new()),
            llm_options(&config),
        )
        .context("failed to set up the LLM client")?;
        let deps = Arc::new(Deps {
            store: store.clone(),
            llm,
            wake: wake.clone(),
            max_questions: config.max_questions,
            factory,
        });
        let graph = graph::brainstorm(deps).context("the brainstorm graph does not compile")?;
        let checkpoints = Arc::new(PgCheckpointer::new(store.pool().clone()));
        let leases = LeaseConfig::unique(Self::NAME).with_ttl(config.lease_ttl());
        let runner = Runner::new(graph)
            .with_checkpointer(checkpoints.clone())
            .with_leases(checkpoints, leases);
        let conversations = Arc::new(Conversations {
            store: store.clone(),
            runner,
            wake: wake.clone(),
            lease_wait: config.lease_ttl() + std::time::Duration::from_secs(5),
        });
        let mut registry = Registry::default();
        let events = EventCounter::default();
        registry.register(
            "graph_runner_events",
            "chat:in events handled, by kind and outcome",
            events.clone(),
        );
        let handler = Arc::new(ChatHandler {
            conversations,
            max_deliveries: u64::from(common.bus_max_deliveries),
            events,
        });
        let relay = Relay::new(
            store.clone(),
            bus.clone(),
            wake,
            config.outbox_batch,
            config.outbox_idle(),
        );
        let base = base(&config, store, bus.clone(), registry).await?;
        Ok(Self {
            base,
            bus,
            handler,
            relay,
            config,
        })
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            base,
            bus,
            handler,
            relay,
            config,
        } = self;
        let store = &handler.conversations.store;
        seed::ensure(
            store,
            config.brainstorm.as_ref(),
            seed::BRAINSTORM,
            &shutdown,
        )
        .await;
        seed::ensure(store, config.architect.as_ref(), seed::ARCHITECT, &shutdown).await;
        let relay_stop = CancellationToken::new();
        let relaying = tokio::spawn(relay.run(relay_stop.clone()));
        let watching = tokio::spawn(watcher::run(
            handler.conversations.clone(),
            bus.clone(),
            watcher::Timing {
                poll: std::time::Duration::from_millis(config.workers.poll_ms.max(10)),
                remind: config.escalation_remind(),
                progress: std::time::Duration::from_secs(config.workers.progress_secs),
            },
            shutdown.clone(),
        ));
        let consuming = tokio::spawn(consumer(&bus, &config, handler).run(shutdown.clone()));
        base.http.serve(shutdown).await?;
        let consumed = consuming.await;
        watching.await.context("the worker watcher panicked")?;
        relay_stop.cancel();
        relaying.await.context("the outbox relay panicked")?;
        consumed.context("the chat:in consumer panicked")??;
        info!("graph-runner drained");
        Ok(())
    }
}

fn llm_options(config: &GraphRunnerConfig) -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_attempts: config.llm_max_attempts.max(1),
            ..RetryPolicy::default()
        },
        request_timeout: config.llm_request_timeout(),
        ..ClientOptions::default()
    }
}

async fn base(
    config: &GraphRunnerConfig,
    store: orch_store::Store,
    bus: Bus,
    registry: Registry,
) -> anyhow::Result<Base> {
    let options = BaseOptions {
        service: Application::NAME,
        needs: Needs {
            postgres: true,
            redis: true,
        },
        http_listen: config.http_listen,
        dlq_streams: vec![StreamKey::from(streams::CHAT_IN)],
        checks: Vec::new(),
        registry,
    };
    let connections = Connections {
        store: Some(store),
        bus: Some(bus),
    };
    Base::assemble(connections, options, Router::new()).await
}

/// The `chat:in` consumer: one chat's events in order, `max_in_flight` chats at once.
fn consumer(
    bus: &Bus,
    config: &GraphRunnerConfig,
    handler: Arc<ChatHandler>,
) -> Consumer<ChatIn, impl orch_bus::Handler<ChatIn>> {
    let mut tuning = bus.config().clone();
    tuning.max_in_flight = config.max_in_flight.max(1);
    Consumer::new(
        bus,
        &StreamKey::from(streams::CHAT_IN),
        conversations::CONSUMER,
        &infra::consumer_name(Application::NAME),
        move |delivery: Delivery<ChatIn>| {
            let handler = handler.clone();
            async move { handler.handle(delivery).await }
        },
    )
    .with_config(tuning)
    .with_ordering_key(|m: &ChatIn| m.chat_id as u64)
}
