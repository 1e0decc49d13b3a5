//! No silent fallback: a role's calls reach its configured endpoint and nothing else, even when
//! that endpoint fails or is down, and even for model names genai would route to a local Ollama.

use std::time::Duration;

use orch_llm::chat::{ChatMessage, ChatRequest};
use orch_llm::{CallContext, LlmError};
use orch_testkit::llm::{Answer, LlmConfig, LlmSim};
use sqlx::PgPool;

use crate::support::Env;

/// A simulator on Ollama's default address, where genai sends model names it does not know.
/// Only this test may bind it (tests run in parallel).
async fn ollama_trap() -> LlmSim {
    let config = LlmConfig::default().listen(([127, 0, 0, 1], 11434).into());
    LlmSim::start(config)
        .await
        .expect("port 11434 must be free for this test (no Ollama may run here)")
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn calls_reach_only_the_configured_endpoint(pool: PgPool) {
    let env = Env::default(pool).await;
    let trap = ollama_trap().await;
    // "mystery-model" matches no genai prefix: left to infer, genai would pick Ollama.
    let sim = LlmConfig {
        models: Vec::new(),
        ..LlmConfig::default()
    };
    let configured = LlmSim::start(sim).await.expect("configured simulator");
    let mut row = env.row("spec", "openai_compatible", "mystery-model");
    row.endpoint = Some(configured.base_url());
    let client = env.client(&row).await;
    let request = ChatRequest::new(vec![ChatMessage::user("hi")]);

    client
        .chat(&CallContext::new("route:ok"), request.clone())
        .await
        .expect("the configured endpoint answers");

    configured.fail_next(5, Answer::ServerError);
    let error = client
        .chat(&CallContext::new("route:failing"), request.clone())
        .await
        .expect_err("the configured endpoint keeps failing");
    assert!(
        matches!(error, LlmError::ProviderFailed { .. }),
        "{error:?}"
    );

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    row.provider = "openai".to_owned();
    row.endpoint = Some(format!("http://{closed}/v1/"));
    let down = env.client(&row).await;
    let error = down
        .chat(&CallContext::new("route:closed"), request)
        .await
        .expect_err("unreachable");
    assert!(matches!(error, LlmError::Unreachable { .. }), "{error:?}");

    assert_eq!(configured.requests().len(), 1 + 3);
    assert!(
        configured
            .requests()
            .iter()
            .all(|r| r.body["model"] == "mystery-model")
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(env.sim.requests().is_empty(), "{:?}", env.sim.requests());
    assert!(
        trap.requests().is_empty(),
        "fell back to ollama: {:?}",
        trap.requests()
    );
}
