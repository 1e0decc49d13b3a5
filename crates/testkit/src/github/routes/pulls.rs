//! Pull requests: create, get (JSON, diff or patch), list, update, changed files.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::Uri;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, GhJson, RepoRef, created, number, paged};
use crate::github::auth::Access;
use crate::github::error::ApiError;
use crate::github::json::{self, PullStats};
use crate::github::state::{AccountKind, Pull, PullState};

/// The body of `POST /repos/{o}/{r}/pulls`.
#[derive(Debug, Deserialize)]
pub(crate) struct CreatePull {
    title: Option<String>,
    head: Option<String>,
    base: Option<String>,
    body: Option<String>,
    #[serde(default)]
    draft: bool,
}

fn invalid(field: &str, code: &str) -> ApiError {
    ApiError::validation(json!([{"resource": "PullRequest", "field": field, "code": code}]))
}

fn custom(message: String) -> ApiError {
    ApiError::validation(json!([{"resource": "PullRequest", "code": "custom", "message": message}]))
}

/// A validated pull request about to be opened.
struct Proposal {
    title: String,
    body: Option<String>,
    draft: bool,
    head: String,
    base: String,
    head_sha: String,
    base_sha: String,
}

/// Checks the fields and branches of a new pull request the way GitHub does (422s).
async fn validate(ctx: &Ctx, rr: &RepoRef, body: CreatePull) -> Result<Proposal, ApiError> {
    let title = body
        .title
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| invalid("title", "missing_field"))?;
    let head_raw = body.head.ok_or_else(|| invalid("head", "missing_field"))?;
    let base = body.base.ok_or_else(|| invalid("base", "missing_field"))?;
    let head = match head_raw.split_once(':') {
        Some((o, b)) if o.eq_ignore_ascii_case(&rr.owner) => b.to_owned(),
        Some(_) => return Err(invalid("head", "invalid")),
        None => head_raw,
    };
    let git = &ctx.s.git;
    let head_sha = git
        .branch_sha(&rr.path, &head)
        .await?
        .ok_or_else(|| invalid("head", "invalid"))?;
    let base_sha = git
        .branch_sha(&rr.path, &base)
        .await?
        .ok_or_else(|| invalid("base", "invalid"))?;
    if git
        .rev_list(&rr.path, &base_sha, &head_sha)
        .await?
        .is_empty()
    {
        return Err(custom(format!("No commits between {base} and {head}")));
    }
    Ok(Proposal {
        title,
        body: body.body,
        draft: body.draft,
        head,
        base,
        head_sha,
        base_sha,
    })
}

/// Records the pull request under the next number, unless one is already open for the head.
fn open_pull(ctx: &Ctx, rr: &RepoRef, actor: String, p: Proposal) -> Result<u64, ApiError> {
    let mut db = ctx.s.db();
    let id = db.next_id();
    db.ensure_account(&actor, AccountKind::User);
    let r = db
        .repo_mut(&rr.owner, &rr.name)
        .ok_or_else(ApiError::not_found)?;
    let duplicate =
        |o: &Pull| o.state == PullState::Open && o.head_ref == p.head && o.base_ref == p.base;
    if r.pulls.iter().any(duplicate) {
        return Err(custom(format!(
            "A pull request already exists for {}:{}.",
            r.owner, p.head
        )));
    }
    let number = r.next_number;
    r.next_number += 1;
    let now = Utc::now();
    r.pulls.push(Pull {
        id,
        number,
        title: p.title,
        body: p.body,
        user: actor,
        head_ref: p.head,
        base_ref: p.base,
        head_sha: p.head_sha,
        base_sha: p.base_sha,
        state: PullState::Open,
        draft: p.draft,
        created_at: now,
        updated_at: now,
        closed_at: None,
        merged: None,
    });
    Ok(number)
}

/// `POST /repos/{owner}/{repo}/pulls`.
pub(crate) async fn create(
    ctx: Ctx,
    Path((owner, repo)): Path<(String, String)>,
    GhJson(body): GhJson<CreatePull>,
) -> Result<Response, ApiError> {
    let actor = ctx.actor()?;
    let rr = ctx.repo_ref(&owner, &repo, Access::Read)?;
    let proposal = validate(&ctx, &rr, body).await?;
    let number = open_pull(&ctx, &rr, actor, proposal)?;
    let (pull, stats) = refresh(&ctx, &rr, number).await?;
    Ok(created(render(&ctx, &owner, &repo, &pull, stats)?))
}

