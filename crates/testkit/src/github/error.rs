//! Errors: [`SimError`] for the simulator's own failures, and GitHub-shaped API error responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The documentation URL GitHub puts into every error body.
pub(crate) const DOCS_URL: &str = "https://docs.github.com/rest";

/// A failure of the simulator itself (startup, git, I/O), not an API error returned to a client.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding or serving the listener failed.
    #[error("failed to bind {addr}")]
    Bind {
        /// The address that could not be bound.
        addr: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A file system operation failed.
    #[error("i/o error: {context}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A git command failed.
    #[error("git {args} failed: {stderr}")]
    Git {
        /// The git arguments.
        args: String,
        /// What git printed on stderr.
        stderr: String,
    },
    /// The GitHub App key is not a usable RSA key.
    #[error("invalid app key: {0}")]
    AppKey(String),
}

/// An error response in GitHub's JSON shape: `{"message","documentation_url","status"}` and optional `errors`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub errors: Option<Value>,
}

impl ApiError {
    /// Creates an error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: None,
        }
    }

    /// Attaches GitHub's `errors` array.
    pub fn with_errors(mut self, errors: Value) -> Self {
        self.errors = Some(errors);
        self
    }

    /// 404 `Not Found`, also used to hide private resources.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }

    /// 401 `Bad credentials` for unknown, revoked or expired tokens.
    pub fn bad_credentials() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Bad credentials")
    }

    /// 401 `Requires authentication` for anonymous writes.
    pub fn requires_auth() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Requires authentication")
    }

    /// 403 `Resource not accessible by integration` for app/installation tokens on user-only endpoints.
    pub fn not_accessible_by_integration() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        )
    }

    /// 422 `Validation Failed` with the given `errors` entries.
    pub fn validation(errors: Value) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed").with_errors(errors)
    }

    /// 400 `Problems parsing JSON`.
    pub fn bad_json() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Problems parsing JSON")
    }

    /// 500 for a failure inside the simulator (e.g. a git command).
    pub fn internal(err: &SimError) -> Self {
        tracing::error!(error = %err, "github simulator internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Server Error")
    }

    /// The JSON body GitHub sends for this error.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "message": self.message,
            "documentation_url": DOCS_URL,
            "status": self.status.as_u16().to_string(),
        });
        if let Some(errors) = &self.errors {
            body["errors"] = errors.clone();
        }
        body
    }
}

impl From<SimError> for ApiError {
    fn from(err: SimError) -> Self {
        Self::internal(&err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_github_fields() {
        let body = ApiError::validation(json!([{"code": "custom"}])).body();
        assert_eq!(body["message"], "Validation Failed");
        assert_eq!(body["documentation_url"], DOCS_URL);
        assert_eq!(body["status"], "422");
        assert_eq!(body["errors"][0]["code"], "custom");
    }
}
