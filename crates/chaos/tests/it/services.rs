//! Every service binary starts with the documented environment, answers `/health` and `/ready`, and exits 0
//! on SIGTERM.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::support::redis_url;

/// (binary, environment prefix) of every service, as documented in `.env.example`.
const SERVICES: [(&str, &str); 7] = [
    ("api", "API"),
    ("telegram-gateway", "TELEGRAM_GATEWAY"),
    ("graph-runner", "GRAPH_RUNNER"),
    ("zavhoz", "ZAVHOZ"),
    ("worker-spawner", "WORKER_SPAWNER"),
    ("reviewer", "REVIEWER"),
    ("devops-runner", "DEVOPS_RUNNER"),
];

fn binary(name: &str) -> PathBuf {
    // Integration tests live in target/<profile>/deps; the workspace's binaries sit one level up.
    let exe = std::env::current_exe().expect("test binary path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// What the services refuse to start without (documented in `.env.example` and their docs).
fn required_settings() -> Vec<(String, String)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let fixtures = format!("{root}/crates/sops/tests/fixtures");
    let image = std::process::Command::new(format!("{root}/scripts/build-test-image.sh"))
        .output()
        .expect("scripts/build-test-image.sh runs");
    assert!(
        image.status.success(),
        "cannot build the worker test image: {}",
        String::from_utf8_lossy(&image.stderr)
    );
    let image = String::from_utf8_lossy(&image.stdout).trim().to_owned();
    [
        // An unreachable Bot API only delays the gateway (it keeps polling).
        ("TELEGRAM_GATEWAY__BOT_TOKEN", "1:smoke-test".to_owned()),
        ("TELEGRAM_GATEWAY__API_URL", "http://127.0.0.1:9".to_owned()),
        ("ZAVHOZ__GRPC_LISTEN", format!("127.0.0.1:{}", free_port())),
        (
            "ZAVHOZ__SECRETS_FILE",
            format!("{fixtures}/secrets.enc.yaml"),
        ),
        ("ZAVHOZ__AGE_KEY_FILE", format!("{fixtures}/age-key.txt")),
        (
            "ZAVHOZ__CALLERS__WORKER_SPAWNER",
            format!("sha256:{}", "ab".repeat(32)),
        ),
        ("WORKER_SPAWNER__DOCKER__RUNTIME", "runc".to_owned()),
        ("WORKER_SPAWNER__DOCKER__IMAGE", image),
        // The reviewer connects to GitHub on first use: an unreachable API does not stop it starting.
        ("REVIEWER__GITHUB_TOKEN", "ghp_smoke".to_owned()),
        ("REVIEWER__GITHUB_API_URL", "http://127.0.0.1:9".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        "postgres://orchestrator:orchestrator@127.0.0.1:5432/orchestrator".into()
    })
}

async fn get(url: &str) -> Option<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    client
        .get(url)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn every_service_starts_answers_health_and_stops_cleanly() {
    for (name, prefix) in SERVICES {
        let port = free_port();
        let mut child = Command::new(binary(name))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url())
            .env("REDIS_URL", redis_url())
            .env("LOG_FORMAT", "json")
            .env(
                format!("{prefix}__HTTP_LISTEN"),
                format!("127.0.0.1:{port}"),
            )
            .envs(required_settings())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(std::env::temp_dir().join(format!("smoke-{name}.log")))
                    .expect("log"),
            )
            .kill_on_drop(true)
            .spawn()
            .expect("spawn service");
        let base = format!("http://127.0.0.1:{port}");
        let mut healthy = false;
        for _ in 0..100 {
            if get(&format!("{base}/health")).await == Some(200) {
                healthy = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(healthy, "{name} did not answer /health");
        assert_eq!(
            get(&format!("{base}/ready")).await,
            Some(200),
            "{name} is not ready"
        );
        assert_eq!(
            get(&format!("{base}/metrics")).await,
            Some(200),
            "{name} serves no metrics"
        );
        let pid = child.id().expect("running").to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
            .await
            .expect("exits")
            .expect("status");
        assert!(status.success(), "{name} exited with {status} on SIGTERM");
    }
}

#[tokio::test]
async fn a_service_with_a_typo_in_its_settings_refuses_to_start() {
    let output = Command::new(binary("reviewer"))
        .env("REVIEWER__HTTP_LISTN", "127.0.0.1:1")
        .env("DATABASE_URL", database_url())
        .env("REDIS_URL", redis_url())
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("http_listn"),
        "the error names the unknown key: {stderr}"
    );
}
