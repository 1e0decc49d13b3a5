//! `chat_json`: typed answers, one repair with the parse error, a clear error after that.

use orch_llm::chat::{ChatMessage, ChatRequest};
use orch_llm::{CallContext, LlmError};
use orch_testkit::llm::Answer;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;

use crate::support::{Env, usage_rows};

#[derive(Debug, Deserialize, PartialEq)]
struct Plan {
    title: String,
    steps: Vec<String>,
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user(
        r#"Plan the bot as {"title": string, "steps": [string]}"#,
    )])
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn valid_json_on_the_first_answer(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("architect", "openai_compatible", "sim-model"))
        .await;
    env.sim.push_answer(Answer::text(
        "```json\n{\"title\":\"Weather bot\",\"steps\":[\"poll\",\"notify\"]}\n```",
    ));
    let outcome = client
        .chat_json::<Plan>(&CallContext::new("plan"), request())
        .await
        .expect("parses");
    assert_eq!(outcome.value.title, "Weather bot");
    assert_eq!(outcome.answers, 1);
    let sent = &env.sim.requests()[0];
    assert_eq!(sent.body["response_format"], json!({"type": "json_object"}));
    let system = sent.messages()[0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        system.starts_with("You are the architect.") && system.contains("exactly one JSON value"),
        "{system}"
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn garbage_then_valid_json_is_repaired(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("architect", "openai_compatible", "sim-model"))
        .await;
    env.sim
        .push_answer(Answer::text("Sure! The plan is to poll the weather API."));
    env.sim
        .push_answer(Answer::text(r#"{"title":"Weather bot","steps":["poll"]}"#));
    let outcome = client
        .chat_json::<Plan>(&CallContext::new("plan"), request())
        .await
        .expect("repaired");
    assert_eq!(
        outcome.value,
        Plan {
            title: "Weather bot".to_owned(),
            steps: vec!["poll".to_owned()]
        }
    );
    assert_eq!(outcome.answers, 2);

    let requests = env.sim.requests();
    assert_eq!(requests.len(), 2);
    let repair = requests[1].messages();
    let n = repair.len();
    assert_eq!(repair[n - 2]["role"], "assistant");
    assert_eq!(
        repair[n - 2]["content"],
        "Sure! The plan is to poll the weather API."
    );
    let feedback = repair[n - 1]["content"].as_str().unwrap_or_default();
    assert!(
        feedback.contains("not valid JSON") && feedback.contains("expected value"),
        "the parse error is sent back: {feedback}"
    );

    let rows = usage_rows(&env.pool).await;
    let keys: Vec<&str> = rows.iter().map(|r| r.idempotency_key.as_str()).collect();
    assert_eq!(
        keys,
        ["plan", "plan/json-repair"],
        "both answers are paid for"
    );
    assert_eq!(
        outcome.cost_usd_micros,
        rows.iter().map(|r| r.cost_usd_micros).sum::<i64>()
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn validation_failure_is_repaired_too(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("architect", "openai_compatible", "sim-model"))
        .await;
    env.sim
        .push_answer(Answer::text(r#"{"title":"Weather bot","steps":[]}"#));
    env.sim
        .push_answer(Answer::text(r#"{"title":"Weather bot","steps":["poll"]}"#));
    let nonempty = |plan: &Plan| {
        if plan.steps.is_empty() {
            Err("a plan needs at least one step".to_owned())
        } else {
            Ok(())
        }
    };
    let outcome = client
        .chat_json_validated(&CallContext::new("plan"), request(), nonempty)
        .await
        .expect("repaired");
    assert_eq!(outcome.value.steps, ["poll"]);
    assert!(env.sim.requests()[1].contains("a plan needs at least one step"));
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn garbage_twice_is_a_clear_error(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("architect", "openai_compatible", "sim-model"))
        .await;
    env.sim.push_answer(Answer::text("I cannot do that."));
    env.sim.push_answer(Answer::text("{\"title\": \"Weather"));
    let error = client
        .chat_json::<Plan>(&CallContext::new("plan"), request())
        .await
        .expect_err("no valid json");
    match &error {
        LlmError::InvalidJson {
            attempts, excerpt, ..
        } => {
            assert_eq!(*attempts, 2);
            assert_eq!(excerpt, "{\"title\": \"Weather");
        }
        other => panic!("expected InvalidJson, got {other:?}"),
    }
    assert_eq!(env.sim.requests().len(), 2, "exactly one repair");
    assert_eq!(
        usage_rows(&env.pool).await.len(),
        2,
        "usage is recorded even though the caller fails"
    );
}
