//! A running reviewer with its own database, bus prefix, GitHub simulator and scripted model.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use orch_bus::{Bus, BusConfig};
use orch_contracts::messages::review::{MergeMethod, ReviewRequest, ReviewResult};
use orch_contracts::messages::worker::{RepoRef, TaskSpec};
use orch_contracts::{Envelope, ProjectId, ReviewId, StreamKey, streams};
use orch_service_kit::{CommonSettings, Service as _, Settings};
use orch_store::projects::{self, NewProject};
use orch_testkit::db::TestDatabase;
use orch_testkit::github::{GithubSim, GithubSimConfig};
use orch_testkit::llm::{Answer, LlmConfig, LlmSim};
use reviewer::config::ModelSeed;
use reviewer::{Application, ReviewerConfig};
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// alice (the developer) opens pull requests; bob (the reviewer's token) reviews and merges them.
pub const ALICE: &str = "ghp_alice_token";
pub const BOB: &str = "ghp_bob_token";
pub const REPO: &str = "web";

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A review answer from the model.
pub fn answer(verdict: &str, summary: &str, comments: Value) -> Answer {
    Answer::text(
        json!({"verdict": verdict, "summary": summary, "comments": comments, "reasons": []})
            .to_string(),
    )
}

/// Everything one test needs; the reviewer runs until [`Harness::finish`].
pub struct Harness {
    pub github: GithubSim,
    pub llm: LlmSim,
    pub bus: Bus,
    pub db: Option<TestDatabase>,
    pub project: ProjectId,
    pub config: ReviewerConfig,
    pub max_deliveries: u32,
    pub git: Git,
    prefix: String,
    running: Option<(CancellationToken, JoinHandle<anyhow::Result<()>>)>,
}

impl Harness {
    /// Starts the simulators, a database with a project, the repository `acme/web`, and the reviewer.
    pub async fn start() -> Self {
        Self::start_with(|_| {}, 5).await
    }

    /// Like [`Harness::start`], with changed settings and delivery limit.
    pub async fn start_with(change: impl FnOnce(&mut ReviewerConfig), max_deliveries: u32) -> Self {
        let github = GithubSim::start(
            GithubSimConfig::default()
                .with_token("alice", ALICE)
                .with_token("bob", BOB)
                .with_org_member("acme", "alice")
                .with_org_member("acme", "bob"),
        )
        .await
        .expect("github simulator");
        let llm = LlmSim::start(LlmConfig {
            api_keys: Vec::new(),
            models: Vec::new(),
            default_answer: Answer::text("no answer scripted"),
            ..LlmConfig::default()
        })
        .await
        .expect("llm simulator");
        let db = TestDatabase::create().await.expect("test database");
        let project = project(&db).await;
        let prefix = format!("rv-{}", uuid::Uuid::new_v4().simple());
        let bus = Bus::connect(
            &redis_url(),
            BusConfig {
                prefix: prefix.clone(),
                ..BusConfig::default()
            },
        )
        .expect("bus");
        let mut config = ReviewerConfig {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            github_api_url: github.api_url(),
            github_token: Some(SecretString::from(BOB.to_owned())),
            model: Some(seed(&llm.base_url())),
            llm_max_attempts: 1,
            ..ReviewerConfig::default()
        };
        change(&mut config);
        let git = Git::create(&github).await;
        let mut harness = Self {
            github,
            llm,
            bus,
            db: Some(db),
            project,
            config,
            max_deliveries,
            git,
            prefix,
            running: None,
        };
        harness.run().await;
        harness
    }

    fn settings(&self) -> Settings<ReviewerConfig> {
        let db = self.db.as_ref().expect("database");
        let common = CommonSettings {
            database_url: Some(SecretString::from(db.url.clone())),
            redis_url: Some(SecretString::from(redis_url())),
            bus_prefix: self.prefix.clone(),
            bus_claim_min_idle_secs: 1,
            bus_max_deliveries: self.max_deliveries,
            shutdown_grace_secs: 5,
            ..CommonSettings::default()
        };
        Settings {
            common,
            service: self.config.clone(),
        }
    }

    pub async fn run(&mut self) {
        let app = Application::build(self.settings())
            .await
            .expect("reviewer builds");
        let stop = CancellationToken::new();
        let handle = tokio::spawn(app.run_until_stopped(stop.clone()));
        self.running = Some((stop, handle));
    }

    pub async fn stop(&mut self) {
        if let Some((stop, handle)) = self.running.take() {
            stop.cancel();
            handle.await.expect("joins").expect("stops cleanly");
        }
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.db.as_ref().expect("database").pool
    }

