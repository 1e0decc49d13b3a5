//! Streaming: chunks reach the callback, usage is recorded, early failures are retried and a
//! failure after output started is final.

use std::time::{Duration, Instant};

use orch_llm::chat::{ChatMessage, ChatRequest};
use orch_llm::{CallContext, LlmError};
use orch_testkit::llm::{Answer, LlmConfig, LlmSim};
use sqlx::PgPool;

use crate::support::{Env, sim_completion_tokens, sim_prompt_tokens, usage_rows};

const TEXT: &str = "Streaming answers arrive in several chunks, one after another.";

fn request() -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user("stream please")])
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn chunks_reach_the_callback_and_usage_is_recorded(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("brainstorm", "openai_compatible", "sim-model"))
        .await;
    env.sim.push_answer(Answer::text(TEXT));
    let mut chunks = Vec::new();
    let ctx = CallContext::new("stream:1").with_project(env.project_id);
    let outcome = client
        .chat_stream(&ctx, request(), |chunk| chunks.push(chunk.to_owned()))
        .await
        .expect("streams");
    assert!(chunks.len() > 1, "{chunks:?}");
    assert_eq!(chunks.concat(), TEXT);
    assert_eq!(outcome.text.as_deref(), Some(TEXT));
    let prompt = sim_prompt_tokens(&["You are the brainstorm.", "stream please"]);
    assert_eq!(
        (outcome.usage.prompt_tokens, outcome.usage.completion_tokens),
        (prompt, sim_completion_tokens(TEXT))
    );
    assert!(
        outcome.usage.reported,
        "usage came from the stream's last chunk"
    );
    let rows = usage_rows(&env.pool).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].cost_usd_micros, outcome.cost_usd_micros);
    assert_eq!(
        env.sim.requests()[0].body["stream_options"]["include_usage"],
        true
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn early_failures_are_retried_with_retry_after(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("brainstorm", "openai_compatible", "sim-model"))
        .await;
    env.sim.fail_next(
        1,
        Answer::RateLimit {
            retry_after_secs: 1,
        },
    );
    env.sim.fail_next(1, Answer::MalformedJson);
    env.sim.push_answer(Answer::text(TEXT));
    let mut streamed = String::new();
    let started = Instant::now();
    let outcome = client
        .chat_stream(&CallContext::new("stream:2"), request(), |c| {
            streamed.push_str(c)
        })
        .await
        .expect("third attempt streams");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(outcome.attempts, 3);
    assert_eq!(
        streamed, TEXT,
        "nothing from the failed attempts reached the callback"
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_stream_cut_after_output_is_final(pool: PgPool) {
    let env = Env::default(pool).await;
    let config = LlmConfig {
        stream_chunk_delay: Duration::from_millis(50),
        ..LlmConfig::default()
    };
    let sim = LlmSim::start(config).await.expect("sim");
    sim.push_answer(Answer::text(TEXT));
    let mut row = env.row("brainstorm", "openai_compatible", "sim-model");
    row.endpoint = Some(sim.base_url());
    let client = env.client(&row).await;
    let mut sim = Some(sim);
    let mut chunks = 0;
    let error = client
        .chat_stream(&CallContext::new("stream:3"), request(), |_| {
            chunks += 1;
            // The provider goes away in the middle of the answer.
            drop(sim.take());
        })
        .await
        .expect_err("cut");
    assert!(
        matches!(error, LlmError::StreamInterrupted { .. }),
        "{error:?}"
    );
    assert_eq!(chunks, 1, "no retry after output started");
    assert!(usage_rows(&env.pool).await.is_empty());
}
