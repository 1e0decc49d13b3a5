//! Read-only snapshots of the simulator's state for tests and the `/_sim` control API.

use serde::{Deserialize, Serialize};

use super::state::{Db, PullState, Repo};

/// One request the simulator answered (control requests under `/_sim` are not logged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The HTTP method, e.g. `POST`.
    pub method: String,
    /// The request path without the query string.
    pub path: String,
    /// The response status code.
    pub status: u16,
    /// The login the request was authenticated as (`<slug>[bot]` for installations, `app` for JWTs).
    pub actor: Option<String>,
}

/// A repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoInfo {
    /// The owner login.
    pub owner: String,
    /// The repository name.
    pub name: String,
    /// Whether the repository is private.
    pub private: bool,
    /// The default branch.
    pub default_branch: String,
    /// The bare repository on disk.
    pub path: std::path::PathBuf,
}

/// A pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullInfo {
    /// `owner/name` of the repository.
    pub repo: String,
    /// The pull request number.
    pub number: u64,
    /// The title.
    pub title: String,
    /// `open` or `closed`.
    pub state: String,
    /// The login that opened it.
    pub user: String,
    /// The head branch.
    pub head_ref: String,
    /// The base branch.
    pub base_ref: String,
    /// The head commit as last seen (refreshed by API reads while open).
    pub head_sha: String,
    /// Whether it was merged.
    pub merged: bool,
    /// The commit the merge created on the base branch.
    pub merge_commit_sha: Option<String>,
}

/// A pull request review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewInfo {
    /// `owner/name` of the repository.
    pub repo: String,
    /// The pull request number.
    pub number: u64,
    /// The review id.
    pub id: u64,
    /// The reviewer login.
    pub user: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED` or `PENDING`.
    pub state: String,
    /// The review body.
    pub body: String,
    /// The commit the review was made on.
    pub commit_id: String,
}

/// An issue/pull request conversation comment or a diff line comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentInfo {
    /// `owner/name` of the repository.
    pub repo: String,
    /// The issue or pull request number.
    pub number: u64,
    /// The comment id.
    pub id: u64,
    /// The author login.
    pub user: String,
    /// The comment text.
    pub body: String,
    /// For line comments: the file path.
    pub path: Option<String>,
    /// For line comments: the line in the file.
    pub line: Option<u64>,
    /// For line comments made as part of a review: the review id.
    pub review_id: Option<u64>,
}

/// Snapshots every repository.
pub(crate) fn repos(db: &Db) -> Vec<RepoInfo> {
    db.repos
        .values()
        .map(|r| RepoInfo {
            owner: r.owner.clone(),
            name: r.name.clone(),
            private: r.private,
            default_branch: r.default_branch.clone(),
            path: r.path.clone(),
        })
        .collect()
}

/// Snapshots every pull request.
pub(crate) fn pulls(db: &Db) -> Vec<PullInfo> {
    let one = |r: &Repo, p: &super::state::Pull| PullInfo {
        repo: r.full_name(),
        number: p.number,
        title: p.title.clone(),
        state: if p.state == PullState::Open {
            "open"
        } else {
            "closed"
        }
        .to_owned(),
        user: p.user.clone(),
        head_ref: p.head_ref.clone(),
        base_ref: p.base_ref.clone(),
        head_sha: p.head_sha.clone(),
        merged: p.merged.is_some(),
        merge_commit_sha: p.merged.as_ref().map(|m| m.sha.clone()),
    };
    db.repos
        .values()
        .flat_map(|r| r.pulls.iter().map(move |p| one(r, p)))
        .collect()
}

/// Snapshots every review.
pub(crate) fn reviews(db: &Db) -> Vec<ReviewInfo> {
    db.repos
        .values()
        .flat_map(|r| {
            r.reviews.iter().map(move |v| ReviewInfo {
                repo: r.full_name(),
                number: v.number,
                id: v.id,
                user: v.user.clone(),
                state: v.state.to_owned(),
                body: v.body.clone(),
                commit_id: v.commit_id.clone(),
            })
        })
        .collect()
}

/// Snapshots every comment, conversation comments first, each group in creation order.
pub(crate) fn comments(db: &Db) -> Vec<CommentInfo> {
    let mut out = Vec::new();
    for r in db.repos.values() {
        out.extend(r.issue_comments.iter().map(|c| CommentInfo {
            repo: r.full_name(),
            number: c.number,
            id: c.id,
            user: c.user.clone(),
            body: c.body.clone(),
            path: None,
            line: None,
            review_id: None,
        }));
        out.extend(r.review_comments.iter().map(|c| CommentInfo {
            repo: r.full_name(),
            number: c.number,
            id: c.id,
            user: c.user.clone(),
            body: c.body.clone(),
            path: Some(c.path.clone()),
            line: c.line,
            review_id: c.review_id,
        }));
    }
    out
}
