//! The simulator handle: startup, URLs, inspection and control from Rust, shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::auth::AppRuntime;
use super::config::GithubSimConfig;
use super::error::SimError;
use super::faults::{Fault, FaultQueue};
use super::git::Git;
use super::inspect::{self, CommentInfo, PullInfo, RepoInfo, RequestRecord, ReviewInfo};
use super::ratelimit::RateLimiter;
use super::routes;
use super::state::{AccountKind, Db, PullState, Repo, Shared, TokenGrant, repo_key};

/// A running GitHub simulator. Dropping it stops the server; [`GithubSim::shutdown`] also waits for it.
#[derive(Debug)]
pub struct GithubSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    data_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

impl GithubSim {
    /// Binds the listener, prepares the data directory and starts serving.
    pub async fn start(config: GithubSimConfig) -> Result<Self, SimError> {
        let git = Git::new(config.git_binary.clone());
        check_git(&git).await?;
        let (data_dir, temp) = data_dir(config.data_dir.as_deref())?;
        let repos_root = data_dir.join("repos");
        std::fs::create_dir_all(&repos_root).map_err(|e| io("create repos dir", e))?;
        let listen = config
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: listen.to_string(),
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| io("read local address", e))?;
        let app = config.app.as_ref().map(AppRuntime::new).transpose()?;
        let db = initial_db(&config, app.as_ref(), &repos_root);
        let shared = Arc::new(Shared {
            base_url: format!("http://{addr}"),
            repos_root,
            git,
            db: Mutex::new(db),
            app,
            token_ttl: config.installation_token_ttl,
            faults: FaultQueue::default(),
            rate: RateLimiter::new(config.rate_limit_per_hour),
            log: Mutex::new(Vec::new()),
            merge_lock: tokio::sync::Mutex::new(()),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let router = routes::router(shared.clone());
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "github simulator server failed");
            }
        });
        tracing::info!(%addr, data_dir = %data_dir.display(), "github simulator listening");
        Ok(Self {
            shared,
            addr,
            data_dir,
            stop: Some(stop),
            task: Some(task),
            _temp: temp,
        })
    }

    /// The socket address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The REST base URL, for `Octocrab::builder().base_uri(..)`.
    pub fn api_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The clone URL of `owner/repo`, e.g. `http://127.0.0.1:PORT/acme/app.git`.
    pub fn git_url(&self, owner: &str, repo: &str) -> String {
        format!("{}/{owner}/{repo}.git", self.shared.base_url)
    }

    /// The clone URL with `x-access-token:<token>` credentials embedded, as GitHub Apps use it.
    pub fn git_url_with_token(&self, owner: &str, repo: &str, token: &str) -> String {
        format!(
            "http://x-access-token:{token}@{}/{owner}/{repo}.git",
            self.addr
        )
    }

    /// The data directory (repositories live in `repos/<owner>/<name>.git`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The bare repository of `owner/repo` on disk, if it exists.
    pub fn repo_path(&self, owner: &str, repo: &str) -> Option<PathBuf> {
        self.shared.db().repo(owner, repo).map(|r| r.path.clone())
    }

    /// The commit a branch points at in the bare repository.
    pub async fn branch_sha(
        &self,
        owner: &str,
        repo: &str,
        branch: &str,
    ) -> Result<Option<String>, SimError> {
        match self.repo_path(owner, repo) {
            Some(path) => self.shared.git.branch_sha(&path, branch).await,
            None => Ok(None),
        }
    }

    /// Every repository.
    pub fn repos(&self) -> Vec<RepoInfo> {
        inspect::repos(&self.shared.db())
    }

    /// Every pull request, with open ones' head commits re-read from git.
    pub async fn pull_requests(&self) -> Vec<PullInfo> {
        refresh_open_pulls(&self.shared).await;
        inspect::pulls(&self.shared.db())
    }

    /// Every review.
    pub fn reviews(&self) -> Vec<ReviewInfo> {
        inspect::reviews(&self.shared.db())
    }

    /// Every conversation and line comment.
    pub fn comments(&self) -> Vec<CommentInfo> {
        inspect::comments(&self.shared.db())
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests()
    }

    /// How many logged requests had `method` and `path` (e.g. `POST`, `/orgs/acme/repos`).
    pub fn count_requests(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Makes the next matching requests fail.
    pub fn inject_fault(&self, fault: Fault) {
        self.shared.faults.push(fault);
    }

    /// Drops all pending faults.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Adds a personal access token for `login` at run time.
    pub fn add_personal_token(&self, login: &str, token: &str) {
        let mut db = self.shared.db();
        db.ensure_account(login, AccountKind::User);
        db.tokens.insert(
            token.to_owned(),
            TokenGrant::Personal {
                login: login.to_owned(),
            },
        );
    }

    /// Revokes a token; later requests with it get `401 Bad credentials`.
    pub fn revoke_token(&self, token: &str) {
        self.shared.db().tokens.remove(token);
    }

    /// Stops accepting requests and waits (up to 5 s) for in-flight ones.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for GithubSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn io(context: &str, source: std::io::Error) -> SimError {
    SimError::Io {
        context: context.to_owned(),
        source,
    }
}

