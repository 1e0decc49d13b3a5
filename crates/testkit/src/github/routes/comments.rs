//! Conversation comments on issues and pull requests (`/repos/{o}/{r}/issues/{n}/comments`).

use axum::extract::Path;
use axum::http::Uri;
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::{Ctx, GhJson, created, number, paged};
use crate::github::error::ApiError;
use crate::github::json;
use crate::github::state::{AccountKind, IssueComment};

/// The body of `POST …/issues/{n}/comments`.
#[derive(Debug, Deserialize)]
pub(crate) struct CreateComment {
    body: Option<String>,
}

/// `POST /repos/{owner}/{repo}/issues/{number}/comments` (pull requests are issues too).
pub(crate) async fn create(
    ctx: Ctx,
    Path((owner, repo, n)): Path<(String, String, String)>,
    GhJson(body): GhJson<CreateComment>,
) -> Result<Response, ApiError> {
    let n = number(&n)?;
    let actor = ctx.actor()?;
    ctx.with_repo(&owner, &repo, |_, r| {
        r.pull(n).map(|_| ()).ok_or_else(ApiError::not_found)
    })?;
    let text = body.body.filter(|b| !b.trim().is_empty()).ok_or_else(|| {
        ApiError::validation(
            json!([{"resource": "IssueComment", "field": "body", "code": "missing_field"}]),
        )
    })?;
    let mut db = ctx.s.db();
    db.ensure_account(&actor, AccountKind::User);
    let id = db.next_id();
    let comment = IssueComment {
        id,
        number: n,
        user: actor,
        body: text,
        created_at: Utc::now(),
    };
    db.repo_mut(&owner, &repo)
        .ok_or_else(ApiError::not_found)?
        .issue_comments
        .push(comment.clone());
    let r = db.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    Ok(created(json::issue_comment(ctx.base(), &db, r, &comment)))
}

/// `GET /repos/{owner}/{repo}/issues/{number}/comments`.
pub(crate) async fn list(
    ctx: Ctx,
    Path((owner, repo, n)): Path<(String, String, String)>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let n = number(&n)?;
    let items = ctx.with_repo(&owner, &repo, |db, r| {
        r.pull(n).ok_or_else(ApiError::not_found)?;
        Ok(r.issue_comments
            .iter()
            .filter(|c| c.number == n)
            .map(|c| json::issue_comment(ctx.base(), db, r, c))
            .collect())
    })?;
    Ok(paged(ctx.base(), &uri, items))
}
