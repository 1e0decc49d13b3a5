//! GitHub App endpoints: the app itself, installations and installation access tokens.

use axum::Json;
use axum::extract::Path;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, GhJson, created};
use crate::github::auth::{Access, AppRuntime, Principal, require_app};
use crate::github::error::ApiError;
use crate::github::json;
use crate::github::state::TokenGrant;

impl Ctx {
    /// The app, after checking the request carries a valid App JWT.
    fn app(&self) -> Result<&AppRuntime, ApiError> {
        require_app(&self.p)?;
        self.s
            .app
            .as_ref()
            .ok_or_else(crate::github::auth::jwt_undecodable)
    }
}

/// `GET /app`.
pub(crate) async fn get_app(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    let app = ctx.app()?;
    Ok(Json(json::app(ctx.base(), &ctx.s.db(), app)))
}

/// `GET /app/installations`.
pub(crate) async fn list_installations(ctx: Ctx, uri: Uri) -> Result<Response, ApiError> {
    let app = ctx.app()?;
    let items = {
        let db = ctx.s.db();
        app.installations
            .iter()
            .map(|i| json::installation(ctx.base(), &db, app, i))
            .collect()
    };
    Ok(super::paged(ctx.base(), &uri, items))
}

/// `GET /app/installations/{id}`.
pub(crate) async fn get_installation(
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = ctx.app()?;
    let inst = id
        .parse()
        .ok()
        .and_then(|id| app.installation(id))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(json::installation(ctx.base(), &ctx.s.db(), app, inst)))
}

/// `GET /orgs/{org}/installation`.
pub(crate) async fn org_installation(
    ctx: Ctx,
    Path(org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = ctx.app()?;
    let inst = app
        .installations
        .iter()
        .find(|i| i.account.eq_ignore_ascii_case(&org))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(json::installation(ctx.base(), &ctx.s.db(), app, inst)))
}

/// `GET /repos/{owner}/{repo}/installation`.
pub(crate) async fn repo_installation(
    ctx: Ctx,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let app = ctx.app()?;
    let db = ctx.s.db();
    let r = db.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let inst = app
        .installations
        .iter()
        .find(|i| i.account.eq_ignore_ascii_case(&r.owner))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(json::installation(ctx.base(), &db, app, inst)))
}

/// The optional body of `POST /app/installations/{id}/access_tokens`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenRequest {
    repositories: Option<Vec<String>>,
}

/// `POST /app/installations/{id}/access_tokens`: mints a `ghs_` token valid for the configured TTL.
pub(crate) async fn create_token(
    ctx: Ctx,
    Path(id): Path<String>,
    GhJson(body): GhJson<TokenRequest>,
) -> Result<Response, ApiError> {
    let app = ctx.app()?;
    let inst = id
        .parse()
        .ok()
        .and_then(|id| app.installation(id))
        .ok_or_else(ApiError::not_found)?;
    let mut db = ctx.s.db();
    let unknown_repo =
        |names: &Vec<String>| names.iter().any(|n| db.repo(&inst.account, n).is_none());
    if body.repositories.as_ref().is_some_and(unknown_repo) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
        ));
    }
    let token = mint_token();
    let ttl = chrono::Duration::from_std(ctx.s.token_ttl).unwrap_or(chrono::Duration::hours(1));
    let expires_at = Utc::now() + ttl;
    let grant = TokenGrant::Installation {
        installation_id: inst.id,
        account: inst.account.clone(),
        expires_at,
        repositories: body.repositories.clone(),
    };
    db.tokens.insert(token.clone(), grant);
    let selection = if body.repositories.is_some() {
        "selected"
    } else {
        "all"
    };
    Ok(created(json!({
        "token": token, "expires_at": json::ts(expires_at), "permissions": json::permissions(),
        "repository_selection": selection,
    })))
}

/// A fresh installation token: `ghs_` and 36 alphanumeric characters, like GitHub's.
fn mint_token() -> String {
    let raw = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    format!("ghs_{}", &raw[..36])
}

/// `GET /installation/repositories`: the repositories an installation token can access.
pub(crate) async fn installation_repos(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    let Principal::Installation {
        account,
        repositories,
        ..
    } = &ctx.p
    else {
        return Err(match ctx.p {
            Principal::Anonymous => ApiError::requires_auth(),
            _ => ApiError::new(
                StatusCode::FORBIDDEN,
                "You must authenticate with an installation access token in order to list repositories for an installation.",
            ),
        });
    };
    let in_scope = |name: &str| {
        repositories
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
    };
    let db = ctx.s.db();
    let items: Vec<Value> = db
        .repos
        .values()
        .filter(|r| r.owner.eq_ignore_ascii_case(account) && in_scope(&r.name))
        .map(|r| json::repo(ctx.base(), &db, r, Some(Access::Write)))
        .collect();
    let selection = if repositories.is_some() {
        "selected"
    } else {
        "all"
    };
    Ok(Json(
        json!({"total_count": items.len(), "repository_selection": selection, "repositories": items}),
    ))
}

/// `DELETE /installation/token`: revokes the installation token the request was made with.
pub(crate) async fn revoke_token(
    ctx: Ctx,
    headers: axum::http::HeaderMap,
) -> Result<StatusCode, ApiError> {
    if !matches!(ctx.p, Principal::Installation { .. }) {
        return Err(ApiError::bad_credentials());
    }
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = auth.split_once(' ').map_or("", |(_, t)| t.trim());
    ctx.s.db().tokens.remove(token);
    Ok(StatusCode::NO_CONTENT)
}
