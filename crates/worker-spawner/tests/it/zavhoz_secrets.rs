//! Secret handles resolved through a real zavhoz (in-process, on the shared PostgreSQL, secrets.yaml encrypted
//! with a test age key), with worker-spawner's own credentials: values reach the worker and zavhoz's audit log
//! records every resolution; unknown, expired and redeemed handles become clear refusals; a spawner whose
//! credentials zavhoz does not accept fails with a clear error.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use orch_contracts::messages::worker::{
    SecretHandle, SecretInjection, WorkerProgress, WorkerSpawn, WorkerStatus,
};
use orch_contracts::{Envelope, ProjectId, RunId, StreamKey, WorkerId, streams};
use orch_service_kit::{CommonSettings, Service, Settings};
use orch_sops::{AgeIdentity, Document, Format, Recipient};
use orch_zavhoz_client::proto::{SecretSpec, secret_spec};
use orch_zavhoz_client::{Allocation, Spec, ZavhozClient, ZavhozClientConfig};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use worker_spawner::config::SecretBackend;
use worker_spawner::secrets::{ResolveContext, SecretError, SecretResolver, ZavhozSecrets};
use zavhoz::{CallerIdentity, ManualClock, TokenDigest, ZavhozConfig};

use crate::support::{self, Fleet, Git};

