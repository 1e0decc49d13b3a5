//! The architect against the LLM simulator: a valid plan, a repaired one, garbage twice; usage recorded.

use std::sync::Arc;

use orch_factory::{ARCHITECT_ROLE, ArchitectError, plan_build};
use orch_llm::{CallContext, ClientOptions, Llm, LlmClient, LlmError, StaticKeyResolver};
use orch_store::Store;
use orch_store::model_configs::{self, ModelConfig};
use orch_testkit::db::TestDatabase;
use orch_testkit::llm::{Answer, LlmConfig, LlmSim, Rule};
use serde_json::json;

use crate::support::{plan_json, spec, two_parallel_tasks};

struct Architect {
    db: TestDatabase,
    sim: LlmSim,
    client: LlmClient,
}

impl Architect {
    async fn start(rules: Vec<Rule>) -> Self {
        let mut config = LlmConfig {
            api_keys: Vec::new(),
            ..LlmConfig::default()
        };
        config.rules = rules;
        let sim = LlmSim::start(config).await.expect("llm simulator");
        let db = TestDatabase::create().await.expect("test database");
        let store = Store::from_pool(db.pool.clone());
        let row = ModelConfig {
            role: ARCHITECT_ROLE.to_owned(),
            provider: "openai_compatible".to_owned(),
            model: "sim-model".to_owned(),
            endpoint: Some(sim.base_url()),
            api_key_ref: None,
            temperature: 0.2,
            max_tokens: 4096,
            system_prompt: orch_factory::architect::ROLE_PROMPT.to_owned(),
            input_price_per_mtok_micros: 1_000_000,
            output_price_per_mtok_micros: 4_000_000,
        };
        let mut conn = db.pool.acquire().await.expect("connection");
        model_configs::upsert(&mut conn, &row).await.expect("row");
        let mut options = ClientOptions::default();
        options.retry.max_attempts = 1;
        let llm = Llm::new(store, Arc::new(StaticKeyResolver::new()), options).expect("llm");
        let client = llm.client(ARCHITECT_ROLE).await.expect("client");
        Self { db, sim, client }
    }

    async fn usage_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM llm_usage WHERE role = 'architect'")
            .fetch_one(&self.db.pool)
            .await
            .expect("count")
    }
}

fn answer(value: serde_json::Value) -> Answer {
    Answer::text(value.to_string())
}

#[tokio::test]
async fn a_valid_plan_comes_back_typed_with_its_waves_and_usage_recorded() {
    let architect = Architect::start(vec![Rule::new(answer(plan_json(
        "weather-bot",
        two_parallel_tasks(),
    )))])
    .await;
    let plan = plan_build(
        &architect.client,
        &CallContext::new("plan-1"),
        &spec(),
        "weather-bot",
    )
    .await
    .expect("plan");
    let waves = plan.waves().expect("acyclic");
    assert_eq!(waves.len(), 2);
    assert_eq!(waves[0].len(), 2, "forecast and bot run in parallel");
    let sent = &architect.sim.requests()[0].body;
    let text = sent.to_string();
    assert!(text.contains("exactly `weather-bot`"), "{text}");
    assert!(
        text.contains("Morning forecasts for London"),
        "the spec is sent"
    );
    assert_eq!(architect.usage_rows().await, 1);
    architect.db.drop_database().await;
}

#[tokio::test]
async fn a_cyclic_plan_and_a_wrong_name_are_sent_back_once_and_repaired() {
    let cyclic = json!([
        {"key": "a", "title": "A", "body": "a", "depends_on": ["b"]},
        {"key": "b", "title": "B", "body": "b", "depends_on": ["a"]}
    ]);
    let architect = Architect::start(vec![
        Rule::new(answer(plan_json("weather-bot", cyclic))).times(1),
        Rule::new(answer(plan_json("weather-bot", two_parallel_tasks()))),
    ])
    .await;
    let plan = plan_build(
        &architect.client,
        &CallContext::new("plan-2"),
        &spec(),
        "weather-bot",
    )
    .await
    .expect("repaired plan");
    assert_eq!(plan.tasks.len(), 3);
    let requests = architect.sim.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[1].body.to_string().contains("cycle"),
        "the repair request names the problem"
    );

    let renamed = Architect::start(vec![Rule::new(answer(plan_json(
        "other-name",
        two_parallel_tasks(),
    )))])
    .await;
    let err = plan_build(
        &renamed.client,
        &CallContext::new("plan-3"),
        &spec(),
        "weather-bot",
    )
    .await
    .expect_err("the model insists on another name");
    assert!(
        err.to_string()
            .contains("repository.name must be `weather-bot`"),
        "{err}"
    );
    architect.db.drop_database().await;
    renamed.db.drop_database().await;
}

#[tokio::test]
async fn garbage_twice_is_a_clear_error_and_an_unreachable_model_too() {
    let architect = Architect::start(vec![Rule::new(Answer::text(
        "I think you should use Python!",
    ))])
    .await;
    let err = plan_build(
        &architect.client,
        &CallContext::new("plan-4"),
        &spec(),
        "weather-bot",
    )
    .await
    .expect_err("garbage");
    assert!(
        matches!(err, ArchitectError::Model(LlmError::InvalidJson { .. })),
        "{err:?}"
    );
    let Architect { db, sim, client } = architect;
    sim.shutdown().await;
    let err = plan_build(&client, &CallContext::new("plan-5"), &spec(), "weather-bot")
        .await
        .expect_err("unreachable");
    assert!(err.to_string().contains("architect model failed"), "{err}");
    db.drop_database().await;
}
