//! Transient failures are retried (honouring Retry-After); permanent ones fail at once, clearly.

use std::time::{Duration, Instant};

use orch_llm::chat::{ChatMessage, ChatRequest};
use orch_llm::{CallContext, LlmError};
use orch_testkit::llm::Answer;
use sqlx::PgPool;

use crate::support::{Env, fast_retries, usage_rows};

fn request() -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user("hi")])
}

fn kinds(env: &Env) -> Vec<String> {
    env.sim
        .requests()
        .into_iter()
        .map(|r| {
            r.answer_kind
                .unwrap_or_else(|| format!("refused {}", r.status))
        })
        .collect()
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn rate_limit_waits_for_retry_after(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("spec", "openai_compatible", "sim-model"))
        .await;
    env.sim.fail_next(
        1,
        Answer::RateLimit {
            retry_after_secs: 1,
        },
    );
    let started = Instant::now();
    let outcome = client
        .chat(&CallContext::new("429"), request())
        .await
        .expect("succeeds after the wait");
    let waited = started.elapsed();
    // Backoffs are at most 5 ms (fast_retries), so a wait of a second is the Retry-After.
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");
    assert_eq!(outcome.attempts, 2);
    assert_eq!(kinds(&env), ["rate_limit", "text"]);
    assert_eq!(usage_rows(&env.pool).await.len(), 1);
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn too_long_retry_after_fails_at_once(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("spec", "openai_compatible", "sim-model"))
        .await;
    env.sim.fail_next(
        1,
        Answer::RateLimit {
            retry_after_secs: 30,
        },
    );
    let started = Instant::now();
    let error = client
        .chat(&CallContext::new("429-long"), request())
        .await
        .expect_err("30 s is above max_retry_after");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(error, LlmError::RateLimited { attempts: 1, retry_after: Some(d), .. } if d == Duration::from_secs(30)),
        "{error:?}"
    );
    assert_eq!(env.sim.requests().len(), 1);
    assert!(usage_rows(&env.pool).await.is_empty());
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn server_errors_are_retried_then_succeed(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("spec", "openai_compatible", "sim-model"))
        .await;
    env.sim.fail_next(2, Answer::ServerError);
    let outcome = client
        .chat(&CallContext::new("500"), request())
        .await
        .expect("third attempt succeeds");
    assert_eq!(outcome.attempts, 3);
    assert_eq!(kinds(&env), ["server_error", "server_error", "text"]);
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn persistent_server_errors_give_up_after_max_attempts(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("spec", "openai_compatible", "sim-model"))
        .await;
    env.sim.fail_next(5, Answer::ServerError);
    let error = client
        .chat(&CallContext::new("500-forever"), request())
        .await
        .expect_err("gives up");
    assert!(
        matches!(
            error,
            LlmError::ProviderFailed {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(env.sim.requests().len(), 3);
    assert!(usage_rows(&env.pool).await.is_empty());
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn malformed_json_and_dropped_connections_are_retried(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("spec", "openai_compatible", "sim-model"))
        .await;
    env.sim.fail_next(1, Answer::MalformedJson);
    env.sim.fail_next(1, Answer::DropConnection);
    let outcome = client
        .chat(&CallContext::new("flaky"), request())
        .await
        .expect("third attempt succeeds");
    assert_eq!(outcome.attempts, 3);
    assert_eq!(kinds(&env), ["malformed_json", "drop_connection", "text"]);
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn persistent_malformed_json_is_a_clear_error(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("spec", "openai_compatible", "sim-model"))
        .await;
    env.sim.fail_next(3, Answer::MalformedJson);
    let error = client
        .chat(&CallContext::new("garbage"), request())
        .await
        .expect_err("never parses");
    assert!(
        matches!(error, LlmError::MalformedResponse { attempts: 3, .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("malformed response") && text.contains("sim-model"),
        "{text}"
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn unreachable_endpoint_is_a_clear_error(pool: PgPool) {
    let env = Env::default(pool).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let mut row = env.row("spec", "openai_compatible", "sim-model");
    row.endpoint = Some(format!("http://{closed}/v1"));
    let client = env.client(&row).await;
    let error = client
        .chat(&CallContext::new("closed"), request())
        .await
        .expect_err("nothing listens");
    let text = error.to_string();
    assert!(
        matches!(error, LlmError::Unreachable { attempts: 3, .. }),
        "{error:?}"
    );
    for part in [
        "openai_compatible",
        "sim-model",
        &format!("http://{closed}/v1/"),
        "unreachable",
    ] {
        assert!(text.contains(part), "{part} missing from: {text}");
    }
    assert!(env.sim.requests().is_empty());
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn unknown_model_fails_at_once(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("spec", "openai_compatible", "gpt-unknown"))
        .await;
    let error = client
        .chat(&CallContext::new("404"), request())
        .await
        .expect_err("unknown model");
    let text = error.to_string();
    assert!(matches!(error, LlmError::ModelNotFound { .. }), "{error:?}");
    assert!(
        text.contains("gpt-unknown") && text.contains(&env.sim.base_url()) && text.contains("404"),
        "{text}"
    );
    assert_eq!(env.sim.requests().len(), 1, "a 404 is not retried");
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn wrong_key_fails_at_once(pool: PgPool) {
    let env = Env::default(pool).await;
    let row = env.row("spec", "openai_compatible", "sim-model");
    env.save(&row).await;
    let client = crate::support::llm_with_key(&env.store, "sk-wrong-key-000000", fast_retries(3))
        .client("spec")
        .await
        .expect("client");
    let error = client
        .chat(&CallContext::new("401"), request())
        .await
        .expect_err("refused");
    assert!(
        matches!(error, LlmError::Unauthorized { status: 401, .. }),
        "{error:?}"
    );
    assert_eq!(env.sim.requests().len(), 1, "a 401 is not retried");
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn bad_request_fails_at_once(pool: PgPool) {
    let env = Env::default(pool).await;
    let client = env
        .client(&env.row("spec", "openai_compatible", "sim-model"))
        .await;
    env.sim.fail_next(
        1,
        Answer::Error {
            status: 400,
            message: "Unsupported parameter: 'temperature'".to_owned(),
            error_type: "invalid_request_error".to_owned(),
            code: None,
        },
    );
    let error = client
        .chat(&CallContext::new("400"), request())
        .await
        .expect_err("rejected");
    assert!(
        matches!(&error, LlmError::Rejected { status: 400, message, .. } if message == "Unsupported parameter: 'temperature'"),
        "{error:?}"
    );
    assert_eq!(env.sim.requests().len(), 1);
}
