//! Time sources.
//!
//! Timestamp tolerance checks and the in-memory idempotency guard's expiry read the time
//! through the [`Clock`] trait so tests can pin it. [`SystemClock`] is the default;
//! [`ManualClock`] is a settable clock for tests; any `Fn() -> i64` closure also works.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time as Unix seconds.
pub trait Clock: Send + Sync {
    /// The current time in whole seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
        }
    }
}

impl<F> Clock for F
where
    F: Fn() -> i64 + Send + Sync,
{
    fn now_unix(&self) -> i64 {
        self()
    }
}

/// A clock that stands still until it is set or advanced; clones share the same time.
///
/// ```
/// use dodo_webhooks::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// let view = clock.clone();
/// clock.advance(5);
/// assert_eq!(view.now_unix(), 1_005);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock showing `now` (Unix seconds).
    pub fn new(now: i64) -> Self {
        Self(Arc::new(AtomicI64::new(now)))
    }

    /// Sets the time.
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// Moves the time forward by `seconds` (backwards if negative).
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock")
            .field(&self.now_unix())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_unix() > 1_577_836_800);
    }

    #[test]
    fn closures_are_clocks() {
        let c = || 42_i64;
        assert_eq!(Clock::now_unix(&c), 42);
    }
}
