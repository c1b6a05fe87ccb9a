//! Standard Webhooks (`v1`, HMAC-SHA256) verification.
//!
//! [`Verifier`] holds one or more [`WebhookSecret`]s (several during a secret rotation; any
//! match passes), a timestamp tolerance (300 s each way by default) and a [`Clock`]. It
//! checks the `webhook-id`, `webhook-timestamp` and `webhook-signature` headers (or their
//! `svix-*` aliases) against the exact raw body bytes, compares MACs in constant time, and
//! returns a [`VerifiedDelivery`] or a [`VerifyError`] saying precisely what was wrong.
//! Verification never parses the body: parse it afterwards with
//! [`WebhookEvent::parse`](crate::WebhookEvent::parse).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

use crate::clock::{Clock, SystemClock};
use crate::headers::WebhookHeaders;
use crate::secret::{SecretError, WebhookSecret};

/// The default timestamp tolerance: deliveries more than five minutes old or in the future
/// are rejected.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Length of a padded standard-base64 encoding of a 32-byte MAC.
const SIGNATURE_B64_LEN: usize = 44;

/// One of the three Standard Webhooks headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderKind {
    /// `webhook-id` (alias `svix-id`): the message id, stable across retries.
    Id,
    /// `webhook-timestamp` (alias `svix-timestamp`): Unix seconds of this attempt.
    Timestamp,
    /// `webhook-signature` (alias `svix-signature`): space-separated `v1,<base64>` entries.
    Signature,
}

impl HeaderKind {
    /// The canonical (unbranded) header name, e.g. `webhook-id`.
    pub fn name(self) -> &'static str {
        match self {
            HeaderKind::Id => "webhook-id",
            HeaderKind::Timestamp => "webhook-timestamp",
            HeaderKind::Signature => "webhook-signature",
        }
    }

    /// The Svix-branded alias, e.g. `svix-id`.
    pub fn svix_name(self) -> &'static str {
        match self {
            HeaderKind::Id => "svix-id",
            HeaderKind::Timestamp => "svix-timestamp",
            HeaderKind::Signature => "svix-signature",
        }
    }
}

impl fmt::Display for HeaderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a delivery failed verification. Messages never contain secrets or MACs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent or empty (names the canonical header).
    #[error("missing required header {0}")]
    MissingHeader(HeaderKind),
    /// A header is present but unusable (for example a non-UTF-8 `webhook-id`).
    #[error("invalid {0} header")]
    InvalidHeader(HeaderKind),
    /// `webhook-timestamp` is not a non-negative integer number of seconds.
    #[error("webhook-timestamp is not an integer number of Unix seconds")]
    InvalidTimestamp,
    /// The timestamp is older than the tolerance allows.
    #[error("message timestamp too old")]
    TimestampTooOld,
    /// The timestamp is further in the future than the tolerance allows.
    #[error("message timestamp too new")]
    TimestampTooNew,
    /// No `v1` signature entry matches any configured secret.
    #[error("no matching signature found")]
    NoMatchingSignature,
}

impl VerifyError {
    /// A stable machine-readable code, suitable for an HTTP error body.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) => "missing_header",
            VerifyError::InvalidHeader(_) => "invalid_header",
            VerifyError::InvalidTimestamp => "invalid_timestamp",
            VerifyError::TimestampTooOld => "timestamp_too_old",
            VerifyError::TimestampTooNew => "timestamp_too_new",
            VerifyError::NoMatchingSignature => "invalid_signature",
        }
    }
}

/// What a successful verification established about a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDelivery {
    /// The `webhook-id`: stable across retries of one event, the key for deduplication.
    pub id: String,
    /// The `webhook-timestamp`: when this attempt was signed (not when the event occurred).
    pub timestamp: OffsetDateTime,
}

/// Verifies Standard Webhooks signatures with one or more secrets.
///
/// Cheap to clone (secrets and clock are shared). `Debug` shows only the number of secrets.
///
/// ```
/// use dodo_webhooks::{ManualClock, Verifier, WebhookSecret};
/// let secret = WebhookSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let verifier = Verifier::new(secret).with_clock(ManualClock::new(1_614_265_330));
/// let body = br#"{"test": 2432232314}"#;
/// let headers = verifier.signed_headers("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
/// let delivery = verifier.verify(&headers, body).unwrap();
/// assert_eq!(delivery.id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
/// assert!(verifier.verify(&headers, br#"{"test":2432232314}"#).is_err());
/// ```
#[derive(Clone)]
pub struct Verifier {
    secrets: Arc<[WebhookSecret]>,
    tolerance_secs: i128,
    clock: Arc<dyn Clock>,
}

