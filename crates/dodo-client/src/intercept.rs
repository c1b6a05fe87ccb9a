//! Observing and changing each attempt: the [`Interceptor`] trait.
//!
//! An interceptor registered with
//! [`ClientBuilder::interceptor`](crate::ClientBuilder::interceptor) runs around every HTTP
//! attempt (retries included): [`before_attempt`](Interceptor::before_attempt) may add or
//! change request headers (a `traceparent`, a tenant header, metrics labels) and
//! [`after_attempt`](Interceptor::after_attempt) sees the status, response headers or error
//! and the duration. Retries, timeouts and redaction stay the client's: the interceptor never
//! sees the `Authorization` header and cannot replace it, the idempotency key or the retry
//! count, and it gets no body. Interceptors run in registration order and must not block.

use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};

use crate::error::Error;

/// Hooks around every attempt of every call of a client.
///
/// ```
/// use dodo_client::{AttemptRequest, AttemptResult, Client, Interceptor};
///
/// /// Tags every request with the service name and counts answered attempts.
/// struct Tag(std::sync::atomic::AtomicU64);
///
/// impl Interceptor for Tag {
///     fn before_attempt(&self, attempt: &mut AttemptRequest<'_>) {
///         attempt.headers.insert("x-calling-service", "billing".parse().unwrap());
///     }
///     fn after_attempt(&self, result: &AttemptResult<'_>) {
///         if result.status.is_some() {
///             self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         }
///     }
/// }
///
/// let client = Client::builder()
///     .api_key("sk_test_...")
///     .interceptor(Tag(Default::default()))
///     .build()
///     .unwrap();
/// # let _ = client;
/// ```
pub trait Interceptor: Send + Sync + 'static {
    /// Called just before an attempt is sent; may change `attempt.headers`.
    fn before_attempt(&self, attempt: &mut AttemptRequest<'_>) {
        let _ = attempt;
    }

    /// Called when an attempt ended, with its answer or error.
    fn after_attempt(&self, result: &AttemptResult<'_>) {
        let _ = result;
    }
}

/// One attempt about to be sent.
#[derive(Debug)]
#[non_exhaustive]
pub struct AttemptRequest<'a> {
    /// HTTP method.
    pub method: &'a Method,
    /// Request path (no host, no query: query values may hold customer data).
    pub path: &'a str,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub attempt: u32,
    /// The request headers, without `Authorization`; changes are sent, except to the
    /// headers the client owns (`Authorization`, `Idempotency-Key`, `x-retry-count`).
    pub headers: &'a mut HeaderMap,
}

/// How one attempt ended.
#[derive(Debug)]
#[non_exhaustive]
pub struct AttemptResult<'a> {
    /// HTTP method.
    pub method: &'a Method,
    /// Request path.
    pub path: &'a str,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub attempt: u32,
    /// The status, when the server answered.
    pub status: Option<StatusCode>,
    /// The response headers, when the server answered.
    pub response_headers: Option<&'a HeaderMap>,
    /// The transport error (timeout, connection), when it did not.
    pub error: Option<&'a Error>,
    /// Time from sending to the end of the body (or the failure).
    pub duration: Duration,
}
