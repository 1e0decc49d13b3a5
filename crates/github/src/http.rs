//! One request on the wire: octocrab sends it (base URL, auth, JWT and installation tokens, timeouts); this
//! module retries transient failures and turns statuses into [`GithubError`]s.
//!
//! Retries: 5xx and transport errors with exponential backoff; rate limits (429, or 403 with `retry-after` or
//! `x-ratelimit-remaining: 0`) are sat out when the wait is at most [`RetryPolicy::max_rate_limit_wait`].
//! Octocrab's own retry layer is off, so one policy decides.

use std::time::Duration;

use http::header::{ACCEPT, HeaderMap};
use http::{Method, StatusCode};
use octocrab::Octocrab;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::RetryPolicy;
use crate::error::GithubError;

/// The JSON media type GitHub recommends.
pub(crate) const JSON: &str = "application/vnd.github+json";
/// The unified diff of a pull request.
pub(crate) const DIFF: &str = "application/vnd.github.v3.diff";

/// Sends requests through one octocrab client.
#[derive(Clone)]
pub(crate) struct Transport {
    pub(crate) octo: Octocrab,
    pub(crate) retry: RetryPolicy,
}

/// One request to make.
pub(crate) struct Call<'a, B: Serialize + ?Sized> {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) body: Option<&'a B>,
    pub(crate) accept: &'static str,
}

impl<'a> Call<'a, ()> {
    /// A `GET` of JSON.
    pub(crate) fn get(path: String) -> Self {
        Self {
            method: Method::GET,
            path,
            body: None,
            accept: JSON,
        }
    }
}

