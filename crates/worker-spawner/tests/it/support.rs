//! Test fixtures: the offline worker image, a GitHub simulator reachable from containers, a project row, a
//! spawner (in-process or as a real process) under a unique fleet id and stream prefix, and the leak check.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
};
use orch_bus::{Bus, BusConfig};
use orch_contracts::messages::worker::{
    AgentKind, RepoRef, SecretHandle, SecretInjection, TaskSpec, WorkerLimits, WorkerResult,
    WorkerSpawn,
};
use orch_contracts::{Envelope, ProjectId, StreamKey, WorkerId, streams};
use orch_service_kit::{CommonSettings, Service, Settings};
use orch_testkit::github::{GithubSim, GithubSimConfig};
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use worker_spawner::config::EgressPolicy;
use worker_spawner::{Application, WorkerSpawnerConfig};

pub const OWNER: &str = "alice";
pub const TOKEN: &str = "ghp_workertoken1234567890";
pub const TOKEN_HANDLE: &str = "hdl_gittoken000000000000000001";

pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        "postgres://orchestrator:orchestrator@127.0.0.1:5432/orchestrator".into()
    })
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Docker-heavy tests run at most two at a time on this 2-core machine.
pub async fn docker_slot() -> tokio::sync::SemaphorePermit<'static> {
    static SLOTS: Semaphore = Semaphore::const_new(2);
    SLOTS.acquire().await.expect("semaphore open")
}

/// Builds (or finds in the cache) the offline test image and returns its reference.
pub fn test_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let out = std::process::Command::new(root.join("scripts/build-test-image.sh"))
            .output()
            .expect("run scripts/build-test-image.sh");
        assert!(
            out.status.success(),
            "building the test image failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .lines()
            .last()
            .expect("image reference")
            .trim()
            .to_owned()
    })
}

pub async fn docker() -> Docker {
    Docker::connect_with_local_defaults()
        .expect("docker")
        .negotiate_version()
        .await
        .expect("negotiate")
}

/// The host's address on Docker's default bridge: reachable from the proxy (and from plain containers).
pub async fn bridge_gateway() -> IpAddr {
    let network = docker()
        .await
        .inspect_network("bridge", None)
        .await
        .expect("bridge network");
    let config = network
        .ipam
        .and_then(|i| i.config)
        .and_then(|c| c.into_iter().next())
        .expect("bridge ipam config");
    if let Some(gateway) = config.gateway {
        return gateway.parse().expect("gateway ip");
    }
    // Docker 20.10 lists only the subnet of the default bridge; its gateway is the first host address.
    let subnet = config.subnet.expect("bridge subnet");
    let base: std::net::Ipv4Addr = subnet
        .split('/')
        .next()
        .expect("cidr")
        .parse()
        .expect("ipv4");
    IpAddr::V4(std::net::Ipv4Addr::from(u32::from(base) + 1))
}

/// A GitHub simulator listening on the bridge gateway, with `alice` and her token, and one repository.
pub struct Git {
    pub sim: GithubSim,
    pub repo: String,
}

