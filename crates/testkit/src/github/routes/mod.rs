//! The REST routes, the request context every handler gets, and shared helpers
//! (GitHub-style JSON body parsing, pagination with `Link` headers).

mod app;
mod comments;
mod control;
mod git_data;
mod merge;
mod pulls;
mod repos;
mod reviews;

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::auth::{Access, Principal, repo_access};
use super::error::ApiError;
use super::state::{Db, Repo, Shared};
use super::{middleware as gate, smart_http};

/// Builds the whole simulator router: REST API, git smart HTTP and the `/_sim` control API.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let r = "/repos/{owner}/{repo}";
    Router::new()
        .route("/app", get(app::get_app))
        .route("/app/installations", get(app::list_installations))
        .route("/app/installations/{id}", get(app::get_installation))
        .route(
            "/app/installations/{id}/access_tokens",
            post(app::create_token),
        )
        .route("/orgs/{org}/installation", get(app::org_installation))
        .route(&format!("{r}/installation"), get(app::repo_installation))
        .route("/installation/repositories", get(app::installation_repos))
        .route(
            "/installation/token",
            axum::routing::delete(app::revoke_token),
        )
        .route("/user", get(repos::current_user))
        .route(
            "/user/repos",
            post(repos::create_user_repo).get(repos::list_user_repos),
        )
        .route(
            "/orgs/{org}/repos",
            post(repos::create_org_repo).get(repos::list_org_repos),
        )
        .route(r, get(repos::get_repo))
        .route(&format!("{r}/branches"), get(git_data::list_branches))
        .route(
            &format!("{r}/branches/{{*branch}}"),
            get(git_data::get_branch),
        )
        .route(&format!("{r}/git/ref/{{*name}}"), get(git_data::get_ref))
        .route(&format!("{r}/git/refs"), post(git_data::create_ref))
        .route(
            &format!("{r}/git/refs/{{*name}}"),
            get(git_data::get_ref).delete(git_data::delete_ref),
        )
        .route(&format!("{r}/commits/{{sha}}"), get(git_data::get_commit))
        .route(&format!("{r}/pulls"), get(pulls::list).post(pulls::create))
        .route(
            &format!("{r}/pulls/{{number}}"),
            get(pulls::get).patch(pulls::update),
        )
        .route(&format!("{r}/pulls/{{number}}/files"), get(pulls::files))
        .route(
            &format!("{r}/pulls/{{number}}/merge"),
            get(merge::is_merged).put(merge::merge),
        )
        .route(
            &format!("{r}/pulls/{{number}}/reviews"),
            get(reviews::list).post(reviews::create),
        )
        .route(
            &format!("{r}/pulls/{{number}}/comments"),
            get(reviews::list_line_comments).post(reviews::create_line_comment),
        )
        .route(
            &format!("{r}/issues/{{number}}/comments"),
            get(comments::list).post(comments::create),
        )
        .merge(control::router())
        .fallback(fallback)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), gate::gate))
        .with_state(shared)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// Git smart HTTP paths, else GitHub's JSON 404.
async fn fallback(ctx: Ctx, req: Request) -> Response {
    match smart_http::parse_git_path(req.uri().path()) {
        Some(git) => smart_http::serve(ctx.s, ctx.p, git, req).await,
        None => ApiError::not_found().into_response(),
    }
}

/// The shared state and the authenticated principal of a request.
pub(crate) struct Ctx {
    pub s: Arc<Shared>,
    pub p: Principal,
}

impl FromRequestParts<Arc<Shared>> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Shared>) -> Result<Self, ApiError> {
        let p = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .unwrap_or(Principal::Anonymous);
        Ok(Self {
            s: state.clone(),
            p,
        })
    }
}

/// What a handler needs to run git against a repository after the lock is released.
#[derive(Debug, Clone)]
pub(crate) struct RepoRef {
    pub owner: String,
    pub name: String,
    pub path: PathBuf,
}

impl Ctx {
    /// The base URL for links in responses.
    pub fn base(&self) -> &str {
        &self.s.base_url
    }

    /// The acting login, or 401/403 for anonymous and bare-JWT requests.
    pub fn actor(&self) -> Result<String, ApiError> {
        self.p.require_actor(self.s.app.as_ref())
    }

    /// Runs `f` on a repository the principal can read; otherwise 404 like GitHub.
    pub fn with_repo<T>(
        &self,
        owner: &str,
        name: &str,
        f: impl FnOnce(&Db, &Repo) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let db = self.s.db();
        let repo = db.repo(owner, name).ok_or_else(ApiError::not_found)?;
        if repo_access(&db, &self.p, repo) == Access::None {
            return Err(ApiError::not_found());
        }
        f(&db, repo)
    }

    /// A readable repository's location (`need` = `Write` additionally requires push access).
    pub fn repo_ref(&self, owner: &str, name: &str, need: Access) -> Result<RepoRef, ApiError> {
        let p = self.p.clone();
        self.with_repo(owner, name, |db, r| {
            if need == Access::Write && repo_access(db, &p, r) != Access::Write {
                return Err(match p {
                    Principal::Anonymous => ApiError::requires_auth(),
                    Principal::Installation { .. } | Principal::App => {
                        ApiError::not_accessible_by_integration()
                    }
                    Principal::User { .. } => {
                        ApiError::new(StatusCode::FORBIDDEN, "Must have push access to repository")
                    }
                });
            }
            Ok(RepoRef {
                owner: r.owner.clone(),
                name: r.name.clone(),
                path: r.path.clone(),
            })
        })
    }
}

/// Parses a pull request or issue number from the path; anything else is 404.
pub(crate) fn number(raw: &str) -> Result<u64, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// A JSON body parsed the way GitHub does: an empty body is `{}`, bad JSON is 400, wrong shapes 422.
pub(crate) struct GhJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for GhJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::bad_json())?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        let value: Value = serde_json::from_slice(bytes).map_err(|_| ApiError::bad_json())?;
        serde_json::from_value(value).map(GhJson).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Invalid request.\n\n{e}"),
            )
        })
    }
}

/// A 201 Created JSON response.
pub(crate) fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

/// Slices `items` by `per_page` (default 30, max 100) and `page`, adding GitHub's `Link` header.
pub(crate) fn paged(base: &str, uri: &Uri, items: Vec<Value>) -> Response {
    let params: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let per_page = get("per_page").unwrap_or(30).clamp(1, 100);
    let page = get("page").unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut resp = Json(Value::Array(slice)).into_response();
    let link_to = |n: usize| {
        let mut q: Vec<String> = params
            .iter()
            .filter(|(k, _)| k != "page" && k != "per_page")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        q.push(format!("per_page={per_page}"));
        q.push(format!("page={n}"));
        format!("<{base}{}?{}>", uri.path(), q.join("&"))
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", link_to(1)));
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
    }
    if let (false, Ok(v)) = (links.is_empty(), HeaderValue::from_str(&links.join(", "))) {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}
