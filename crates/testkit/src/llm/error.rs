//! Errors: OpenAI-shaped API errors sent to clients, and the simulator handle's errors.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error as the OpenAI API renders it: `{"error":{"message","type","param","code"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenAiError {
    pub status: StatusCode,
    pub message: String,
    pub error_type: String,
    pub param: Option<String>,
    pub code: Option<String>,
    pub retry_after: Option<u64>,
}

impl OpenAiError {
    /// An error with status, message and type; no param, code or retry hint.
    pub fn new(status: StatusCode, message: impl Into<String>, error_type: &str) -> Self {
        Self {
            status,
            message: message.into(),
            error_type: error_type.to_owned(),
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// A `400 invalid_request_error`.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, "invalid_request_error")
    }

    /// Sets `error.code`.
    pub fn with_code(mut self, code: &str) -> Self {
        self.code = Some(code.to_owned());
        self
    }

    /// Sets `error.param`.
    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    /// `401` without an `Authorization` header.
    pub fn missing_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key. You need to provide your API key in an Authorization \
             header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password \
             field (with blank username) if you're accessing the API from your browser and are \
             prompted for a username. You can obtain an API key from \
             https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
        )
    }

    /// `401 invalid_api_key`, showing the key masked like OpenAI does.
    pub fn invalid_key(key: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "Incorrect API key provided: {}. You can find your API key at \
                 https://platform.openai.com/account/api-keys.",
                mask(key)
            ),
            "invalid_request_error",
        )
        .with_code("invalid_api_key")
    }

    /// `404 model_not_found`.
    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
        )
        .with_code("model_not_found")
    }

    /// `429 rate_limit_exceeded` with `Retry-After`.
    pub fn rate_limited(retry_after: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Rate limit reached for requests. Please try again in {retry_after}s. Visit \
                 https://platform.openai.com/account/rate-limits to learn more."
            ),
            "requests",
        )
        .with_code("rate_limit_exceeded");
        error.retry_after = Some(retry_after);
        error
    }

    /// `500 server_error`.
    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
        )
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": {
            "message": self.message,
            "type": self.error_type,
            "param": self.param,
            "code": self.code,
        }})
    }
}

/// Masks a key as `sk-***…abcd`; short keys are masked entirely.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(RETRY_AFTER, secs.into());
        }
        response
    }
}

/// Errors of the simulator handle ([`super::LlmSim`]), its control API and script loading.
#[derive(Debug, thiserror::Error)]
pub enum LlmSimError {
    /// The listen address could not be bound.
    #[error("failed to bind the llm simulator to {addr}")]
    Bind {
        /// Address that was requested.
        addr: SocketAddr,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A rule is invalid (e.g. its regex does not compile).
    #[error("invalid rule: {reason}")]
    InvalidRule {
        /// What is wrong.
        reason: String,
    },
    /// A script file could not be read.
    #[error("failed to read script {path}")]
    ReadScript {
        /// The file.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A script does not parse.
    #[error("invalid script: {reason}")]
    Script {
        /// Parser message.
        reason: String,
    },
    /// A wait ended before its condition held.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the wait lasted.
        waited: Duration,
    },
}

impl IntoResponse for LlmSimError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Bind { .. } | Self::ReadScript { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::InvalidRule { .. } | Self::Script { .. } => StatusCode::BAD_REQUEST,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keys() {
        assert_eq!(mask("sk-abcdefghijkl"), "sk-********ijkl");
        assert_eq!(mask("short"), "*****");
    }

    #[test]
    fn invalid_key_shape() {
        let body = OpenAiError::invalid_key("sk-wrong-key-123").body();
        assert_eq!(body["error"]["code"], "invalid_api_key");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(body["error"]["param"].is_null());
    }
}
