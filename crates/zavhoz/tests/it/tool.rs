//! The request_resource LLM tool against a real zavhoz: the result carries the handle and metadata only,
//! a refusal comes back as a result the LLM can relay, and a re-run of the same step gets the same resource.

use orch_zavhoz_client::tool::{ToolContext, execute_request_resource, request_resource_tool};
use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;
use zavhoz::CallerIdentity;

use crate::support::{TestApp, project, user};

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn the_tool_allocates_handles_without_values(pool: PgPool) {
    let app = TestApp::start(pool.clone()).await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let owner = user(&pool).await;
    let proj = project(&pool, owner).await;
    let token = SecretString::from("777:tool-canary-token".to_owned());
    graph
        .store_user_secret(owner, Some(proj), "telegram_bot_token", &token)
        .await
        .expect("stored");
    let context = |key: &str| ToolContext {
        acting_user_id: owner,
        project_id: Some(proj),
        idempotency_key: key.into(),
    };
    assert_eq!(request_resource_tool().name, "request_resource");

    let args = json!({"kind": "secret", "secret_name": "telegram_bot_token", "single_use": true});
    let out = execute_request_resource(&graph, &context("run1:n1:call1"), &args)
        .await
        .expect("runs");
    assert_eq!(out["status"], "allocated");
    assert!(out["handle"].as_str().expect("handle").starts_with("hdl_"));
    assert!(!out.to_string().contains("tool-canary-token"), "{out}");
    let again = execute_request_resource(&graph, &context("run1:n1:call1"), &args)
        .await
        .expect("runs");
    assert_eq!(again, out, "a re-run of the step gets the same resource");

    let port = json!({"kind": "port", "server": "srv-2"});
    let out = execute_request_resource(&graph, &context("run1:n1:call2"), &port)
        .await
        .expect("runs");
    assert_eq!(
        (out["server"].as_str(), out["port"].as_u64()),
        (Some("srv-2"), Some(20000))
    );

    let domain = json!({"kind": "domain", "label": "bot"});
    execute_request_resource(&graph, &context("run1:n1:call3"), &domain)
        .await
        .expect("first");
    let other = user(&pool).await;
    let theirs = ToolContext {
        acting_user_id: other,
        project_id: None,
        idempotency_key: "run2:n1:call1".into(),
    };
    let out = execute_request_resource(&graph, &theirs, &domain)
        .await
        .expect("runs");
    assert_eq!(out["status"], "refused");
    assert_eq!(out["reason"], "NAME_TAKEN");

    let out = execute_request_resource(
        &graph,
        &context("run1:n1:call4"),
        &json!({"kind": "secret", "secret_name": "nope"}),
    )
    .await
    .expect("runs");
    assert_eq!(
        (out["status"].as_str(), out["reason"].as_str()),
        (Some("refused"), Some("SECRET_MISSING"))
    );
    let out = execute_request_resource(
        &graph,
        &context("run1:n1:call5"),
        &json!({"kind": "domain"}),
    )
    .await
    .expect("runs");
    assert_eq!(out["status"], "invalid");

    let gateway = app.client(CallerIdentity::TelegramGateway).await;
    let error = execute_request_resource(&gateway, &context("x"), &port)
        .await
        .expect_err("not allowed");
    assert_eq!(
        error.code(),
        Some(tonic::Code::PermissionDenied),
        "infrastructure errors are errors, not results"
    );
    app.stop().await;
}
