//! Webhook signing secrets.
//!
//! A [`WebhookSecret`] is the HMAC-SHA256 key of a Standard Webhooks endpoint. It is built
//! from the `whsec_<base64>` string Dodo shows in its dashboard (or the bare base64 part,
//! padded or not) or from raw key bytes. Construction rejects empty and undecodable secrets,
//! so a misconfigured `""` can never silently accept or reject everything. The key is never
//! printed: `Debug` shows `WebhookSecret(<redacted>)`.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix Standard Webhooks puts in front of base64-encoded symmetric secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// HMAC-SHA256 as used for `v1` signatures.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Standard base64 that accepts input with or without `=` padding and ignores non-zero
/// trailing bits, as the Python reference library does (unpadded secrets are common when
/// secrets are copied by hand).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Why a secret could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The secret (after removing `whsec_` and surrounding whitespace) is empty, or the raw
    /// key bytes are empty.
    #[error("webhook secret is empty")]
    Empty,
    /// The secret is not valid standard base64 (the secret itself is not echoed).
    #[error("webhook secret is not valid base64 (expected `whsec_<base64>` or bare base64)")]
    InvalidBase64,
    /// A verifier needs at least one secret.
    #[error("no webhook secret configured")]
    NoSecrets,
}

/// One HMAC-SHA256 signing key.
///
/// Cheap to clone. The HMAC key schedule is computed once at construction and reused for
/// every signature.
///
/// ```
/// use dodo_webhooks::WebhookSecret;
/// let secret: WebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
/// assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
/// assert!(WebhookSecret::new("whsec_").is_err());
/// ```
#[derive(Clone)]
pub struct WebhookSecret {
    key: Vec<u8>,
    mac: HmacSha256,
}

impl WebhookSecret {
    /// Builds a secret from `whsec_<base64>` or bare base64 (padding optional; surrounding
    /// whitespace such as a trailing newline from an env file is ignored).
    pub fn new(secret: &str) -> Result<Self, SecretError> {
        let trimmed = secret.trim();
        let encoded = trimmed.strip_prefix(SECRET_PREFIX).unwrap_or(trimmed);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = LENIENT_BASE64
            .decode(encoded)
            .map_err(|_| SecretError::InvalidBase64)?;
        Self::from_bytes(key)
    }

    /// Builds a secret from raw key bytes (no base64). Empty keys are rejected.
    pub fn from_bytes(key: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let key = key.into();
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        // HMAC accepts keys of any length, so this cannot fail; map it anyway rather than
        // panic.
        let mac = HmacSha256::new_from_slice(&key).map_err(|_| SecretError::Empty)?;
        Ok(Self { key, mac })
    }

    /// The secret in the canonical `whsec_<padded base64>` form (for the emulator and for
    /// showing a freshly generated secret to its owner once).
    pub fn to_whsec_string(&self) -> String {
        format!(
            "{SECRET_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(&self.key)
        )
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.key
    }

    /// The HMAC-SHA256 of `id.timestamp.body`, the `v1` MAC.
    pub(crate) fn mac(&self, id: &[u8], timestamp: &[u8], body: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(id);
        mac.update(b".");
        mac.update(timestamp);
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl FromStr for WebhookSecret {
    type Err = SecretError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl PartialEq for WebhookSecret {
    /// Constant-time comparison of the key bytes.
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        self.key.len() == other.key.len() && bool::from(self.key.ct_eq(&other.key))
    }
}

impl Eq for WebhookSecret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_and_bare_decode_to_the_same_key() {
        let a = WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let b = WebhookSecret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_bytes().len(), 24);
        assert_eq!(
            a.to_whsec_string(),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        );
    }

    #[test]
    fn padding_is_optional() {
        let unpadded = WebhookSecret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr").unwrap();
        let padded = WebhookSecret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr==").unwrap();
        assert_eq!(unpadded, padded);
        assert_eq!(unpadded.as_bytes().len(), 25);
    }

    #[test]
    fn whitespace_is_trimmed() {
        let a = WebhookSecret::new("  whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n").unwrap();
        assert_eq!(a.as_bytes().len(), 24);
    }

    #[test]
    fn empty_and_garbage_are_rejected() {
        assert_eq!(WebhookSecret::new("").unwrap_err(), SecretError::Empty);
        assert_eq!(
            WebhookSecret::new("whsec_").unwrap_err(),
            SecretError::Empty
        );
        assert_eq!(WebhookSecret::new("   ").unwrap_err(), SecretError::Empty);
        assert_eq!(
            WebhookSecret::new("whsec_not base64!").unwrap_err(),
            SecretError::InvalidBase64
        );
        assert_eq!(
            WebhookSecret::from_bytes(Vec::new()).unwrap_err(),
            SecretError::Empty
        );
    }

    #[test]
    fn debug_and_error_never_show_the_secret() {
        let s = WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("MfKQ"), "{shown}");
        let err = WebhookSecret::new("whsec_secret!!")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret!!"), "{err}");
    }
}
