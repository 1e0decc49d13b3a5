//! Repositories: create (user and organization), get, list, and the authenticated user.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::Uri;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, GhJson, created, paged};
use crate::github::auth::{Access, Principal, repo_access};
use crate::github::error::ApiError;
use crate::github::git::Signature;
use crate::github::json;
use crate::github::state::{AccountKind, Repo, repo_key};

/// The body of `POST /user/repos` and `POST /orgs/{org}/repos`.
#[derive(Debug, Deserialize)]
pub(crate) struct CreateRepo {
    name: Option<String>,
    description: Option<String>,
    private: Option<bool>,
    visibility: Option<String>,
    #[serde(default)]
    auto_init: bool,
}

/// `GET /user`: the user behind a personal token.
pub(crate) async fn current_user(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    let login = user_login(&ctx.p)?;
    let db = ctx.s.db();
    let mut v = json::user_by_login(&db, ctx.base(), &login);
    v["name"] = Value::Null;
    v["email"] = Value::Null;
    Ok(Json(v))
}

/// The user login of a personal token; installations and apps get 403 like on GitHub.
fn user_login(p: &Principal) -> Result<String, ApiError> {
    match p {
        Principal::User { login } => Ok(login.clone()),
        Principal::Anonymous => Err(ApiError::requires_auth()),
        _ => Err(ApiError::not_accessible_by_integration()),
    }
}

/// `POST /user/repos`.
pub(crate) async fn create_user_repo(
    ctx: Ctx,
    GhJson(body): GhJson<CreateRepo>,
) -> Result<Response, ApiError> {
    let login = user_login(&ctx.p)?;
    create(&ctx, &login, &login, body).await
}

/// `POST /orgs/{org}/repos`.
pub(crate) async fn create_org_repo(
    ctx: Ctx,
    Path(org): Path<String>,
    GhJson(body): GhJson<CreateRepo>,
) -> Result<Response, ApiError> {
    let actor = ctx.actor()?;
    let org = {
        let db = ctx.s.db();
        let account = db
            .account(&org)
            .filter(|a| a.kind == AccountKind::Organization)
            .ok_or_else(ApiError::not_found)?;
        let allowed = match &ctx.p {
            Principal::User { login } => db.is_member(&account.login, login),
            Principal::Installation { account: a, .. } => a.eq_ignore_ascii_case(&account.login),
            _ => false,
        };
        if !allowed {
            return Err(match ctx.p {
                Principal::User { .. } => ApiError::new(
                    StatusCode::FORBIDDEN,
                    "You need admin access to the organization before adding a repository to it.",
                ),
                _ => ApiError::not_accessible_by_integration(),
            });
        }
        account.login.clone()
    };
    create(&ctx, &org, &actor, body).await
}

/// GitHub's normalization: characters outside `[A-Za-z0-9._-]` become `-`.
fn normalize_name(raw: &str) -> Option<String> {
    let name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let valid = !name.is_empty() && name != "." && name != ".." && name.len() <= 100;
    valid.then_some(name)
}

fn creation_failed(message: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Repository creation failed.",
    )
    .with_errors(
        json!([{"resource": "Repository", "code": "custom", "field": "name", "message": message}]),
    )
}

