//! Time source of the inbox.
//!
//! Leases, retry schedules and the `*_at` columns are computed from a [`Clock`] in Unix
//! microseconds, so tests can pin and advance time (for example to let a lease expire
//! without waiting). [`SystemClock`] is the default; [`ManualClock`] is a settable clock
//! whose clones share one time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;

/// A source of the current time in Unix microseconds.
pub trait Clock: Send + Sync {
    /// The current time in microseconds since the Unix epoch.
    fn now_micros(&self) -> i64;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        to_micros(OffsetDateTime::now_utc())
    }
}

/// A clock that stands still until set or advanced; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock showing `unix_seconds`.
    pub fn new(unix_seconds: i64) -> Self {
        Self(Arc::new(AtomicI64::new(
            unix_seconds.saturating_mul(1_000_000),
        )))
    }

    /// A clock showing the current system time.
    pub fn now() -> Self {
        Self(Arc::new(AtomicI64::new(SystemClock.now_micros())))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(duration_micros(by), Ordering::SeqCst);
    }

    /// Sets the time to `unix_seconds`.
    pub fn set(&self, unix_seconds: i64) {
        self.0
            .store(unix_seconds.saturating_mul(1_000_000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Microseconds since the Unix epoch of `t` (saturating).
pub(crate) fn to_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The time `micros` microseconds after the Unix epoch (the epoch if out of range).
pub(crate) fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `d` in microseconds (saturating).
pub(crate) fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip_and_manual_clock() {
        let t = time::macros::datetime!(2025-07-23 12:01:51.506540 UTC);
        assert_eq!(from_micros(to_micros(t)), t);
        let c = ManualClock::new(10);
        let view = c.clone();
        c.advance(Duration::from_millis(1_500));
        assert_eq!(view.now_micros(), 11_500_000);
        c.set(3);
        assert_eq!(view.now_micros(), 3_000_000);
    }
}