impl Verifier {
    /// A verifier with one secret, the default tolerance and the system clock.
    pub fn new(secret: WebhookSecret) -> Self {
        Self {
            secrets: Arc::from(vec![secret]),
            tolerance_secs: i128::from(DEFAULT_TOLERANCE.as_secs()),
            clock: Arc::new(SystemClock),
        }
    }

    /// A verifier from a `whsec_...` (or bare base64) secret string.
    pub fn from_secret(secret: &str) -> Result<Self, SecretError> {
        WebhookSecret::new(secret).map(Self::new)
    }

    /// A verifier accepting any of several secrets (key rotation: Dodo keeps a rotated
    /// secret valid for 24 hours). The first secret is the one [`sign`](Self::sign) lists
    /// first. An empty list is an error.
    pub fn with_secrets(
        secrets: impl IntoIterator<Item = WebhookSecret>,
    ) -> Result<Self, SecretError> {
        let secrets: Vec<WebhookSecret> = secrets.into_iter().collect();
        if secrets.is_empty() {
            return Err(SecretError::NoSecrets);
        }
        Ok(Self {
            secrets: Arc::from(secrets),
            ..Self::new_placeholder()
        })
    }

    /// Parses several secret strings at once (see [`with_secrets`](Self::with_secrets)).
    pub fn from_secret_strs<I, T>(secrets: I) -> Result<Self, SecretError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let parsed = secrets
            .into_iter()
            .map(|s| WebhookSecret::new(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::with_secrets(parsed)
    }

    fn new_placeholder() -> Self {
        Self {
            secrets: Arc::from(Vec::new()),
            tolerance_secs: i128::from(DEFAULT_TOLERANCE.as_secs()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Adds another accepted secret (for example the previous one during a rotation).
    #[must_use]
    pub fn add_secret(mut self, secret: WebhookSecret) -> Self {
        let mut all = self.secrets.to_vec();
        all.push(secret);
        self.secrets = Arc::from(all);
        self
    }

    /// Sets how far a delivery's timestamp may lie in the past or the future (inclusive).
    /// Sub-second parts are ignored.
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance_secs = i128::from(tolerance.as_secs());
        self
    }

    /// Replaces the clock used for the tolerance check (tests, replays).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The configured secrets, newest first as given.
    pub fn secrets(&self) -> &[WebhookSecret] {
        &self.secrets
    }

    /// The configured tolerance.
    pub fn tolerance(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.tolerance_secs).unwrap_or(u64::MAX))
    }

    /// Verifies a delivery: headers present, timestamp within tolerance of the clock, and at
    /// least one `v1` signature matching one secret over the exact `body` bytes.
    pub fn verify<H: WebhookHeaders + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<VerifiedDelivery, VerifyError> {
        let h = read_headers(headers)?;
        self.verify_parts_inner(h.id, h.timestamp, h.signature, body, true)
    }

    /// Like [`verify`](Self::verify) but skips the tolerance check, for re-checking stored
    /// deliveries long after they arrived. The timestamp must still be well-formed.
    pub fn verify_ignoring_timestamp<H: WebhookHeaders + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<VerifiedDelivery, VerifyError> {
        let h = read_headers(headers)?;
        self.verify_parts_inner(h.id, h.timestamp, h.signature, body, false)
    }

    /// Verifies from the three header values directly (no header map needed).
    pub fn verify_parts(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
    ) -> Result<VerifiedDelivery, VerifyError> {
        check_present(id.as_bytes(), HeaderKind::Id)?;
        check_present(timestamp.as_bytes(), HeaderKind::Timestamp)?;
        check_present(signatures.as_bytes(), HeaderKind::Signature)?;
        self.verify_parts_inner(
            id.as_bytes(),
            timestamp.as_bytes(),
            signatures.as_bytes(),
            body,
            true,
        )
    }

    fn verify_parts_inner(
        &self,
        id: &[u8],
        timestamp: &[u8],
        signatures: &[u8],
        body: &[u8],
        check_time: bool,
    ) -> Result<VerifiedDelivery, VerifyError> {
        let ts = parse_timestamp(timestamp)?;
        if check_time {
            let now = i128::from(self.clock.now_unix());
            let age = now - i128::from(ts);
            if age > self.tolerance_secs {
                return Err(VerifyError::TimestampTooOld);
            }
            if -age > self.tolerance_secs {
                return Err(VerifyError::TimestampTooNew);
            }
        }
        let id = std::str::from_utf8(id).map_err(|_| VerifyError::InvalidHeader(HeaderKind::Id))?;
        let at =
            OffsetDateTime::from_unix_timestamp(ts).map_err(|_| VerifyError::InvalidTimestamp)?;

        let matched = self.secrets.iter().any(|secret| {
            let expected = secret.mac(id.as_bytes(), timestamp, body);
            signature_matches(signatures, &expected)
        });
        if matched {
            Ok(VerifiedDelivery {
                id: id.to_owned(),
                timestamp: at,
            })
        } else {
            Err(VerifyError::NoMatchingSignature)
        }
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field(
                "secrets",
                &format_args!("<{} redacted>", self.secrets.len()),
            )
            .field("tolerance_secs", &self.tolerance_secs)
            .finish_non_exhaustive()
    }
}

/// Whether any `v1` entry of a `webhook-signature` value equals `expected`.
///
/// Entries are separated by spaces; each is `<version>,<base64>`. Other versions are
/// ignored, undecodable or wrong-length entries are non-matches, and the comparison of
/// equal-length MACs is constant-time.
fn signature_matches(signatures: &[u8], expected: &[u8; 32]) -> bool {
    let mut matched = false;
    for entry in signatures.split(|b| *b == b' ') {
        let Some(comma) = entry.iter().position(|b| *b == b',') else {
            continue;
        };
        let (version, encoded) = (&entry[..comma], &entry[comma + 1..]);
        if version != b"v1" || encoded.len() != SIGNATURE_B64_LEN {
            continue;
        }
        let mut decoded = [0_u8; 48];
        let Ok(n) = base64::engine::general_purpose::STANDARD.decode_slice(encoded, &mut decoded)
        else {
            continue;
        };
        if n == expected.len() {
            // Non-short-circuiting OR: every well-formed entry is compared.
            matched |= bool::from(decoded[..n].ct_eq(expected));
        }
    }
    matched
}

/// The raw values of the three headers.
struct RawHeaders<'a> {
    id: &'a [u8],
    timestamp: &'a [u8],
    signature: &'a [u8],
}

