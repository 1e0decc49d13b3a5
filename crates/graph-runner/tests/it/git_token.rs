//! Each project's git token handle from a real zavhoz (in-process, on the test database, secrets.yaml
//! encrypted to a fresh age key), with the graph-runner's own credentials: the architect allocates it once even
//! when the step runs again, every spawn carries it, and the handle resolves (for the worker-spawner only) to
//! the configured token. Zavhoz refusing or being down is told to the person, and the step recovers once the
//! cause is gone.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use graph_runner::config::{WorkerSettings, ZavhozSettings};
use graph_runner::{GithubSettings, git_token};
use orch_bus::Group;
use orch_contracts::messages::worker::{AgentKind, SecretHandle, WorkerSpawn};
use orch_contracts::{Envelope, ProjectId, StreamKey, streams};
use orch_service_kit::{CommonSettings, Service as _, Settings};
use orch_sops::{AgeIdentity, Document, Format, Recipient};
use orch_testkit::github::{Fault, GithubSim, GithubSimConfig};
use orch_testkit::llm::{Answer, Rule};
use orch_zavhoz_client::{ZavhozClient, ZavhozClientConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;
use zavhoz::{CallerIdentity, TokenDigest, ZavhozConfig};

use crate::architect::{TOKEN, approve, plan};
use crate::support::service::{Service, seed, text};
use crate::support::weather_rules;

const WAIT: Duration = Duration::from_secs(30);
/// The workers' git token in secrets.yaml: a canary that must never reach the graph.
const WORKERS_TOKEN: &str = "ghp_workers_canary_5f1d2c";
const SOPS_PATH: &str = "git.workers_token";

fn caller_token(identity: CallerIdentity) -> String {
    format!(
        "zvh_test_{}_{}",
        identity.as_str(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A zavhoz running in this process on the graph-runner's test database.
struct Zavhoz {
    url: String,
    graph_token: String,
    spawner_token: String,
    operator_token: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    dir: tempfile::TempDir,
    identity: AgeIdentity,
}

impl Zavhoz {
    /// Starts zavhoz on `grpc` with a secrets.yaml holding `yaml` (encrypted to a fresh age key).
    async fn start(database_url: &str, grpc: SocketAddr, yaml: &str) -> Self {
        let graph_token = caller_token(CallerIdentity::GraphRunner);
        Self::start_for(database_url, grpc, yaml, graph_token).await
    }

    /// Like [`Zavhoz::start`], accepting `graph_token` as the graph-runner's token.
    async fn start_for(
        database_url: &str,
        grpc: SocketAddr,
        yaml: &str,
        graph_token: String,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let identity = AgeIdentity::generate();
        let key_file = dir.path().join("keys.txt");
        std::fs::write(&key_file, identity.to_string().expose_secret()).expect("key file");
        let (spawner_token, operator_token) = (
            caller_token(CallerIdentity::WorkerSpawner),
            caller_token(CallerIdentity::Operator),
        );
        let mut zavhoz = Self {
            url: format!("http://{grpc}"),
            graph_token,
            spawner_token,
            operator_token,
            stop: CancellationToken::new(),
            task: tokio::spawn(async { Ok(()) }),
            dir,
            identity,
        };
        zavhoz.write_secrets(yaml);
        let callers = BTreeMap::from([
            (
                CallerIdentity::GraphRunner,
                TokenDigest::of_token(&zavhoz.graph_token),
            ),
            (
                CallerIdentity::WorkerSpawner,
                TokenDigest::of_token(&zavhoz.spawner_token),
            ),
            (
                CallerIdentity::Operator,
                TokenDigest::of_token(&zavhoz.operator_token),
            ),
        ]);
        let service = ZavhozConfig {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            grpc_listen: grpc,
            secrets_file: zavhoz.dir.path().join("secrets.yaml"),
            age_key_file: Some(key_file),
            callers,
            reaper_interval_ms: 3_600_000,
            ..ZavhozConfig::default()
        };
        let settings = Settings {
            common: CommonSettings {
                database_url: Some(SecretString::from(database_url.to_owned())),
                ..CommonSettings::default()
            },
            service,
        };
        let app = zavhoz::Application::build(settings)
            .await
            .expect("zavhoz builds");
        zavhoz.task = tokio::spawn(app.run_until_stopped(zavhoz.stop.clone()));
        zavhoz
    }

    /// Replaces secrets.yaml (zavhoz reads it at start and on reload).
    fn write_secrets(&self, yaml: &str) {
        let recipient =
            Recipient::parse(&self.identity.to_public().to_string()).expect("recipient");
        let doc = Document::parse(yaml, Format::Yaml).expect("yaml");
        let file = orch_sops::encrypt(&doc, &[recipient], Format::Yaml).expect("encrypts");
        std::fs::write(self.dir.path().join("secrets.yaml"), file.to_string())
            .expect("secrets file");
    }

    async fn client(&self, token: &str) -> ZavhozClient {
        ZavhozClient::connect(&ZavhozClientConfig::new(self.url.clone(), token))
            .await
            .expect("connects to zavhoz")
    }

    /// The graph-runner's settings for this zavhoz.
    fn settings(&self, sops_path: &str) -> ZavhozSettings {
        zavhoz_settings(&self.url, &self.graph_token, sops_path)
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task
            .await
            .expect("joins")
            .expect("zavhoz stops cleanly");
    }
}

fn zavhoz_settings(url: &str, token: &str, sops_path: &str) -> ZavhozSettings {
    ZavhozSettings {
        url: url.to_owned(),
        token: SecretString::from(token.to_owned()),
        git_token_sops_path: sops_path.to_owned(),
        git_token_lease_secs: 24 * 3600,
    }
}

fn secrets_yaml() -> String {
    format!("git:\n    workers_token: {WORKERS_TOKEN}\n")
}

/// A free loopback address (bound and released: zavhoz may start there later).
fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// The graph-runner with the architect, GitHub (the simulator) and workers configured; not running yet.
async fn factory_service() -> (Service, GithubSim) {
    let sim = GithubSim::start(
        GithubSimConfig::default()
            .with_token("orchestrator", TOKEN)
            .with_org_member("acme", "orchestrator"),
    )
    .await
    .expect("github simulator");
    let mut rules = vec![
        Rule::new(Answer::text(plan().to_string())).when_last_user_contains("The approved spec"),
    ];
    rules.extend(weather_rules());
    let mut s = Service::new(rules).await;
    s.config.architect = Some(seed(&s.llm.base_url()));
    s.config.workers = WorkerSettings {
        agent: AgentKind::Scripted,
        poll_ms: 50,
        git_token_handle: Some("hdl_configuredfallback000000000001".into()),
        ..WorkerSettings::default()
    };
    s.config.github = Some(GithubSettings {
        api_url: sim.api_url(),
        token: SecretString::from(TOKEN.to_owned()),
        org: Some("acme".to_owned()),
    });
    (s, sim)
}

fn database_url(s: &Service) -> String {
    let url = s.settings().common.database_url.expect("database url");
    url.expose_secret().to_owned()
}

/// Reads `n` spawns from `group` (created before they were published).
async fn spawns(group: &Group, n: usize) -> Vec<WorkerSpawn> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} spawns: {seen:#?}",
            seen.len()
        );
        for entry in group
            .read_new(10, Duration::from_millis(200))
            .await
            .expect("read spawns")
        {
            let spawn = Envelope::<WorkerSpawn>::from_fields(&entry.fields).expect("a valid spawn");
            seen.push(spawn.body);
        }
    }
    seen
}

async fn spawn_reader(s: &Service) -> Group {
    let group = Group::new(
        &s.bus,
        &StreamKey::from(streams::WORKER_SPAWN),
        "test-spawns",
        "t",
    );
    group.ensure().await.expect("group");
    group
}

async fn project_id(s: &Service) -> ProjectId {
    let json = s.json("SELECT to_jsonb(id) FROM projects").await;
    ProjectId(serde_json::from_value(json).expect("project id"))
}

/// The handles of live git-token resources of the project, and how many such resources exist.
async fn git_token_handles(s: &Service, project: ProjectId) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT h.handle FROM resources r JOIN secret_handles h ON h.resource_id = r.id
         WHERE r.project_id = $1 AND r.idempotency_key = $2",
    )
    .bind(project.0)
    .bind(git_token::idempotency_key(project))
    .fetch_all(s.store.pool())
    .await
    .expect("handles")
}

