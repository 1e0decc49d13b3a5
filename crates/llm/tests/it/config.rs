//! Rows that cannot be used fail with clear errors before anything is sent.

use std::sync::Arc;

use orch_llm::chat::{ChatMessage, ChatRequest};
use orch_llm::{CallContext, ClientOptions, ConfigError, EnvKeyResolver, KeyError, Llm, LlmError};
use orch_testkit::llm::LlmConfig;
use sqlx::PgPool;

use crate::support::{Env, fast_retries};

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn missing_role_config_is_an_error(pool: PgPool) {
    let env = Env::default(pool).await;
    let error = env
        .llm(fast_retries(1))
        .client("architect")
        .await
        .expect_err("no row");
    assert!(
        matches!(&error, LlmError::Config(ConfigError::MissingRole { role }) if role == "architect"),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "no model config for role architect");
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn unknown_provider_is_an_error_and_sends_nothing(pool: PgPool) {
    let env = Env::default(pool).await;
    let row = env.row("spec", "open_ai", "gpt-4.1-mini");
    env.save(&row).await;
    let error = env
        .llm(fast_retries(1))
        .client("spec")
        .await
        .expect_err("unknown provider");
    let text = error.to_string();
    assert!(
        matches!(&error, LlmError::Config(ConfigError::UnknownProvider { provider, .. }) if provider == "open_ai"),
        "{error:?}"
    );
    assert!(
        text.contains("spec") && text.contains("openai_compatible"),
        "{text}"
    );
    assert!(env.sim.requests().is_empty());
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn hosted_provider_without_key_ref_is_an_error(pool: PgPool) {
    let env = Env::default(pool).await;
    let mut row = env.row("spec", "anthropic", "claude-opus-4.5");
    row.api_key_ref = None;
    env.save(&row).await;
    let error = env
        .llm(fast_retries(1))
        .client("spec")
        .await
        .expect_err("no key");
    assert!(
        matches!(
            error,
            LlmError::Config(ConfigError::MissingKeyRef {
                provider: "anthropic",
                ..
            })
        ),
        "{error:?}"
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn openai_compatible_without_endpoint_is_an_error(pool: PgPool) {
    let env = Env::default(pool).await;
    let mut row = env.row("spec", "openai_compatible", "llama3");
    row.endpoint = None;
    env.save(&row).await;
    let error = env
        .llm(fast_retries(1))
        .client("spec")
        .await
        .expect_err("needs an endpoint");
    assert!(
        matches!(
            error,
            LlmError::Config(ConfigError::EndpointRequired { .. })
        ),
        "{error:?}"
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn env_key_resolver_end_to_end(pool: PgPool) {
    let env = Env::default(pool).await;
    let key = env.sim.api_key().to_owned();
    let mut row = env.row("spec", "openai_compatible", "sim-model");
    row.api_key_ref = Some("SIM_KEY_FOR_SPEC".to_owned());
    env.save(&row).await;
    let lookup = move |name: &str| (name == "SIM_KEY_FOR_SPEC").then(|| key.clone());
    let llm = Llm::new(
        env.store.clone(),
        Arc::new(EnvKeyResolver::with_lookup(lookup)),
        ClientOptions::default(),
    )
    .expect("factory");
    let client = llm.client("spec").await.expect("key found");
    let request = ChatRequest::new(vec![ChatMessage::user("hi")]);
    client
        .chat(&CallContext::new("env-key"), request)
        .await
        .expect("the env key is accepted by the simulator");

    row.api_key_ref = Some("env:NOT_SET_ANYWHERE".to_owned());
    env.save(&row).await;
    let error = llm.client("spec").await.expect_err("unset variable");
    assert!(
        matches!(&error, LlmError::Config(ConfigError::Key { source: KeyError::NotFound { key_ref }, .. }) if key_ref == "env:NOT_SET_ANYWHERE"),
        "{error:?}"
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn local_provider_without_key_sends_no_authorization(pool: PgPool) {
    // A simulator that requires a key answers 401 "didn't provide an API key" only when the
    // Authorization header is absent: proof that a keyless ollama row sends none.
    let env = Env::default(pool).await;
    let mut row = env.row("local", "ollama", "llama3.3");
    row.api_key_ref = None;
    let client = env.client(&row).await;
    let request = ChatRequest::new(vec![ChatMessage::user("hi")]);
    let error = client
        .chat(&CallContext::new("keyless"), request.clone())
        .await
        .expect_err("the simulator wants a key");
    assert!(
        matches!(&error, LlmError::Unauthorized { message, .. } if message.contains("didn't provide an API key")),
        "{error:?}"
    );

    let open = LlmConfig {
        api_keys: Vec::new(),
        models: Vec::new(),
        ..LlmConfig::default()
    };
    let open_sim = orch_testkit::llm::LlmSim::start(open).await.expect("sim");
    row.endpoint = Some(open_sim.base_url());
    let client = env.client(&row).await;
    let outcome = client
        .chat(&CallContext::new("keyless-ok"), request)
        .await
        .expect("a server without auth answers");
    assert_eq!(outcome.text.as_deref(), Some("OK"));
    assert_eq!(open_sim.requests()[0].body["model"], "llama3.3");
}