async fn create(
    ctx: &Ctx,
    owner: &str,
    actor: &str,
    body: CreateRepo,
) -> Result<Response, ApiError> {
    let name = body
        .name
        .as_deref()
        .and_then(normalize_name)
        .ok_or_else(|| creation_failed("name is too short (minimum is 1 character)"))?;
    let private = body.private.unwrap_or(false)
        || matches!(body.visibility.as_deref(), Some("private" | "internal"));
    let path = ctx.s.repo_dir(owner, &name);
    let (author, key) = {
        let mut db = ctx.s.db();
        if db.repo(owner, &name).is_some() {
            return Err(creation_failed("name already exists on this account"));
        }
        let id = db.next_id();
        let mut repo = Repo::new(id, owner, &name, private, path.clone());
        repo.description.clone_from(&body.description);
        db.repos.insert(repo_key(owner, &name), repo);
        let account = db.ensure_account(actor, AccountKind::User);
        (
            Signature {
                name: account.login.clone(),
                email: json::noreply_email(&account),
                date: None,
            },
            repo_key(owner, &name),
        )
    };
    if let Err(e) = init_on_disk(
        ctx,
        &path,
        &name,
        body.description.as_deref(),
        body.auto_init,
        &author,
    )
    .await
    {
        ctx.s.db().repos.remove(&key);
        return Err(e);
    }
    let db = ctx.s.db();
    let repo = db.repos.get(&key).ok_or_else(ApiError::not_found)?;
    Ok(created(json::repo(
        ctx.base(),
        &db,
        repo,
        Some(Access::Write),
    )))
}

async fn init_on_disk(
    ctx: &Ctx,
    path: &std::path::Path,
    name: &str,
    description: Option<&str>,
    auto_init: bool,
    author: &Signature,
) -> Result<(), ApiError> {
    let git = &ctx.s.git;
    if path.exists() {
        std::fs::remove_dir_all(path)
            .map_err(|e| ApiError::internal(&io_err("remove stale repository", e)))?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| ApiError::internal(&io_err("create owner directory", e)))?;
    }
    git.init_bare(path, "main").await?;
    if auto_init {
        let readme = match description {
            Some(d) => format!("# {name}\n\n{d}\n"),
            None => format!("# {name}\n"),
        };
        git.write_initial_commit(
            path,
            "main",
            &[("README.md", readme)],
            "Initial commit",
            author,
        )
        .await?;
    }
    Ok(())
}

fn io_err(context: &str, source: std::io::Error) -> crate::github::error::SimError {
    crate::github::error::SimError::Io {
        context: context.to_owned(),
        source,
    }
}

/// `GET /repos/{owner}/{repo}`.
pub(crate) async fn get_repo(
    ctx: Ctx,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let p = ctx.p.clone();
    ctx.with_repo(&owner, &repo, |db, r| {
        Ok(Json(json::repo(
            ctx.base(),
            db,
            r,
            Some(repo_access(db, &p, r)),
        )))
    })
}

/// `GET /user/repos`: repositories the user owns or can push to as an org member.
pub(crate) async fn list_user_repos(ctx: Ctx, uri: Uri) -> Result<Response, ApiError> {
    user_login(&ctx.p)?;
    Ok(list_where(&ctx, &uri, |access, _| access == Access::Write))
}

/// `GET /orgs/{org}/repos`.
pub(crate) async fn list_org_repos(
    ctx: Ctx,
    Path(org): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let known = ctx
        .s
        .db()
        .account(&org)
        .is_some_and(|a| a.kind == AccountKind::Organization);
    if !known {
        return Err(ApiError::not_found());
    }
    Ok(list_where(&ctx, &uri, |access, r| {
        access > Access::None && r.owner.eq_ignore_ascii_case(&org)
    }))
}

fn list_where(ctx: &Ctx, uri: &Uri, keep: impl Fn(Access, &Repo) -> bool) -> Response {
    let items = {
        let db = ctx.s.db();
        db.repos
            .values()
            .filter_map(|r| {
                let access = repo_access(&db, &ctx.p, r);
                keep(access, r).then(|| json::repo(ctx.base(), &db, r, Some(access)))
            })
            .collect()
    };
    paged(ctx.base(), uri, items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names_like_github() {
        assert_eq!(normalize_name("my repo!").as_deref(), Some("my-repo-"));
        assert_eq!(
            normalize_name("ok.name_1-x").as_deref(),
            Some("ok.name_1-x")
        );
        assert_eq!(normalize_name(".."), None);
        assert_eq!(normalize_name("  "), None);
    }
}
