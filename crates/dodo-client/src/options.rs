//! Per-call options ([`RequestOptions`]) and the setters every call type shares.
//!
//! A [`Call`](crate::Call), [`ListCall`](crate::ListCall) or
//! [`CursorListCall`](crate::CursorListCall) carries one `RequestOptions`, which override the
//! client's defaults for that call only (timeouts, retries, extra headers, an idempotency key,
//! the explicit "safe to repeat" assertion). The attempt loop reads them; nothing here does I/O.

use std::fmt;
use std::time::Duration;

/// Options for one call, overriding the client's defaults.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestOptions {
    /// Per-attempt timeout.
    pub timeout: Option<Duration>,
    /// Overall deadline across attempts.
    pub total_timeout: Option<Duration>,
    /// Retries after the first attempt.
    pub max_retries: Option<u32>,
    /// Extra headers (override client defaults with the same name).
    pub headers: Vec<(String, String)>,
    /// Idempotency key sent as `Idempotency-Key` (and in the body where the body has an
    /// `idempotency_key` field), identical on every attempt.
    pub idempotency_key: Option<String>,
    /// The caller asserts that sending this request twice cannot duplicate its effect
    /// (see [`Call::assume_safe_to_repeat`](crate::Call::assume_safe_to_repeat)).
    pub assume_safe_to_repeat: bool,
}

impl fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestOptions")
            .field("timeout", &self.timeout)
            .field("total_timeout", &self.total_timeout)
            .field("max_retries", &self.max_retries)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("idempotency_key", &self.idempotency_key)
            .field("assume_safe_to_repeat", &self.assume_safe_to_repeat)
            .finish()
    }
}

impl RequestOptions {
    /// Empty options (use the client's defaults).
    pub fn new() -> Self {
        Self::default()
    }
}

/// Adds the per-request option setters to a call type holding `options: RequestOptions`.
macro_rules! impl_request_options {
    ($ty:ident) => {
        impl<T> $ty<T> {
            /// Per-attempt timeout for this call.
            pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
                self.options.timeout = Some(timeout);
                self
            }

            /// Overall deadline across all attempts of this call.
            pub fn total_timeout(mut self, timeout: std::time::Duration) -> Self {
                self.options.total_timeout = Some(timeout);
                self
            }

            /// Retries after the first attempt for this call (0 disables retries).
            pub fn max_retries(mut self, retries: u32) -> Self {
                self.options.max_retries = Some(retries);
                self
            }

            /// An extra header for this call (replaces a default header of the same name).
            /// An invalid name or value fails the call with `Error::InvalidRequest`.
            pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
                self.options.headers.push((name.into(), value.into()));
                self
            }

            /// The idempotency key for this call, sent as `Idempotency-Key` on every
            /// attempt and written into the body where the body has an `idempotency_key`
            /// field. Only the body field is documented by the live API: on other POSTs
            /// the header alone does not make a retry safe, and such a POST is still not
            /// repeated after a timeout or 5xx (see
            /// [`ClientBuilder::server_honours_idempotency_key`](crate::ClientBuilder::server_honours_idempotency_key)).
            pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
                self.options.idempotency_key = Some(key.into());
                self
            }

            /// Asserts that this request may be sent again after an ambiguous failure
            /// (a timeout or reset after sending, a 5xx, a 408), so the client retries it
            /// like a GET. **Risk:** if the server did process the first copy, the effect
            /// happens twice (a second refund, a second charge); use it only when your own
            /// data makes a repeat harmless.
            pub fn assume_safe_to_repeat(mut self) -> Self {
                self.options.assume_safe_to_repeat = true;
                self
            }

            /// Replaces all per-request options at once.
            pub fn options(mut self, options: $crate::options::RequestOptions) -> Self {
                self.options = options;
                self
            }

            /// The request this call will send.
            pub fn spec(&self) -> &$crate::request::RequestSpec {
                &self.spec
            }
        }
    };
}
pub(crate) use impl_request_options;
