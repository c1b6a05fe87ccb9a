//! A client-wide retry budget (token bucket) that stops retry storms.
//!
//! Shared by all clones of a client. Every retry withdraws tokens (5 for a retry after an
//! error response, 10 after a timeout or connection failure, as in the AWS SDKs' standard
//! strategy); every successful attempt puts one back, up to the capacity. When the API is
//! down, the bucket drains after about a hundred retries and later failures are returned
//! at once instead of multiplying the load; once calls succeed again, retries come back.

use std::sync::atomic::{AtomicU32, Ordering};

/// Default capacity of the bucket.
pub const DEFAULT_RETRY_BUDGET: u32 = 500;
/// Tokens taken by a retry after an error response (429, 5xx...).
pub const RETRY_COST: u32 = 5;
/// Tokens taken by a retry after a timeout or a connection failure.
pub const TIMEOUT_RETRY_COST: u32 = 10;
/// Tokens returned by a successful attempt.
pub const SUCCESS_REFUND: u32 = 1;

/// A token bucket for retries.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    capacity: u32,
    tokens: AtomicU32,
}

impl RetryBudget {
    /// A full bucket of `capacity` tokens.
    pub(crate) fn new(capacity: u32) -> Self {
        RetryBudget {
            capacity,
            tokens: AtomicU32::new(capacity),
        }
    }

    /// Takes `cost` tokens if available; `false` (and nothing taken) otherwise.
    pub(crate) fn try_withdraw(&self, cost: u32) -> bool {
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
            .is_ok()
    }

    /// Returns `amount` tokens, never above the capacity.
    pub(crate) fn refund(&self, amount: u32) {
        let capacity = self.capacity;
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(amount).min(capacity))
            });
    }

    /// Tokens left.
    pub(crate) fn available(&self) -> u32 {
        self.tokens.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_and_refills() {
        let b = RetryBudget::new(20);
        assert!(b.try_withdraw(TIMEOUT_RETRY_COST));
        assert!(b.try_withdraw(RETRY_COST));
        assert_eq!(b.available(), 5);
        assert!(!b.try_withdraw(TIMEOUT_RETRY_COST));
        assert_eq!(b.available(), 5, "a failed withdrawal takes nothing");
        assert!(b.try_withdraw(RETRY_COST));
        assert!(!b.try_withdraw(1));
        for _ in 0..30 {
            b.refund(SUCCESS_REFUND);
        }
        assert_eq!(b.available(), 20, "refunds stop at the capacity");
    }

    #[test]
    fn default_allows_about_a_hundred_retries() {
        let b = RetryBudget::new(DEFAULT_RETRY_BUDGET);
        let mut n = 0;
        while b.try_withdraw(RETRY_COST) {
            n += 1;
        }
        assert_eq!(n, 100);
    }
}
