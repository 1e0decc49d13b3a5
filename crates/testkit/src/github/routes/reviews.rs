//! Pull request reviews (APPROVE / REQUEST_CHANGES / COMMENT, with line comments) and
//! standalone line comments, validated against the real diff.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::Uri;
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::pulls::refresh;
use super::{Ctx, GhJson, RepoRef, created, number, paged};
use crate::github::auth::Access;
use crate::github::diff::{self, Located, Target};
use crate::github::error::ApiError;
use crate::github::json;
use crate::github::state::{AccountKind, Pull, Review, ReviewComment};

/// A line comment inside a review, or the body of `POST …/pulls/{n}/comments`.
#[derive(Debug, Deserialize)]
pub(crate) struct DraftComment {
    path: Option<String>,
    position: Option<u64>,
    line: Option<u64>,
    side: Option<String>,
    body: Option<String>,
    commit_id: Option<String>,
}

/// The body of `POST …/pulls/{n}/reviews`.
#[derive(Debug, Deserialize)]
pub(crate) struct CreateReview {
    commit_id: Option<String>,
    body: Option<String>,
    event: Option<String>,
    #[serde(default)]
    comments: Vec<DraftComment>,
}

fn unprocessable(error: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Entity")
        .with_errors(json!([error]))
}

fn review_state(event: Option<&str>) -> Result<&'static str, ApiError> {
    match event {
        None | Some("") => Ok("PENDING"),
        Some("APPROVE") => Ok("APPROVED"),
        Some("REQUEST_CHANGES") => Ok("CHANGES_REQUESTED"),
        Some("COMMENT") => Ok("COMMENTED"),
        Some(_) => Err(ApiError::validation(
            json!([{"resource": "PullRequestReview", "field": "event", "code": "invalid"}]),
        )),
    }
}

/// GitHub's rules on who may submit what.
fn check_review(
    state: &str,
    actor: &str,
    pull: &Pull,
    body: &str,
    has_comments: bool,
) -> Result<(), ApiError> {
    let own = actor.eq_ignore_ascii_case(&pull.user);
    match state {
        "APPROVED" if own => Err(unprocessable("Can not approve your own pull request")),
        "CHANGES_REQUESTED" if own => Err(unprocessable(
            "Can not request changes on your own pull request",
        )),
        "CHANGES_REQUESTED" if body.trim().is_empty() => {
            Err(unprocessable("Body is required for REQUEST_CHANGES events"))
        }
        "COMMENTED" if body.trim().is_empty() && !has_comments => {
            Err(unprocessable("Body is required for COMMENT events"))
        }
        _ => Ok(()),
    }
}

/// Resolves `commit_id` (default: the head) and returns it with the diff the comments refer to.
async fn diff_at(
    ctx: &Ctx,
    rr: &RepoRef,
    pull: &Pull,
    commit_id: Option<&str>,
) -> Result<(String, String), ApiError> {
    let git = &ctx.s.git;
    let commit = match commit_id {
        Some(c) => git.rev_parse(&rr.path, c).await?.ok_or_else(|| {
            ApiError::validation(
                json!([{"resource": "PullRequestReview", "field": "commit_id", "code": "invalid"}]),
            )
        })?,
        None => pull.head_sha.clone(),
    };
    let diff = git.diff(&rr.path, &pull.base_sha, &commit).await?;
    Ok((commit, diff))
}

fn locate(diff: &str, c: &DraftComment) -> Result<(String, Located), &'static str> {
    let path = c.path.clone().ok_or("path")?;
    let target = match (c.line, c.position) {
        (Some(line), _) => Target::Line {
            line,
            left: c.side.as_deref() == Some("LEFT"),
        },
        (None, Some(p)) => Target::Position(p),
        (None, None) => return Err("line"),
    };
    if !diff
        .lines()
        .any(|l| l == format!("+++ b/{path}") || l == format!("--- a/{path}"))
    {
        return Err("path");
    }
    diff::locate(diff, &path, target)
        .map(|l| (path, l))
        .ok_or("line")
}

