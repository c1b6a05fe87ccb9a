//! When a failed delivery is tried again, and when it is given up.
//!
//! [`RetryPolicy`] is exponential backoff with a cap and a maximum number of attempts;
//! after the last allowed attempt fails the row becomes a dead letter and the inbox's
//! `on_dead_letter` hook runs. A claim counts as an attempt, so a delivery whose handler
//! crashes the process every time is also dead-lettered eventually.

use std::time::Duration;

/// Backoff and attempt limit for failed deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in total (the first one included) before a delivery is dead-lettered; at
    /// least 1.
    pub max_attempts: u32,
    /// Delay after the first failure.
    pub initial_backoff: Duration,
    /// Each further failure multiplies the delay by this factor (at least 1).
    pub multiplier: u32,
    /// Upper bound of the delay.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts; 10 s, 20 s, 40 s, ... capped at 1 h.
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff: Duration::from_secs(10),
            multiplier: 2,
            max_backoff: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// A policy with `max_attempts` attempts and otherwise default delays.
    pub fn attempts(max_attempts: u32) -> Self {
        Self {
            max_attempts,
            ..Self::default()
        }
    }

    /// Sets the first delay.
    #[must_use]
    pub fn initial_backoff(mut self, delay: Duration) -> Self {
        self.initial_backoff = delay;
        self
    }

    /// Sets the delay multiplier.
    #[must_use]
    pub fn multiplier(mut self, multiplier: u32) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets the maximum delay.
    #[must_use]
    pub fn max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay;
        self
    }

    /// Whether a delivery that has had `attempts` attempts may be tried again.
    pub fn may_retry(&self, attempts: i64) -> bool {
        attempts < i64::from(self.max_attempts.max(1))
    }

    /// The delay after the `attempts`-th failed attempt (1-based).
    pub fn delay(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1).max(0)).unwrap_or(u32::MAX);
        let factor = self
            .multiplier
            .max(1)
            .checked_pow(exponent)
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_with_cap_and_limit() {
        let p = RetryPolicy::attempts(3)
            .initial_backoff(Duration::from_secs(5))
            .max_backoff(Duration::from_secs(12));
        assert_eq!(p.delay(1), Duration::from_secs(5));
        assert_eq!(p.delay(2), Duration::from_secs(10));
        assert_eq!(p.delay(3), Duration::from_secs(12));
        assert_eq!(p.delay(200), Duration::from_secs(12));
        assert!(p.may_retry(2));
        assert!(!p.may_retry(3));
        assert!(!RetryPolicy::attempts(0).may_retry(1));
    }
}
