//! Webhook mode: Telegram POSTs each update to `/telegram/webhook` with the shared secret header. The answer is
//! 200 only after the update was accepted; otherwise Telegram retries it later.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use secrecy::{ExposeSecret, SecretString};
use tracing::warn;

use crate::inbound::Intake;
use crate::telegram::RawUpdate;

/// The header Telegram puts the webhook secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Where updates are posted.
pub const PATH: &str = "/telegram/webhook";

#[derive(Clone)]
struct WebhookState {
    intake: Arc<Intake>,
    secret: Arc<SecretString>,
}

/// Builds the webhook route.
pub fn router(intake: Arc<Intake>, secret: SecretString) -> Router {
    Router::new()
        .route(PATH, post(receive))
        .with_state(WebhookState {
            intake,
            secret: Arc::new(secret),
        })
}

async fn receive(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !constant_time_eq(given, state.secret.expose_secret().as_bytes()) {
        return StatusCode::UNAUTHORIZED;
    }
    let Some(update) = serde_json::from_slice(&body)
        .ok()
        .and_then(RawUpdate::from_value)
    else {
        warn!("webhook body is not an update; answering 400 so it is not retried");
        return StatusCode::BAD_REQUEST;
    };
    match state.intake.accept(&update).await {
        Ok(()) => StatusCode::OK,
        Err(e) => {
            warn!(error = %e, "update not accepted; Telegram will retry it");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn secrets_compare_exactly() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cret", b"s3cre"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