/// `POST /repos/{owner}/{repo}/pulls/{number}/reviews`.
pub(crate) async fn create(
    ctx: Ctx,
    Path((owner, repo, n)): Path<(String, String, String)>,
    GhJson(body): GhJson<CreateReview>,
) -> Result<Json<Value>, ApiError> {
    let n = number(&n)?;
    let actor = ctx.actor()?;
    let rr = ctx.repo_ref(&owner, &repo, Access::Read)?;
    let (pull, _) = refresh(&ctx, &rr, n).await?;
    let state = review_state(body.event.as_deref())?;
    let text = body.body.clone().unwrap_or_default();
    check_review(state, &actor, &pull, &text, !body.comments.is_empty())?;
    let (commit, diff) = diff_at(&ctx, &rr, &pull, body.commit_id.as_deref()).await?;
    let mut located = Vec::new();
    for c in &body.comments {
        let (path, at) = locate(&diff, c).map_err(|what| {
            unprocessable(if what == "path" {
                "Path could not be resolved"
            } else {
                "Line could not be resolved"
            })
        })?;
        located.push((path, at, c.body.clone().unwrap_or_default()));
    }
    let mut db = ctx.s.db();
    db.ensure_account(&actor, AccountKind::User);
    let id = db.next_id();
    let comment_ids: Vec<u64> = located.iter().map(|_| db.next_id()).collect();
    let r = db.repo_mut(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let now = Utc::now();
    let review = Review {
        id,
        number: n,
        user: actor.clone(),
        body: text,
        state,
        commit_id: commit.clone(),
        submitted_at: now,
    };
    r.reviews.push(review.clone());
    let meta = CommentMeta {
        review_id: id,
        number: n,
        user: &actor,
        commit: &commit,
    };
    for ((path, at, body), cid) in located.into_iter().zip(comment_ids) {
        r.review_comments.push(meta.build(cid, body, path, at));
    }
    let r = db.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    Ok(Json(json::review(ctx.base(), &db, r, &review)))
}

/// The fixed parts of line comments being created together.
struct CommentMeta<'a> {
    review_id: u64,
    number: u64,
    user: &'a str,
    commit: &'a str,
}

impl CommentMeta<'_> {
    fn build(&self, id: u64, body: String, path: String, at: Located) -> ReviewComment {
        ReviewComment {
            id,
            review_id: Some(self.review_id),
            number: self.number,
            user: self.user.to_owned(),
            body,
            path,
            line: Some(at.line),
            side: at.side.to_owned(),
            position: Some(at.position),
            commit_id: self.commit.to_owned(),
            diff_hunk: at.diff_hunk,
            created_at: Utc::now(),
        }
    }
}

/// `GET /repos/{owner}/{repo}/pulls/{number}/reviews`.
pub(crate) async fn list(
    ctx: Ctx,
    Path((owner, repo, n)): Path<(String, String, String)>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let n = number(&n)?;
    let items = ctx.with_repo(&owner, &repo, |db, r| {
        r.pull(n).ok_or_else(ApiError::not_found)?;
        Ok(r.reviews
            .iter()
            .filter(|v| v.number == n)
            .map(|v| json::review(ctx.base(), db, r, v))
            .collect())
    })?;
    Ok(paged(ctx.base(), &uri, items))
}

/// `POST /repos/{owner}/{repo}/pulls/{number}/comments`: a line comment (with its implicit review).
pub(crate) async fn create_line_comment(
    ctx: Ctx,
    Path((owner, repo, n)): Path<(String, String, String)>,
    GhJson(c): GhJson<DraftComment>,
) -> Result<Response, ApiError> {
    let n = number(&n)?;
    let actor = ctx.actor()?;
    let rr = ctx.repo_ref(&owner, &repo, Access::Read)?;
    let (pull, _) = refresh(&ctx, &rr, n).await?;
    let missing = |f: &str| {
        ApiError::validation(
            json!([{"resource": "PullRequestReviewComment", "field": f, "code": "missing_field"}]),
        )
    };
    let text = c
        .body
        .clone()
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| missing("body"))?;
    let commit_id = c.commit_id.clone().ok_or_else(|| missing("commit_id"))?;
    let (commit, diff) = diff_at(&ctx, &rr, &pull, Some(&commit_id)).await?;
    let (path, at) = locate(&diff, &c).map_err(|what| {
        ApiError::validation(json!([{
            "resource": "PullRequestReviewComment", "code": "custom",
            "field": format!("pull_request_review_thread.{what}"), "message": "could not be resolved",
        }]))
    })?;
    let mut db = ctx.s.db();
    db.ensure_account(&actor, AccountKind::User);
    let (review_id, comment_id) = (db.next_id(), db.next_id());
    let r = db.repo_mut(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let review = Review {
        id: review_id,
        number: n,
        user: actor.clone(),
        body: String::new(),
        state: "COMMENTED",
        commit_id: commit.clone(),
        submitted_at: Utc::now(),
    };
    r.reviews.push(review);
    let meta = CommentMeta {
        review_id,
        number: n,
        user: &actor,
        commit: &commit,
    };
    let comment = meta.build(comment_id, text, path, at);
    r.review_comments.push(comment.clone());
    let r = db.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    Ok(created(json::review_comment(ctx.base(), &db, r, &comment)))
}

/// `GET /repos/{owner}/{repo}/pulls/{number}/comments`.
pub(crate) async fn list_line_comments(
    ctx: Ctx,
    Path((owner, repo, n)): Path<(String, String, String)>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let n = number(&n)?;
    let items = ctx.with_repo(&owner, &repo, |db, r| {
        r.pull(n).ok_or_else(ApiError::not_found)?;
        Ok(r.review_comments
            .iter()
            .filter(|c| c.number == n)
            .map(|c| json::review_comment(ctx.base(), db, r, c))
            .collect())
    })?;
    Ok(paged(ctx.base(), &uri, items))
}