fn token(identity: CallerIdentity) -> String {
    format!(
        "zvh_test_{}_{}",
        identity.as_str(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A zavhoz running in this process, with tokens for worker-spawner and graph-runner.
struct Zavhoz {
    url: String,
    clock: Arc<ManualClock>,
    spawner_token: String,
    graph_token: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Zavhoz {
    /// Starts zavhoz with a secrets.yaml holding the git token and `canary`.
    async fn start(canary: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let identity = AgeIdentity::generate();
        let key_file = dir.path().join("keys.txt");
        std::fs::write(&key_file, identity.to_string().expose_secret()).expect("key file");
        let recipient = Recipient::parse(&identity.to_public().to_string()).expect("recipient");
        let plain = format!(
            "git:\n    token: {}\nworker:\n    canary: {canary}\n",
            support::TOKEN
        );
        let doc = Document::parse(&plain, Format::Yaml).expect("yaml");
        let file = orch_sops::encrypt(&doc, &[recipient], Format::Yaml).expect("encrypts");
        let secrets_file = dir.path().join("secrets.yaml");
        std::fs::write(&secrets_file, file.to_string()).expect("secrets file");
        let spawner_token = token(CallerIdentity::WorkerSpawner);
        let graph_token = token(CallerIdentity::GraphRunner);
        let callers = BTreeMap::from([
            (
                CallerIdentity::WorkerSpawner,
                TokenDigest::of_token(&spawner_token),
            ),
            (
                CallerIdentity::GraphRunner,
                TokenDigest::of_token(&graph_token),
            ),
        ]);
        let service = ZavhozConfig {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            secrets_file,
            age_key_file: Some(key_file),
            callers,
            reaper_interval_ms: 3_600_000,
            ..ZavhozConfig::default()
        };
        let settings = Settings {
            common: CommonSettings {
                database_url: Some(SecretString::from(support::database_url())),
                ..CommonSettings::default()
            },
            service,
        };
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let app = zavhoz::Application::build_with_clock(settings, clock.clone())
            .await
            .expect("zavhoz builds");
        let url = format!("http://{}", app.grpc_addr().expect("grpc addr"));
        let stop = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(stop.clone()));
        Self {
            url,
            clock,
            spawner_token,
            graph_token,
            stop,
            task,
            _dir: dir,
        }
    }

    fn config(&self, token: &str) -> ZavhozClientConfig {
        ZavhozClientConfig::new(self.url.clone(), token)
    }

    async fn client(&self, token: &str) -> ZavhozClient {
        ZavhozClient::connect(&self.config(token))
            .await
            .expect("connects")
    }

    /// Allocates a handle to the secrets.yaml value at `path` for the project's owner (as graph-runner).
    async fn handle(
        &self,
        pool: &PgPool,
        project: ProjectId,
        path: &str,
        single_use: bool,
    ) -> SecretHandle {
        self.handle_with_ttl(pool, project, path, single_use, None)
            .await
    }

    async fn handle_with_ttl(
        &self,
        pool: &PgPool,
        project: ProjectId,
        path: &str,
        single_use: bool,
        lease_ttl: Option<Duration>,
    ) -> SecretHandle {
        let owner: i64 = sqlx::query_scalar("SELECT owner_user_id FROM projects WHERE id = $1")
            .bind(project.0)
            .fetch_one(pool)
            .await
            .expect("project owner");
        let allocation = Allocation {
            acting_user_id: owner,
            project_id: Some(project.0),
            idempotency_key: format!("spawner-test-{}", uuid::Uuid::new_v4().simple()),
            lease_ttl,
            spec: Spec::Secret(SecretSpec {
                source: Some(secret_spec::Source::SopsPath(path.into())),
                single_use,
            }),
        };
        let resource = self
            .client(&self.graph_token)
            .await
            .allocate(allocation)
            .await
            .expect("allocates a handle");
        SecretHandle(resource.handle)
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task
            .await
            .expect("joins")
            .expect("zavhoz stops cleanly");
    }
}

/// A fleet whose spawner resolves through `zavhoz` with `token`.
fn fleet(git: &Git, zavhoz: &Zavhoz, token: &str) -> Fleet {
    let mut fleet = Fleet::new(git);
    fleet.config.secrets.backend = SecretBackend::Zavhoz;
    fleet.config.zavhoz = zavhoz.config(token);
    fleet
}

/// Audit records `(actor, detail, run_id)` of `action` on `subject`, oldest first.
async fn audit(
    pool: &PgPool,
    action: &str,
    subject: &str,
) -> Vec<(String, serde_json::Value, Option<uuid::Uuid>)> {
    sqlx::query_as("SELECT actor, detail, run_id FROM audit_log WHERE action = $1 AND subject = $2 ORDER BY id")
        .bind(action)
        .bind(subject)
        .fetch_all(pool)
        .await
        .expect("audit")
}

async fn publish_in_run(bus: &orch_bus::Bus, spawn: &WorkerSpawn, run: RunId) {
    bus.publish(
        &StreamKey::from(streams::WORKER_SPAWN),
        &Envelope::new(spawn.clone()).with_run(run),
    )
    .await
    .expect("publish spawn");
}

/// The git token and a single-use canary, both held by zavhoz, reach the worker (the canary in the agent's
/// environment, byte for byte; the token only git); neither reaches progress or the result; zavhoz audited
/// both resolutions with the worker, the variable and the run, and the single-use handle is spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_zavhoz_resolves_reach_the_worker_and_its_audit_log() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let canary = format!("canary-{}", uuid::Uuid::new_v4().simple());
    let zavhoz = Zavhoz::start(&canary).await;
    let git_handle = zavhoz.handle(&pool, project, "git.token", false).await;
    let canary_handle = zavhoz.handle(&pool, project, "worker.canary", true).await;
    let fleet = fleet(&git, &zavhoz, &zavhoz.spawner_token);
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let mut spawn = support::spawn(
        &git,
        project,
        "task/zavhoz",
        "@run echo leaking $CANARY_TOKEN\n@record env.txt printf %s \"$CANARY_TOKEN\" | sha256sum\n@record git.txt echo git-token=${GIT_TOKEN:-unset}\n",
    );
    spawn.secrets = vec![
        SecretInjection {
            env: "GIT_TOKEN".into(),
            handle: git_handle.clone(),
        },
        SecretInjection {
            env: "CANARY_TOKEN".into(),
            handle: canary_handle.clone(),
        },
    ];
    let run = RunId::new();
    publish_in_run(&bus, &spawn, run).await;

    let result = support::result(&bus, spawn.worker_id, Duration::from_secs(120)).await;
    assert_eq!(result.status, WorkerStatus::Succeeded, "{result:?}");
    assert!(result.verified, "pushed with the token zavhoz resolved");
    let digest = hex(&Sha256::digest(canary.as_bytes()));
    let env = git.file("task/zavhoz", "env.txt");
    assert!(env.contains(&digest), "the agent saw another value: {env}");
    let git_env = git.file("task/zavhoz", "git.txt");
    assert!(git_env.contains("git-token=unset"), "{git_env}");
    let progress = progress_lines(&bus, spawn.worker_id).await;
    assert!(
        progress.iter().any(|l| l == "leaking [REDACTED]"),
        "{progress:?}"
    );
    let everything = format!("{progress:?} {result:?}");
    assert!(
        !everything.contains(&canary),
        "the secret leaked: {everything}"
    );

    for (handle, env) in [(&git_handle, "GIT_TOKEN"), (&canary_handle, "CANARY_TOKEN")] {
        let resolved = audit(&pool, "secret.resolve", &handle.0).await;
        assert_eq!(resolved.len(), 1, "one resolution of {env}: {resolved:?}");
        let (actor, detail, run_id) = &resolved[0];
        assert_eq!(actor, "worker-spawner");
        assert_eq!(
            detail["purpose"],
            format!("worker {} env {env}", spawn.worker_id)
        );
        assert_eq!(*run_id, Some(run.0));
        assert!(!detail.to_string().contains(&canary));
    }
    let again = zavhoz
        .client(&zavhoz.spawner_token)
        .await
        .resolve(&canary_handle, "replay check", None)
        .await;
    assert!(
        again.is_err(),
        "the single-use handle was redeemed by the spawn"
    );
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
    zavhoz.stop().await;
}

/// Unknown, expired and already redeemed handles: each spawn gets a `rejected` result naming the reason, its
/// row is finished, no container runs, and the spawner keeps serving (a good spawn after them succeeds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_expired_and_redeemed_handles_are_clear_refusals() {
    let _slot = support::docker_slot().await;
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let zavhoz = Zavhoz::start("unused-canary-value").await;
    let good = zavhoz.handle(&pool, project, "git.token", false).await;
    let expiring = zavhoz
        .handle_with_ttl(
            &pool,
            project,
            "git.token",
            false,
            Some(Duration::from_secs(60)),
        )
        .await;
    let redeemed = zavhoz.handle(&pool, project, "git.token", true).await;
    zavhoz
        .client(&zavhoz.spawner_token)
        .await
        .resolve(&redeemed, "spent before the spawn", None)
        .await
        .expect("first redemption");
    zavhoz.clock.advance(Duration::from_secs(120));
    let fleet = fleet(&git, &zavhoz, &zavhoz.spawner_token);
    let spawner = fleet.start().await;
    let bus = fleet.bus();
    let with_handle = |branch: &str, handle: &SecretHandle| {
        let mut spawn = support::spawn(&git, project, branch, "@write a.txt a\n");
        spawn.secrets[0].handle = handle.clone();
        spawn
    };
    let unknown = with_handle(
        "task/unknown",
        &SecretHandle("hdl_NoSuchHandle0000000000000000000".into()),
    );
    let expired = with_handle("task/expired", &expiring);
    let replayed = with_handle("task/replayed", &redeemed);
    let fine = with_handle("task/fine", &good);
    for spawn in [&unknown, &expired, &replayed, &fine] {
        support::publish(&bus, spawn).await;
    }
    for (spawn, expected) in [
        (&unknown, "unknown secret handle"),
        (&expired, "HANDLE_EXPIRED"),
        (&replayed, "HANDLE_REDEEMED"),
    ] {
        let result = support::result(&bus, spawn.worker_id, Duration::from_secs(60)).await;
        assert_eq!(result.status, WorkerStatus::Rejected, "{result:?}");
        assert!(result.summary.contains(expected), "{}", result.summary);
        assert!(!result.status.is_retryable());
        let status: String = sqlx::query_scalar("SELECT status::text FROM workers WHERE id = $1")
            .bind(spawn.worker_id.0)
            .fetch_one(&pool)
            .await
            .expect("the spawn is recorded");
        assert_eq!(status, "rejected");
        assert!(
            audit(&pool, "secret.inject", &spawn.secrets[0].handle.0)
                .await
                .iter()
                .all(|(_, detail, _)| detail["worker_id"] != spawn.worker_id.to_string())
        );
    }
    let refused = audit(&pool, "secret.resolve_refused", &expiring.0).await;
    assert_eq!(refused.len(), 1, "zavhoz audited the refusal: {refused:?}");
    assert!(!audit(&pool, "secret.replay", &redeemed.0).await.is_empty());
    // The clock moved only zavhoz's view of leases; the good handle has zavhoz's default lease (an hour).
    let result = support::result(&bus, fine.worker_id, Duration::from_secs(120)).await;
    assert_eq!(result.status, WorkerStatus::Succeeded, "{result:?}");
    spawner.stop().await;
    fleet.assert_no_leftovers().await;
    zavhoz.stop().await;
}

/// Credentials zavhoz does not accept: a spawner holding graph-runner's token (authenticated, not allowed to
/// resolve: PERMISSION_DENIED) or an unknown token (UNAUTHENTICATED) refuses to start, naming the setting, and
/// creates nothing; a resolver whose token stops being accepted refuses the spawn with the same reason and
/// leaves the handle usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawner_with_wrong_credentials_fails_clearly() {
    let git = Git::start().await;
    let pool = support::pool().await;
    let project = support::project(&pool, 2).await;
    let zavhoz = Zavhoz::start("unused-canary-value").await;
    for (token, code) in [
        (zavhoz.graph_token.clone(), "PermissionDenied"),
        ("zvh_not_a_known_token".to_owned(), "Unauthenticated"),
    ] {
        let fleet = fleet(&git, &zavhoz, &token);
        let settings = Settings {
            common: fleet.common(),
            service: fleet.config.clone(),
        };
        let error = match worker_spawner::Application::build(settings).await {
            Ok(_) => panic!("a spawner with a {code} token started"),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.contains(code), "{error}");
        assert!(error.contains("WORKER_SPAWNER__ZAVHOZ__TOKEN"), "{error}");
        fleet.assert_no_leftovers().await;
    }
    let denied = audit(&pool, "secret.resolve_denied", "credential-check").await;
    assert!(
        denied.iter().any(|(actor, _, _)| actor == "graph-runner"),
        "{denied:?}"
    );

    let handle = zavhoz.handle(&pool, project, "git.token", true).await;
    let context = ResolveContext {
        worker_id: WorkerId::new(),
        env: "GIT_TOKEN".into(),
        run_id: None,
    };
    let wrong = ZavhozSecrets::new(&zavhoz.config(&zavhoz.graph_token)).expect("client");
    let error = wrong
        .resolve(&handle, &context)
        .await
        .expect_err("graph-runner may not resolve");
    assert!(error.is_refusal(), "{error}");
    assert!(
        matches!(&error, SecretError::Refused { reason, .. } if reason.contains("PermissionDenied")),
        "{error}"
    );
    let right = ZavhozSecrets::new(&zavhoz.config(&zavhoz.spawner_token)).expect("client");
    let value = right
        .resolve(&handle, &context)
        .await
        .expect("the denied attempt did not spend the single-use handle");
    assert_eq!(value.expose_secret(), support::TOKEN);
    zavhoz.stop().await;
}

/// Zavhoz down: the spawner still starts (a warning), and a spawn's resolution is a retryable backend error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_zavhoz_is_a_retryable_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let config = ZavhozClientConfig::new(format!("http://127.0.0.1:{port}"), "zvh_whatever");
    let secrets = ZavhozSecrets::new(&config).expect("client");
    assert!(
        !secrets
            .check_credentials()
            .await
            .expect("not a credential error")
    );
    let context = ResolveContext {
        worker_id: WorkerId::new(),
        env: "GIT_TOKEN".into(),
        run_id: None,
    };
    let error = secrets
        .resolve(&SecretHandle(support::TOKEN_HANDLE.into()), &context)
        .await
        .expect_err("nobody answers");
    assert!(matches!(error, SecretError::Backend { .. }), "{error}");
    assert!(!error.is_refusal());
}

async fn progress_lines(bus: &orch_bus::Bus, worker: WorkerId) -> Vec<String> {
    bus.read_after::<WorkerProgress>(
        &streams::worker_progress(worker),
        "0-0",
        1000,
        Duration::from_millis(10),
    )
    .await
    .expect("progress")
    .into_iter()
    .flat_map(|(_, p)| p.expect("valid").body.lines)
    .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
