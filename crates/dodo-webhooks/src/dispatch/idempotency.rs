//! Duplicate-delivery protection keyed by `webhook-id`.
//!
//! Dodo retries a delivery until it gets a 2xx, and the `webhook-id` stays the same across
//! retries, so the id is the deduplication key. An [`IdempotencyGuard`] is asked before
//! hooks and handlers run ([`begin`](IdempotencyGuard::begin)) and told how it went
//! afterwards ([`complete`](IdempotencyGuard::complete)): a processed id is answered as a
//! duplicate without running anything, a failed one runs again on the next attempt.
//! [`MemoryIdempotency`] is a bounded in-process implementation with expiry; persistent
//! implementations (SQL) implement the same trait.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::dispatch::{BoxError, BoxFuture};

/// What [`IdempotencyGuard::begin`] found for a webhook id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Begin {
    /// Not seen (or its earlier attempt failed or expired): process it now; the guard has
    /// marked it in progress.
    Fresh,
    /// Already processed successfully: do not run anything again.
    Duplicate,
    /// Another attempt is processing it right now.
    InProgress,
}

/// A store that remembers which webhook ids were processed.
///
/// Both methods return boxed futures so the trait can be used as `Arc<dyn IdempotencyGuard>`.
pub trait IdempotencyGuard: Send + Sync {
    /// Claims `webhook_id` for processing, or reports it as duplicate / in progress.
    fn begin<'a>(&'a self, webhook_id: &'a str) -> BoxFuture<'a, Result<Begin, BoxError>>;

    /// Records the end of processing: `success == true` makes later deliveries duplicates;
    /// `false` releases the claim so the next attempt runs again.
    fn complete<'a>(
        &'a self,
        webhook_id: &'a str,
        success: bool,
    ) -> BoxFuture<'a, Result<(), BoxError>>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InProgress,
    Done,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    state: State,
    /// When the state was entered (Unix seconds).
    since: i64,
    /// Matches the `order` queue entry that owns this map entry.
    generation: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Ids in claim order with the generation they were claimed under (stale pairs are
    /// skipped when popped).
    order: VecDeque<(String, u64)>,
    next_generation: u64,
}

/// An in-memory [`IdempotencyGuard`]: at most `capacity` ids, processed ids remembered for
/// `ttl`, in-progress claims released after `lease` (so a cancelled or hung attempt does not
/// block retries forever).
///
/// Process-local: it does not protect several server instances from each other and forgets
/// everything on restart. Cheap to clone (clones share the store).
#[derive(Clone)]
pub struct MemoryIdempotency {
    inner: Arc<Mutex<Inner>>,
    capacity: usize,
    ttl: i64,
    lease: i64,
    clock: Arc<dyn Clock>,
}

impl MemoryIdempotency {
    /// Default number of remembered ids.
    pub const DEFAULT_CAPACITY: usize = 100_000;
    /// Default time a processed id is remembered: 3 days, longer than Dodo's retry window.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(3 * 24 * 3600);
    /// Default time an in-progress claim is honoured: 5 minutes.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);

    /// A guard with the default capacity, TTL and lease, using the system clock.
    pub fn new() -> Self {
        Self::with_limits(Self::DEFAULT_CAPACITY, Self::DEFAULT_TTL)
    }

    /// A guard remembering at most `capacity` ids (at least 1) for `ttl` each.
    pub fn with_limits(capacity: usize, ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner::default())),
            capacity: capacity.max(1),
            ttl: secs(ttl),
            lease: secs(Self::DEFAULT_LEASE),
            clock: Arc::new(SystemClock),
        }
    }

    /// Sets how long an in-progress claim blocks other attempts.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = secs(lease);
        self
    }

    /// Replaces the clock (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Number of ids currently remembered (including expired ones not yet purged).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters here, so recover from poisoning.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn is_live(&self, entry: &Entry, now: i64) -> bool {
        let limit = match entry.state {
            State::InProgress => self.lease,
            State::Done => self.ttl,
        };
        now.saturating_sub(entry.since) <= limit
    }

    fn begin_sync(&self, id: &str) -> Begin {
        let now = self.clock.now_unix();
        let mut inner = self.lock();
        if let Some(entry) = inner.entries.get(id)
            && self.is_live(entry, now)
        {
            return match entry.state {
                State::Done => Begin::Duplicate,
                State::InProgress => Begin::InProgress,
            };
        }
        let generation = inner.next_generation;
        inner.next_generation += 1;
        inner.entries.insert(
            id.to_owned(),
            Entry {
                state: State::InProgress,
                since: now,
                generation,
            },
        );
        inner.order.push_back((id.to_owned(), generation));
        self.purge(&mut inner, now);
        Begin::Fresh
    }

    /// Drops stale queue entries, expired entries at the front, and the oldest entries
    /// beyond capacity.
    fn purge(&self, inner: &mut Inner, now: i64) {
        while let Some((id, generation)) = inner.order.front() {
            let current = inner.entries.get(id).copied();
            let owned = current.filter(|e| e.generation == *generation);
            let over_capacity = inner.entries.len() > self.capacity;
            match owned {
                None => {
                    inner.order.pop_front();
                }
                Some(entry) if over_capacity || !self.is_live(&entry, now) => {
                    if let Some((id, _)) = inner.order.pop_front() {
                        inner.entries.remove(&id);
                    }
                }
                Some(_) => break,
            }
        }
    }

    fn complete_sync(&self, id: &str, success: bool) {
        let now = self.clock.now_unix();
        let mut inner = self.lock();
        if success {
            if let Some(entry) = inner.entries.get_mut(id) {
                entry.state = State::Done;
                entry.since = now;
            } else {
                // Evicted while in progress: remember it again.
                let generation = inner.next_generation;
                inner.next_generation += 1;
                inner.entries.insert(
                    id.to_owned(),
                    Entry {
                        state: State::Done,
                        since: now,
                        generation,
                    },
                );
                inner.order.push_back((id.to_owned(), generation));
                self.purge(&mut inner, now);
            }
        } else if inner
            .entries
            .get(id)
            .is_some_and(|e| e.state == State::InProgress)
        {
            // Only a claim is released: a late failure report from an attempt that outlived
            // its lease must not erase a later attempt's success.
            inner.entries.remove(id);
        }
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Default for MemoryIdempotency {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryIdempotency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryIdempotency")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .field("ttl_secs", &self.ttl)
            .field("lease_secs", &self.lease)
            .finish()
    }
}

