//! Classifying a failed attempt: retryable or not, the provider's `Retry-After`, and the error
//! reported in the end. Every provider text kept is scrubbed of the key and shortened.

use std::time::{Duration, SystemTime};

use crate::error::LlmError;
use crate::provider::Route;

/// Longest provider text kept in an error.
const MAX_MESSAGE_CHARS: usize = 500;

/// A classified failure of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// No HTTP response: refused, reset, DNS, TLS, timeout.
    Transport { reason: String },
    /// An HTTP error status.
    Status {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    /// A 2xx whose body is not a completion.
    Malformed { reason: String },
    /// Anything else (request shaping, resolver); not retried.
    Other { reason: String },
}

impl Failure {
    /// Classifies a genai error; `secret` is scrubbed from every text kept.
    pub(crate) fn from_genai(error: &genai::Error, secret: Option<&str>) -> Self {
        use genai::Error as G;
        use genai::webc::Error as W;
        let clean = |text: &str| scrub(text, secret);
        match error {
            G::WebModelCall { webc_error, .. } | G::WebAdapterCall { webc_error, .. } => {
                match webc_error {
                    W::ResponseFailedStatus { status, body, .. } => Self::Status {
                        status: status.as_u16(),
                        retry_after: retry_after_of(error),
                        message: clean(&provider_message(body)),
                    },
                    W::Reqwest(e) => match e.status() {
                        Some(status) => Self::Status {
                            status: status.as_u16(),
                            retry_after: None,
                            message: clean(&error_chain(e)),
                        },
                        None => Self::Transport {
                            reason: clean(&error_chain(e)),
                        },
                    },
                    W::ResponseFailedNotJson { .. }
                    | W::ResponseFailedInvalidJson { .. }
                    | W::JsonValueExt(_) => Self::Malformed {
                        reason: clean(&webc_error.to_string()),
                    },
                }
            }
            G::HttpError { status, body, .. } => Self::Status {
                status: status.as_u16(),
                retry_after: retry_after_of(error),
                message: clean(&provider_message(body)),
            },
            G::ChatResponseGeneration { cause, .. } => Self::Malformed {
                reason: clean(cause),
            },
            G::NoChatResponse { .. }
            | G::InvalidJsonResponseElement { .. }
            | G::StreamParse { .. }
            | G::ChatResponse { .. } => Self::Malformed {
                reason: clean(&error.to_string()),
            },
            // A stream reports an HTTP error status (with its headers) or a transport error
            // boxed inside; classify what is inside.
            G::WebStream { error, cause, .. } => match error.downcast_ref::<genai::Error>() {
                Some(inner) => Self::from_genai(inner, secret),
                None => Self::Transport {
                    reason: clean(cause),
                },
            },
            _ => Self::Other {
                reason: clean(&error.to_string()),
            },
        }
    }

    /// Whether another attempt may succeed.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Malformed { .. } => true,
            Self::Status { status, .. } => matches!(status, 408 | 425 | 429 | 500..=599),
            Self::Other { .. } => false,
        }
    }

    /// The wait the provider asked for.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The error reported after `attempts` attempts.
    pub(crate) fn into_error(self, route: &Route, attempts: u32) -> LlmError {
        let route = route.clone();
        match self {
            Self::Transport { reason } => LlmError::Unreachable {
                route,
                attempts,
                reason,
            },
            Self::Malformed { reason } => LlmError::MalformedResponse {
                route,
                attempts,
                reason,
            },
            Self::Other { reason } => LlmError::Call { route, reason },
            Self::Status {
                status,
                retry_after,
                message,
            } => status_error(route, status, retry_after, message, attempts),
        }
    }
}

fn status_error(
    route: Route,
    status: u16,
    retry_after: Option<Duration>,
    message: String,
    attempts: u32,
) -> LlmError {
    match status {
        429 => LlmError::RateLimited {
            route,
            attempts,
            retry_after,
            message,
        },
        401 | 403 => LlmError::Unauthorized {
            route,
            status,
            message,
        },
        404 => LlmError::ModelNotFound { route, message },
        408 | 425 | 500..=599 => LlmError::ProviderFailed {
            route,
            status,
            attempts,
            message,
        },
        _ => LlmError::Rejected {
            route,
            status,
            message,
        },
    }
}

