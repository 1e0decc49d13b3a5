//! Branches, refs and commits, read straight from the bare repository.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::Uri;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, GhJson, created, paged};
use crate::github::auth::Access;
use crate::github::error::ApiError;
use crate::github::json;

/// The id of git's empty tree, the "parent" of a root commit for diffs.
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// `GET /repos/{owner}/{repo}/branches`.
pub(crate) async fn list_branches(
    ctx: Ctx,
    Path((owner, repo)): Path<(String, String)>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let rr = ctx.repo_ref(&owner, &repo, Access::Read)?;
    let branches = ctx.s.git.branches(&rr.path).await?;
    let items = ctx.with_repo(&owner, &repo, |_, r| {
        Ok(branches
            .iter()
            .map(|(n, s)| json::branch_short(ctx.base(), r, n, s))
            .collect())
    })?;
    Ok(paged(ctx.base(), &uri, items))
}

/// `GET /repos/{owner}/{repo}/branches/{branch}`: the branch with its full head commit.
pub(crate) async fn get_branch(
    ctx: Ctx,
    Path((owner, repo, branch)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let rr = ctx.repo_ref(&owner, &repo, Access::Read)?;
    let git = &ctx.s.git;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "Branch not found");
    let sha = git
        .branch_sha(&rr.path, &branch)
        .await?
        .ok_or_else(not_found)?;
    let info = git
        .commit_info(&rr.path, &sha)
        .await?
        .ok_or_else(not_found)?;
    ctx.with_repo(&owner, &repo, |db, r| {
        let api = json::repo_api(ctx.base(), r);
        Ok(Json(json!({
            "name": branch, "commit": json::commit(ctx.base(), db, r, &info, &[]),
            "_links": {"self": format!("{api}/branches/{branch}"), "html": format!("{}/{}/tree/{branch}", ctx.base(), r.full_name())},
            "protected": false, "protection": {"enabled": false, "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []}},
            "protection_url": format!("{api}/branches/{branch}/protection"),
        })))
    })
}

/// `GET /repos/{owner}/{repo}/git/ref/heads/{branch}` (also `git/refs/...`).
pub(crate) async fn get_ref(
    ctx: Ctx,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let rr = ctx.repo_ref(&owner, &repo, Access::Read)?;
    let branch = name
        .strip_prefix("heads/")
        .ok_or_else(ApiError::not_found)?;
    let sha = ctx
        .s
        .git
        .branch_sha(&rr.path, branch)
        .await?
        .ok_or_else(ApiError::not_found)?;
    ctx.with_repo(&owner, &repo, |_, r| {
        Ok(Json(json::git_ref(ctx.base(), r, branch, &sha)))
    })
}

/// `GET /repos/{owner}/{repo}/commits/{sha}`: a commit by id or branch name, with its changed files.
pub(crate) async fn get_commit(
    ctx: Ctx,
    Path((owner, repo, sha)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let rr = ctx.repo_ref(&owner, &repo, Access::Read)?;
    let git = &ctx.s.git;
    let unknown = || {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("No commit found for SHA: {sha}"),
        )
    };
    let info = git.commit_info(&rr.path, &sha).await?.ok_or_else(unknown)?;
    let parent = info.parents.first().map_or(EMPTY_TREE, String::as_str);
    let files = git.file_stats(&rr.path, parent, &info.sha).await?;
    ctx.with_repo(&owner, &repo, |db, r| {
        Ok(Json(json::commit(ctx.base(), db, r, &info, &files)))
    })
}

/// The body of `POST /repos/{o}/{r}/git/refs`.
#[derive(Debug, Deserialize)]
pub(crate) struct NewRef {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
}

fn unprocessable(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// `POST /repos/{owner}/{repo}/git/refs`: creates a branch (`refs/heads/...`) at a commit.
pub(crate) async fn create_ref(
    ctx: Ctx,
    Path((owner, repo)): Path<(String, String)>,
    GhJson(body): GhJson<NewRef>,
) -> Result<axum::response::Response, ApiError> {
    let rr = ctx.repo_ref(&owner, &repo, Access::Write)?;
    let branch = body
        .name
        .strip_prefix("refs/heads/")
        .filter(|b| !b.is_empty() && !b.starts_with('-'))
        .ok_or_else(|| {
            unprocessable("Reference name must start with 'refs/heads/' in this simulator")
        })?;
    let git = &ctx.s.git;
    let sha = git
        .rev_parse(&rr.path, &body.sha)
        .await?
        .ok_or_else(|| unprocessable("Object does not exist"))?;
    if !git.update_ref(&rr.path, &body.name, &sha, None).await? {
        return Err(unprocessable("Reference already exists"));
    }
    ctx.with_repo(&owner, &repo, |_, r| {
        Ok(created(json::git_ref(ctx.base(), r, branch, &sha)))
    })
}

/// `DELETE /repos/{owner}/{repo}/git/refs/heads/{branch}`.
pub(crate) async fn delete_ref(
    ctx: Ctx,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let rr = ctx.repo_ref(&owner, &repo, Access::Write)?;
    let full = format!("refs/{name}");
    let exists =
        name.starts_with("heads/") && ctx.s.git.rev_parse(&rr.path, &full).await?.is_some();
    if !exists || !ctx.s.git.delete_ref(&rr.path, &full).await? {
        return Err(unprocessable("Reference does not exist"));
    }
    Ok(StatusCode::NO_CONTENT)
}
