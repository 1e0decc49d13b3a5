//! Merging pull requests for real in the bare repository: merge commit, squash or rebase,
//! built with `git merge-tree --write-tree` + `commit-tree` and published with a
//! compare-and-swap `update-ref`.

use std::path::Path as FsPath;

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::pulls::refresh;
use super::{Ctx, GhJson, number};
use crate::github::auth::Access;
use crate::github::error::ApiError;
use crate::github::git::{Git, Signature};
use crate::github::json;
use crate::github::state::{AccountKind, MergeRecord, Pull, PullState};

/// The body of `PUT /repos/{o}/{r}/pulls/{n}/merge`.
#[derive(Debug, Deserialize)]
pub(crate) struct MergeBody {
    commit_title: Option<String>,
    commit_message: Option<String>,
    sha: Option<String>,
    merge_method: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Merge,
    Squash,
    Rebase,
}

fn not_mergeable() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Pull Request is not mergeable",
    )
}

/// `GET /repos/{owner}/{repo}/pulls/{number}/merge`: 204 when merged, 404 otherwise.
pub(crate) async fn is_merged(
    ctx: Ctx,
    Path((owner, repo, n)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let n = number(&n)?;
    let merged = ctx.with_repo(&owner, &repo, |_, r| {
        Ok(r.pull(n).ok_or_else(ApiError::not_found)?.merged.is_some())
    })?;
    if merged {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found())
    }
}

/// `PUT /repos/{owner}/{repo}/pulls/{number}/merge`.
pub(crate) async fn merge(
    ctx: Ctx,
    Path((owner, repo, n)): Path<(String, String, String)>,
    GhJson(body): GhJson<MergeBody>,
) -> Result<Json<Value>, ApiError> {
    let n = number(&n)?;
    let actor = ctx.actor()?;
    let rr = ctx.repo_ref(&owner, &repo, Access::Write)?;
    let method = parse_method(body.merge_method.as_deref())?;
    let _serialized = ctx.s.merge_lock.lock().await;
    let (pull, _) = refresh(&ctx, &rr, n).await?;
    check_mergeable(&pull, body.sha.as_deref())?;
    let merger = signature(&ctx, &actor);
    let pr_author = signature(&ctx, &pull.user);
    let job = MergeJob {
        git: &ctx.s.git,
        path: &rr.path,
        pull: &pull,
        owner: &rr.owner,
        body: &body,
    };
    let new = match method {
        Method::Merge => job.merge_commit(&merger).await?,
        Method::Squash => job.squash(&pr_author).await?,
        Method::Rebase => job.rebase().await?,
    };
    let base_ref = format!("refs/heads/{}", pull.base_ref);
    if !ctx
        .s
        .git
        .update_ref(&rr.path, &base_ref, &new, Some(&pull.base_sha))
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Base branch was modified. Review and try the merge again.",
        ));
    }
    record_merge(&ctx, &owner, &repo, n, &new, &actor);
    Ok(Json(
        json!({"sha": new, "merged": true, "message": "Pull Request successfully merged"}),
    ))
}

/// GitHub's `merge_method`; anything but merge/squash/rebase is 422.
fn parse_method(raw: Option<&str>) -> Result<Method, ApiError> {
    match raw {
        None | Some("merge") => Ok(Method::Merge),
        Some("squash") => Ok(Method::Squash),
        Some("rebase") => Ok(Method::Rebase),
        Some(_) => Err(ApiError::validation(
            json!([{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}]),
        )),
    }
}

/// 405 for closed or draft pull requests, 409 when `sha` is not the current head.
fn check_mergeable(pull: &Pull, sha: Option<&str>) -> Result<(), ApiError> {
    if pull.state != PullState::Open {
        return Err(not_mergeable());
    }
    if pull.draft {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Pull Request is still a draft",
        ));
    }
    if sha.is_some_and(|s| s != pull.head_sha) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Head branch was modified. Review and try the merge again.",
        ));
    }
    Ok(())
}

