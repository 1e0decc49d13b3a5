//! The primary rate limit: a fixed hourly window per principal, reported in `x-ratelimit-*` headers.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use axum::http::{HeaderMap, HeaderValue};

/// The limit GitHub applies to anonymous requests (per client address; here: all anonymous clients).
const ANONYMOUS_LIMIT: u32 = 60;
const WINDOW_SECS: i64 = 3600;

/// The rate limit state reported to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateStatus {
    pub limit: u32,
    pub remaining: u32,
    pub used: u32,
    /// Epoch seconds when the window resets.
    pub reset: i64,
}

impl RateStatus {
    /// Writes `x-ratelimit-limit/remaining/used/reset/resource`.
    pub fn write(&self, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-used", HeaderValue::from(self.used));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset));
        headers.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    reset: i64,
    used: u32,
}

/// Counts requests per principal key.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: u32,
    windows: Mutex<HashMap<String, Window>>,
}

impl RateLimiter {
    /// Creates a limiter allowing `limit` requests per hour per authenticated principal.
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request for `key`; `Err` when the limit is already used up.
    pub fn hit(&self, key: &str, anonymous: bool, now: i64) -> Result<RateStatus, RateStatus> {
        let limit = if anonymous {
            ANONYMOUS_LIMIT
        } else {
            self.limit
        };
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let window = windows.entry(key.to_owned()).or_insert(Window {
            reset: now + WINDOW_SECS,
            used: 0,
        });
        if window.reset <= now {
            *window = Window {
                reset: now + WINDOW_SECS,
                used: 0,
            };
        }
        if window.used >= limit {
            return Err(RateStatus {
                limit,
                remaining: 0,
                used: window.used,
                reset: window.reset,
            });
        }
        window.used += 1;
        let used = window.used;
        Ok(RateStatus {
            limit,
            remaining: limit - used,
            used,
            reset: window.reset,
        })
    }

    /// The current status for `key` without counting a request.
    pub fn peek(&self, key: &str, anonymous: bool, now: i64) -> RateStatus {
        let limit = if anonymous {
            ANONYMOUS_LIMIT
        } else {
            self.limit
        };
        let windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let used = windows
            .get(key)
            .filter(|w| w.reset > now)
            .map_or(0, |w| w.used);
        let reset = windows
            .get(key)
            .filter(|w| w.reset > now)
            .map_or(now + WINDOW_SECS, |w| w.reset);
        RateStatus {
            limit,
            remaining: limit.saturating_sub(used),
            used,
            reset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhausts_and_resets() {
        let rl = RateLimiter::new(2);
        assert_eq!(rl.hit("u", false, 0).map(|s| s.remaining), Ok(1));
        assert_eq!(rl.hit("u", false, 0).map(|s| s.remaining), Ok(0));
        assert!(rl.hit("u", false, 10).is_err());
        assert!(rl.hit("other", false, 10).is_ok());
        assert_eq!(rl.hit("u", false, WINDOW_SECS).map(|s| s.used), Ok(1));
    }
}