/// Re-reads an open pull request's head and base from git and computes its statistics.
pub(crate) async fn refresh(
    ctx: &Ctx,
    rr: &RepoRef,
    number: u64,
) -> Result<(Pull, PullStats), ApiError> {
    let mut pull = ctx.with_repo(&rr.owner, &rr.name, |_, r| {
        r.pull(number).cloned().ok_or_else(ApiError::not_found)
    })?;
    let git = &ctx.s.git;
    let open = pull.state == PullState::Open;
    if open {
        if let Some(sha) = git.branch_sha(&rr.path, &pull.head_ref).await? {
            pull.head_sha = sha;
        }
        if let Some(sha) = git.branch_sha(&rr.path, &pull.base_ref).await? {
            pull.base_sha = sha;
        }
        let mut db = ctx.s.db();
        if let Some(p) = db
            .repo_mut(&rr.owner, &rr.name)
            .and_then(|r| r.pull_mut(number))
        {
            p.head_sha.clone_from(&pull.head_sha);
            p.base_sha.clone_from(&pull.base_sha);
        }
    }
    let commits = git
        .rev_list(&rr.path, &pull.base_sha, &pull.head_sha)
        .await?
        .len() as u64;
    let fork = git
        .merge_base(&rr.path, &pull.base_sha, &pull.head_sha)
        .await?;
    let files = match &fork {
        Some(mb) => git.file_stats(&rr.path, mb, &pull.head_sha).await?,
        None => Vec::new(),
    };
    let mergeable = if open {
        Some(
            git.merge_tree(&rr.path, &pull.base_sha, &pull.head_sha, None)
                .await?
                .is_some(),
        )
    } else {
        None
    };
    let stats = PullStats {
        commits,
        additions: files.iter().map(|f| f.additions).sum(),
        deletions: files.iter().map(|f| f.deletions).sum(),
        changed_files: files.len() as u64,
        mergeable,
    };
    Ok((pull, stats))
}

/// Renders a pull request of `owner/repo`.
pub(crate) fn render(
    ctx: &Ctx,
    owner: &str,
    repo: &str,
    pull: &Pull,
    stats: PullStats,
) -> Result<Value, ApiError> {
    ctx.with_repo(owner, repo, |db, r| {
        Ok(json::pull(ctx.base(), db, r, pull, stats))
    })
}

/// `GET /repos/{owner}/{repo}/pulls/{number}`, as JSON or, by `Accept`, as a diff or patch.
pub(crate) async fn get(
    ctx: Ctx,
    Path((owner, repo, n)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let n = number(&n)?;
    let rr = ctx.repo_ref(&owner, &repo, Access::Read)?;
    let (pull, stats) = refresh(&ctx, &rr, n).await?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let git = &ctx.s.git;
    let (text, media) = if accept.contains(".diff") {
        (
            git.diff(&rr.path, &pull.base_sha, &pull.head_sha).await?,
            "application/vnd.github.v3.diff; charset=utf-8",
        )
    } else if accept.contains(".patch") {
        (
            git.format_patch(&rr.path, &pull.base_sha, &pull.head_sha)
                .await?,
            "application/vnd.github.v3.patch; charset=utf-8",
        )
    } else {
        return Ok(Json(render(&ctx, &owner, &repo, &pull, stats)?).into_response());
    };
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, media)], text).into_response())
}

/// Query parameters of `GET /repos/{o}/{r}/pulls`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    state: Option<String>,
    head: Option<String>,
    base: Option<String>,
    direction: Option<String>,
}

/// The fields GitHub leaves out of pull requests in lists.
const DETAIL_ONLY: &[&str] = &[
    "merged",
    "mergeable",
    "rebaseable",
    "mergeable_state",
    "merged_by",
    "comments",
    "review_comments",
    "maintainer_can_modify",
    "commits",
    "additions",
    "deletions",
    "changed_files",
];

