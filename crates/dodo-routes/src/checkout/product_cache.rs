//! A small, bounded, short-lived cache of product lookups for the checkout routes.
//!
//! The static and dynamic flows look a product up before answering (does it exist, is it
//! recurring?). Those routes face anonymous traffic, so without a cache every request, and
//! every random id a bot tries, costs one API call against the merchant's rate limit and the
//! client's retry budget. Answers (found and not found) are kept for a short TTL; failures
//! are never cached. When full, expired entries go first, then the oldest.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default time an answer is kept.
pub const DEFAULT_PRODUCT_CACHE_TTL: Duration = Duration::from_secs(60);
/// Default number of products kept.
pub const DEFAULT_PRODUCT_CACHE_CAPACITY: usize = 1024;

/// What the API said about a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProductLookup {
    /// It exists; `true` when it is a subscription product.
    Found { recurring: bool },
    /// The API answered 404.
    NotFound,
}

#[derive(Debug)]
struct Entries {
    map: HashMap<String, (ProductLookup, Instant)>,
    order: VecDeque<String>,
}

/// The cache; cheap to share behind the checkout's `Arc`.
#[derive(Debug)]
pub(crate) struct ProductCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<Entries>,
}

impl ProductCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    /// The cached answer for `id`, if fresh.
    pub(crate) fn get(&self, id: &str) -> Option<ProductLookup> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .map
            .get(id)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(lookup, _)| *lookup)
    }

    /// Stores an answer, evicting expired entries, then the oldest, when full.
    pub(crate) fn put(&self, id: &str, lookup: ProductLookup) {
        if self.capacity == 0 || self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if entries.map.insert(id.to_owned(), (lookup, now)).is_none() {
            entries.order.push_back(id.to_owned());
        }
        while entries.map.len() > self.capacity {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            entries.map.remove(&oldest);
        }
        // Keep the order list from growing with ids that were replaced.
        if entries.order.len() > self.capacity.saturating_mul(2) {
            let Entries { map, order } = &mut *entries;
            order.retain(|k| map.contains_key(k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_expiring() {
        let cache = ProductCache::new(Duration::from_secs(60), 2);
        cache.put("a", ProductLookup::Found { recurring: true });
        cache.put("b", ProductLookup::NotFound);
        cache.put("c", ProductLookup::Found { recurring: false });
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.get("b"), Some(ProductLookup::NotFound));
        assert_eq!(
            cache.get("c"),
            Some(ProductLookup::Found { recurring: false })
        );
        let expired = ProductCache::new(Duration::from_nanos(1), 2);
        expired.put("a", ProductLookup::NotFound);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(expired.get("a"), None);
    }
}
