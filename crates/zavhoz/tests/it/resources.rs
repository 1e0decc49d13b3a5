//! ResourceService over gRPC: every kind, idempotent Allocate, Get/List/Release/Renew, quotas and the typed
//! refusals (no port free, no server free, name taken, not configured).

use std::time::Duration;

use orch_zavhoz_client::proto::{
    DomainSpec, LlmBudgetSpec, PortSpec, RepositorySpec, ResourceKind, ResourceState, SecretSpec,
    ServerSpec, secret_spec,
};
use orch_zavhoz_client::{Allocation, ClientError, Refusal, Spec, ZavhozClient};
use sqlx::PgPool;
use tonic::Code;
use uuid::Uuid;
use zavhoz::CallerIdentity;

use crate::support::{TestApp, audit, project, user};

fn alloc(user: i64, project: Option<Uuid>, key: &str, spec: Spec) -> Allocation {
    Allocation {
        acting_user_id: user,
        project_id: project,
        idempotency_key: key.into(),
        lease_ttl: None,
        spec,
    }
}

fn port() -> Spec {
    Spec::Port(PortSpec {
        server: String::new(),
    })
}

async fn refusal(client: &ZavhozClient, allocation: Allocation) -> (Refusal, Code, String) {
    match client.allocate(allocation).await {
        Err(ClientError::Refused {
            refusal,
            code,
            message,
        }) => (refusal, code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn every_kind_allocates_with_non_secret_details(pool: PgPool) {
    let app = TestApp::start(pool.clone()).await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let owner = user(&pool).await;
    let proj = Some(project(&pool, owner).await);
    let port = graph
        .allocate(alloc(owner, proj, "k-port", port()))
        .await
        .expect("port");
    assert_eq!(
        (port.kind(), port.state()),
        (ResourceKind::Port, ResourceState::Live)
    );
    assert_eq!(
        (port.server.as_str(), port.port, port.name.as_str()),
        ("srv-1", 20000, "srv-1:20000")
    );
    let server = graph
        .allocate(alloc(owner, proj, "k-srv", Spec::Server(ServerSpec {})))
        .await
        .expect("server");
    assert_eq!(server.server, "srv-1");
    let domain = Spec::Domain(DomainSpec {
        label: "weather-bot".into(),
    });
    let domain = graph
        .allocate(alloc(owner, proj, "k-dom", domain))
        .await
        .expect("domain");
    assert_eq!(domain.fqdn, "weather-bot.apps.example.test");
    let repo = Spec::Repository(RepositorySpec {
        name: "weather-bot".into(),
    });
    let repo = graph
        .allocate(alloc(owner, proj, "k-repo", repo))
        .await
        .expect("repo");
    assert_eq!(repo.repository, "acme/weather-bot");
    let budget = Spec::LlmBudget(LlmBudgetSpec {
        usd_micros: 2_500_000,
    });
    let budget = graph
        .allocate(alloc(owner, proj, "k-llm", budget))
        .await
        .expect("budget");
    assert_eq!(budget.usd_micros, 2_500_000);
    let secret = Spec::Secret(SecretSpec {
        source: Some(secret_spec::Source::SopsPath("llm.anthropic_key".into())),
        single_use: false,
    });
    let secret = graph
        .allocate(alloc(owner, proj, "k-sec", secret))
        .await
        .expect("secret");
    assert!(
        secret.handle.starts_with("hdl_") && secret.handle.len() == 36,
        "{}",
        secret.handle
    );
    assert_eq!(secret.secret_source, "sops:llm.anthropic_key");
    assert!(!format!("{secret:?}").contains("sk-ant-test-value"));
    let audited = audit(&pool, "resource.allocate", &secret.id).await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["actor"], "graph-runner");
    assert_eq!(audited[0]["detail"]["handle"], secret.handle.as_str());
    app.stop().await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_retried_allocate_returns_the_same_resource(pool: PgPool) {
    let app = TestApp::start(pool.clone()).await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let owner = user(&pool).await;
    let first = graph
        .allocate(alloc(owner, None, "same-key", port()))
        .await
        .expect("first");
    let again = graph
        .allocate(alloc(owner, None, "same-key", port()))
        .await
        .expect("retry");
    assert_eq!(again, first);
    let secret = Spec::Secret(SecretSpec {
        source: Some(secret_spec::Source::SopsPath("deploy.ssh_key".into())),
        single_use: true,
    });
    let (h1, h2) = tokio::join!(
        graph.allocate(alloc(owner, None, "sec-key", secret.clone())),
        graph.allocate(alloc(owner, None, "sec-key", secret))
    );
    assert_eq!(
        h1.expect("one").handle,
        h2.expect("two").handle,
        "concurrent retries share one handle"
    );
    let other = graph
        .allocate(alloc(owner, None, "fresh-key", port()))
        .await
        .expect("new key");
    assert_ne!(other.id, first.id);
    assert_eq!(other.port, 20001);
    let (reason, code, _) = refusal(
        &graph,
        alloc(owner, None, "same-key", Spec::Server(ServerSpec {})),
    )
    .await;
    assert_eq!(
        (reason, code),
        (Refusal::IdempotencyConflict, Code::AlreadyExists)
    );
    let live = graph.list(owner, None, false).await.expect("list");
    assert_eq!(live.len(), 3, "retries did not allocate twice");
    app.stop().await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn get_list_release_and_renew(pool: PgPool) {
    let app = TestApp::start(pool.clone()).await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let owner = user(&pool).await;
    let (p1, p2) = (project(&pool, owner).await, project(&pool, owner).await);
    let a = graph
        .allocate(alloc(owner, Some(p1), "a", port()))
        .await
        .expect("a");
    let b = graph
        .allocate(alloc(owner, Some(p2), "b", port()))
        .await
        .expect("b");
    let a_id: Uuid = a.id.parse().expect("uuid");
    assert_eq!(graph.get(owner, a_id).await.expect("get"), a);
    let of_p1 = graph.list(owner, Some(p1), false).await.expect("list p1");
    assert_eq!(
        of_p1.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [a.id.as_str()]
    );
    assert_eq!(graph.list(owner, None, false).await.expect("all").len(), 2);

    app.clock.advance(Duration::from_secs(600));
    let renewed = graph
        .renew(owner, a_id, Some(Duration::from_secs(7200)))
        .await
        .expect("renew");
    let end = renewed.lease_expires_at.expect("lease").seconds;
    assert_eq!(end, app.zavhoz.now().timestamp() + 7200);
    assert_eq!(audit(&pool, "resource.renew", &a.id).await.len(), 1);

    let released = graph.release(owner, a_id).await.expect("release");
    assert_eq!(released.state(), ResourceState::Released);
    assert!(released.released_at.is_some());
    assert_eq!(
        graph.release(owner, a_id).await.expect("idempotent"),
        released
    );
    assert_eq!(audit(&pool, "resource.release", &a.id).await.len(), 1);
    assert_eq!(graph.list(owner, None, false).await.expect("live").len(), 1);
    assert_eq!(graph.list(owner, None, true).await.expect("all").len(), 2);
    let error = graph.renew(owner, a_id, None).await.expect_err("released");
    assert_eq!(error.refusal(), Some(Refusal::LeaseExpired));
    let reused = graph
        .allocate(alloc(owner, None, "c", port()))
        .await
        .expect("c");
    assert_eq!(reused.port, a.port, "a released port is handed out again");
    let _ = b;
    app.stop().await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn quotas_limit_live_resources_per_person(pool: PgPool) {
    let app = TestApp::start_with(
        pool.clone(),
        crate::support::SecretsDir::new(crate::support::SECRETS_YAML),
        |c| c.default_quota = 3,
    )
    .await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let (alice, bob) = (user(&pool).await, user(&pool).await);
    sqlx::query("INSERT INTO quotas (user_id, kind, max_live) VALUES ($1, 'port', 2)")
        .bind(alice)
        .execute(&pool)
        .await
        .expect("quota");
    let first = graph
        .allocate(alloc(alice, None, "p1", port()))
        .await
        .expect("1");
    graph
        .allocate(alloc(alice, None, "p2", port()))
        .await
        .expect("2");
    let (reason, code, message) = refusal(&graph, alloc(alice, None, "p3", port())).await;
    assert_eq!(
        (reason, code),
        (Refusal::QuotaExceeded, Code::ResourceExhausted)
    );
    assert!(message.contains("2 of 2 live port"), "{message}");
    for i in 0..3 {
        graph
            .allocate(alloc(bob, None, &format!("b{i}"), port()))
            .await
            .expect("default quota");
    }
    let (reason, _, _) = refusal(&graph, alloc(bob, None, "b3", port())).await;
    assert_eq!(
        reason,
        Refusal::QuotaExceeded,
        "the default quota applies without a row"
    );
    graph
        .release(alice, first.id.parse().expect("uuid"))
        .await
        .expect("release");
    graph
        .allocate(alloc(alice, None, "p3", port()))
        .await
        .expect("room again after release");
    app.stop().await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn exhausted_pools_and_taken_names_are_typed_refusals(pool: PgPool) {
    let app = TestApp::start_with(
        pool.clone(),
        crate::support::SecretsDir::new(crate::support::SECRETS_YAML),
        |c| {
            c.port_range_end = 20001;
            c.servers = vec!["srv-1".into()];
        },
    )
    .await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let (alice, bob) = (user(&pool).await, user(&pool).await);
    for key in ["p1", "p2"] {
        graph
            .allocate(alloc(alice, None, key, port()))
            .await
            .expect("port");
    }
    let (reason, code, message) = refusal(&graph, alloc(bob, None, "p3", port())).await;
    assert_eq!(
        (reason, code),
        (Refusal::NoPortFree, Code::ResourceExhausted)
    );
    assert!(
        message.contains("no port free in 20000-20001 on srv-1"),
        "{message}"
    );
    graph
        .allocate(alloc(alice, None, "s1", Spec::Server(ServerSpec {})))
        .await
        .expect("server");
    let (reason, code, _) =
        refusal(&graph, alloc(bob, None, "s2", Spec::Server(ServerSpec {}))).await;
    assert_eq!(
        (reason, code),
        (Refusal::NoServerFree, Code::ResourceExhausted)
    );
    let domain = || {
        Spec::Domain(DomainSpec {
            label: "shop".into(),
        })
    };
    graph
        .allocate(alloc(alice, None, "d1", domain()))
        .await
        .expect("domain");
    let (reason, code, _) = refusal(&graph, alloc(bob, None, "d2", domain())).await;
    assert_eq!((reason, code), (Refusal::NameTaken, Code::AlreadyExists));
    let bad = Spec::Port(PortSpec {
        server: "srv-9".into(),
    });
    let error = graph
        .allocate(alloc(bob, None, "x", bad))
        .await
        .expect_err("unknown server");
    assert_eq!(error.code(), Some(Code::InvalidArgument));
    let bad = Spec::Domain(DomainSpec {
        label: "Not A Label".into(),
    });
    let error = graph
        .allocate(alloc(bob, None, "y", bad))
        .await
        .expect_err("bad label");
    assert_eq!(error.code(), Some(Code::InvalidArgument));
    app.stop().await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn unconfigured_kinds_and_unknown_people_are_refused_clearly(pool: PgPool) {
    let app = TestApp::start_with(
        pool.clone(),
        crate::support::SecretsDir::new(crate::support::SECRETS_YAML),
        |c| {
            c.base_domain = String::new();
            c.max_lease_secs = 7200;
        },
    )
    .await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let owner = user(&pool).await;
    let domain = Spec::Domain(DomainSpec {
        label: "shop".into(),
    });
    let (reason, code, message) = refusal(&graph, alloc(owner, None, "d", domain)).await;
    assert_eq!(
        (reason, code),
        (Refusal::NotConfigured, Code::FailedPrecondition)
    );
    assert!(message.contains("ZAVHOZ__BASE_DOMAIN"), "{message}");
    let error = graph
        .allocate(alloc(999_999, None, "u", port()))
        .await
        .expect_err("no such user");
    assert_eq!(error.code(), Some(Code::NotFound));
    let mut long = alloc(owner, None, "l", port());
    long.lease_ttl = Some(Duration::from_secs(7201));
    let error = graph.allocate(long).await.expect_err("lease too long");
    assert_eq!(error.code(), Some(Code::InvalidArgument));
    let missing = Spec::Secret(SecretSpec {
        source: Some(secret_spec::Source::SopsPath("llm.nope".into())),
        single_use: false,
    });
    let (reason, code, _) = refusal(&graph, alloc(owner, None, "m", missing)).await;
    assert_eq!(
        (reason, code),
        (Refusal::SecretMissing, Code::FailedPrecondition)
    );
    app.stop().await;
}