// Multi-threaded: zavhoz, the simulators and the graph-runner share this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_architect_allocates_the_projects_token_once_and_every_spawn_carries_it() {
    let (mut s, sim) = factory_service().await;
    let zavhoz = Zavhoz::start(&database_url(&s), free_addr(), &secrets_yaml()).await;
    s.config.zavhoz = Some(zavhoz.settings(SOPS_PATH));
    s.run().await;
    let reader = spawn_reader(&s).await;
    // Creating the repository fails on the first run of the step (after the token was allocated): GitHub
    // answers 502 to every one of the client's 4 attempts, the person is told once, and the step runs again
    // when the bus redelivers the approval.
    sim.inject_fault(
        Fault::status(502)
            .times(4)
            .on_path("/orgs/acme/repos")
            .on_method("POST"),
    );

    let replies = approve(&s, 6).await;
    assert!(
        text(&replies[3]).contains("GitHub is not answering"),
        "{replies:#?}"
    );
    assert!(
        text(&replies[4]).contains("Repository acme/weather-bot is ready"),
        "{replies:#?}"
    );
    assert!(
        sim.count_requests("POST", "/orgs/acme/repos") >= 2,
        "the step ran again after the failed repository creation"
    );
    let project = project_id(&s).await;
    let handles = git_token_handles(&s, project).await;
    assert_eq!(handles.len(), 1, "one resource, one handle: {handles:?}");
    let handle = &handles[0];
    for spawn in spawns(&reader, 2).await {
        let injected: Vec<_> = spawn
            .secrets
            .iter()
            .map(|i| (i.env.as_str(), i.handle.0.as_str()))
            .collect();
        assert_eq!(
            injected,
            vec![("GIT_TOKEN", handle.as_str())],
            "the project's handle, not the fallback"
        );
    }
    assert_eq!(
        s.count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'resource.allocate' AND actor = 'graph-runner'
             AND detail->>'handle' = '{handle}'"
        ))
        .await,
        1,
        "allocated once, as graph_runner"
    );
    assert_eq!(
        s.count("SELECT count(*) FROM secret_handles WHERE single_use OR expires_at < now() + interval '1 hour'")
            .await,
        0,
        "reusable, and not about to expire"
    );

    // The handle is the token, for the worker-spawner; the graph-runner may not resolve it.
    let handle = SecretHandle(handle.clone());
    let spawner = zavhoz.client(&zavhoz.spawner_token).await;
    for _ in 0..2 {
        let value = spawner
            .resolve(&handle, "test", None)
            .await
            .expect("resolves");
        assert_eq!(value.value.expose_secret(), WORKERS_TOKEN);
    }
    let graph = zavhoz.client(&zavhoz.graph_token).await;
    let denied = graph
        .resolve(&handle, "test", None)
        .await
        .expect_err("graph-runner may not resolve");
    assert_eq!(denied.code(), Some(tonic::Code::PermissionDenied));
    let in_graph = |needle: String| {
        format!(
            "SELECT (SELECT count(*) FROM graph_checkpoints c WHERE c::text LIKE '%{needle}%')
                  + (SELECT count(*) FROM effects e WHERE e::text LIKE '%{needle}%')"
        )
    };
    assert!(
        s.count(&in_graph(handle.0.clone())).await > 0,
        "the handle is in the graph's state"
    );
    assert_eq!(
        s.count(&in_graph(WORKERS_TOKEN.to_owned())).await,
        0,
        "the value never reaches the graph"
    );
    zavhoz.stop().await;
    s.finish().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_explained_nothing_is_built_and_the_next_message_tries_again() {
    let (mut s, sim) = factory_service().await;
    let zavhoz = Zavhoz::start(&database_url(&s), free_addr(), "other:\n    key: x\n").await;
    s.config.zavhoz = Some(zavhoz.settings(SOPS_PATH));
    s.run().await;
    let reader = spawn_reader(&s).await;

    let replies = approve(&s, 4).await;
    let refused = text(&replies[3]);
    assert!(
        refused.contains("zavhoz") && refused.contains("SECRET_MISSING"),
        "{refused}"
    );
    assert!(!refused.contains(&zavhoz.graph_token), "{refused}");
    assert!(sim.repos().is_empty(), "nothing is built without the token");
    assert_eq!(s.count("SELECT count(*) FROM tasks").await, 0);
    assert_eq!(
        s.count("SELECT count(*) FROM llm_usage WHERE role = 'architect'")
            .await,
        0,
        "nothing planned"
    );

    // The operator adds the secret and reloads; the person's next message runs the architect again.
    zavhoz.write_secrets(&secrets_yaml());
    let operator = zavhoz.client(&zavhoz.operator_token).await;
    operator.reload_secrets().await.expect("reloads");
    s.text("I added it, try again").await;
    let replies = s.replies(2, WAIT).await;
    assert!(
        text(&replies[0]).contains("Repository acme/weather-bot is ready"),
        "{replies:#?}"
    );
    let handles = git_token_handles(&s, project_id(&s).await).await;
    assert_eq!(handles.len(), 1);
    assert!(
        spawns(&reader, 2)
            .await
            .iter()
            .all(|spawn| spawn.secrets[0].handle.0 == handles[0])
    );
    zavhoz.stop().await;
    s.finish().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_zavhoz_is_explained_once_and_the_step_is_retried_until_it_answers() {
    let (mut s, sim) = factory_service().await;
    let addr = free_addr();
    let graph_token = caller_token(CallerIdentity::GraphRunner);
    s.config.zavhoz = Some(zavhoz_settings(
        &format!("http://{addr}"),
        &graph_token,
        SOPS_PATH,
    ));
    s.run().await;

    let replies = approve(&s, 4).await;
    let told = text(&replies[3]);
    assert!(
        told.contains("can't reach the resource service (zavhoz)"),
        "{told}"
    );
    assert!(sim.repos().is_empty());
    // A few redeliveries fail while zavhoz is down; none of them tells the person again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let zavhoz = Zavhoz::start_for(&database_url(&s), addr, &secrets_yaml(), graph_token).await;
    let replies = s.replies(2, WAIT).await;
    assert!(
        text(&replies[0]).contains("Repository acme/weather-bot is ready"),
        "{replies:#?}"
    );
    assert_eq!(git_token_handles(&s, project_id(&s).await).await.len(), 1);
    zavhoz.stop().await;
    s.finish().await;
    sim.shutdown().await;
}
