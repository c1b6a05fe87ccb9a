//! Producing Standard Webhooks signatures.
//!
//! The sender's side of the scheme: [`WebhookSecret::sign`] gives one `v1,<base64>` entry,
//! [`Verifier::sign`] gives the full `webhook-signature` value (one entry per configured
//! secret, as a sender does during a rotation), and [`Verifier::signed_headers`] gives all
//! three headers as [`SignedHeaders`]. Used by tests, the emulator and applications' own
//! tests of their webhook endpoints.

use base64::Engine as _;

use crate::headers::WebhookHeaders;
use crate::secret::WebhookSecret;
use crate::verify::{HeaderKind, Verifier};

impl WebhookSecret {
    /// The `v1,<base64>` signature of `body` for message `id` at Unix time `timestamp`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let ts = timestamp.to_string();
        let mac = self.mac(id.as_bytes(), ts.as_bytes(), body);
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac)
        )
    }
}

impl Verifier {
    /// The `webhook-signature` header value: one `v1,` entry per configured secret,
    /// space-separated, in configuration order.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let entries: Vec<String> = self
            .secrets()
            .iter()
            .map(|s| s.sign(id, timestamp, body))
            .collect();
        entries.join(" ")
    }

    /// All three headers of a signed delivery.
    pub fn signed_headers(&self, id: &str, timestamp: i64, body: &[u8]) -> SignedHeaders {
        SignedHeaders {
            id: id.to_owned(),
            timestamp: timestamp.to_string(),
            signature: self.sign(id, timestamp, body),
        }
    }
}

/// The header values of a signed delivery; also usable directly as [`WebhookHeaders`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp` (decimal Unix seconds).
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
}

impl SignedHeaders {
    /// `(name, value)` pairs with the canonical lower-case header names.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (HeaderKind::Id.name(), &self.id),
            (HeaderKind::Timestamp.name(), &self.timestamp),
            (HeaderKind::Signature.name(), &self.signature),
        ]
    }

    /// Owned `(name, value)` pairs, e.g. for building an HTTP request.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        vec![
            (HeaderKind::Id.name().to_owned(), self.id),
            (HeaderKind::Timestamp.name().to_owned(), self.timestamp),
            (HeaderKind::Signature.name().to_owned(), self.signature),
        ]
    }
}

impl WebhookHeaders for SignedHeaders {
    fn header(&self, name: &str) -> Option<&[u8]> {
        let value = if name.eq_ignore_ascii_case(HeaderKind::Id.name()) {
            &self.id
        } else if name.eq_ignore_ascii_case(HeaderKind::Timestamp.name()) {
            &self.timestamp
        } else if name.eq_ignore_ascii_case(HeaderKind::Signature.name()) {
            &self.signature
        } else {
            return None;
        };
        Some(value.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn official_sign_vector() {
        let s = WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            s.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn rotation_signs_with_every_secret_and_each_alone_verifies() {
        let old = WebhookSecret::from_bytes(vec![1_u8; 32]).unwrap();
        let new = WebhookSecret::from_bytes(vec![2_u8; 32]).unwrap();
        let sender = Verifier::with_secrets([new.clone(), old.clone()]).unwrap();
        let headers = sender.signed_headers("msg_rot", 100, b"{}");
        assert_eq!(headers.signature.split(' ').count(), 2);
        for receiver in [Verifier::new(old), Verifier::new(new)] {
            let receiver = receiver.with_clock(ManualClock::new(100));
            assert_eq!(receiver.verify(&headers, b"{}").unwrap().id, "msg_rot");
        }
        let stranger = Verifier::new(WebhookSecret::from_bytes(vec![3_u8; 32]).unwrap())
            .with_clock(ManualClock::new(100));
        assert!(stranger.verify(&headers, b"{}").is_err());
    }

    #[test]
    fn pairs_round_trip() {
        let v = Verifier::new(WebhookSecret::from_bytes(vec![9_u8; 24]).unwrap());
        let h = v.signed_headers("msg", 5, b"x");
        assert_eq!(h.pairs()[1], ("webhook-timestamp", "5"));
        assert_eq!(h.header("WEBHOOK-ID"), Some(&b"msg"[..]));
        assert_eq!(h.header("other"), None);
        assert_eq!(h.clone().into_pairs().len(), 3);
    }
}
