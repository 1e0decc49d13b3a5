//! Interop with a client nobody here wrote: Python grpcio stubs generated from `proto/zavhoz.proto` at test
//! time call health, reflection and Allocate (with and without credentials, a retry, and a typed refusal).
//! Needs `scripts/install-zavhoz-pytools.sh` (a venv under `~/.cache/codegen-orchestrator/venv-grpc`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sqlx::PgPool;
use zavhoz::CallerIdentity;

use crate::support::{SECRETS_YAML, SecretsDir, TestApp, token, user};

const INSTALL: &str = "scripts/install-zavhoz-pytools.sh";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv python with grpcio; fails with a message naming the install script when it is missing.
fn python() -> PathBuf {
    let home = std::env::var("HOME").expect("HOME is set");
    let python = std::env::var_os("ZAVHOZ_PYTOOLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&home).join(".cache/codegen-orchestrator/venv-grpc"))
        .join("bin/python");
    let ready = Command::new(&python)
        .args([
            "-c",
            "import grpc, grpc_tools, grpc_health, grpc_reflection, grpc_status",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ready,
        "the Python gRPC tools are missing at {}: run `{INSTALL}` (it creates the venv and installs grpcio, \
         grpcio-tools, grpcio-health-checking, grpcio-reflection, grpcio-status)",
        python.display()
    );
    python
}

fn generate_stubs(python: &Path, out: &Path) {
    let proto_dir = repo_root().join("proto");
    let status = Command::new(python)
        .args(["-m", "grpc_tools.protoc"])
        .arg(format!("-I{}", proto_dir.display()))
        .arg(format!("--python_out={}", out.display()))
        .arg(format!("--grpc_python_out={}", out.display()))
        .arg("zavhoz.proto")
        .status()
        .expect("runs grpc_tools.protoc");
    assert!(
        status.success(),
        "grpc_tools.protoc failed on proto/zavhoz.proto"
    );
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn python_grpcio_talks_to_zavhoz(pool: PgPool) {
    let python = python();
    let app = TestApp::start_with(pool.clone(), SecretsDir::new(SECRETS_YAML), |c| {
        c.servers = vec!["srv-py".into()];
        c.port_range_end = c.port_range_start;
    })
    .await;
    let owner = user(&pool).await;
    let stubs = tempfile::tempdir().expect("tempdir");
    generate_stubs(&python, stubs.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/interop_client.py");
    let address = app.grpc_url.trim_start_matches("http://").to_owned();
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(stubs.path())
        .arg(&address)
        .arg(token(CallerIdentity::GraphRunner))
        .arg(owner.to_string())
        .output()
        .await
        .expect("runs the python client");
    assert!(
        out.status.success(),
        "python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).expect("json from the python client");

    for key in [
        "health:",
        "health:zavhoz.v1.ResourceService",
        "health:zavhoz.v1.SecretService",
    ] {
        assert_eq!(seen[key], "SERVING", "{seen}");
    }
    let services: Vec<&str> = seen["services"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for service in [
        "zavhoz.v1.ResourceService",
        "zavhoz.v1.SecretService",
        "grpc.health.v1.Health",
    ] {
        assert!(services.contains(&service), "{services:?}");
    }
    assert_eq!(
        seen["resource_methods"],
        serde_json::json!(["Allocate", "Get", "List", "Release", "Renew"])
    );
    assert_eq!(seen["allocate_input"], "zavhoz.v1.AllocateRequest");
    assert_eq!(seen["unauthenticated"], "UNAUTHENTICATED");
    let allocated = &seen["allocated"];
    assert_eq!(allocated["kind"], "RESOURCE_KIND_PORT");
    assert_eq!(allocated["state"], "RESOURCE_STATE_LIVE");
    assert_eq!(
        (allocated["server"].as_str(), allocated["port"].as_u64()),
        (Some("srv-py"), Some(20000))
    );
    assert_eq!(allocated["same_on_retry"], true);
    let exhausted = &seen["exhausted"];
    assert_eq!(exhausted["code"], "RESOURCE_EXHAUSTED", "{seen}");
    assert_eq!(exhausted["reason"], "NO_PORT_FREE");
    assert_eq!(exhausted["domain"], "zavhoz.v1");
    app.stop().await;
}