/// The `retry-after-ms` or `retry-after` header of a failed response.
fn retry_after_of(error: &genai::Error) -> Option<Duration> {
    let headers = error.headers()?;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    parse_retry_after(
        text("retry-after-ms"),
        text("retry-after"),
        SystemTime::now(),
    )
}

/// Parses `retry-after-ms` (milliseconds) or `Retry-After` (seconds, possibly fractional, or an
/// HTTP date); a date in the past means "now".
pub(crate) fn parse_retry_after(
    millis: Option<&str>,
    value: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    let seconds = |text: &str, scale: f64| {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| Duration::from_secs_f64((v / scale).min(86_400.0)))
    };
    if let Some(wait) = millis.and_then(|ms| seconds(ms, 1000.0)) {
        return Some(wait);
    }
    let value = value?.trim();
    seconds(value, 1.0).or_else(|| {
        let at = httpdate::parse_http_date(value).ok()?;
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    })
}

/// The human part of an error body: OpenAI's `error.message`, a bare `error` or `message` string,
/// or else the body itself, shortened.
pub(crate) fn provider_message(body: &str) -> String {
    let parsed = serde_json::from_str::<serde_json::Value>(body).ok();
    let message = parsed.as_ref().and_then(|json| {
        [
            "/error/message",
            "/error",
            "/message",
            "/detail",
            "/0/error/message",
        ]
        .iter()
        .find_map(|pointer| json.pointer(pointer).and_then(|v| v.as_str()))
    });
    truncate(message.unwrap_or(body).trim())
}

/// An error and its sources, joined with `: `.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    truncate(&text)
}

/// Removes every occurrence of the secret (and keeps texts short).
pub(crate) fn scrub(text: &str, secret: Option<&str>) -> String {
    let text = match secret.filter(|s| s.len() >= 4) {
        Some(secret) => text.replace(secret, "[REDACTED]"),
        None => text.to_owned(),
    };
    truncate(&text)
}

/// At most [`MAX_MESSAGE_CHARS`] characters, marked when cut.
pub(crate) fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, retry_after: Option<Duration>) -> Failure {
        Failure::Status {
            status,
            retry_after,
            message: String::new(),
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(parse_retry_after(None, Some("7"), now), secs(7));
        assert_eq!(
            parse_retry_after(None, Some(" 1.5 "), now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after(Some("250"), Some("7"), now),
            Some(Duration::from_millis(250)),
            "the precise header wins"
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(None, Some(&date), now), secs(30));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(None, Some(&past), now), secs(0));
        assert_eq!(parse_retry_after(None, Some("-3"), now), None);
        assert_eq!(parse_retry_after(None, Some("soon"), now), None);
        assert_eq!(parse_retry_after(None, None, now), None);
    }

    #[test]
    fn which_statuses_are_retried() {
        for code in [408, 425, 429, 500, 502, 503, 504, 529] {
            assert!(status(code, None).is_retryable(), "{code}");
        }
        for code in [400, 401, 403, 404, 409, 422] {
            assert!(!status(code, None).is_retryable(), "{code}");
        }
    }

    #[test]
    fn provider_messages_are_extracted_scrubbed_and_short() {
        let body = r#"{"error":{"message":"bad key sk-live-123456","type":"x"}}"#;
        assert_eq!(provider_message(body), "bad key sk-live-123456");
        assert_eq!(
            scrub(&provider_message(body), Some("sk-live-123456")),
            "bad key [REDACTED]"
        );
        assert_eq!(provider_message("<html>oops</html>"), "<html>oops</html>");
        let long = "x".repeat(2000);
        assert_eq!(truncate(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn status_errors_map_to_variants() {
        let route = Route::resolve("r", "openai", "gpt-5.2", None).expect("route");
        let kind = |code| status(code, None).into_error(&route, 1);
        assert!(matches!(kind(429), LlmError::RateLimited { .. }));
        assert!(matches!(kind(401), LlmError::Unauthorized { .. }));
        assert!(matches!(kind(404), LlmError::ModelNotFound { .. }));
        assert!(matches!(kind(503), LlmError::ProviderFailed { .. }));
        assert!(matches!(kind(400), LlmError::Rejected { .. }));
    }
}
