//! The simulator, credentials and git helpers shared by the tests.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use orch_github::{Github, GithubAuth, GithubConfig, RetryPolicy};
use orch_testkit::github::{AppConfig, GithubSim, GithubSimConfig};
use secrecy::SecretString;
use tempfile::TempDir;

/// alice opens pull requests; bob (the reviewer) reviews and merges them.
pub const ALICE: &str = "ghp_alice_token";
pub const BOB: &str = "ghp_bob_token";
pub const APP_ID: u64 = 42;
pub const INSTALLATION: u64 = 7;

/// A 2048-bit RSA key from the `openssl` CLI, made once per test binary; keys are never committed.
pub fn app_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let out = std::process::Command::new("openssl")
            .args(["genrsa", "2048"])
            .output()
            .expect("the openssl CLI generates test RSA keys");
        assert!(out.status.success(), "openssl genrsa failed");
        String::from_utf8(out.stdout).expect("PEM is UTF-8")
    })
}

/// alice and bob belong to org `acme`, where app 42 is installed as installation 7.
pub async fn sim() -> GithubSim {
    let config = GithubSimConfig::default()
        .with_token("alice", ALICE)
        .with_token("bob", BOB)
        .with_org_member("acme", "alice")
        .with_org_member("acme", "bob")
        .with_app(AppConfig::new(APP_ID, app_key()).with_installation(INSTALLATION, "acme"));
    GithubSim::start(config).await.expect("simulator starts")
}

/// Fast retries, so fault tests stay short.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(20),
        max_rate_limit_wait: Duration::from_secs(2),
    }
}

pub fn token_config(sim: &GithubSim, token: &str, org: Option<&str>) -> GithubConfig {
    let auth = GithubAuth::Token {
        token: SecretString::from(token.to_owned()),
        org: org.map(str::to_owned),
    };
    GithubConfig::new(sim.api_url(), auth).with_retry(fast_retry())
}

pub async fn token_client(sim: &GithubSim, token: &str) -> Github {
    Github::connect(&token_config(sim, token, None))
        .await
        .expect("token client connects")
}

pub fn app_config(sim: &GithubSim, installation_id: Option<u64>) -> GithubConfig {
    let auth = GithubAuth::App {
        app_id: APP_ID,
        private_key_pem: SecretString::from(app_key().to_owned()),
        installation_id,
    };
    GithubConfig::new(sim.api_url(), auth).with_retry(fast_retry())
}

async fn git(dir: &Path, args: &[&str]) -> String {
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
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "git {args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A repository `acme/<name>` with a README on `main`, cloned with alice's token.
pub struct Repo {
    _tmp: TempDir,
    pub work: PathBuf,
    pub name: String,
}

impl Repo {
    pub async fn create(sim: &GithubSim, name: &str) -> Self {
        let alice = Github::connect(&token_config(sim, ALICE, Some("acme")))
            .await
            .expect("alice connects");
        alice
            .create_repository(&orch_github::NewRepository {
                name: name.to_owned(),
                description: None,
                private: true,
                auto_init: true,
            })
            .await
            .expect("repository");
        let tmp = TempDir::new().expect("tmp");
        let url = sim.git_url_with_token("acme", name, ALICE);
        git(tmp.path(), &["clone", "--quiet", &url, "work"]).await;
        let work = tmp.path().join("work");
        Self {
            _tmp: tmp,
            work,
            name: name.to_owned(),
        }
    }

    /// Writes `file` on `branch` (created off `origin/<from>` when new), commits, pushes; returns the commit.
    pub async fn push(&self, from: &str, branch: &str, file: &str, content: &str) -> String {
        let start = format!("origin/{from}");
        git(&self.work, &["fetch", "--quiet", "origin"]).await;
        git(&self.work, &["checkout", "--quiet", "-B", branch, &start]).await;
        self.commit_and_push(branch, file, content).await
    }

    /// Adds a commit on top of the current checkout of `branch` and pushes it.
    pub async fn commit_and_push(&self, branch: &str, file: &str, content: &str) -> String {
        std::fs::write(self.work.join(file), content).expect("write file");
        git(&self.work, &["add", file]).await;
        git(
            &self.work,
            &["commit", "--quiet", "-m", &format!("change {file}")],
        )
        .await;
        git(&self.work, &["push", "--quiet", "origin", branch]).await;
        git(&self.work, &["rev-parse", "HEAD"]).await
    }

    /// Opens a pull request `branch` → `main` as alice; returns its number.
    pub async fn open_pull(&self, sim: &GithubSim, branch: &str, title: &str) -> u64 {
        let body = serde_json::json!({"title": title, "head": branch, "base": "main"});
        let resp = reqwest_post(sim, &format!("/repos/acme/{}/pulls", self.name), &body).await;
        resp["number"].as_u64().expect("a pull request number")
    }

    /// Reads a file of `main` as it is in the bare repository now.
    pub async fn main_file(&self, file: &str) -> String {
        git(&self.work, &["fetch", "--quiet", "origin"]).await;
        git(&self.work, &["show", &format!("origin/main:{file}")]).await
    }
}

/// A raw authenticated POST as alice (opening pull requests is not part of the client).
async fn reqwest_post(sim: &GithubSim, path: &str, body: &serde_json::Value) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", sim.api_url()))
        .bearer_auth(ALICE)
        .json(body)
        .send()
        .await
        .expect("request");
    assert!(resp.status().is_success(), "POST {path}: {}", resp.status());
    resp.json().await.expect("json answer")
}
