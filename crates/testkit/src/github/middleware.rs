//! The layer every non-control request passes: authentication, fault injection, the primary
//! rate limit with `x-ratelimit-*` headers, and the request log.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::auth::{self, Principal};
use super::error::ApiError;
use super::faults::{self, FaultKind};
use super::inspect::RequestRecord;
use super::ratelimit::RateStatus;
use super::smart_http;
use super::state::Shared;

/// Authenticates, injects faults, rate-limits and logs one request.
pub(crate) async fn gate(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/_sim") {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    let resolved = {
        let db = s.db();
        auth::resolve(&db, s.app.as_ref(), req.headers(), Utc::now())
    };
    let actor = resolved.as_ref().ok().and_then(|p| p.actor(s.app.as_ref()));
    let response = handle(&s, resolved, req, next).await;
    let status = response.status().as_u16();
    s.record(RequestRecord {
        method,
        path,
        status,
        actor,
    });
    response
}

async fn handle(
    s: &Shared,
    resolved: Result<Principal, ApiError>,
    mut req: Request,
    next: Next,
) -> Response {
    let git = smart_http::parse_git_path(req.uri().path()).is_some();
    let now = Utc::now().timestamp();
    let principal = resolved
        .as_ref()
        .ok()
        .cloned()
        .unwrap_or(Principal::Anonymous);
    let (key, anonymous) = (principal.rate_key(), principal == Principal::Anonymous);
    if let Some(kind) = s.faults.take(req.method(), req.uri().path()) {
        return fault_response(s, &kind, &principal, git, now);
    }
    let principal = match resolved {
        Ok(p) => p,
        Err(_) if git => return smart_http::challenge(),
        Err(e) => {
            let mut resp = e.into_response();
            decorate(&mut resp, s.rate.peek("anonymous", true, now));
            return resp;
        }
    };
    req.extensions_mut().insert(principal.clone());
    if git {
        return next.run(req).await;
    }
    match s.rate.hit(&key, anonymous, now) {
        Ok(status) => {
            let mut resp = next.run(req).await;
            decorate(&mut resp, status);
            resp
        }
        Err(status) => {
            let message = principal.rate_limit_message(&s.db(), s.app.as_ref());
            let mut resp = ApiError::new(StatusCode::FORBIDDEN, message).into_response();
            decorate(&mut resp, status);
            resp
        }
    }
}

/// An injected failure, with rate limit headers on API paths (`remaining: 0` for the primary limit).
fn fault_response(
    s: &Shared,
    kind: &FaultKind,
    principal: &Principal,
    git: bool,
    now: i64,
) -> Response {
    let message = principal.rate_limit_message(&s.db(), s.app.as_ref());
    let mut resp = faults::respond(kind, &message);
    if git {
        return resp;
    }
    let anonymous = *principal == Principal::Anonymous;
    let mut status = s.rate.peek(&principal.rate_key(), anonymous, now);
    if let FaultKind::PrimaryRateLimit { reset_after_secs } = kind {
        let reset = now + i64::try_from(*reset_after_secs).unwrap_or(i64::MAX / 2);
        status = RateStatus {
            remaining: 0,
            used: status.limit,
            reset,
            ..status
        };
    }
    decorate(&mut resp, status);
    resp
}

/// Adds the rate limit headers and a request id, as GitHub does on every API response.
fn decorate(resp: &mut Response, status: RateStatus) {
    status.write(resp.headers_mut());
    let id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    if let Ok(v) = HeaderValue::from_str(&id[..20]) {
        resp.headers_mut().insert("x-github-request-id", v);
    }
    resp.headers_mut().insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
}