impl IdempotencyGuard for MemoryIdempotency {
    fn begin<'a>(&'a self, webhook_id: &'a str) -> BoxFuture<'a, Result<Begin, BoxError>> {
        let result = self.begin_sync(webhook_id);
        Box::pin(std::future::ready(Ok(result)))
    }

    fn complete<'a>(
        &'a self,
        webhook_id: &'a str,
        success: bool,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        self.complete_sync(webhook_id, success);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod late_failure_tests {
    use super::*;

    #[test]
    fn a_late_failure_never_erases_a_success() {
        let guard = MemoryIdempotency::new();
        assert_eq!(guard.begin_sync("msg"), Begin::Fresh);
        guard.complete_sync("msg", true);
        guard.complete_sync("msg", false);
        assert_eq!(guard.begin_sync("msg"), Begin::Duplicate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn guard(capacity: usize, ttl: u64, clock: &ManualClock) -> MemoryIdempotency {
        MemoryIdempotency::with_limits(capacity, Duration::from_secs(ttl))
            .with_lease(Duration::from_secs(10))
            .with_clock(clock.clone())
    }

    #[test]
    fn fresh_in_progress_duplicate_and_retry_after_failure() {
        let clock = ManualClock::new(1_000);
        let g = guard(10, 100, &clock);
        assert_eq!(g.begin_sync("a"), Begin::Fresh);
        assert_eq!(g.begin_sync("a"), Begin::InProgress);
        g.complete_sync("a", true);
        assert_eq!(g.begin_sync("a"), Begin::Duplicate);

        assert_eq!(g.begin_sync("b"), Begin::Fresh);
        g.complete_sync("b", false);
        assert_eq!(g.begin_sync("b"), Begin::Fresh);
    }

    #[test]
    fn ttl_and_lease_expire() {
        let clock = ManualClock::new(1_000);
        let g = guard(10, 100, &clock);
        assert_eq!(g.begin_sync("a"), Begin::Fresh);
        g.complete_sync("a", true);
        clock.advance(100);
        assert_eq!(g.begin_sync("a"), Begin::Duplicate);
        clock.advance(1);
        assert_eq!(g.begin_sync("a"), Begin::Fresh);

        assert_eq!(g.begin_sync("hung"), Begin::Fresh);
        clock.advance(10);
        assert_eq!(g.begin_sync("hung"), Begin::InProgress);
        clock.advance(1);
        assert_eq!(g.begin_sync("hung"), Begin::Fresh);
    }

    #[test]
    fn capacity_evicts_oldest() {
        let clock = ManualClock::new(1_000);
        let g = guard(2, 1_000, &clock);
        for id in ["a", "b", "c"] {
            assert_eq!(g.begin_sync(id), Begin::Fresh);
            g.complete_sync(id, true);
        }
        assert_eq!(g.len(), 2);
        assert_eq!(g.begin_sync("c"), Begin::Duplicate);
        assert_eq!(g.begin_sync("b"), Begin::Duplicate);
        assert_eq!(g.begin_sync("a"), Begin::Fresh);
        assert!(g.len() <= 2);
    }

    #[test]
    fn expired_entries_are_purged_from_the_front() {
        let clock = ManualClock::new(0);
        let g = guard(100, 5, &clock);
        for i in 0..10 {
            let id = format!("id{i}");
            assert_eq!(g.begin_sync(&id), Begin::Fresh);
            g.complete_sync(&id, true);
        }
        clock.advance(6);
        assert_eq!(g.begin_sync("new"), Begin::Fresh);
        assert_eq!(g.len(), 1);
    }
}