impl<'a, B: Serialize + ?Sized> Call<'a, B> {
    /// A request with a JSON body.
    pub(crate) fn with_body(method: Method, path: String, body: &'a B) -> Self {
        Self {
            method,
            path,
            body: Some(body),
            accept: JSON,
        }
    }

    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

impl Transport {
    /// Sends `call` (with retries) and parses the JSON answer.
    pub(crate) async fn json<T, B>(&self, call: Call<'_, B>) -> Result<T, GithubError>
    where
        T: DeserializeOwned,
        B: Serialize + ?Sized,
    {
        let request = call.label();
        let body = self.send(call).await?;
        serde_json::from_str(&body).map_err(|e| GithubError::Decode {
            request,
            reason: e.to_string(),
        })
    }

    /// Sends `call` with retries and returns the body; a non-2xx final status is an error.
    pub(crate) async fn send<B: Serialize + ?Sized>(
        &self,
        call: Call<'_, B>,
    ) -> Result<String, GithubError> {
        let mut attempt = 1;
        loop {
            let error = match self.send_once(&call).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            let Some(pause) = self.pause_before_retry(&error, attempt) else {
                return Err(error);
            };
            tracing::warn!(request = %call.label(), attempt, pause_ms = pause.as_millis() as u64,
                error = %error, "github request failed; retrying");
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    fn pause_before_retry(&self, error: &GithubError, attempt: u32) -> Option<Duration> {
        if attempt >= self.retry.max_attempts {
            return None;
        }
        match error {
            GithubError::Server { .. } | GithubError::Transport { .. } => {
                Some(self.retry.base_delay * 2u32.saturating_pow(attempt - 1))
            }
            GithubError::RateLimited {
                retry_after: Some(after),
                ..
            } if *after <= self.retry.max_rate_limit_wait => Some(*after),
            _ => None,
        }
    }

    async fn send_once<B: Serialize + ?Sized>(
        &self,
        call: &Call<'_, B>,
    ) -> Result<String, GithubError> {
        let transport = |e: octocrab::Error| GithubError::Transport {
            request: call.label(),
            reason: e.to_string(),
        };
        let builder = http::Request::builder()
            .method(call.method.clone())
            .uri(call.path.as_str())
            .header(ACCEPT, call.accept);
        let request = self
            .octo
            .build_request(builder, call.body)
            .map_err(transport)?;
        let response = self.octo.execute(request).await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = self
            .octo
            .body_to_string(response)
            .await
            .map_err(transport)?;
        if status.is_success() {
            return Ok(body);
        }
        Err(classify(call.label(), status, &headers, &body))
    }
}

/// GitHub's error body.
#[derive(serde::Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// Maps a failed response to its error.
pub(crate) fn classify(
    request: String,
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
) -> GithubError {
    let parsed: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    let message = if parsed.message.is_empty() {
        status.canonical_reason().unwrap_or("no message").to_owned()
    } else {
        parsed.message
    };
    if let Some(retry_after) = rate_limit(status, headers, &message) {
        return GithubError::RateLimited {
            request,
            message,
            retry_after,
        };
    }
    match status.as_u16() {
        401 => GithubError::Unauthorized { request, message },
        403 => GithubError::Forbidden { request, message },
        404 => GithubError::NotFound { request },
        405 => GithubError::NotMergeable { request, message },
        409 if message.contains("Head branch") => GithubError::HeadMoved { request, message },
        409 => GithubError::Conflict { request, message },
        422 => GithubError::Unprocessable {
            request,
            message,
            errors: parsed.errors.iter().map(error_text).collect(),
        },
        s if status.is_server_error() => GithubError::Server {
            request,
            status: s,
            message,
        },
        s => GithubError::Status {
            request,
            status: s,
            message,
        },
    }
}

/// `Some(wait)` when the response is a rate limit (the wait itself when GitHub says).
fn rate_limit(status: StatusCode, headers: &HeaderMap, message: &str) -> Option<Option<Duration>> {
    let number = |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.parse().ok() };
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (headers.contains_key("retry-after")
                || number("x-ratelimit-remaining") == Some(0)
                || message.to_lowercase().contains("rate limit")));
    if !limited {
        return None;
    }
    let wait = match (number("retry-after"), number("x-ratelimit-reset")) {
        (Some(secs), _) => Some(secs.max(0)),
        (None, Some(reset)) => Some((reset - chrono::Utc::now().timestamp()).max(1)),
        (None, None) => None,
    };
    Some(wait.map(|secs| Duration::from_secs(secs as u64)))
}

fn error_text(error: &serde_json::Value) -> String {
    match error {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => o
            .get("message")
            .or_else(|| o.get("code"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        map
    }

    #[test]
    fn statuses_become_typed_errors() {
        let none = HeaderMap::new();
        let body = r#"{"message":"Head branch was modified. Review and try the merge again."}"#;
        assert!(matches!(
            classify("PUT /x".into(), StatusCode::CONFLICT, &none, body),
            GithubError::HeadMoved { .. }
        ));
        let body = r#"{"message":"Base branch was modified."}"#;
        assert!(matches!(
            classify("PUT /x".into(), StatusCode::CONFLICT, &none, body),
            GithubError::Conflict { .. }
        ));
        let body = r#"{"message":"Validation Failed","errors":[{"message":"name already exists"}, "plain"]}"#;
        let GithubError::Unprocessable { errors, .. } = classify(
            "POST /x".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            &none,
            body,
        ) else {
            panic!("422 is unprocessable");
        };
        assert_eq!(errors, ["name already exists", "plain"]);
        assert!(matches!(
            classify("GET /x".into(), StatusCode::FORBIDDEN, &none, "{}"),
            GithubError::Forbidden { .. }
        ));
    }

    #[test]
    fn rate_limits_carry_their_wait() {
        let secondary = headers(&[("retry-after", "30")]);
        let error = classify("GET /x".into(), StatusCode::FORBIDDEN, &secondary, "{}");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
        let reset = (chrono::Utc::now().timestamp() + 600).to_string();
        let primary = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]);
        let error = classify("GET /x".into(), StatusCode::FORBIDDEN, &primary, "{}");
        let wait = error.retry_after().expect("a wait");
        assert!(wait > Duration::from_secs(590) && wait <= Duration::from_secs(600));
        assert!(error.to_string().contains("retry after"));
    }
}
