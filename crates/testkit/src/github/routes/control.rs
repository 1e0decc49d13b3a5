//! The `/_sim` control and inspection API (unauthenticated; the simulator only listens locally).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::GhJson;
use crate::github::error::ApiError;
use crate::github::faults::Fault;
use crate::github::inspect::{self, CommentInfo, PullInfo, RepoInfo, RequestRecord, ReviewInfo};
use crate::github::server::refresh_open_pulls;
use crate::github::state::{AccountKind, Shared, TokenGrant};

type S = State<Arc<Shared>>;

/// The control routes.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/_sim/repos", get(repos))
        .route("/_sim/pulls", get(pulls))
        .route("/_sim/reviews", get(reviews))
        .route("/_sim/comments", get(comments))
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route("/_sim/faults", post(add_fault).delete(clear_faults))
        .route("/_sim/tokens", post(add_token))
}

async fn repos(State(s): S) -> Json<Vec<RepoInfo>> {
    Json(inspect::repos(&s.db()))
}

async fn pulls(State(s): S) -> Json<Vec<PullInfo>> {
    refresh_open_pulls(&s).await;
    Json(inspect::pulls(&s.db()))
}

async fn reviews(State(s): S) -> Json<Vec<ReviewInfo>> {
    Json(inspect::reviews(&s.db()))
}

async fn comments(State(s): S) -> Json<Vec<CommentInfo>> {
    Json(inspect::comments(&s.db()))
}

async fn requests(State(s): S) -> Json<Vec<RequestRecord>> {
    Json(s.requests())
}

async fn clear_requests(State(s): S) -> StatusCode {
    s.clear_requests();
    StatusCode::NO_CONTENT
}

async fn add_fault(State(s): S, GhJson(fault): GhJson<Fault>) -> StatusCode {
    s.faults.push(fault);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(s): S) -> StatusCode {
    s.faults.clear();
    StatusCode::NO_CONTENT
}

/// The body of `POST /_sim/tokens`.
#[derive(Debug, Deserialize)]
struct NewToken {
    login: String,
    token: String,
}

async fn add_token(State(s): S, GhJson(t): GhJson<NewToken>) -> Result<Json<Value>, ApiError> {
    let mut db = s.db();
    db.ensure_account(&t.login, AccountKind::User);
    db.tokens.insert(
        t.token,
        TokenGrant::Personal {
            login: t.login.clone(),
        },
    );
    Ok(Json(json!({"login": t.login})))
}
