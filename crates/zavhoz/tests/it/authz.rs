//! Who may do what: only worker-spawner and devops-runner resolve; one person cannot see or touch another's
//! resources (NOT_FOUND, so ids cannot be probed); calls without or with wrong credentials are
//! UNAUTHENTICATED; health and reflection answer without credentials.

use orch_contracts::messages::worker::SecretHandle;
use orch_zavhoz_client::proto::resource_service_client::ResourceServiceClient;
use orch_zavhoz_client::proto::{GetRequest, PortSpec, SecretSpec, secret_spec};
use orch_zavhoz_client::{Allocation, Spec, ZavhozClient, ZavhozClientConfig};
use secrecy::SecretString;
use sqlx::PgPool;
use tonic::Code;
use uuid::Uuid;
use zavhoz::CallerIdentity;

use crate::support::{TestApp, audit, project, user};

fn allocation(owner: i64, project: Option<Uuid>, key: &str, spec: Spec) -> Allocation {
    Allocation {
        acting_user_id: owner,
        project_id: project,
        idempotency_key: key.into(),
        lease_ttl: None,
        spec,
    }
}

fn secret_spec() -> Spec {
    Spec::Secret(SecretSpec {
        source: Some(secret_spec::Source::SopsPath("llm.anthropic_key".into())),
        single_use: false,
    })
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn only_spawner_and_devops_may_resolve(pool: PgPool) {
    let app = TestApp::start(pool.clone()).await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let owner = user(&pool).await;
    let held = graph
        .allocate(allocation(owner, None, "k", secret_spec()))
        .await
        .expect("secret");
    let handle = SecretHandle(held.handle.clone());
    for identity in [
        CallerIdentity::GraphRunner,
        CallerIdentity::TelegramGateway,
        CallerIdentity::Api,
        CallerIdentity::Operator,
    ] {
        let error = app
            .client(identity)
            .await
            .resolve(&handle, "try", None)
            .await
            .expect_err("denied");
        assert_eq!(error.code(), Some(Code::PermissionDenied), "{identity}");
    }
    let denied = audit(&pool, "secret.resolve_denied", &held.handle).await;
    assert_eq!(denied.len(), 4, "denied attempts are audited");
    assert_eq!(denied[0]["actor"], "graph-runner");
    for identity in [CallerIdentity::WorkerSpawner, CallerIdentity::DevopsRunner] {
        app.client(identity)
            .await
            .resolve(&handle, "inject", None)
            .await
            .expect("allowed");
    }
    let store = app.client(CallerIdentity::WorkerSpawner).await;
    let error = store
        .store_user_secret(owner, None, "x", &SecretString::from("v".to_owned()))
        .await
        .expect_err("the spawner may not store user secrets");
    assert_eq!(error.code(), Some(Code::PermissionDenied));
    let error = app
        .client(CallerIdentity::TelegramGateway)
        .await
        .allocate(allocation(owner, None, "gw", secret_spec()))
        .await
        .expect_err("the gateway may not allocate");
    assert_eq!(error.code(), Some(Code::PermissionDenied));
    app.stop().await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_person_cannot_reach_anothers_resources(pool: PgPool) {
    let app = TestApp::start(pool.clone()).await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let (alice, bob) = (user(&pool).await, user(&pool).await);
    let alices_project = project(&pool, alice).await;
    let port = Spec::Port(PortSpec {
        server: String::new(),
    });
    let held = graph
        .allocate(allocation(alice, Some(alices_project), "a", port.clone()))
        .await
        .expect("alice's port");
    let id: Uuid = held.id.parse().expect("uuid");
    let error = graph.get(bob, id).await.expect_err("bob's get");
    assert_eq!(error.code(), Some(Code::NotFound));
    let error = graph.release(bob, id).await.expect_err("bob's release");
    assert_eq!(error.code(), Some(Code::NotFound));
    let error = graph.renew(bob, id, None).await.expect_err("bob's renew");
    assert_eq!(error.code(), Some(Code::NotFound));
    assert!(
        graph
            .list(bob, None, true)
            .await
            .expect("bob's list")
            .is_empty()
    );
    let error = graph
        .list(bob, Some(alices_project), true)
        .await
        .expect_err("alice's project");
    assert_eq!(error.code(), Some(Code::NotFound));
    let error = graph
        .allocate(allocation(bob, Some(alices_project), "b", port))
        .await
        .expect_err("allocating into alice's project");
    assert_eq!(error.code(), Some(Code::NotFound));
    let still = graph.get(alice, id).await.expect("alice still holds it");
    assert_eq!(still.state, held.state);
    let secret = graph
        .store_user_secret(
            bob,
            Some(alices_project),
            "tok",
            &SecretString::from("v".to_owned()),
        )
        .await
        .expect_err("storing into alice's project");
    assert_eq!(secret.code(), Some(Code::NotFound));
    app.stop().await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn calls_without_valid_credentials_are_unauthenticated(pool: PgPool) {
    let app = TestApp::start(pool.clone()).await;
    let owner = user(&pool).await;
    let channel = tonic::transport::Endpoint::from_shared(app.grpc_url.clone())
        .expect("url")
        .connect()
        .await
        .expect("connects");
    let mut bare = ResourceServiceClient::new(channel.clone());
    let request = GetRequest {
        acting_user_id: owner,
        id: Uuid::nil().to_string(),
    };
    let status = bare.get(request.clone()).await.expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
    let wrong = ZavhozClient::with_channel(channel, &SecretString::from("not-a-token".to_owned()))
        .expect("client");
    let error = wrong
        .get(owner, Uuid::nil())
        .await
        .expect_err("wrong token");
    assert_eq!(error.code(), Some(Code::Unauthenticated));
    let config = ZavhozClientConfig::new(app.grpc_url.clone(), "");
    assert!(
        ZavhozClient::connect(&config).await.is_err(),
        "an empty token is refused locally"
    );

    let channel = tonic::transport::Endpoint::from_shared(app.grpc_url.clone())
        .expect("url")
        .connect()
        .await
        .expect("connects");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in ["", "zavhoz.v1.ResourceService", "zavhoz.v1.SecretService"] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health answers without credentials")
            .into_inner();
        assert_eq!(
            answer.status(),
            tonic_health::pb::health_check_response::ServingStatus::Serving
        );
    }
    app.stop().await;
}

#[test]
fn the_token_script_mints_a_token_and_its_digest() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/zavhoz-mint-token.sh"
    );
    let out = std::process::Command::new("bash")
        .args([script, "worker-spawner"])
        .output()
        .expect("runs the script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let token = value_of(&text, "ZAVHOZ_TOKEN=");
    let digest = value_of(&text, "ZAVHOZ__CALLERS__WORKER_SPAWNER=");
    assert_eq!(
        zavhoz::TokenDigest::parse(digest).expect("digest"),
        zavhoz::TokenDigest::of_token(token)
    );
    assert!(token.len() >= 40, "{token}");
    let bad = std::process::Command::new("bash")
        .args([script, "reviewer"])
        .output()
        .expect("runs");
    assert!(!bad.status.success(), "unknown identities are refused");
}

fn value_of<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix} line in {text}"))
}