    /// A request for pull request `number` at `head`.
    pub fn request(&self, number: u64, head: &str, iteration: u32) -> ReviewRequest {
        ReviewRequest {
            review_id: ReviewId::new(),
            project_id: self.project,
            repo: RepoRef {
                owner: "acme".into(),
                name: REPO.into(),
                clone_url: self.github.git_url("acme", REPO),
            },
            pr_number: number,
            head_sha: head.to_owned(),
            task: TaskSpec {
                title: "Add a greeting".into(),
                body: "Write hello.txt saying hello.".into(),
            },
            spec_summary: "A greeter that says hello.".into(),
            iteration,
            merge_when_approved: true,
            merge_method: MergeMethod::Squash,
            idempotency_key: format!("review-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Publishes a request on `review:request`.
    pub async fn send(&self, envelope: &Envelope<ReviewRequest>) {
        self.bus
            .publish(&StreamKey::from(streams::REVIEW_REQUEST), envelope)
            .await
            .expect("publish");
    }

    /// Waits for the review's result.
    pub async fn result(&self, id: ReviewId) -> ReviewResult {
        self.bus
            .wait_for_result::<ReviewResult>(&streams::review_result(id), Duration::from_secs(40))
            .await
            .expect("read result")
            .expect("a result within 40 s")
            .body
    }

    /// How many results the review's stream holds.
    pub async fn results(&self, id: ReviewId) -> u64 {
        self.bus
            .len(&streams::review_result(id))
            .await
            .expect("len")
    }

    /// How many chat requests the model got.
    pub fn llm_calls(&self) -> usize {
        self.llm
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/chat/completions"))
            .count()
    }

    pub fn merge_calls(&self, number: u64) -> usize {
        self.github
            .count_requests("PUT", &format!("/repos/acme/{REPO}/pulls/{number}/merge"))
    }

    pub async fn finish(mut self) {
        self.stop().await;
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
        self.github.shutdown().await;
        self.llm.shutdown().await;
    }
}

fn seed(endpoint: &str) -> ModelSeed {
    serde_json::from_value(
        json!({"provider": "openai_compatible", "model": "sim-reviewer", "endpoint": endpoint}),
    )
    .expect("seed")
}

async fn project(db: &TestDatabase) -> ProjectId {
    let mut conn = db.pool.acquire().await.expect("connection");
    let user = orch_store::users::upsert_telegram(&mut conn, 4242, "Alice", true)
        .await
        .expect("user");
    let id = ProjectId::new();
    let new = NewProject {
        id,
        owner_user_id: user.id,
        name: "greeter",
        budget_usd_micros: 10_000_000,
    };
    projects::create(&mut conn, &new).await.expect("project");
    id
}

/// A clone of `acme/web` with alice's token, for pushing branches and opening pull requests.
pub struct Git {
    _tmp: TempDir,
    work: PathBuf,
    api: String,
}

impl Git {
    async fn create(sim: &GithubSim) -> Self {
        let resp = reqwest::Client::new()
            .post(format!("{}/orgs/acme/repos", sim.api_url()))
            .bearer_auth(ALICE)
            .json(&json!({"name": REPO, "private": true, "auto_init": true}))
            .send()
            .await
            .expect("create repo");
        assert!(resp.status().is_success(), "repo: {}", resp.status());
        let tmp = TempDir::new().expect("tmp");
        run(
            tmp.path(),
            &[
                "clone",
                "--quiet",
                &sim.git_url_with_token("acme", REPO, ALICE),
                "work",
            ],
        )
        .await;
        let work = tmp.path().join("work");
        Self {
            _tmp: tmp,
            work,
            api: sim.api_url(),
        }
    }

    /// Writes `file` on a new `branch` off `origin/main`, pushes it; returns the commit.
    pub async fn branch(&self, branch: &str, file: &str, content: &str) -> String {
        run(&self.work, &["fetch", "--quiet", "origin"]).await;
        run(
            &self.work,
            &["checkout", "--quiet", "-B", branch, "origin/main"],
        )
        .await;
        self.commit(branch, file, content).await
    }

    /// Commits `file` on the checked-out `branch` and pushes; returns the commit.
    pub async fn commit(&self, branch: &str, file: &str, content: &str) -> String {
        std::fs::write(self.work.join(file), content).expect("write");
        run(&self.work, &["add", file]).await;
        run(
            &self.work,
            &["commit", "--quiet", "-m", &format!("write {file}")],
        )
        .await;
        run(&self.work, &["push", "--quiet", "origin", branch]).await;
        run(&self.work, &["rev-parse", "HEAD"]).await
    }

    /// Opens `branch` → `main` as alice; returns the number.
    pub async fn pull(&self, branch: &str) -> u64 {
        let resp = reqwest::Client::new()
            .post(format!("{}/repos/acme/{REPO}/pulls", self.api))
            .bearer_auth(ALICE)
            .json(&json!({"title": format!("Work on {branch}"), "head": branch, "base": "main"}))
            .send()
            .await
            .expect("open pull");
        assert!(resp.status().is_success(), "pull: {}", resp.status());
        let body: Value = resp.json().await.expect("json");
        body["number"].as_u64().expect("number")
    }

    /// A file of `main` as the bare repository has it now.
    pub async fn main_file(&self, file: &str) -> Option<String> {
        run(&self.work, &["fetch", "--quiet", "origin"]).await;
        try_run(&self.work, &["show", &format!("origin/main:{file}")]).await
    }
}

async fn try_run(dir: &Path, args: &[&str]) -> Option<String> {
    let out = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .await
        .expect("git runs");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

async fn run(dir: &Path, args: &[&str]) -> String {
    try_run(dir, args)
        .await
        .unwrap_or_else(|| panic!("git {args:?} failed"))
}

/// Polls `check` every 50 ms for up to 20 s; panics naming `what`.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
