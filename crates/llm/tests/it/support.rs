//! Shared setup: a user, a project, a model config pointing at a simulator, and usage rows.

use std::sync::Arc;
use std::time::Duration;

use orch_contracts::ProjectId;
use orch_llm::{ClientOptions, Llm, RetryPolicy, StaticKeyResolver};
use orch_store::model_configs::{self, ModelConfig};
use orch_store::projects::{self, NewProject};
use orch_store::{Store, users};
use orch_testkit::llm::{LlmConfig, LlmSim};
use secrecy::SecretString;
use sqlx::PgPool;
use uuid::Uuid;

/// The reference every test row uses for its key.
pub const KEY_REF: &str = "env:SIM_API_KEY";

/// A running simulator, a store with a user and a project.
pub struct Env {
    pub pool: PgPool,
    pub store: Store,
    pub sim: LlmSim,
    pub user_id: i64,
    pub project_id: ProjectId,
}

impl Env {
    /// Starts the simulator and seeds a user and a project with `budget` millionths of a dollar.
    pub async fn start(pool: PgPool, sim: LlmConfig, budget: i64) -> Self {
        let sim = LlmSim::start(sim).await.expect("simulator starts");
        let store = Store::from_pool(pool.clone());
        let mut conn = pool.acquire().await.expect("connection");
        let user = users::upsert_telegram(&mut conn, 42, "Alice", true)
            .await
            .expect("user");
        let project_id = ProjectId::new();
        let new = NewProject {
            id: project_id,
            owner_user_id: user.id,
            name: "weather-bot",
            budget_usd_micros: budget,
        };
        projects::create(&mut conn, &new).await.expect("project");
        Self {
            pool,
            store,
            sim,
            user_id: user.id,
            project_id,
        }
    }

    /// Starts with the default simulator and a budget of $20.
    pub async fn default(pool: PgPool) -> Self {
        Self::start(pool, LlmConfig::default(), 20_000_000).await
    }

    /// A row for `role` on `provider`/`model` pointing at this simulator.
    pub fn row(&self, role: &str, provider: &str, model: &str) -> ModelConfig {
        ModelConfig {
            role: role.to_owned(),
            provider: provider.to_owned(),
            model: model.to_owned(),
            endpoint: Some(self.sim.base_url()),
            api_key_ref: Some(KEY_REF.to_owned()),
            temperature: 0.3,
            max_tokens: 256,
            system_prompt: format!("You are the {role}."),
            input_price_per_mtok_micros: 2_500_000,
            output_price_per_mtok_micros: 10_000_000,
        }
    }

    /// Saves a row.
    pub async fn save(&self, row: &ModelConfig) {
        let mut conn = self.pool.acquire().await.expect("connection");
        model_configs::upsert(&mut conn, row)
            .await
            .expect("model config saved");
    }

    /// A factory whose key resolver knows the simulator's key under [`KEY_REF`].
    pub fn llm(&self, retry: RetryPolicy) -> Llm {
        llm_with_key(&self.store, self.sim.api_key(), retry)
    }

    /// Saves the row and builds its client with fast retries.
    pub async fn client(&self, row: &ModelConfig) -> orch_llm::LlmClient {
        self.save(row).await;
        self.llm(fast_retries(3))
            .client(&row.role)
            .await
            .expect("client builds")
    }
}

/// A factory resolving [`KEY_REF`] to `key`.
pub fn llm_with_key(store: &Store, key: &str, retry: RetryPolicy) -> Llm {
    let keys = StaticKeyResolver::new()
        .with_key(KEY_REF, SecretString::from(key.to_owned()))
        .expect("valid ref");
    let options = ClientOptions {
        retry,
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
    };
    Llm::new(store.clone(), Arc::new(keys), options).expect("llm factory")
}

/// Retries with millisecond backoffs, so a test that waits seconds proves `Retry-After` was used.
pub fn fast_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        max_elapsed: Duration::from_secs(20),
        max_retry_after: Duration::from_secs(5),
    }
}

/// One `llm_usage` row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UsageRow {
    pub source: String,
    pub user_id: Option<i64>,
    pub project_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
    pub role: String,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd_micros: i64,
    pub idempotency_key: String,
}

/// Every usage row, oldest first.
pub async fn usage_rows(pool: &PgPool) -> Vec<UsageRow> {
    sqlx::query_as::<_, UsageRow>(
        "SELECT source, user_id, project_id, run_id, role, provider, model, prompt_tokens,
                completion_tokens, cost_usd_micros, idempotency_key
         FROM llm_usage ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("usage rows")
}

/// The simulator's prompt-token count of these message texts (⌈chars/4⌉ + 4 each, + 3).
pub fn sim_prompt_tokens(texts: &[&str]) -> i64 {
    let sum: u32 = texts
        .iter()
        .map(|t| orch_testkit::llm::estimate_tokens(t) + 4)
        .sum();
    i64::from(sum + 3)
}

/// The simulator's completion-token count of an answer.
pub fn sim_completion_tokens(text: &str) -> i64 {
    i64::from(orch_testkit::llm::estimate_tokens(text))
}
