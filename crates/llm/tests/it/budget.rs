//! The project budget is checked before every call; an exceeded budget sends nothing.

use orch_contracts::ProjectId;
use orch_llm::chat::{ChatMessage, ChatRequest};
use orch_llm::{CallContext, LlmError, check_budget};
use orch_testkit::llm::LlmConfig;
use sqlx::PgPool;

use crate::support::{Env, usage_rows};

fn request() -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user("Write the spec")])
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn exceeded_budget_sends_nothing(pool: PgPool) {
    // 256 max tokens at $10/Mtok output alone is 2560 millionths: more than a 2000 budget.
    let env = Env::start(pool, LlmConfig::default(), 2_000).await;
    let client = env
        .client(&env.row("spec", "openai_compatible", "sim-model"))
        .await;
    let ctx = CallContext::new("budget:1").with_project(env.project_id);
    let error = client.chat(&ctx, request()).await.expect_err("over budget");
    match error {
        LlmError::BudgetExceeded {
            project_id,
            spent_usd_micros,
            estimate_usd_micros,
            budget_usd_micros,
        } => {
            assert_eq!(project_id, env.project_id);
            assert_eq!((spent_usd_micros, budget_usd_micros), (0, 2_000));
            assert_eq!(estimate_usd_micros, client.estimate_cost(&request()));
            assert!(estimate_usd_micros > 2_560, "{estimate_usd_micros}");
        }
        other => panic!("expected BudgetExceeded, got {other:?}"),
    }
    assert!(
        env.sim.requests().is_empty(),
        "no request may reach the provider"
    );
    assert!(usage_rows(&env.pool).await.is_empty());
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn spend_accumulates_until_the_budget_stops_calls(pool: PgPool) {
    let env = Env::start(pool, LlmConfig::default(), 3_000).await;
    let client = env
        .client(&env.row("spec", "openai_compatible", "sim-model"))
        .await;
    let estimate = client.estimate_cost(&request());
    let mut calls = 0;
    let error = loop {
        let ctx = CallContext::new(format!("budget:{calls}")).with_project(env.project_id);
        match client.chat(&ctx, request()).await {
            Ok(_) => calls += 1,
            Err(error) => break error,
        }
        assert!(calls < 100, "the budget never stopped the calls");
    };
    assert!(calls >= 1, "the first call fits the budget");
    let LlmError::BudgetExceeded {
        spent_usd_micros, ..
    } = error
    else {
        panic!("expected BudgetExceeded, got {error:?}");
    };
    let rows = usage_rows(&env.pool).await;
    assert_eq!(rows.len(), calls);
    assert_eq!(
        spent_usd_micros,
        rows.iter().map(|r| r.cost_usd_micros).sum::<i64>()
    );
    assert!(spent_usd_micros + estimate > 3_000);
    assert!(
        spent_usd_micros <= 3_000,
        "no call started without room for its worst case"
    );
    assert_eq!(env.sim.requests().len(), calls);
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn budget_hook_on_its_own(pool: PgPool) {
    let env = Env::start(pool, LlmConfig::default(), 1_000).await;
    let status = check_budget(&env.store, env.project_id, 1_000)
        .await
        .expect("exactly the budget fits");
    assert_eq!(status.remaining_after_usd_micros(), 0);
    assert_eq!(status.owner_user_id, env.user_id);
    let error = check_budget(&env.store, env.project_id, 1_001)
        .await
        .expect_err("one over");
    assert!(
        matches!(error, LlmError::BudgetExceeded { .. }),
        "{error:?}"
    );
    let unknown = ProjectId::new();
    let error = check_budget(&env.store, unknown, 0)
        .await
        .expect_err("no such project");
    assert!(
        matches!(error, LlmError::UnknownProject { project_id } if project_id == unknown),
        "{error:?}"
    );
}
