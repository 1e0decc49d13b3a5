//! Why a GitHub call failed, typed so callers can act on it (retry later, report a conflict, re-review).
//!
//! Every variant names the request (`METHOD /path`, never the base URL's credentials or a token) and carries
//! GitHub's own message.

use std::time::Duration;

/// A failed GitHub call.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// The settings cannot work (a bad URL, an unreadable key, no installation to use).
    #[error("invalid github settings: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// 401: the token or the app key is not accepted.
    #[error("{request}: unauthorized ({message})")]
    Unauthorized {
        /// The request.
        request: String,
        /// GitHub's message.
        message: String,
    },
    /// 403 that is not a rate limit: the credentials may not do this.
    #[error("{request}: forbidden ({message})")]
    Forbidden {
        /// The request.
        request: String,
        /// GitHub's message.
        message: String,
    },
    /// 404: the repository, pull request or branch does not exist (or is invisible to these credentials).
    #[error("{request}: not found")]
    NotFound {
        /// The request.
        request: String,
    },
    /// A primary or secondary rate limit longer than the client waits by itself.
    #[error("{request}: rate limited ({message}){}", retry_hint(.retry_after))]
    RateLimited {
        /// The request.
        request: String,
        /// GitHub's message.
        message: String,
        /// When to try again, if GitHub said.
        retry_after: Option<Duration>,
    },
    /// 405 on a merge: the pull request cannot be merged (conflicts, closed, already merged, draft).
    #[error("{request}: not mergeable ({message})")]
    NotMergeable {
        /// The request.
        request: String,
        /// GitHub's message.
        message: String,
    },
    /// 409 on a merge: the head is no longer the expected commit.
    #[error("{request}: the head moved ({message})")]
    HeadMoved {
        /// The request.
        request: String,
        /// GitHub's message.
        message: String,
    },
    /// 409 otherwise (e.g. the base branch moved during a merge).
    #[error("{request}: conflict ({message})")]
    Conflict {
        /// The request.
        request: String,
        /// GitHub's message.
        message: String,
    },
    /// 422: GitHub refused the request's content.
    #[error("{request}: unprocessable ({message}{})", details(.errors))]
    Unprocessable {
        /// The request.
        request: String,
        /// GitHub's message.
        message: String,
        /// GitHub's `errors`, flattened to text.
        errors: Vec<String>,
    },
    /// 5xx after every retry.
    #[error("{request}: github server error {status} ({message})")]
    Server {
        /// The request.
        request: String,
        /// The HTTP status.
        status: u16,
        /// GitHub's message.
        message: String,
    },
    /// Any other unexpected status.
    #[error("{request}: unexpected status {status} ({message})")]
    Status {
        /// The request.
        request: String,
        /// The HTTP status.
        status: u16,
        /// GitHub's message.
        message: String,
    },
    /// No HTTP response (connection refused, timeout) after every retry.
    #[error("{request}: transport error: {reason}")]
    Transport {
        /// The request.
        request: String,
        /// What went wrong.
        reason: String,
    },
    /// The response did not have the expected shape.
    #[error("{request}: unexpected response body: {reason}")]
    Decode {
        /// The request.
        request: String,
        /// What did not parse.
        reason: String,
    },
}

impl GithubError {
    /// Returns true for failures that may pass on their own (5xx, transport errors, rate limits).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Transport { .. }
        )
    }

    /// Returns how long to wait before retrying, when GitHub said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

fn retry_hint(after: &Option<Duration>) -> String {
    after.map_or_else(String::new, |d| {
        format!("; retry after {} s", d.as_secs().max(1))
    })
}

fn details(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!(": {}", errors.join("; "))
    }
}