impl Git {
    pub async fn start() -> Self {
        let listen = SocketAddr::new(bridge_gateway().await, 0);
        let sim = GithubSim::start(
            GithubSimConfig::default()
                .with_listen(listen)
                .with_token(OWNER, TOKEN),
        )
        .await
        .expect("github sim");
        let repo = format!("app-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let created = reqwest::Client::new()
            .post(format!("{}/user/repos", sim.api_url()))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "name": repo, "auto_init": true, "private": true }))
            .send()
            .await
            .expect("create repo");
        assert_eq!(created.status().as_u16(), 201, "create repo");
        Self { sim, repo }
    }

    pub fn host_port(&self) -> String {
        self.sim.addr().to_string()
    }

    pub fn repo_ref(&self) -> RepoRef {
        RepoRef {
            owner: OWNER.into(),
            name: self.repo.clone(),
            clone_url: self.sim.git_url(OWNER, &self.repo),
        }
    }

    pub async fn branch_sha(&self, branch: &str) -> Option<String> {
        self.sim
            .branch_sha(OWNER, &self.repo, branch)
            .await
            .expect("branch sha")
    }

    /// The contents of `path` on `branch` in the bare repository.
    pub fn file(&self, branch: &str, path: &str) -> String {
        let repo = self.sim.repo_path(OWNER, &self.repo).expect("repo path");
        let out = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(repo)
            .args(["show", &format!("{branch}:{path}")])
            .output()
            .expect("git show");
        assert!(out.status.success(), "no {path} on {branch}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Creates a user and a project allowed `max_parallel` workers.
pub async fn project(pool: &PgPool, max_parallel: i32) -> ProjectId {
    let user: i64 = sqlx::query_scalar(
        "INSERT INTO users (display_name, is_allowed) VALUES ('spawner test', true) RETURNING id",
    )
    .fetch_one(pool)
    .await
    .expect("user");
    let id = ProjectId::new();
    let name = format!("p-{}", &id.0.simple().to_string()[..12]);
    sqlx::query(
        "INSERT INTO projects (id, owner_user_id, name, budget_usd_micros, max_parallel_workers)
         VALUES ($1, $2, $3, 1000000, $4)",
    )
    .bind(id.0)
    .bind(user)
    .bind(name)
    .bind(max_parallel)
    .execute(pool)
    .await
    .expect("project");
    id
}

pub async fn pool() -> PgPool {
    let pool = PgPool::connect(&database_url()).await.expect("postgres");
    // The shared test database may be fresh (CI); migrating is idempotent and serialised by sqlx's lock.
    orch_store::MIGRATOR.run(&pool).await.expect("migrations");
    pool
}

/// What a test spawner is configured with.
pub struct Fleet {
    pub id: String,
    pub prefix: String,
    pub secrets_dir: tempfile::TempDir,
    pub config: WorkerSpawnerConfig,
}

impl Fleet {
    pub fn new(git: &Git) -> Self {
        let id = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let secrets_dir = tempfile::tempdir().expect("secrets dir");
        std::fs::write(secrets_dir.path().join(TOKEN_HANDLE), TOKEN).expect("secret file");
        let mut config = WorkerSpawnerConfig {
            http_listen: "127.0.0.1:0".parse().expect("addr"),
            spawner_id: id.clone(),
            stream_prefix: id.clone(),
            github_api_url: git.sim.api_url(),
            pids_exhausted_kill_secs: 3,
            reaper_interval_secs: 2,
            ..WorkerSpawnerConfig::default()
        };
        config.docker.runtime = "runc".into();
        config.docker.image = test_image().to_owned();
        config.egress.allow = git.host_port();
        config.egress.policy = EgressPolicy::Allowlist;
        config.secrets.dir = secrets_dir.path().to_path_buf();
        Self {
            prefix: id.clone(),
            id,
            secrets_dir,
            config,
        }
    }

    pub fn common(&self) -> CommonSettings {
        CommonSettings {
            database_url: Some(SecretString::from(database_url())),
            redis_url: Some(SecretString::from(redis_url())),
            bus_claim_min_idle_secs: 2,
            shutdown_grace_secs: 5,
            ..CommonSettings::default()
        }
    }

    /// A bus under the fleet's prefix, to publish spawns and read results.
    pub fn bus(&self) -> Bus {
        Bus::connect(
            &redis_url(),
            BusConfig {
                prefix: self.prefix.clone(),
                ..BusConfig::default()
            },
        )
        .expect("bus")
    }

    /// Starts the spawner in this process.
    pub async fn start(&self) -> Running {
        let settings = Settings {
            common: self.common(),
            service: self.config.clone(),
        };
        let app = Application::build(settings).await.expect("spawner builds");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        Running { shutdown, task }
    }

    /// Objects labelled with this fleet that still exist: containers, networks, volumes.
    pub async fn leftovers(&self) -> Vec<String> {
        let docker = docker().await;
        let filter = HashMap::from([(
            "label".to_owned(),
            vec![format!("orch.spawner={}", self.id)],
        )]);
        let mut left = Vec::new();
        let containers = docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filter)
                    .build(),
            ))
            .await
            .expect("containers");
        left.extend(
            containers
                .into_iter()
                .map(|c| format!("container {:?}", c.names)),
        );
        let networks = docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .expect("networks");
        left.extend(
            networks
                .into_iter()
                .map(|n| format!("network {:?}", n.name)),
        );
        let volumes = docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .expect("volumes");
        left.extend(
            volumes
                .volumes
                .unwrap_or_default()
                .into_iter()
                .map(|v| format!("volume {}", v.name)),
        );
        left
    }

    /// Asserts that nothing labelled with this fleet is left (lesson 12).
    pub async fn assert_no_leftovers(&self) {
        let left = self.leftovers().await;
        assert!(left.is_empty(), "leaked Docker objects: {left:?}");
    }

    pub fn secrets_path(&self) -> PathBuf {
        self.secrets_dir.path().to_path_buf()
    }
}

