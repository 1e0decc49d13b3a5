//! The few GitHub objects the factory reads, with only the fields it uses (unknown fields are ignored, so
//! GitHub adding fields never breaks a call).

use serde::{Deserialize, Serialize};

/// A login-bearing account reference.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    /// The login.
    pub login: String,
}

/// One side (head or base) of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullSide {
    /// The branch name.
    #[serde(rename = "ref")]
    pub branch: String,
    /// The commit.
    pub sha: String,
}

/// A pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequest {
    /// The number.
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    /// The title.
    pub title: String,
    /// Who opened it.
    pub user: Account,
    /// The head branch and commit.
    pub head: PullSide,
    /// The base branch and commit.
    pub base: PullSide,
    /// Whether it was merged.
    #[serde(default)]
    pub merged: bool,
    /// The merge commit, once merged.
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    /// Whether it merges cleanly; `None` while GitHub computes it.
    #[serde(default)]
    pub mergeable: Option<bool>,
    /// `clean`, `dirty` (conflicts), `blocked`, `behind`, `unstable`, `draft` or `unknown`.
    #[serde(default)]
    pub mergeable_state: Option<String>,
    /// The web page.
    #[serde(default)]
    pub html_url: Option<String>,
}

impl PullRequest {
    /// Returns true while the pull request is open.
    pub fn is_open(&self) -> bool {
        self.state == "open"
    }

    /// Returns true when GitHub knows the pull request conflicts with its base.
    pub fn has_conflicts(&self) -> bool {
        self.mergeable == Some(false) || self.mergeable_state.as_deref() == Some("dirty")
    }
}

/// What a review says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewEvent {
    /// Approves.
    Approve,
    /// Requests changes (GitHub requires a body).
    RequestChanges,
    /// Only comments.
    Comment,
}

/// A comment on one line of the new version of a file in the diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineComment {
    /// The file path.
    pub path: String,
    /// The line in the new file (`side: RIGHT`).
    pub line: u32,
    /// The comment.
    pub body: String,
}

/// A review to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReview {
    /// The commit the review is about (the head that was read).
    pub commit_id: String,
    /// The review text.
    pub body: String,
    /// The verdict.
    pub event: ReviewEvent,
    /// Line comments; each must point at a line of the diff, or GitHub rejects the whole review (422).
    pub comments: Vec<LineComment>,
}

/// A posted review.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Review {
    /// The review id.
    pub id: u64,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED` or `PENDING`.
    #[serde(default)]
    pub state: String,
    /// The text.
    #[serde(default)]
    pub body: Option<String>,
    /// The commit it was made on.
    #[serde(default)]
    pub commit_id: Option<String>,
    /// The reviewer.
    #[serde(default)]
    pub user: Option<Account>,
    /// The web page.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// A posted issue (conversation) comment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueComment {
    /// The comment id.
    pub id: u64,
    /// The web page.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// How to merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    /// One commit on the base branch.
    #[default]
    Squash,
    /// A merge commit.
    Merge,
    /// The head commits replayed on the base.
    Rebase,
}

/// A merge to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequest {
    /// How.
    pub method: MergeMethod,
    /// The head the caller reviewed; GitHub refuses (409, [`GithubError::HeadMoved`](crate::GithubError))
    /// when the branch moved since.
    pub expected_head_sha: String,
    /// The commit title; `None` lets GitHub choose.
    pub commit_title: Option<String>,
}

/// A successful merge.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Merged {
    /// The commit the merge created on the base branch.
    pub sha: String,
    /// GitHub's message.
    #[serde(default)]
    pub message: String,
}

/// A repository.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Repository {
    /// The id.
    pub id: u64,
    /// The name.
    pub name: String,
    /// The owner.
    pub owner: Account,
    /// Whether it is private.
    #[serde(default)]
    pub private: bool,
    /// The HTTPS clone URL (no credentials).
    #[serde(default)]
    pub clone_url: Option<String>,
    /// The web page.
    #[serde(default)]
    pub html_url: Option<String>,
    /// The default branch; `None` for an empty repository on some hosts.
    #[serde(default)]
    pub default_branch: Option<String>,
}

/// A repository to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewRepository {
    /// The name.
    pub name: String,
    /// The description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Private or public.
    pub private: bool,
    /// Commit a README on the default branch, so branches can start from it.
    pub auto_init: bool,
}

/// A branch head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    /// The branch name.
    pub name: String,
    /// The commit it points at.
    pub sha: String,
}

#[derive(Deserialize)]
pub(crate) struct BranchBody {
    pub(crate) name: String,
    pub(crate) commit: CommitRef,
}

#[derive(Deserialize)]
pub(crate) struct CommitRef {
    pub(crate) sha: String,
}

/// An installation of the app (`GET /app/installations`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Installation {
    pub(crate) id: u64,
    pub(crate) account: Account,
}

/// The app itself (`GET /app`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct App {
    pub(crate) slug: String,
}