fn read_headers<H: WebhookHeaders + ?Sized>(headers: &H) -> Result<RawHeaders<'_>, VerifyError> {
    let get = |kind: HeaderKind| {
        let value = headers
            .header(kind.name())
            .filter(|v| !v.is_empty())
            .or_else(|| headers.header(kind.svix_name()));
        match value {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(VerifyError::MissingHeader(kind)),
        }
    };
    Ok(RawHeaders {
        id: get(HeaderKind::Id)?,
        timestamp: get(HeaderKind::Timestamp)?,
        signature: get(HeaderKind::Signature)?,
    })
}

fn check_present(value: &[u8], kind: HeaderKind) -> Result<(), VerifyError> {
    if value.is_empty() {
        Err(VerifyError::MissingHeader(kind))
    } else {
        Ok(())
    }
}

/// Parses `webhook-timestamp`: ASCII digits only (no sign, no fraction), fitting in `i64`.
fn parse_timestamp(raw: &[u8]) -> Result<i64, VerifyError> {
    if raw.is_empty() || raw.len() > 19 || !raw.iter().all(u8::is_ascii_digit) {
        return Err(VerifyError::InvalidTimestamp);
    }
    let mut value: i64 = 0;
    for digit in raw {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(digit - b'0')))
            .ok_or(VerifyError::InvalidTimestamp)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn verifier(now: i64) -> Verifier {
        Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap()
            .with_clock(ManualClock::new(now))
    }

    #[test]
    fn timestamp_parsing() {
        assert_eq!(parse_timestamp(b"0"), Ok(0));
        assert_eq!(parse_timestamp(b"1614265330"), Ok(1_614_265_330));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b"1.0",
            b" 1",
            b"hello",
            b"99999999999999999999",
        ] {
            assert_eq!(
                parse_timestamp(bad),
                Err(VerifyError::InvalidTimestamp),
                "{bad:?}"
            );
        }
        assert_eq!(parse_timestamp(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(
            parse_timestamp(b"9223372036854775808"),
            Err(VerifyError::InvalidTimestamp)
        );
    }

    #[test]
    fn huge_timestamp_ignoring_tolerance_is_invalid_not_a_panic() {
        let v = verifier(0);
        let h = [
            ("webhook-id", "m"),
            ("webhook-timestamp", "9223372036854775807"),
            ("webhook-signature", "v1,x"),
        ];
        assert_eq!(v.verify(&h, b""), Err(VerifyError::TimestampTooNew));
        assert_eq!(
            v.verify_ignoring_timestamp(&h, b""),
            Err(VerifyError::InvalidTimestamp)
        );
    }

    #[test]
    fn svix_aliases_and_empty_headers() {
        let v = verifier(1_614_265_330);
        let body = br#"{"test": 2432232314}"#;
        let signed = v.signed_headers("msg_1", 1_614_265_330, body);
        let svix = [
            ("svix-id", signed.id.as_str()),
            ("svix-timestamp", signed.timestamp.as_str()),
            ("svix-signature", signed.signature.as_str()),
        ];
        assert_eq!(v.verify(&svix, body).unwrap().id, "msg_1");
        let empty_id = [
            ("webhook-id", ""),
            ("webhook-timestamp", signed.timestamp.as_str()),
            ("webhook-signature", signed.signature.as_str()),
        ];
        assert_eq!(
            v.verify(&empty_id, body),
            Err(VerifyError::MissingHeader(HeaderKind::Id))
        );
    }

    #[test]
    fn non_utf8_id_is_invalid_header() {
        let v = verifier(10);
        let h: [(&str, &[u8]); 3] = [
            ("webhook-id", b"\xff"),
            ("webhook-timestamp", b"10"),
            ("webhook-signature", b"v1,x"),
        ];
        assert_eq!(
            v.verify(&h, b"{}"),
            Err(VerifyError::InvalidHeader(HeaderKind::Id))
        );
    }

    #[test]
    fn tolerance_is_configurable_and_inclusive() {
        let v = verifier(1_000).with_tolerance(Duration::from_secs(10));
        assert_eq!(v.tolerance(), Duration::from_secs(10));
        let body = b"{}";
        for (ts, expected) in [
            (990, Ok(())),
            (1_010, Ok(())),
            (989, Err(VerifyError::TimestampTooOld)),
            (1_011, Err(VerifyError::TimestampTooNew)),
        ] {
            let h = v.signed_headers("m", ts, body);
            assert_eq!(v.verify(&h, body).map(|_| ()), expected, "ts {ts}");
            assert!(v.verify_ignoring_timestamp(&h, body).is_ok());
        }
        let zero = verifier(1_000).with_tolerance(Duration::ZERO);
        let h = zero.signed_headers("m", 1_000, body);
        assert!(zero.verify(&h, body).is_ok());
    }

    #[test]
    fn verify_parts_and_clock_closures() {
        let v = verifier(0).with_clock(|| 1_614_265_330_i64);
        let ok = v.verify_parts(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(ok.unwrap().timestamp.unix_timestamp(), 1_614_265_330);
        assert_eq!(
            v.verify_parts("", "1", "v1,x", b""),
            Err(VerifyError::MissingHeader(HeaderKind::Id))
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let shown = format!("{:?}", verifier(0));
        assert!(shown.contains("<1 redacted>"), "{shown}");
        assert!(!shown.contains("MfKQ"), "{shown}");
    }

    #[test]
    fn no_secrets_is_an_error() {
        assert_eq!(
            Verifier::with_secrets(Vec::new()).unwrap_err(),
            SecretError::NoSecrets
        );
        assert!(
            Verifier::from_secret_strs(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ""]).is_err()
        );
    }
}
