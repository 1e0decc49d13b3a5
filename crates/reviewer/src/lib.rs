//! Reviews pull requests (`review:request`): reads the diff, asks an LLM for a structured review against the
//! spec and task, posts it, merges approved pull requests and publishes the outcome on `review:result:<id>`.
//!
//! # Overview
//! ```text
//! review:request ──► handler ── reviews row (idempotency key) ── GitHub: PR, diff ── LLM (role `reviewer`)
//!                       │                                            │
//!                       └── GitHub: review (APPROVE / REQUEST_CHANGES / COMMENT), merge ──► review:result:<id>
//! ```
//! - **Head moved**: when the pull request's head is no longer the requested `head_sha`, the reviewer reviews
//!   the *current* head (its diff is what GitHub serves anyway), says so in the summary, posts the review on
//!   that commit and merges only that commit (the merge carries it as the expected sha; GitHub refuses if
//!   the branch moves again, and the result then says a new review is needed).
//! - **Garbage from the model**: one repair request with the parse error, then an `escalate` verdict.
//! - **Iteration cap**: a request above `REVIEWER__MAX_ITERATIONS` is escalated without asking the model.
//! - **Merging**: approved + `merge_when_approved` → merged with the request's method and the reviewed head
//!   as expected sha; a conflict gives `conflict: true`; `merged` is read back from GitHub, never assumed.
//!
//! Delivery: at-least-once; see [`handler`] for the idempotency key and how a redelivery resumes.
//!
//! # Layout
//! - [`config`]: the `REVIEWER__*` settings; [`seed`]: the default `reviewer` model row.
//! - [`handler`]: the `review:request` handler; [`store`]: the `reviews` rows and the per-key lock.
//! - [`judge`]: the model call and its answer; [`diff`]: diff truncation and commentable lines.
//! - [`post`]: posting the review and merging.

pub mod config;
pub mod diff;
pub mod handler;
pub mod judge;
pub mod post;
pub mod seed;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use orch_bus::{BusConfig, Consumer};
use orch_contracts::{StreamKey, streams};
use orch_llm::{ClientOptions, EnvKeyResolver, Llm, RetryPolicy};
use orch_service_kit::base::{Base, BaseOptions, Needs};
use orch_service_kit::{Service, Settings, infra};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use config::ReviewerConfig;
pub use handler::{GithubHandle, Reviewer};

/// The running service.
pub struct Application {
    base: Base,
    reviewer: Reviewer,
    consumer_name: String,
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
        let config = Arc::new(settings.service);
        if let Some(seed) = &config.model {
            seed::check(&config.model_role, seed).context("invalid REVIEWER__MODEL__ settings")?;
        }
        let github = GithubHandle::new(config.github()?);
        let base = Base::build(&settings.common, base_options(&config)).await?;
        let store = base
            .store
            .clone()
            .context("the reviewer needs PostgreSQL")?;
        let bus = base.bus.clone().context("the reviewer needs Redis")?;
        let llm = Llm::new(
            store.clone(),
            Arc::new(EnvKeyResolver::new()),
            llm_options(&config),
        )
        .context("failed to set up the LLM client")?;
        let reviewer = Reviewer {
            github,
            llm,
            pool: store.pool().clone(),
            bus,
            config,
        };
        Ok(Self {
            base,
            reviewer,
            consumer_name: infra::consumer_name(Self::NAME),
        })
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            base,
            reviewer,
            consumer_name,
        } = self;
        let config = Arc::clone(&reviewer.config);
        if let Some(seed) = &config.model {
            let row = seed::row(&config.model_role, seed);
            seed::insert_until_done(&reviewer.pool, &row, &shutdown).await;
        }
        match reviewer.github.get().await {
            Ok(gh) => {
                info!(login = %gh.identity().login, api = %config.github_api_url, "github connected")
            }
            Err(e) => warn!(error = %e, "github is not reachable yet; reviews wait and retry"),
        }
        let bus = reviewer.bus.clone();
        let handler = move |delivery| {
            let reviewer = reviewer.clone();
            async move { reviewer.handle(delivery).await }
        };
        let consumer = Consumer::new(
            &bus,
            &StreamKey::from(streams::REVIEW_REQUEST),
            &config.consumer_group,
            &consumer_name,
            handler,
        )
        .with_config(consumer_config(bus.config(), &config));
        info!(max_iterations = config.max_iterations, role = %config.model_role, "reviewer running");
        let (served, consumed) =
            tokio::join!(base.http.serve(shutdown.clone()), consumer.run(shutdown));
        served?;
        consumed?;
        Ok(())
    }
}

fn base_options(config: &ReviewerConfig) -> BaseOptions {
    BaseOptions {
        service: Application::NAME,
        needs: Needs {
            postgres: true,
            redis: true,
        },
        http_listen: config.http_listen,
        dlq_streams: vec![StreamKey::from(streams::REVIEW_REQUEST)],
        checks: Vec::new(),
        registry: Registry::default(),
    }
}

fn llm_options(config: &ReviewerConfig) -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_attempts: config.llm_max_attempts.max(1),
            ..RetryPolicy::default()
        },
        request_timeout: config.llm_request_timeout(),
        ..ClientOptions::default()
    }
}

/// At most `max_in_flight` reviews at once, and never more entries read than that.
fn consumer_config(bus: &BusConfig, config: &ReviewerConfig) -> BusConfig {
    BusConfig {
        max_in_flight: config.max_in_flight.max(1),
        batch: config.max_in_flight.max(1),
        ..bus.clone()
    }
}
