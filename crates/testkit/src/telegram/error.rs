//! Errors: the Bot API's own failures (sent to the bot) and the simulator handle's errors.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A failed Bot API call, rendered as `{"ok":false,"error_code":N,"description":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiFailure {
    pub code: u16,
    pub description: String,
    pub retry_after: Option<u64>,
}

impl ApiFailure {
    fn new(code: u16, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after: None,
        }
    }

    /// `400 Bad Request: {detail}`.
    pub fn bad_request(detail: impl AsRef<str>) -> Self {
        Self::new(400, format!("Bad Request: {}", detail.as_ref()))
    }

    /// `401 Unauthorized` for an unknown token.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized")
    }

    /// `404 Not Found` for an unknown method or path.
    pub fn not_found() -> Self {
        Self::new(404, "Not Found")
    }

    /// `409 Conflict: {detail}`.
    pub fn conflict(detail: impl AsRef<str>) -> Self {
        Self::new(409, format!("Conflict: {}", detail.as_ref()))
    }

    /// `429 Too Many Requests: retry after N` with `parameters.retry_after`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(429, format!("Too Many Requests: retry after {retry_after}"))
        }
    }

    /// The JSON body Telegram sends for this failure.
    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({
            "ok": false,
            "error_code": self.code,
            "description": self.description,
        });
        if let Some(secs) = self.retry_after {
            body["parameters"] = json!({ "retry_after": secs });
        }
        body
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::BAD_REQUEST);
        (status, Json(self.body())).into_response()
    }
}

/// Errors of the simulator handle ([`super::TelegramSim`], [`super::SimBot`]) and its control API.
#[derive(Debug, thiserror::Error)]
pub enum TelegramSimError {
    /// The listen address could not be bound.
    #[error("failed to bind the telegram simulator to {addr}")]
    Bind {
        /// Address that was requested.
        addr: SocketAddr,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No bot with this token is configured.
    #[error("unknown bot token")]
    UnknownBot,
    /// The chat was never seen by the bot.
    #[error("chat {chat_id} is unknown to the bot")]
    UnknownChat {
        /// Chat id that was asked for.
        chat_id: i64,
    },
    /// The message does not exist in the chat.
    #[error("message {message_id} not found in chat {chat_id}")]
    MessageNotFound {
        /// Chat id.
        chat_id: i64,
        /// Message id.
        message_id: i32,
    },
    /// The message has no inline button carrying this callback data.
    #[error(
        "message {message_id} in chat {chat_id} has no inline button with callback data {data:?}"
    )]
    NoSuchButton {
        /// Chat id.
        chat_id: i64,
        /// Message id.
        message_id: i32,
        /// Callback data that was pressed.
        data: String,
    },
    /// A wait ended before its condition held.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the wait lasted.
        waited: Duration,
    },
    /// An injected update is malformed.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong.
        reason: String,
    },
}

impl TelegramSimError {
    /// HTTP status the control API answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Bind { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::UnknownBot | Self::UnknownChat { .. } | Self::MessageNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            Self::NoSuchButton { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::InvalidInput { .. } => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for TelegramSimError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_requests_carries_retry_after() {
        let body = ApiFailure::too_many_requests(7).body();
        assert_eq!(body["error_code"], 429);
        assert_eq!(body["description"], "Too Many Requests: retry after 7");
        assert_eq!(body["parameters"]["retry_after"], 7);
    }

    #[test]
    fn bad_request_prefixes_description() {
        let failure = ApiFailure::bad_request("chat not found");
        assert_eq!(failure.description, "Bad Request: chat not found");
        assert!(failure.body().get("parameters").is_none());
    }
}
