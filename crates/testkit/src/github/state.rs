//! The simulator's in-memory records (accounts, tokens, repositories, pull requests, reviews,
//! comments) and the shared state every handler sees.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::auth::AppRuntime;
use super::faults::FaultQueue;
use super::git::Git;
use super::inspect::RequestRecord;
use super::ratelimit::RateLimiter;

/// What kind of account a login is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountKind {
    User,
    Organization,
    Bot,
}

impl AccountKind {
    /// GitHub's `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Organization => "Organization",
            Self::Bot => "Bot",
        }
    }
}

/// A user, organization or app bot.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: u64,
    pub login: String,
    pub kind: AccountKind,
}

/// What a token authenticates as.
#[derive(Debug, Clone)]
pub(crate) enum TokenGrant {
    Personal {
        login: String,
    },
    Installation {
        installation_id: u64,
        account: String,
        expires_at: DateTime<Utc>,
        repositories: Option<Vec<String>>,
    },
}

/// The state of a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PullState {
    Open,
    Closed,
}

/// How and when a pull request was merged.
#[derive(Debug, Clone)]
pub(crate) struct MergeRecord {
    pub sha: String,
    pub at: DateTime<Utc>,
    pub by: String,
}

/// A pull request; `head_sha`/`base_sha` are refreshed from git while it is open.
#[derive(Debug, Clone)]
pub(crate) struct Pull {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub user: String,
    pub head_ref: String,
    pub base_ref: String,
    pub head_sha: String,
    pub base_sha: String,
    pub state: PullState,
    pub draft: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub merged: Option<MergeRecord>,
}

/// A submitted (or pending) pull request review.
#[derive(Debug, Clone)]
pub(crate) struct Review {
    pub id: u64,
    pub number: u64,
    pub user: String,
    pub body: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED` or `PENDING`.
    pub state: &'static str,
    pub commit_id: String,
    pub submitted_at: DateTime<Utc>,
}

/// A comment on the conversation of an issue or pull request.
#[derive(Debug, Clone)]
pub(crate) struct IssueComment {
    pub id: u64,
    pub number: u64,
    pub user: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A comment on a line of a pull request's diff.
#[derive(Debug, Clone)]
pub(crate) struct ReviewComment {
    pub id: u64,
    pub review_id: Option<u64>,
    pub number: u64,
    pub user: String,
    pub body: String,
    pub path: String,
    pub line: Option<u64>,
    pub side: String,
    pub position: Option<u64>,
    pub commit_id: String,
    pub diff_hunk: String,
    pub created_at: DateTime<Utc>,
}

/// A repository and everything attached to it.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub private: bool,
    pub description: Option<String>,
    pub default_branch: String,
    pub created_at: DateTime<Utc>,
    pub pushed_at: DateTime<Utc>,
    pub path: PathBuf,
    pub next_number: u64,
    pub pulls: Vec<Pull>,
    pub reviews: Vec<Review>,
    pub issue_comments: Vec<IssueComment>,
    pub review_comments: Vec<ReviewComment>,
}

impl Repo {
    /// A repository with no pull requests yet, created now, whose default branch is `main`.
    pub fn new(id: u64, owner: &str, name: &str, private: bool, path: PathBuf) -> Self {
        let now = Utc::now();
        Self {
            id,
            owner: owner.to_owned(),
            name: name.to_owned(),
            private,
            description: None,
            default_branch: "main".to_owned(),
            created_at: now,
            pushed_at: now,
            path,
            next_number: 1,
            pulls: Vec::new(),
            reviews: Vec::new(),
            issue_comments: Vec::new(),
            review_comments: Vec::new(),
        }
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The pull request with `number`.
    pub fn pull(&self, number: u64) -> Option<&Pull> {
        self.pulls.iter().find(|p| p.number == number)
    }

    /// The pull request with `number`, mutably.
    pub fn pull_mut(&mut self, number: u64) -> Option<&mut Pull> {
        self.pulls.iter_mut().find(|p| p.number == number)
    }
}

/// The records, behind one lock that is never held across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct Db {
    next_id: u64,
    pub accounts: HashMap<String, Account>,
    pub tokens: HashMap<String, TokenGrant>,
    pub memberships: HashSet<(String, String)>,
    pub repos: BTreeMap<String, Repo>,
}

impl Db {
    /// A fresh id, unique across all kinds of records.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The account with `login` (case-insensitive), created with `kind` when unknown.
    pub fn ensure_account(&mut self, login: &str, kind: AccountKind) -> Account {
        let key = login.to_lowercase();
        if let Some(a) = self.accounts.get(&key) {
            return a.clone();
        }
        let account = Account {
            id: self.next_id(),
            login: login.to_owned(),
            kind,
        };
        self.accounts.insert(key, account.clone());
        account
    }

    /// The account with `login`, case-insensitive.
    pub fn account(&self, login: &str) -> Option<&Account> {
        self.accounts.get(&login.to_lowercase())
    }

    /// Whether `login` is a member of `org`.
    pub fn is_member(&self, org: &str, login: &str) -> bool {
        self.memberships
            .contains(&(org.to_lowercase(), login.to_lowercase()))
    }

    /// The repository `owner/name`, case-insensitive.
    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos.get(&repo_key(owner, name))
    }

    /// The repository `owner/name`, mutably.
    pub fn repo_mut(&mut self, owner: &str, name: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&repo_key(owner, name))
    }
}

/// The case-insensitive key of a repository.
pub(crate) fn repo_key(owner: &str, name: &str) -> String {
    format!("{}/{}", owner.to_lowercase(), name.to_lowercase())
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    /// The directory holding `<owner>/<name>.git`.
    pub repos_root: PathBuf,
    pub git: Git,
    pub app: Option<AppRuntime>,
    pub token_ttl: Duration,
    pub db: Mutex<Db>,
    pub faults: FaultQueue,
    pub rate: RateLimiter,
    pub log: Mutex<Vec<RequestRecord>>,
    /// Serializes merges so two merges never race on a base branch.
    pub merge_lock: tokio::sync::Mutex<()>,
}

impl Shared {
    /// Locks the records.
    pub fn db(&self) -> MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends to the request log.
    pub fn record(&self, entry: RequestRecord) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }

    /// A copy of the request log.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The on-disk path for a new repository `owner/name`.
    pub fn repo_dir(&self, owner: &str, name: &str) -> PathBuf {
        self.repos_root
            .join(owner.to_lowercase())
            .join(format!("{}.git", name.to_lowercase()))
    }
}
