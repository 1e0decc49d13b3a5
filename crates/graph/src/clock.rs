//! Injectable time, so lease expiry and interrupt ages are testable without waiting.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

/// Tells the engine what time it is (lease expiry, interrupt `asked_at`, `Ctx::now`).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Returns the current time.
    fn now(&self) -> DateTime<Utc>;
}

/// Reads the system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Stands still until moved with [`ManualClock::advance`] or [`ManualClock::set`].
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    /// Creates a clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            micros: AtomicI64::new(start.timestamp_micros()),
        })
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.micros.fetch_add(micros, Ordering::SeqCst);
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        self.micros.store(at.timestamp_micros(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros.load(Ordering::SeqCst)).unwrap_or_default()
    }
}

/// Shows another clock shifted by a fixed offset (a process started "one hour later" in crash tests).
#[derive(Debug)]
pub struct OffsetClock {
    inner: Arc<dyn Clock>,
    offset: TimeDelta,
}

impl OffsetClock {
    /// Creates a clock that reads `inner` plus `offset`.
    pub fn new(inner: Arc<dyn Clock>, offset: TimeDelta) -> Self {
        Self { inner, offset }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now() + self.offset
    }
}

/// Follows tokio's clock from a wall-clock anchor, so `tokio::time::pause()` + `advance()` move it too.
#[derive(Debug)]
pub struct TokioClock {
    anchor: DateTime<Utc>,
    started: tokio::time::Instant,
}

impl TokioClock {
    /// Anchors the clock at the current wall-clock time and tokio instant.
    pub fn new() -> Self {
        Self {
            anchor: Utc::now(),
            started: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = TimeDelta::from_std(self.started.elapsed()).unwrap_or(TimeDelta::MAX);
        self.anchor + elapsed
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).expect("valid");
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(3600));
        assert_eq!(clock.now(), start + TimeDelta::hours(1));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn offset_clock_adds_its_offset() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).expect("valid");
        let base = ManualClock::new(start);
        let shifted = OffsetClock::new(base, TimeDelta::hours(1));
        assert_eq!(shifted.now(), start + TimeDelta::hours(1));
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let clock = TokioClock::new();
        let before = clock.now();
        tokio::time::advance(Duration::from_secs(3600)).await;
        let waited = clock.now() - before;
        assert!(waited >= TimeDelta::hours(1), "{waited}");
    }
}