/// Removes whatever is still labelled with the fleet, also when a test panicked before its spawner stopped
/// (the leak check itself runs before this, on the success path).
impl Drop for Fleet {
    fn drop(&mut self) {
        remove_labelled(&self.id);
    }
}

/// Force-removes every container, network and volume labelled `orch.spawner=<fleet>` (docker CLI, blocking).
pub fn remove_labelled(fleet: &str) {
    let label = format!("label=orch.spawner={fleet}");
    let list = |args: &[&str]| -> Vec<String> {
        std::process::Command::new("docker")
            .args(args)
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let remove = |args: &[&str], ids: Vec<String>| {
        if !ids.is_empty() {
            let _ = std::process::Command::new("docker")
                .args(args)
                .args(ids)
                .output();
        }
    };
    remove(&["rm", "-f"], list(&["ps", "-aq", "--filter", &label]));
    remove(
        &["network", "rm"],
        list(&["network", "ls", "-q", "--filter", &label]),
    );
    remove(
        &["volume", "rm", "-f"],
        list(&["volume", "ls", "-q", "--filter", &label]),
    );
}

/// A spawner running in this process.
pub struct Running {
    pub shutdown: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("spawner stops within 30 s")
            .expect("joins")
            .expect("stops cleanly");
    }
}

/// A spawn of the scripted agent on `git`'s repository.
pub fn spawn(git: &Git, project: ProjectId, branch: &str, task: &str) -> WorkerSpawn {
    WorkerSpawn {
        worker_id: WorkerId::new(),
        project_id: project,
        idempotency_key: format!("key-{}", uuid::Uuid::new_v4().simple()),
        repo: git.repo_ref(),
        base_branch: "main".into(),
        branch: branch.into(),
        task: TaskSpec {
            title: format!("Task on {branch}"),
            body: task.into(),
        },
        agent: AgentKind::Scripted,
        secrets: vec![SecretInjection {
            env: "GIT_TOKEN".into(),
            handle: SecretHandle(TOKEN_HANDLE.into()),
        }],
        limits: WorkerLimits {
            memory_mib: 256,
            cpu_millis: 1000,
            pids: 128,
        },
        timeout_secs: 120,
    }
}

pub async fn publish(bus: &Bus, spawn: &WorkerSpawn) {
    bus.publish(
        &StreamKey::from(streams::WORKER_SPAWN),
        &Envelope::new(spawn.clone()),
    )
    .await
    .expect("publish spawn");
}

pub async fn result(bus: &Bus, worker: WorkerId, within: Duration) -> WorkerResult {
    bus.wait_for_result::<WorkerResult>(&streams::worker_result(worker), within)
        .await
        .expect("read result")
        .unwrap_or_else(|| panic!("no result for {worker} within {within:?}"))
        .body
}

/// Labels → container names of running or stopped worker containers of a fleet, per idempotency key.
pub async fn containers_per_key(fleet_id: &str) -> HashMap<String, usize> {
    let filter = HashMap::from([(
        "label".to_owned(),
        vec![
            format!("orch.spawner={fleet_id}"),
            "orch.role=worker".to_owned(),
        ],
    )]);
    let containers = docker()
        .await
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filter)
                .build(),
        ))
        .await
        .expect("containers");
    let mut per_key = HashMap::new();
    for labels in containers.into_iter().filter_map(|c| c.labels) {
        if let Some(key) = labels.get("orch.idempotency-key") {
            *per_key.entry(key.clone()).or_insert(0) += 1;
        }
    }
    per_key
}
