//! Retries: which failures are worth another attempt, how long to wait, and the loop itself.
//!
//! Retried: connection failures and timeouts, 408/425/429 and every 5xx, and malformed bodies (a
//! truncated answer from a proxy). A `Retry-After` (or `retry-after-ms`) header is honoured
//! exactly; otherwise the wait is exponential backoff with jitter. Attempts and total time are
//! bounded, and a `Retry-After` longer than [`RetryPolicy::max_retry_after`] fails at once with
//! [`LlmError::RateLimited`] so the caller can reschedule instead of holding a worker.
//! Everything else (401/403, 404, other 4xx, request-shaping errors) fails at once.

use std::future::Future;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::error::LlmError;
use crate::failure::Failure;
use crate::provider::Route;

/// How persistent a client is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (at least 1).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles per retry.
    pub initial_backoff: Duration,
    /// Upper bound of one backoff.
    pub max_backoff: Duration,
    /// Upper bound of the whole call, attempts and waits included; no wait crosses it.
    pub max_elapsed: Duration,
    /// A longer `Retry-After` is not waited for: the call fails with [`LlmError::RateLimited`].
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            max_elapsed: Duration::from_secs(180),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy making exactly one attempt.
    pub fn no_retries() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The backoff before retry number `retry` (1-based): "equal jitter", uniformly in
    /// `[d/2, d]` with `d = min(max_backoff, initial_backoff * 2^(retry-1))`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        let ceiling = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        let half = ceiling / 2;
        let jitter_nanos = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::rng().random_range(0..=jitter_nanos))
    }
}

/// Counts attempts and decides, after each failure, whether and how long to wait.
pub(crate) struct Retrier<'a> {
    policy: &'a RetryPolicy,
    route: &'a Route,
    started: Instant,
    made: u32,
}

impl<'a> Retrier<'a> {
    /// Starts the clock of one call.
    pub(crate) fn new(policy: &'a RetryPolicy, route: &'a Route) -> Self {
        Self {
            policy,
            route,
            started: Instant::now(),
            made: 0,
        }
    }

    /// Marks the start of an attempt.
    pub(crate) fn begin(&mut self) {
        self.made += 1;
    }

    /// Attempts made so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.made
    }

    /// After a failed attempt: sleeps until the next one may start, or returns the final error.
    pub(crate) async fn failed(&mut self, failure: Failure) -> Result<(), LlmError> {
        let elapsed = self.started.elapsed();
        let Some(wait) = next_wait(self.policy, &failure, self.made, elapsed) else {
            tracing::warn!(attempts = self.made, failure = ?failure, "llm call failed");
            return Err(failure.into_error(self.route, self.made));
        };
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        tracing::warn!(attempt = self.made, wait_ms, failure = ?failure, "llm call failed, retrying");
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the policy is exhausted.
/// Returns the value and the number of attempts made.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    route: &Route,
    secret: Option<&str>,
    mut attempt: F,
) -> Result<(T, u32), LlmError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, genai::Error>>,
{
    let mut retrier = Retrier::new(policy, route);
    loop {
        retrier.begin();
        match attempt().await {
            Ok(value) => return Ok((value, retrier.attempts())),
            Err(error) => retrier.failed(Failure::from_genai(&error, secret)).await?,
        }
    }
}

/// The wait before the next attempt, or `None` when the call must fail now.
fn next_wait(
    policy: &RetryPolicy,
    failure: &Failure,
    made: u32,
    elapsed: Duration,
) -> Option<Duration> {
    if !failure.is_retryable() || made >= policy.max_attempts.max(1) {
        return None;
    }
    let wait = match failure.retry_after() {
        Some(asked) if asked > policy.max_retry_after => return None,
        Some(asked) => asked,
        None => policy.backoff(made),
    };
    (elapsed + wait <= policy.max_elapsed).then_some(wait)
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
    fn backoff_grows_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!((50..=100).contains(&first.as_millis()), "{first:?}");
            let second = policy.backoff(2);
            assert!((100..=200).contains(&second.as_millis()), "{second:?}");
            let capped = policy.backoff(30);
            assert!((175..=350).contains(&capped.as_millis()), "{capped:?}");
        }
    }

    #[test]
    fn waits_honour_retry_after_and_bounds() {
        let policy = RetryPolicy {
            max_attempts: 3,
            max_elapsed: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        let limited = |s| status(429, Some(Duration::from_secs(s)));
        assert_eq!(
            next_wait(&policy, &limited(2), 1, Duration::ZERO),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            next_wait(&policy, &limited(6), 1, Duration::ZERO),
            None,
            "too long"
        );
        assert_eq!(
            next_wait(&policy, &limited(2), 3, Duration::ZERO),
            None,
            "attempts"
        );
        assert_eq!(
            next_wait(&policy, &limited(2), 1, Duration::from_secs(9)),
            None,
            "deadline"
        );
        assert_eq!(
            next_wait(&policy, &status(401, None), 1, Duration::ZERO),
            None
        );
    }
}
