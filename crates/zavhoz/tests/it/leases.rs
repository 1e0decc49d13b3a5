//! Leases on the manual clock: expiry releases a resource and revokes its handles after one reaper tick
//! (reliability 18), renewal keeps it alive, and releasing revokes its handles at once (reliability 19).

use std::time::Duration;

use orch_contracts::messages::worker::SecretHandle;
use orch_zavhoz_client::proto::{ResourceState, SecretSpec, secret_spec};
use orch_zavhoz_client::{Allocation, Refusal, Spec};
use sqlx::PgPool;
use uuid::Uuid;
use zavhoz::CallerIdentity;

use crate::support::{SECRETS_YAML, SecretsDir, TestApp, audit, user};

fn secret(owner: i64, key: &str, ttl: Duration) -> Allocation {
    Allocation {
        acting_user_id: owner,
        project_id: None,
        idempotency_key: key.into(),
        lease_ttl: Some(ttl),
        spec: Spec::Secret(SecretSpec {
            source: Some(secret_spec::Source::SopsPath("llm.anthropic_key".into())),
            single_use: false,
        }),
    }
}

async fn wait_for_state(
    app: &TestApp,
    owner: i64,
    id: Uuid,
    want: ResourceState,
) -> orch_zavhoz_client::proto::Resource {
    let graph = app.client(CallerIdentity::GraphRunner).await;
    for _ in 0..100 {
        let row = graph.get(owner, id).await.expect("get");
        if row.state() == want && row.released_at.is_some() {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("resource {id} never reached {want:?}");
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn an_expired_lease_stops_resolution_and_the_reaper_releases_it(pool: PgPool) {
    let app = TestApp::start_with(pool.clone(), SecretsDir::new(SECRETS_YAML), |c| {
        c.reaper_interval_ms = 50;
    })
    .await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let spawner = app.client(CallerIdentity::WorkerSpawner).await;
    let owner = user(&pool).await;
    let short = graph
        .allocate(secret(owner, "short", Duration::from_secs(60)))
        .await
        .expect("short");
    let long = graph
        .allocate(secret(owner, "long", Duration::from_secs(3600)))
        .await
        .expect("long");
    let handle = SecretHandle(short.handle.clone());
    spawner
        .resolve(&handle, "before expiry", None)
        .await
        .expect("resolves within the TTL");

    app.clock.advance(Duration::from_secs(61));
    let error = spawner
        .resolve(&handle, "after expiry", None)
        .await
        .expect_err("expired");
    assert_eq!(error.refusal(), Some(Refusal::HandleExpired));
    let id: Uuid = short.id.parse().expect("uuid");
    let reaped = wait_for_state(&app, owner, id, ResourceState::Expired).await;
    assert!(reaped.released_at.is_some());
    assert_eq!(audit(&pool, "resource.expire", &short.id).await.len(), 1);
    let revoked: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT revoked_at FROM secret_handles WHERE handle = $1")
            .bind(&short.handle)
            .fetch_one(&pool)
            .await
            .expect("handle row");
    assert!(revoked.is_some(), "the reaper revoked the handle");
    let error = spawner
        .resolve(&handle, "after reaping", None)
        .await
        .expect_err("still refused");
    assert_eq!(error.refusal(), Some(Refusal::HandleExpired));
    let long_handle = SecretHandle(long.handle.clone());
    spawner
        .resolve(&long_handle, "unaffected", None)
        .await
        .expect("the long lease still resolves");
    app.stop().await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn renewal_extends_the_lease_and_the_handle(pool: PgPool) {
    let app = TestApp::start(pool.clone()).await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let spawner = app.client(CallerIdentity::WorkerSpawner).await;
    let owner = user(&pool).await;
    let held = graph
        .allocate(secret(owner, "renewed", Duration::from_secs(60)))
        .await
        .expect("secret");
    let id: Uuid = held.id.parse().expect("uuid");
    app.clock.advance(Duration::from_secs(50));
    graph
        .renew(owner, id, Some(Duration::from_secs(60)))
        .await
        .expect("renew");
    app.clock.advance(Duration::from_secs(50));
    assert_eq!(
        app.zavhoz.reap().await.expect("reap"),
        0,
        "renewed: nothing to reap"
    );
    let handle = SecretHandle(held.handle.clone());
    spawner
        .resolve(&handle, "after renewal", None)
        .await
        .expect("renewed handle resolves");
    app.clock.advance(Duration::from_secs(11));
    assert_eq!(app.zavhoz.reap().await.expect("reap"), 1);
    let error = graph.renew(owner, id, None).await.expect_err("too late");
    assert_eq!(error.refusal(), Some(Refusal::LeaseExpired));
    app.stop().await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn releasing_revokes_handles_at_once(pool: PgPool) {
    let app = TestApp::start(pool.clone()).await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let spawner = app.client(CallerIdentity::WorkerSpawner).await;
    let owner = user(&pool).await;
    let held = graph
        .allocate(secret(owner, "released", Duration::from_secs(3600)))
        .await
        .expect("secret");
    let handle = SecretHandle(held.handle.clone());
    spawner
        .resolve(&handle, "while held", None)
        .await
        .expect("resolves");
    let started = std::time::Instant::now();
    let released = spawner
        .release(owner, held.id.parse().expect("uuid"))
        .await
        .expect("release");
    assert_eq!(released.state(), ResourceState::Released);
    let error = spawner
        .resolve(&handle, "after release", None)
        .await
        .expect_err("revoked");
    assert_eq!(error.refusal(), Some(Refusal::HandleRevoked));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "revoked within 5 s (reliability 19)"
    );
    let audited = audit(&pool, "resource.release", &held.id).await;
    assert_eq!(audited[0]["detail"]["revoked_handles"], 1);
    assert_eq!(audited[0]["actor"], "worker-spawner");
    app.stop().await;
}