/// The oldest git with `merge-tree --write-tree --merge-base` (used for merges and rebases).
const MIN_GIT: (u32, u32) = (2, 40);

/// Fails fast when git is missing or too old for the merge machinery.
async fn check_git(git: &Git) -> Result<(), SimError> {
    let fail = |stderr: String| SimError::Git {
        args: "--version".into(),
        stderr,
    };
    let out = git
        .base_command()
        .arg("--version")
        .output()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match parse_git_version(&text) {
        Some(v) if v >= MIN_GIT => Ok(()),
        _ => Err(fail(format!(
            "git >= {}.{} is required, found {text:?}",
            MIN_GIT.0, MIN_GIT.1
        ))),
    }
}

/// `(major, minor)` from `git version 2.47.3` (vendor suffixes allowed).
fn parse_git_version(text: &str) -> Option<(u32, u32)> {
    let version = text.strip_prefix("git version ")?;
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn data_dir(given: Option<&Path>) -> Result<(PathBuf, Option<tempfile::TempDir>), SimError> {
    match given {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| io("create data dir", e))?;
            Ok((dir.to_path_buf(), None))
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("github-sim-")
                .tempdir()
                .map_err(|e| io("create temp dir", e))?;
            Ok((temp.path().to_path_buf(), Some(temp)))
        }
    }
}

/// Accounts, tokens and memberships from the configuration, and repositories already on disk.
fn initial_db(config: &GithubSimConfig, app: Option<&AppRuntime>, repos_root: &Path) -> Db {
    let mut db = Db::default();
    for t in &config.tokens {
        db.ensure_account(&t.login, AccountKind::User);
        db.tokens.insert(
            t.token.clone(),
            TokenGrant::Personal {
                login: t.login.clone(),
            },
        );
    }
    for (org, login) in &config.org_members {
        db.ensure_account(org, AccountKind::Organization);
        db.ensure_account(login, AccountKind::User);
        db.memberships
            .insert((org.to_lowercase(), login.to_lowercase()));
    }
    if let Some(app) = app {
        db.ensure_account(&app.bot_login(), AccountKind::Bot);
        for i in &app.installations {
            db.ensure_account(&i.account, AccountKind::Organization);
        }
    }
    adopt_existing(&mut db, repos_root);
    db
}

/// Registers bare repositories an earlier run left in the data directory, as private
/// repositories (their names are the lower-cased on-disk names; pull requests, reviews and
/// comments are kept in memory only and do not survive a restart).
fn adopt_existing(db: &mut Db, root: &Path) {
    let Ok(owners) = std::fs::read_dir(root) else {
        return;
    };
    for owner_dir in owners.flatten().filter(|e| e.path().is_dir()) {
        let dir_name = owner_dir.file_name().to_string_lossy().into_owned();
        let owner = db.ensure_account(&dir_name, AccountKind::User).login;
        let Ok(repos) = std::fs::read_dir(owner_dir.path()) else {
            continue;
        };
        for entry in repos.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file.strip_suffix(".git") else {
                continue;
            };
            if entry.path().join("HEAD").is_file() && db.repo(&owner, name).is_none() {
                let id = db.next_id();
                db.repos.insert(
                    repo_key(&owner, name),
                    Repo::new(id, &owner, name, true, entry.path()),
                );
            }
        }
    }
}

/// Re-reads the head and base commits of every open pull request from git.
pub(crate) async fn refresh_open_pulls(shared: &Shared) {
    let open: Vec<(String, PathBuf, u64, String, String)> = {
        let db = shared.db();
        db.repos
            .iter()
            .flat_map(|(key, r)| {
                r.pulls
                    .iter()
                    .filter(|p| p.state == PullState::Open)
                    .map(move |p| {
                        (
                            key.clone(),
                            r.path.clone(),
                            p.number,
                            p.head_ref.clone(),
                            p.base_ref.clone(),
                        )
                    })
            })
            .collect()
    };
    for (key, path, number, head, base) in open {
        let head_sha = shared.git.branch_sha(&path, &head).await.ok().flatten();
        let base_sha = shared.git.branch_sha(&path, &base).await.ok().flatten();
        let mut db = shared.db();
        if let Some(p) = db.repos.get_mut(&key).and_then(|r| r.pull_mut(number)) {
            if let Some(s) = head_sha {
                p.head_sha = s;
            }
            if let Some(s) = base_sha {
                p.base_sha = s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_versions() {
        assert_eq!(parse_git_version("git version 2.47.3"), Some((2, 47)));
        assert_eq!(
            parse_git_version("git version 2.39.5 (Apple Git-154)"),
            Some((2, 39))
        );
        assert!(parse_git_version("git version 2.39.5").is_some_and(|v| v < MIN_GIT));
        assert_eq!(parse_git_version("nonsense"), None);
    }
}
