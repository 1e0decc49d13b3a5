//! Fault injection: make the next N matching requests fail the way GitHub fails.

use std::sync::{Mutex, PoisonError};

use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// How an injected failure looks on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// A plain error status, e.g. 500 `Server Error` or 502 `Bad Gateway`.
    Status {
        /// The HTTP status to return.
        status: u16,
    },
    /// 403 with `retry-after` and the secondary rate limit message.
    SecondaryRateLimit {
        /// The `retry-after` value in seconds.
        retry_after_secs: u64,
    },
    /// 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` in the future.
    PrimaryRateLimit {
        /// Seconds until `x-ratelimit-reset`.
        reset_after_secs: u64,
    },
}

/// A failure to inject into the next `count` requests that match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// What the failure looks like.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many matching requests fail.
    #[serde(default = "one")]
    pub count: u32,
    /// Only requests whose path starts with this prefix match; `None` matches all (git included).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Only requests with this method match, e.g. `PUT`.
    #[serde(default)]
    pub method: Option<String>,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// The next request fails with `status` (e.g. 500 or 502).
    pub fn status(status: u16) -> Self {
        Self::of(FaultKind::Status { status })
    }

    /// The next request hits a secondary rate limit with `retry-after: secs`.
    pub fn secondary_rate_limit(retry_after_secs: u64) -> Self {
        Self::of(FaultKind::SecondaryRateLimit { retry_after_secs })
    }

    /// The next request hits the primary rate limit, resetting in `secs`.
    pub fn primary_rate_limit(reset_after_secs: u64) -> Self {
        Self::of(FaultKind::PrimaryRateLimit { reset_after_secs })
    }

    fn of(kind: FaultKind) -> Self {
        Self {
            kind,
            count: 1,
            path_prefix: None,
            method: None,
        }
    }

    /// Applies the fault to the next `count` matching requests.
    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// Restricts the fault to paths starting with `prefix`.
    pub fn on_path(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }

    /// Restricts the fault to one HTTP method.
    pub fn on_method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into().to_uppercase());
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        let path_ok = self
            .path_prefix
            .as_deref()
            .is_none_or(|p| path.starts_with(p));
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()));
        self.count > 0 && path_ok && method_ok
    }
}

/// The pending faults, consumed first-in first-out.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    faults: Mutex<Vec<Fault>>,
}

impl FaultQueue {
    /// Queues a fault.
    pub fn push(&self, fault: Fault) {
        self.lock().push(fault);
    }

    /// Drops every pending fault.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Consumes one use of the first fault matching the request.
    pub fn take(&self, method: &Method, path: &str) -> Option<FaultKind> {
        let mut faults = self.lock();
        let idx = faults.iter().position(|f| f.matches(method, path))?;
        let fault = &mut faults[idx];
        fault.count -= 1;
        let kind = fault.kind.clone();
        if fault.count == 0 {
            faults.remove(idx);
        }
        Some(kind)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The response GitHub would send for this failure.
pub(crate) fn respond(kind: &FaultKind, rate_limit_message: &str) -> Response {
    match kind {
        FaultKind::Status { status } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = status.canonical_reason().unwrap_or("Server Error");
            ApiError::new(status, message).into_response()
        }
        FaultKind::SecondaryRateLimit { retry_after_secs } => {
            let message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.";
            let mut resp = ApiError::new(StatusCode::FORBIDDEN, message).into_response();
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(*retry_after_secs));
            resp
        }
        FaultKind::PrimaryRateLimit { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, rate_limit_message).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumes_matching_faults_in_order() {
        let q = FaultQueue::default();
        q.push(Fault::status(502).times(2).on_path("/repos"));
        assert_eq!(q.take(&Method::GET, "/user"), None);
        assert!(q.take(&Method::GET, "/repos/a/b").is_some());
        assert!(q.take(&Method::POST, "/repos/a/b").is_some());
        assert_eq!(q.take(&Method::GET, "/repos/a/b"), None);
    }

    #[test]
    fn fault_json_round_trips() {
        let f: Fault =
            serde_json::from_str(r#"{"kind":"status","status":500,"count":3}"#).expect("json");
        assert_eq!(f, Fault::status(500).times(3));
    }
}
