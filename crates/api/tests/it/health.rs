//! Health, readiness (including a failing dependency) and metrics.

use std::net::SocketAddr;

use api::{ApiConfig, Application};
use orch_service_kit::{CommonSettings, Service, Settings};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.into())
}

fn settings(redis_url: String) -> Settings<ApiConfig> {
    let common = CommonSettings {
        database_url: Some(SecretString::from(env_or(
            "DATABASE_URL",
            "postgres://orchestrator:orchestrator@127.0.0.1:5432/orchestrator",
        ))),
        redis_url: Some(SecretString::from(redis_url)),
        ..CommonSettings::default()
    };
    Settings {
        common,
        service: ApiConfig {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        },
    }
}

async fn start(
    redis_url: String,
) -> (
    String,
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let app = Application::build(settings(redis_url))
        .await
        .expect("builds");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    let handle = tokio::spawn(app.run_until_stopped(stop.clone()));
    (base, stop, handle)
}

#[tokio::test]
async fn health_ready_and_metrics_answer() {
    let (base, stop, handle) = start(env_or("REDIS_URL", "redis://127.0.0.1:6379")).await;
    let health = reqwest::get(format!("{base}/health"))
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("{base}/ready")).await.expect("ready");
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["checks"]["postgres"], "ok");
    assert_eq!(body["checks"]["redis"], "ok");
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("bus_dlq_size{stream=\"worker:spawn\"}"),
        "{metrics}"
    );
    stop.cancel();
    handle.await.expect("joins").expect("stops cleanly");
}

#[tokio::test]
async fn readiness_names_the_failing_dependency() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let (base, stop, handle) = start(format!("redis://127.0.0.1:{closed_port}")).await;
    let ready = reqwest::get(format!("{base}/ready")).await.expect("ready");
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["failing"], serde_json::json!(["redis"]));
    assert_eq!(body["checks"]["postgres"], "ok");
    assert_ne!(body["checks"]["redis"], "ok");
    stop.cancel();
    handle.await.expect("joins").expect("stops cleanly");
}
