//! Creating the project's repository and pushing its scaffold, idempotently.
//!
//! 1. Create the repository (an existing one of that name under our owner is adopted).
//! 2. When `main` exists already — a previous attempt pushed it, or the repository was adopted — keep it:
//!    never overwrite history.
//! 3. Otherwise commit the scaffold with fixed author and committer dates (the caller's `committed_at`, stored
//!    in the graph state), so every retry builds the same commit, and push it to `main`. A push that loses a
//!    race to a concurrent retry finds `main` there and adopts it.
//!
//! Git authenticates with the token in an `Authorization` header passed through git's environment
//! (`GIT_CONFIG_*`), never in a URL, an argument or a message.

use std::path::Path;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use orch_contracts::plan::BuildPlan;
use orch_contracts::spec::ProjectSpec;
use orch_github::{Github, GithubError, NewRepository};
use secrecy::{ExposeSecret, SecretString};

use crate::scaffold::scaffold_files;

/// The branch the scaffold goes to and pull requests merge into.
pub const MAIN: &str = "main";
/// Who the scaffold commit is by.
const AUTHOR_NAME: &str = "codegen-orchestrator";
const AUTHOR_EMAIL: &str = "orchestrator@users.noreply.github.com";

/// A token git may push with (a personal token, or a GitHub App installation token).
#[derive(Debug, Clone)]
pub struct GitCredentials {
    /// The token, sent as HTTP Basic `x-access-token:<token>`.
    pub token: SecretString,
}

/// The repository as the factory goes on with it (serializable, so a graph can record it as an effect).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RepositorySetup {
    /// Owner login (organization or user).
    pub owner: String,
    /// Repository name.
    pub name: String,
    /// HTTPS clone URL, without credentials.
    pub clone_url: String,
    /// Web page, when the host reports one.
    pub html_url: Option<String>,
    /// The commit `main` points at.
    pub main_sha: String,
    /// True when this call pushed the scaffold; false when `main` was there already.
    pub pushed_scaffold: bool,
}

/// Why the repository could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The GitHub API refused or failed.
    #[error(transparent)]
    Github(#[from] GithubError),
    /// The host reported no clone URL.
    #[error("the repository {0} has no clone URL")]
    NoCloneUrl(String),
    /// Preparing or pushing the scaffold with git failed.
    #[error("git {step} failed: {detail}")]
    Git {
        /// What git was doing.
        step: &'static str,
        /// git's own message (it never contains the token: that travels in the environment).
        detail: String,
    },
}

/// Creates `plan`'s repository with its scaffold on `main`, or adopts what an earlier attempt created.
#[tracing::instrument(skip_all, fields(repo = %plan.repository.name))]
pub async fn ensure_repository(
    github: &Github,
    credentials: &GitCredentials,
    spec: &ProjectSpec,
    plan: &BuildPlan,
    committed_at: DateTime<Utc>,
) -> Result<RepositorySetup, RepositoryError> {
    let repo = github
        .create_repository(&NewRepository {
            name: plan.repository.name.clone(),
            description: Some(plan.repository.description.clone()),
            private: true,
            auto_init: false,
        })
        .await?;
    let owner = repo.owner.login.clone();
    let clone_url = repo
        .clone_url
        .clone()
        .ok_or_else(|| RepositoryError::NoCloneUrl(format!("{owner}/{}", repo.name)))?;
    let setup = |main_sha: String, pushed_scaffold: bool| RepositorySetup {
        owner: owner.clone(),
        name: repo.name.clone(),
        clone_url: clone_url.clone(),
        html_url: repo.html_url.clone(),
        main_sha,
        pushed_scaffold,
    };
    if let Some(main) = github.branch(&owner, &repo.name, MAIN).await? {
        tracing::info!(sha = %main.sha, "main exists already; keeping it");
        return Ok(setup(main.sha, false));
    }
    match push_scaffold(&clone_url, credentials, spec, plan, committed_at).await {
        Ok(sha) => {
            tracing::info!(%sha, "scaffold pushed");
            Ok(setup(sha, true))
        }
        Err(push_error) => match github.branch(&owner, &repo.name, MAIN).await? {
            Some(main) => {
                tracing::info!(sha = %main.sha, "a concurrent attempt pushed main; adopting it");
                Ok(setup(main.sha, false))
            }
            None => Err(push_error),
        },
    }
}

/// Commits the scaffold in a scratch repository and pushes it to `main`; returns the commit.
async fn push_scaffold(
    clone_url: &str,
    credentials: &GitCredentials,
    spec: &ProjectSpec,
    plan: &BuildPlan,
    committed_at: DateTime<Utc>,
) -> Result<String, RepositoryError> {
    let scratch = tempfile::tempdir().map_err(|e| git_error("workspace", e))?;
    let dir = scratch.path();
    for file in scaffold_files(spec, plan) {
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| git_error("write scaffold", e))?;
        }
        tokio::fs::write(&path, file.content)
            .await
            .map_err(|e| git_error("write scaffold", e))?;
    }
    let date = committed_at.to_rfc3339();
    let git = Git {
        dir,
        date: &date,
        credentials,
    };
    git.run("init", &["init", "--quiet", "--initial-branch", MAIN])
        .await?;
    git.run("add", &["add", "--all"]).await?;
    let message = format!("Scaffold {}\n\nREADME, AGENTS.md, Makefile, CI.", spec.name);
    git.run("commit", &["commit", "--quiet", "--message", &message])
        .await?;
    let sha = git.run("rev-parse", &["rev-parse", "HEAD"]).await?;
    git.run(
        "push",
        &["push", "--quiet", clone_url, "HEAD:refs/heads/main"],
    )
    .await?;
    Ok(sha)
}

/// git in a scratch directory: no user or system config, no prompts, fixed identity and dates.
struct Git<'a> {
    dir: &'a Path,
    date: &'a str,
    credentials: &'a GitCredentials,
}

impl Git<'_> {
    async fn run(&self, step: &'static str, args: &[&str]) -> Result<String, RepositoryError> {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "x-access-token:{}",
            self.credentials.token.expose_secret()
        ));
        let out = tokio::process::Command::new("git")
            .args(args)
            .current_dir(self.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", AUTHOR_NAME)
            .env("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL)
            .env("GIT_COMMITTER_NAME", AUTHOR_NAME)
            .env("GIT_COMMITTER_EMAIL", AUTHOR_EMAIL)
            .env("GIT_AUTHOR_DATE", self.date)
            .env("GIT_COMMITTER_DATE", self.date)
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env(
                "GIT_CONFIG_VALUE_0",
                format!("Authorization: Basic {basic}"),
            )
            .output()
            .await
            .map_err(|e| git_error(step, e))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(git_error(step, String::from_utf8_lossy(&out.stderr).trim()))
        }
    }
}

fn git_error(step: &'static str, detail: impl std::fmt::Display) -> RepositoryError {
    RepositoryError::Git {
        step,
        detail: detail.to_string(),
    }
}