fn record_merge(ctx: &Ctx, owner: &str, repo: &str, n: u64, sha: &str, actor: &str) {
    let mut db = ctx.s.db();
    if let Some(p) = db.repo_mut(owner, repo).and_then(|r| r.pull_mut(n)) {
        let now = Utc::now();
        p.state = PullState::Closed;
        p.closed_at = Some(now);
        p.updated_at = now;
        p.merged = Some(MergeRecord {
            sha: sha.to_owned(),
            at: now,
            by: actor.to_owned(),
        });
    }
}

/// The commit identity of a GitHub account (`<id>+<login>@users.noreply.github.com`).
fn signature(ctx: &Ctx, login: &str) -> Signature {
    let account = ctx.s.db().ensure_account(login, AccountKind::User);
    Signature {
        name: account.login.clone(),
        email: json::noreply_email(&account),
        date: None,
    }
}

/// GitHub commits merges as `GitHub <noreply@github.com>`.
fn web_flow() -> Signature {
    Signature {
        name: "GitHub".to_owned(),
        email: "noreply@github.com".to_owned(),
        date: None,
    }
}

struct MergeJob<'a> {
    git: &'a Git,
    path: &'a FsPath,
    pull: &'a Pull,
    owner: &'a str,
    body: &'a MergeBody,
}

impl MergeJob<'_> {
    fn message(&self, default_title: String, default_body: String) -> String {
        let title = self.body.commit_title.clone().unwrap_or(default_title);
        let body = self.body.commit_message.clone().unwrap_or(default_body);
        if body.is_empty() {
            title
        } else {
            format!("{title}\n\n{body}")
        }
    }

    async fn merged_tree(&self) -> Result<String, ApiError> {
        let tree = self
            .git
            .merge_tree(self.path, &self.pull.base_sha, &self.pull.head_sha, None)
            .await?;
        tree.ok_or_else(not_mergeable)
    }

    async fn merge_commit(&self, merger: &Signature) -> Result<String, ApiError> {
        let tree = self.merged_tree().await?;
        let p = self.pull;
        let msg = self.message(
            format!(
                "Merge pull request #{} from {}/{}",
                p.number, self.owner, p.head_ref
            ),
            p.title.clone(),
        );
        let parents = [p.base_sha.as_str(), p.head_sha.as_str()];
        Ok(self
            .git
            .commit_tree(self.path, &tree, &parents, &msg, merger, &web_flow())
            .await?)
    }

    async fn squash(&self, author: &Signature) -> Result<String, ApiError> {
        let tree = self.merged_tree().await?;
        let p = self.pull;
        let mut messages = Vec::new();
        for (sha, _) in self
            .git
            .rev_list(self.path, &p.base_sha, &p.head_sha)
            .await?
        {
            if let Some(info) = self.git.commit_info(self.path, &sha).await? {
                messages.push(format!("* {}", info.message));
            }
        }
        let msg = self.message(
            format!("{} (#{})", p.title, p.number),
            messages.join("\n\n"),
        );
        Ok(self
            .git
            .commit_tree(
                self.path,
                &tree,
                &[p.base_sha.as_str()],
                &msg,
                author,
                &web_flow(),
            )
            .await?)
    }

    /// Replays each commit onto the base like `git rebase`, keeping authors and messages.
    async fn rebase(&self) -> Result<String, ApiError> {
        let p = self.pull;
        let commits = self
            .git
            .rev_list(self.path, &p.base_sha, &p.head_sha)
            .await?;
        if commits.iter().any(|(_, parents)| *parents > 1) {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "This branch can't be rebased",
            ));
        }
        let mut current = p.base_sha.clone();
        for (sha, _) in commits {
            let info = self
                .git
                .commit_info(self.path, &sha)
                .await?
                .ok_or_else(not_mergeable)?;
            let parent = info.parents.first().ok_or_else(not_mergeable)?;
            let tree = self
                .git
                .merge_tree(self.path, &current, &sha, Some(parent))
                .await?
                .ok_or_else(not_mergeable)?;
            let parents = [current.as_str()];
            current = self
                .git
                .commit_tree(
                    self.path,
                    &tree,
                    &parents,
                    &info.message,
                    &info.author,
                    &web_flow(),
                )
                .await?;
        }
        Ok(current)
    }
}