/// `GET /repos/{owner}/{repo}/pulls?state=open|closed|all&head=owner:branch&base=branch`.
pub(crate) async fn list(
    ctx: Ctx,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let rr = ctx.repo_ref(&owner, &repo, Access::Read)?;
    let state = q.state.as_deref().unwrap_or("open");
    let head = q
        .head
        .as_deref()
        .map(|h| h.split_once(':').map_or(h, |(_, b)| b));
    let numbers: Vec<u64> = ctx.with_repo(&owner, &repo, |_, r| {
        Ok(r.pulls
            .iter()
            .filter(|p| match state {
                "all" => true,
                "closed" => p.state == PullState::Closed,
                _ => p.state == PullState::Open,
            })
            .filter(|p| {
                head.is_none_or(|h| p.head_ref == h)
                    && q.base.as_deref().is_none_or(|b| p.base_ref == b)
            })
            .map(|p| p.number)
            .collect())
    })?;
    let mut items = Vec::new();
    for n in numbers {
        let (pull, stats) = refresh(&ctx, &rr, n).await?;
        let mut v = render(&ctx, &owner, &repo, &pull, stats)?;
        if let Some(obj) = v.as_object_mut() {
            DETAIL_ONLY.iter().for_each(|k| {
                obj.remove(*k);
            });
        }
        items.push(v);
    }
    if q.direction.as_deref() != Some("asc") {
        items.reverse();
    }
    Ok(paged(ctx.base(), &uri, items))
}

/// The body of `PATCH /repos/{o}/{r}/pulls/{n}`.
#[derive(Debug, Deserialize)]
pub(crate) struct UpdatePull {
    title: Option<String>,
    body: Option<String>,
    state: Option<String>,
}

/// `PATCH /repos/{owner}/{repo}/pulls/{number}`: title, body, close or reopen.
pub(crate) async fn update(
    ctx: Ctx,
    Path((owner, repo, n)): Path<(String, String, String)>,
    GhJson(body): GhJson<UpdatePull>,
) -> Result<Json<Value>, ApiError> {
    let n = number(&n)?;
    ctx.actor()?;
    let rr = ctx.repo_ref(&owner, &repo, Access::Read)?;
    {
        let mut db = ctx.s.db();
        let p = db
            .repo_mut(&owner, &repo)
            .and_then(|r| r.pull_mut(n))
            .ok_or_else(ApiError::not_found)?;
        let now = Utc::now();
        match body.state.as_deref() {
            Some("closed") if p.state == PullState::Open => {
                (p.state, p.closed_at) = (PullState::Closed, Some(now))
            }
            Some("open") if p.merged.is_some() => {
                return Err(custom(
                    "state cannot be changed. The pull request has been merged.".to_owned(),
                ));
            }
            Some("open") => (p.state, p.closed_at) = (PullState::Open, None),
            Some("closed") | None => {}
            Some(_) => return Err(invalid("state", "invalid")),
        }
        if let Some(t) = body.title {
            p.title = t;
        }
        if body.body.is_some() {
            p.body = body.body;
        }
        p.updated_at = now;
    }
    let (pull, stats) = refresh(&ctx, &rr, n).await?;
    Ok(Json(render(&ctx, &owner, &repo, &pull, stats)?))
}

/// `GET /repos/{owner}/{repo}/pulls/{number}/files`.
pub(crate) async fn files(
    ctx: Ctx,
    Path((owner, repo, n)): Path<(String, String, String)>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let n = number(&n)?;
    let rr = ctx.repo_ref(&owner, &repo, Access::Read)?;
    let (pull, _) = refresh(&ctx, &rr, n).await?;
    let git = &ctx.s.git;
    let fork = git
        .merge_base(&rr.path, &pull.base_sha, &pull.head_sha)
        .await?;
    let stats = match fork {
        Some(mb) => git.file_stats(&rr.path, &mb, &pull.head_sha).await?,
        None => Vec::new(),
    };
    let items = ctx.with_repo(&owner, &repo, |_, r| {
        Ok(stats
            .iter()
            .map(|f| json::file(ctx.base(), r, &pull.head_sha, f))
            .collect())
    })?;
    Ok(paged(ctx.base(), &uri, items))
}
