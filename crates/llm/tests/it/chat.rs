//! A configured role makes a call; tokens and cost land in `llm_usage`; tools round-trip.

use orch_contracts::RunId;
use orch_llm::CallContext;
use orch_llm::chat::{ChatMessage, ChatRequest, Tool, ToolResponse};
use orch_testkit::llm::{Answer, LlmConfig, Rule};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{Env, sim_completion_tokens, sim_prompt_tokens, usage_rows};

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn config_row_to_call_to_usage_row(pool: PgPool) {
    let env = Env::default(pool).await;
    let answer = "A weather bot that sends alerts.";
    env.sim.push_answer(Answer::text(answer));
    let client = env
        .client(&env.row("brainstorm", "openai_compatible", "gpt-4.1-mini"))
        .await;
    let run_id = RunId::new();
    let ctx = CallContext::new("run-1:brainstorm:1")
        .with_user(env.user_id)
        .with_project(env.project_id)
        .with_run(run_id);
    let request = ChatRequest::new(vec![ChatMessage::user("Build me a weather bot")]);

    let outcome = client.chat(&ctx, request).await.expect("call succeeds");

    assert_eq!(outcome.text.as_deref(), Some(answer));
    let prompt = sim_prompt_tokens(&["You are the brainstorm.", "Build me a weather bot"]);
    let completion = sim_completion_tokens(answer);
    assert_eq!(outcome.usage.prompt_tokens, prompt);
    assert_eq!(outcome.usage.completion_tokens, completion);
    assert!(outcome.usage.reported);
    let cost = (prompt * 2_500_000 + completion * 10_000_000 + 999_999) / 1_000_000;
    assert_eq!(outcome.cost_usd_micros, cost);
    assert_eq!((outcome.attempts, outcome.usage_recorded), (1, true));

    let rows = usage_rows(&env.pool).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.source, "llm");
    assert_eq!(row.user_id, Some(env.user_id));
    assert_eq!(row.project_id, Some(env.project_id.0));
    assert_eq!(row.run_id, Some(run_id.0));
    assert_eq!(
        (row.role.as_str(), row.provider.as_str(), row.model.as_str()),
        ("brainstorm", "openai_compatible", "gpt-4.1-mini")
    );
    assert_eq!(
        (row.prompt_tokens, row.completion_tokens),
        (prompt, completion)
    );
    assert_eq!(row.cost_usd_micros, cost);
    assert_eq!(row.idempotency_key, "run-1:brainstorm:1");

    let sent = &env.sim.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.body["model"], "gpt-4.1-mini");
    assert_eq!(sent.body["temperature"], json!(0.3));
    assert_eq!(sent.body["max_tokens"], json!(256));
    assert_eq!(sent.messages()[0]["role"], "system");
    assert_eq!(sent.messages()[0]["content"], "You are the brainstorm.");
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn the_same_key_is_recorded_once_and_the_owner_pays(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("architect", "openai_compatible", "sim-model"))
        .await;
    let ctx = CallContext::new("same-key").with_project(env.project_id);
    let request = ChatRequest::new(vec![ChatMessage::user("plan")]);
    let first = client.chat(&ctx, request.clone()).await.expect("first");
    let again = client.chat(&ctx, request).await.expect("repeat");
    assert!(first.usage_recorded && !again.usage_recorded);
    let rows = usage_rows(&env.pool).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0].user_id,
        Some(env.user_id),
        "without a user the project owner is recorded"
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn tool_call_round_trip(pool: PgPool) {
    let sim = LlmConfig::default()
        .rule(
            Rule::new(Answer::tool_call("get_weather", json!({"city": "Tokyo"})))
                .when_last_role("user"),
        )
        .rule(Rule::new(Answer::text("It is sunny in Tokyo.")).when_last_role("tool"));
    let env = Env::start(pool, sim, 20_000_000).await;
    let client = env
        .client(&env.row("developer", "openai_compatible", "sim-model"))
        .await;
    let tool = Tool::new("get_weather")
        .with_description("Current weather of a city")
        .with_schema(json!({"type": "object", "properties": {"city": {"type": "string"}}}));
    let request =
        ChatRequest::new(vec![ChatMessage::user("Weather in Tokyo?")]).with_tools(vec![tool]);

    let first = client
        .chat(&CallContext::new("tools:1"), request.clone())
        .await
        .expect("tool call");
    assert_eq!(first.text, None);
    assert_eq!(first.tool_calls.len(), 1);
    let call = first.tool_calls[0].clone();
    assert_eq!(
        (call.fn_name.as_str(), &call.fn_arguments),
        ("get_weather", &json!({"city": "Tokyo"}))
    );

    let request = request
        .append_message(first.tool_calls)
        .append_message(ToolResponse::new(
            call.call_id.clone(),
            r#"{"sky":"sunny"}"#,
        ));
    let second = client
        .chat(&CallContext::new("tools:2"), request)
        .await
        .expect("answer");
    assert_eq!(second.text.as_deref(), Some("It is sunny in Tokyo."));

    let sent = &env.sim.requests()[1];
    let tool_message = sent
        .messages()
        .into_iter()
        .find(|m| m["role"] == "tool")
        .expect("tool result sent back");
    assert_eq!(tool_message["tool_call_id"], json!(call.call_id));
    assert_eq!(sent.body["tools"][0]["function"]["name"], "get_weather");
    let keys: Vec<String> = usage_rows(&env.pool)
        .await
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys, ["tools:1", "tools:2"]);
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn frontier_ids_reach_the_endpoint_unchanged(pool: PgPool) {
    let env = Env::default(pool).await;
    for (role, provider, model) in [
        ("spec", "openrouter", "google/gemini-3-pro"),
        ("reviewer", "openrouter", "anthropic/claude-opus-4.5"),
        ("architect", "openai", "gpt-5.2"),
    ] {
        let client = env.client(&env.row(role, provider, model)).await;
        let request = ChatRequest::new(vec![ChatMessage::user("hi")]);
        client
            .chat(&CallContext::new(format!("frontier:{role}")), request)
            .await
            .expect("call succeeds");
    }
    let bodies: Vec<_> = env.sim.requests().into_iter().map(|r| r.body).collect();
    let models: Vec<_> = bodies.iter().map(|b| b["model"].clone()).collect();
    assert_eq!(
        models,
        [
            json!("google/gemini-3-pro"),
            json!("anthropic/claude-opus-4.5"),
            json!("gpt-5.2")
        ]
    );
    let gpt5 = &bodies[2];
    assert_eq!(gpt5["max_completion_tokens"], json!(256));
    assert!(
        gpt5.get("temperature").is_none(),
        "gpt-5 accepts only its default temperature: {gpt5}"
    );
    assert_eq!(bodies[0]["temperature"], json!(0.3));
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn callers_system_text_follows_the_role_prompt(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("reviewer", "openai_compatible", "sim-model"))
        .await;
    let request =
        ChatRequest::from_system("Review PR #7.").append_message(ChatMessage::user("diff"));
    client
        .chat(&CallContext::new("sys"), request)
        .await
        .expect("call");
    let system = env.sim.requests()[0].messages()[0]["content"].clone();
    assert_eq!(system, json!("You are the reviewer.\n\nReview PR #7."));
}
