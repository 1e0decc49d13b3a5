//! SecretService over gRPC: resolving secrets.yaml paths and chat-given secrets, the audit record written
//! with the redemption, single-use handles (reliability 17), failing closed when the audit insert fails
//! (reliability 20), and reloading secrets.yaml.

use orch_contracts::messages::worker::SecretHandle;
use orch_zavhoz_client::proto::{SecretSpec, secret_spec};
use orch_zavhoz_client::{Allocation, ClientError, Refusal, Spec, ZavhozClient};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use tonic::Code;
use uuid::Uuid;
use zavhoz::CallerIdentity;

use crate::logs;
use crate::support::{TestApp, audit, project, user};

fn handle_spec(source: secret_spec::Source, single_use: bool) -> Spec {
    Spec::Secret(SecretSpec {
        source: Some(source),
        single_use,
    })
}

async fn allocate(
    client: &ZavhozClient,
    owner: i64,
    project: Option<Uuid>,
    key: &str,
    spec: Spec,
) -> SecretHandle {
    let allocation = Allocation {
        acting_user_id: owner,
        project_id: project,
        idempotency_key: key.into(),
        lease_ttl: None,
        spec,
    };
    SecretHandle(client.allocate(allocation).await.expect("allocates").handle)
}

fn sops(path: &str) -> secret_spec::Source {
    secret_spec::Source::SopsPath(path.into())
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn resolvers_get_values_from_sops_and_from_chat(pool: PgPool) {
    let app = TestApp::start(pool.clone()).await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let spawner = app.client(CallerIdentity::WorkerSpawner).await;
    let devops = app.client(CallerIdentity::DevopsRunner).await;
    let owner = user(&pool).await;
    let proj = Some(project(&pool, owner).await);

    let from_sops = allocate(
        &graph,
        owner,
        proj,
        "k1",
        handle_spec(sops("llm.anthropic_key"), false),
    )
    .await;
    let run = Uuid::now_v7();
    let value = spawner
        .resolve(&from_sops, "worker w1 env ANTHROPIC_API_KEY", Some(run))
        .await
        .expect("resolves");
    assert_eq!(value.value.expose_secret(), "sk-ant-test-value");
    let again = devops
        .resolve(&from_sops, "deploy", None)
        .await
        .expect("reusable handle");
    assert_eq!(again.value.expose_secret(), "sk-ant-test-value");

    let token = SecretString::from("123456:bot-token-from-chat".to_owned());
    graph
        .store_user_secret(owner, proj, "telegram_bot_token", &token)
        .await
        .expect("stores");
    let stored: String =
        sqlx::query_scalar("SELECT ciphertext FROM user_secrets WHERE owner_user_id = $1")
            .bind(owner)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert!(stored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert!(!stored.contains("bot-token-from-chat"));
    let user_source = secret_spec::Source::UserSecret("telegram_bot_token".into());
    let from_chat = allocate(&graph, owner, proj, "k2", handle_spec(user_source, false)).await;
    let value = devops
        .resolve(&from_chat, "deploy env BOT_TOKEN", None)
        .await
        .expect("resolves");
    assert_eq!(value.value.expose_secret(), "123456:bot-token-from-chat");

    let replaced = SecretString::from("123456:rotated".to_owned());
    graph
        .store_user_secret(owner, proj, "telegram_bot_token", &replaced)
        .await
        .expect("replaces");
    let value = devops
        .resolve(&from_chat, "after rotation", None)
        .await
        .expect("resolves");
    assert_eq!(
        value.value.expose_secret(),
        "123456:rotated",
        "the handle follows the stored secret"
    );

    let records = audit(&pool, "secret.resolve", &from_sops.0).await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["actor"], "worker-spawner");
    assert_eq!(
        records[0]["detail"]["purpose"],
        "worker w1 env ANTHROPIC_API_KEY"
    );
    assert_eq!(records[0]["run_id"], run.to_string());
    assert_eq!(records[1]["actor"], "devops-runner");
    let everything = sqlx::query_scalar::<_, String>("SELECT detail::text FROM audit_log")
        .fetch_all(&pool)
        .await
        .expect("audit");
    assert!(
        everything
            .iter()
            .all(|d| !d.contains("sk-ant-test-value") && !d.contains("bot-token"))
    );
    app.stop().await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn a_single_use_handle_redeems_once_and_a_replay_raises_an_alert(pool: PgPool) {
    logs::capture();
    let app = TestApp::start(pool.clone()).await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let spawner = app.client(CallerIdentity::WorkerSpawner).await;
    let owner = user(&pool).await;
    let handle = allocate(
        &graph,
        owner,
        None,
        "once",
        handle_spec(sops("deploy.ssh_key"), true),
    )
    .await;
    let first = spawner
        .resolve(&handle, "first", None)
        .await
        .expect("first redeem");
    assert_eq!(first.value.expose_secret(), "ssh-test-value");
    let error = spawner
        .resolve(&handle, "second", None)
        .await
        .expect_err("second redeem");
    assert!(
        matches!(
            error,
            ClientError::Refused {
                refusal: Refusal::HandleRedeemed,
                code: Code::FailedPrecondition,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(audit(&pool, "secret.resolve", &handle.0).await.len(), 1);
    let replays = audit(&pool, "secret.replay", &handle.0).await;
    assert_eq!(replays.len(), 1, "the replay is audited");
    assert_eq!(replays[0]["detail"]["purpose"], "second");
    let logged = logs::captured();
    let alert = logged
        .lines()
        .find(|l| l.contains("ALERT") && l.contains(&handle.0))
        .expect("an ALERT line names the handle");
    assert!(alert.contains("\"level\":\"ERROR\""), "{alert}");
    let metrics = reqwest::get(format!("{}/metrics", app.http_url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("zavhoz_secret_replays_total 1"),
        "{metrics}"
    );

    let racing = allocate(
        &graph,
        owner,
        None,
        "race",
        handle_spec(sops("deploy.ssh_key"), true),
    )
    .await;
    let attempts = (0..8).map(|i| {
        let spawner = spawner.clone();
        let racing = racing.clone();
        async move { spawner.resolve(&racing, &format!("racer {i}"), None).await }
    });
    let results = futures::future::join_all(attempts).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "exactly one concurrent redeem wins"
    );
    app.stop().await;
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn resolution_fails_closed_when_the_audit_insert_fails(pool: PgPool) {
    let app = TestApp::start(pool.clone()).await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let spawner = app.client(CallerIdentity::WorkerSpawner).await;
    let owner = user(&pool).await;
    let handle = allocate(
        &graph,
        owner,
        None,
        "audited",
        handle_spec(sops("deploy.ssh_key"), true),
    )
    .await;
    audit_failpoint(&pool, "secret.resolve", true).await;
    let error = spawner
        .resolve(&handle, "audit down", None)
        .await
        .expect_err("fails closed");
    assert_eq!(error.code(), Some(Code::Internal));
    assert!(!error.to_string().contains("ssh-test-value"), "{error}");
    let redeemed: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT redeemed_at FROM secret_handles WHERE handle = $1")
            .bind(&handle.0)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert!(
        redeemed.is_none(),
        "the redemption was rolled back with the audit insert"
    );

    audit_failpoint(&pool, "resource.allocate", true).await;
    let allocation = Allocation {
        acting_user_id: owner,
        project_id: None,
        idempotency_key: "unaudited".into(),
        lease_ttl: None,
        spec: handle_spec(sops("deploy.ssh_key"), false),
    };
    let error = graph
        .allocate(allocation)
        .await
        .expect_err("allocation fails closed");
    assert_eq!(error.code(), Some(Code::Internal));
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM resources WHERE idempotency_key = 'unaudited'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(rows, 0, "nothing was allocated");

    // Negative control: with the failpoint off the same handle resolves, so the test can tell.
    audit_failpoint(&pool, "", false).await;
    let value = spawner
        .resolve(&handle, "audit back", None)
        .await
        .expect("resolves");
    assert_eq!(value.value.expose_secret(), "ssh-test-value");
    assert_eq!(audit(&pool, "secret.resolve", &handle.0).await.len(), 1);
    app.stop().await;
}

/// Makes audit inserts of `action` raise (on), or removes the failpoint (off). Test database only.
async fn audit_failpoint(pool: &PgPool, action: &str, on: bool) {
    sqlx::query("DROP TRIGGER IF EXISTS audit_failpoint ON audit_log")
        .execute(pool)
        .await
        .expect("drop trigger");
    if !on {
        return;
    }
    let function = format!(
        "CREATE OR REPLACE FUNCTION audit_failpoint() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.action = '{action}' THEN RAISE EXCEPTION 'audit failpoint'; END IF; RETURN NEW; END $$"
    );
    sqlx::query(sqlx::AssertSqlSafe(function))
        .execute(pool)
        .await
        .expect("function");
    sqlx::query(
        "CREATE TRIGGER audit_failpoint BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_failpoint()",
    )
    .execute(pool)
    .await
    .expect("trigger");
}

#[sqlx::test(migrator = "orch_store::MIGRATOR")]
async fn the_operator_reloads_secrets_and_a_broken_file_keeps_the_old_ones(pool: PgPool) {
    let app = TestApp::start(pool.clone()).await;
    let graph = app.client(CallerIdentity::GraphRunner).await;
    let operator = app.client(CallerIdentity::Operator).await;
    let spawner = app.client(CallerIdentity::WorkerSpawner).await;
    let owner = user(&pool).await;
    app.secrets
        .write("llm:\n    anthropic_key: sk-ant-rotated\n    openai_key: sk-openai\n");
    let denied = graph
        .reload_secrets()
        .await
        .expect_err("graph-runner may not reload");
    assert_eq!(denied.code(), Some(Code::PermissionDenied));
    assert_eq!(operator.reload_secrets().await.expect("reloads"), 2);
    let handle = allocate(
        &graph,
        owner,
        None,
        "new",
        handle_spec(sops("llm.openai_key"), false),
    )
    .await;
    let value = spawner
        .resolve(&handle, "new key", None)
        .await
        .expect("resolves");
    assert_eq!(value.value.expose_secret(), "sk-openai");
    std::fs::write(&app.secrets.secrets_file, "llm: [broken").expect("break the file");
    let error = operator.reload_secrets().await.expect_err("broken file");
    assert_eq!(error.code(), Some(Code::FailedPrecondition));
    assert!(error.to_string().contains("secrets.yaml"), "{error}");
    let value = spawner
        .resolve(&handle, "still served", None)
        .await
        .expect("old values stay");
    assert_eq!(value.value.expose_secret(), "sk-openai");
    assert_eq!(
        audit(&pool, "secrets.reload", "secrets.yaml").await.len(),
        1
    );
    app.stop().await;
}
