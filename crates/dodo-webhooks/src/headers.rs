//! Framework-neutral header lookup.
//!
//! The verifier needs three request headers and nothing else from the HTTP layer, so it
//! asks for them through the one-method [`WebhookHeaders`] trait instead of depending on a
//! web framework. Implementations exist for slices, arrays and `Vec`s of name/value pairs,
//! `HashMap` and `BTreeMap`, and (behind the `http1` / `http02` features) the `HeaderMap` of
//! the `http` 1.x and 0.2 crates. Lookups are case-insensitive.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};

/// Read access to request headers by name.
///
/// `name` is always passed in lower case (`webhook-id`); implementations must match header
/// names case-insensitively. When a header occurs more than once, return the first value.
pub trait WebhookHeaders {
    /// The raw bytes of the first value of header `name`, if present.
    fn header(&self, name: &str) -> Option<&[u8]>;
}

impl<T: WebhookHeaders + ?Sized> WebhookHeaders for &T {
    fn header(&self, name: &str) -> Option<&[u8]> {
        (**self).header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> WebhookHeaders for [(K, V)] {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>, const N: usize> WebhookHeaders for [(K, V); N] {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> WebhookHeaders for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.as_slice().header(name)
    }
}

impl<K, V, H> WebhookHeaders for HashMap<K, V, H>
where
    K: AsRef<str> + Borrow<str> + Hash + Eq,
    V: AsRef<[u8]>,
    H: BuildHasher,
{
    fn header(&self, name: &str) -> Option<&[u8]> {
        // Fast path for the usual lower-case keys, then a case-insensitive scan.
        self.get(name).map(AsRef::as_ref).or_else(|| {
            self.iter()
                .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_ref())
        })
    }
}

impl<K, V> WebhookHeaders for BTreeMap<K, V>
where
    K: AsRef<str> + Borrow<str> + Ord,
    V: AsRef<[u8]>,
{
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(AsRef::as_ref).or_else(|| {
            self.iter()
                .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_ref())
        })
    }
}

/// `http` 1.x header maps store names in lower case, so a direct lookup is case-insensitive.
#[cfg(feature = "http1")]
impl WebhookHeaders for http::HeaderMap {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(http::HeaderValue::as_bytes)
    }
}

/// `http` 0.2 header maps store names in lower case, so a direct lookup is case-insensitive.
#[cfg(feature = "http02")]
impl WebhookHeaders for http02::HeaderMap {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(http02::HeaderValue::as_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_and_maps_are_case_insensitive() {
        let pairs = [("Webhook-ID", "a"), ("webhook-id", "b")];
        assert_eq!(pairs.header("webhook-id"), Some(&b"a"[..]));
        assert_eq!(pairs.header("webhook-timestamp"), None);

        let v: Vec<(String, Vec<u8>)> = vec![("WEBHOOK-SIGNATURE".into(), b"x".to_vec())];
        assert_eq!(v.header("webhook-signature"), Some(&b"x"[..]));

        let mut m: HashMap<String, String> = HashMap::new();
        m.insert("Webhook-Timestamp".into(), "1".into());
        assert_eq!(m.header("webhook-timestamp"), Some(&b"1"[..]));
        m.insert("webhook-timestamp".into(), "2".into());
        assert_eq!(m.header("webhook-timestamp"), Some(&b"2"[..]));

        let b: BTreeMap<&str, &str> = [("Svix-Id", "s")].into_iter().collect();
        fn through_generic<H: WebhookHeaders>(h: H) -> Option<Vec<u8>> {
            h.header("svix-id").map(<[u8]>::to_vec)
        }
        assert_eq!(through_generic(&b), Some(b"s".to_vec()));
    }

    #[cfg(feature = "http1")]
    #[test]
    fn http1_header_map() {
        let mut h = http::HeaderMap::new();
        h.insert("Webhook-Id", http::HeaderValue::from_static("msg_1"));
        assert_eq!(h.header("webhook-id"), Some(&b"msg_1"[..]));
    }

    #[cfg(feature = "http02")]
    #[test]
    fn http02_header_map() {
        let mut h = http02::HeaderMap::new();
        h.insert("Webhook-Id", http02::HeaderValue::from_static("msg_1"));
        assert_eq!(h.header("webhook-id"), Some(&b"msg_1"[..]));
    }
}
