//! The one error type of the client.
//!
//! [`Error`] separates what went wrong into classes a caller can act on: bad configuration,
//! an invalid request caught before sending, a connection failure, a timeout, a non-2xx
//! answer from the API ([`ApiError`], with status, headers, request id, the lenient
//! `{code, message}` parse and the raw body), and a 2xx body that did not match the
//! expected type ([`DecodeError`], with the JSON path and the body). Predicates such as
//! [`Error::is_not_found`] and [`Error::is_retryable`] avoid matching on variants. Every
//! error also says whether the server may have acted on the request ([`Processing`], via
//! [`Error::processing`]), so a caller can reconcile a money operation that failed
//! ambiguously instead of blindly sending it again. No transport types appear in the
//! public API: sources are boxed trait objects.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

pub use dodo_types::BoxError;

/// Whether the server may have acted on a request that ended in an error.
///
/// A failed POST that [`MaybeProcessed`](Processing::MaybeProcessed) must be reconciled
/// before it is sent again (for example by listing payments and looking for your own
/// `metadata`), because the live API documents no `Idempotency-Key` header that would make
/// a second send harmless. Ordered from least to most certain of an effect.
///
/// ```
/// use dodo_client::{Error, Processing};
///
/// fn advice(e: &Error) -> &'static str {
///     match e.processing() {
///         Processing::NotProcessed => "nothing happened: safe to send again",
///         Processing::MaybeProcessed => "look the object up before sending again",
///         Processing::Processed => "it happened: do not send again",
///         _ => "unknown",
///     }
/// }
/// # let _ = advice;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Processing {
    /// The request certainly had no effect: it was never sent, the connection could not be
    /// opened, or the server answered definitively that it did not act (a 4xx other than
    /// 408 and 409, or a 429).
    NotProcessed,
    /// The request's bytes were sent and no definitive answer came: a timeout or a reset
    /// after sending, a 5xx, a 408 or a 409 (a conflict can mean an earlier copy won).
    MaybeProcessed,
    /// The server answered 2xx, but the answer could not be used (it did not decode or was
    /// too large).
    Processed,
}

impl Processing {
    /// What a non-2xx status says about processing.
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            200..=299 => Processing::Processed,
            408 | 409 => Processing::MaybeProcessed,
            s if s >= 500 => Processing::MaybeProcessed,
            _ => Processing::NotProcessed,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Processing::NotProcessed => "",
            Processing::MaybeProcessed => " (the request may have been processed)",
            Processing::Processed => " (the request was processed)",
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when building or running a call.
///
/// ```no_run
/// # async fn run(client: dodo_client::Client) -> Result<(), dodo_client::Error> {
/// match client.get::<serde_json::Value>("/payments/pay_123").await {
///     Ok(payment) => println!("{payment}"),
///     Err(e) if e.is_not_found() => println!("no such payment"),
///     Err(e) if e.is_rate_limited() => println!("slow down (request id {:?})", e.request_id()),
///     Err(dodo_client::Error::Api(api)) => {
///         println!("{} {:?}: {:?}", api.status, api.code, api.message)
///     }
///     Err(other) => return Err(other),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client is misconfigured (missing API key, ambiguous base URL, bad header...).
    #[error("configuration error: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The request could not be built (bad path parameter, unserialisable body or query...).
    /// Nothing was sent.
    #[error("invalid request: {message}")]
    InvalidRequest {
        /// What is wrong with the request.
        message: String,
        /// The underlying error, if any (e.g. a serde error).
        #[source]
        source: Option<BoxError>,
    },
    /// The connection failed (DNS, refused, reset, TLS, broken body stream...).
    /// [`NotProcessed`](Processing::NotProcessed) when it could not be opened,
    /// [`MaybeProcessed`](Processing::MaybeProcessed) when it broke after sending.
    #[error("connection error during {method} {path}{}: {source}", .processing.describe())]
    Connection {
        /// HTTP method of the failed call.
        method: Method,
        /// Request path (without host or query).
        path: String,
        /// Whether the server may have acted on the request.
        processing: Processing,
        /// The transport error.
        #[source]
        source: BoxError,
    },
    /// An attempt exceeded its timeout. [`NotProcessed`](Processing::NotProcessed) when it
    /// timed out while connecting, [`MaybeProcessed`](Processing::MaybeProcessed) otherwise.
    #[error("{method} {path} timed out{}{}", fmt_timeout(.timeout), .processing.describe())]
    Timeout {
        /// HTTP method of the failed call.
        method: Method,
        /// Request path (without host or query).
        path: String,
        /// The per-attempt timeout that elapsed, when known.
        timeout: Option<Duration>,
        /// Whether the server may have acted on the request.
        processing: Processing,
    },
    /// The response body exceeded the client's size cap
    /// ([`ClientBuilder::max_response_bytes`](crate::ClientBuilder::max_response_bytes));
    /// it was not read further. Processing follows the status.
    #[error("the {status} response of {method} {path} exceeded {limit} bytes{}", .processing.describe())]
    ResponseTooLarge {
        /// HTTP method of the call.
        method: Method,
        /// Request path (without host or query).
        path: String,
        /// The response status.
        status: StatusCode,
        /// The cap that was exceeded, in bytes.
        limit: usize,
        /// Whether the server acted on the request ([`Processing::Processed`] for a 2xx).
        processing: Processing,
    },
    /// The API answered with a non-2xx status; processing follows the status
    /// ([`Processing::from_status`]).
    #[error(transparent)]
    Api(Box<ApiError>),
    /// A 2xx response body did not match the expected type: the request was
    /// [`Processed`](Processing::Processed).
    #[error(transparent)]
    Decode(Box<DecodeError>),
}

fn fmt_timeout(timeout: &Option<Duration>) -> String {
    match timeout {
        Some(d) => format!(" after {} ms", d.as_millis()),
        None => String::new(),
    }
}

impl Error {
    /// Builds a [`Error::Config`].
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
        }
    }

    /// Builds an [`Error::InvalidRequest`] without a source.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidRequest {
            message: message.into(),
            source: None,
        }
    }

    /// Builds an [`Error::InvalidRequest`] with a source.
    pub(crate) fn invalid_with(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::InvalidRequest {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A one-line description safe for logs: for API and decode errors it names the
    /// status, call, `code`, JSON path and request id but leaves out the server's message
    /// and the body (which may carry customer data).
    pub(crate) fn log_summary(&self) -> String {
        match self {
            Error::Api(e) => {
                let mut out = format!("{} from {} {}", e.status, e.method, e.path);
                if let Some(code) = &e.code {
                    out.push_str(&format!(": {code}"));
                }
                if let Some(id) = &e.request_id {
                    out.push_str(&format!(" (request id {id})"));
                }
                out
            }
            Error::Decode(e) => {
                let mut out = format!(
                    "could not decode the {} response of {} {} at JSON path `{}`",
                    e.status, e.method, e.path, e.json_path
                );
                if let Some(id) = &e.request_id {
                    out.push_str(&format!(" (request id {id})"));
                }
                out
            }
            other => other.to_string(),
        }
    }

    /// The HTTP status, for [`Error::Api`], [`Error::Decode`] and [`Error::ResponseTooLarge`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status.as_u16()),
            Error::Decode(e) => Some(e.status.as_u16()),
            Error::ResponseTooLarge { status, .. } => Some(status.as_u16()),
            _ => None,
        }
    }

    /// Whether the server may have acted on the request (see [`Processing`]). When a call
    /// made several attempts, an earlier ambiguous attempt makes the whole call at least
    /// [`MaybeProcessed`](Processing::MaybeProcessed).
    pub fn processing(&self) -> Processing {
        match self {
            Error::Config { .. } | Error::InvalidRequest { .. } => Processing::NotProcessed,
            Error::Connection { processing, .. }
            | Error::Timeout { processing, .. }
            | Error::ResponseTooLarge { processing, .. } => *processing,
            Error::Api(e) => e.processing,
            Error::Decode(_) => Processing::Processed,
        }
    }

    /// Shorthand for `processing() != Processing::NotProcessed`: the request must be
    /// reconciled (looked up) before it is sent again.
    pub fn may_have_been_processed(&self) -> bool {
        self.processing() != Processing::NotProcessed
    }

    /// Raises the recorded processing state to at least `at_least` (an earlier attempt of
    /// the same call may have been processed even if the last one certainly was not).
    pub(crate) fn with_processing_at_least(mut self, at_least: Processing) -> Self {
        match &mut self {
            Error::Connection { processing, .. }
            | Error::Timeout { processing, .. }
            | Error::ResponseTooLarge { processing, .. } => {
                *processing = (*processing).max(at_least)
            }
            Error::Api(e) => e.processing = e.processing.max(at_least),
            Error::Config { .. } | Error::InvalidRequest { .. } | Error::Decode(_) => {}
        }
        self
    }

    /// The API error, when the API answered with a non-2xx status.
    pub fn as_api_error(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The decode error, when a 2xx body did not match the expected type.
    pub fn as_decode_error(&self) -> Option<&DecodeError> {
        match self {
            Error::Decode(e) => Some(e),
            _ => None,
        }
    }

    /// The request id sent by the server, when there was a response carrying one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(e) => e.request_id.as_deref(),
            Error::Decode(e) => e.request_id.as_deref(),
            _ => None,
        }
    }

    fn api_status_is(&self, code: u16) -> bool {
        matches!(self, Error::Api(e) if e.status.as_u16() == code)
    }

    /// 400 Bad Request.
    pub fn is_bad_request(&self) -> bool {
        self.api_status_is(400)
    }
    /// 401 Unauthorized (missing or wrong API key).
    pub fn is_unauthorized(&self) -> bool {
        self.api_status_is(401)
    }
    /// 403 Forbidden.
    pub fn is_forbidden(&self) -> bool {
        self.api_status_is(403)
    }
    /// 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.api_status_is(404)
    }
    /// 409 Conflict.
    pub fn is_conflict(&self) -> bool {
        self.api_status_is(409)
    }
    /// 422 Unprocessable Entity.
    pub fn is_unprocessable(&self) -> bool {
        self.api_status_is(422)
    }
    /// 429 Too Many Requests.
    pub fn is_rate_limited(&self) -> bool {
        self.api_status_is(429)
    }
    /// Any 5xx status.
    pub fn is_server_error(&self) -> bool {
        matches!(self, Error::Api(e) if e.status.is_server_error())
    }
    /// The attempt timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }
    /// The connection failed.
    pub fn is_connection(&self) -> bool {
        matches!(self, Error::Connection { .. })
    }
    /// A 2xx body did not decode.
    pub fn is_decode(&self) -> bool {
        matches!(self, Error::Decode(_))
    }
    /// A configuration error.
    pub fn is_config(&self) -> bool {
        matches!(self, Error::Config { .. })
    }
    /// The request was invalid and never sent.
    pub fn is_invalid_request(&self) -> bool {
        matches!(self, Error::InvalidRequest { .. })
    }

    /// Whether the failure is transient by nature: connection errors, timeouts, and API
    /// answers 408, 429 and 5xx (or any answer carrying `x-should-retry: true`, and none
    /// carrying `x-should-retry: false`). This is the classification the built-in retry
    /// loop uses; it does not say whether repeating is *safe*: check
    /// [`processing`](Self::processing) before sending a POST again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connection { .. } | Error::Timeout { .. } => true,
            Error::Api(e) => match crate::retry::should_retry_header(&e.headers) {
                Some(v) => v,
                None => crate::retry::status_is_retryable(e.status.as_u16()),
            },
            _ => false,
        }
    }
}

/// A non-2xx answer from the API.
///
/// The body is parsed leniently: when it is a JSON object, `code` and `message` are taken
/// from it; otherwise they stay `None` and the raw [`body`](Self::body) is all there is.
#[derive(Clone)]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status (never 2xx).
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Request id from `x-request-id` (or `request-id`), when the server sent one.
    pub request_id: Option<String>,
    /// Machine-readable error code from the body (e.g. `PAYMENT_NOT_SUCCEEDED`).
    pub code: Option<String>,
    /// Human-readable message from the body.
    pub message: Option<String>,
    /// The raw response body.
    pub body: Bytes,
    /// HTTP method of the call.
    pub method: Method,
    /// Request path of the call (without host or query).
    pub path: String,
    /// Whether the server may have acted on the request: from the status, raised to
    /// [`MaybeProcessed`](Processing::MaybeProcessed) when an earlier attempt was ambiguous.
    pub processing: Processing,
}

impl ApiError {
    /// Builds an `ApiError` from a response, parsing `{code, message}` leniently.
    pub(crate) fn from_response(
        method: Method,
        path: String,
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    ) -> Self {
        let (code, message) = parse_error_body(&body);
        let request_id = request_id_from(&headers);
        ApiError {
            processing: Processing::from_status(status),
            status,
            headers,
            request_id,
            code,
            message,
            body,
            method,
            path,
        }
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Extracts `code` and `message` from a JSON error body, tolerating anything.
fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return (None, None);
    };
    let text = |key: &str| match map.get(key) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let message = text("message").or_else(|| text("error"));
    (text("code"), message)
}

/// Header names that carry a request id, most specific first.
const REQUEST_ID_HEADERS: [&str; 3] = ["x-request-id", "request-id", "x-amzn-requestid"];

/// The request id from response headers, if any.
pub(crate) fn request_id_from(headers: &HeaderMap) -> Option<String> {
    REQUEST_ID_HEADERS.iter().find_map(|name| {
        headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    })
}

/// At most this many characters of a non-JSON error body appear in `Display`.
const BODY_SNIPPET_CHARS: usize = 200;

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} from {} {}", self.status, self.method, self.path)?;
        match (&self.code, &self.message) {
            (Some(code), Some(message)) => write!(f, ": {code}: {message}")?,
            (Some(code), None) => write!(f, ": {code}")?,
            (None, Some(message)) => write!(f, ": {message}")?,
            (None, None) if self.body.is_empty() => write!(f, " (empty body)")?,
            (None, None) => {
                let text = String::from_utf8_lossy(&self.body);
                let snippet: String = text.trim().chars().take(BODY_SNIPPET_CHARS).collect();
                let ellipsis = if text.trim().chars().count() > BODY_SNIPPET_CHARS {
                    "…"
                } else {
                    ""
                };
                write!(f, ": {snippet}{ellipsis}")?;
            }
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.status)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("code", &self.code)
            .field("message", &self.message)
            .field("request_id", &self.request_id)
            .field("processing", &self.processing)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl std::error::Error for ApiError {}

/// A 2xx response whose body did not match the expected type.
///
/// Its `Debug` shows the status, call, JSON path and request id, never the body or header
/// values (they may carry customer data); read [`body`](Self::body) deliberately.
#[non_exhaustive]
pub struct DecodeError {
    /// HTTP status of the response.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Request id, when the server sent one.
    pub request_id: Option<String>,
    /// Where in the JSON document decoding failed (e.g. `items[3].total_amount`).
    pub json_path: String,
    /// The raw response body.
    pub body: Bytes,
    /// HTTP method of the call.
    pub method: Method,
    /// Request path of the call (without host or query).
    pub path: String,
    /// The serde error.
    pub source: serde_json::Error,
}

impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeError")
            .field("status", &self.status)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("json_path", &self.json_path)
            .field("request_id", &self.request_id)
            .field("body_len", &self.body.len())
            .field("error_category", &self.source.classify())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not decode the {} response of {} {} at JSON path `{}`: {}",
            self.status, self.method, self.path, self.json_path, self.source
        )?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_body_parse() {
        assert_eq!(
            parse_error_body(br#"{"code":"NOT_FOUND","message":"Payment not found"}"#),
            (Some("NOT_FOUND".into()), Some("Payment not found".into()))
        );
        assert_eq!(parse_error_body(b"<html>bad gateway</html>"), (None, None));
        assert_eq!(parse_error_body(b"[1,2]"), (None, None));
        assert_eq!(parse_error_body(b""), (None, None));
        assert_eq!(
            parse_error_body(br#"{"code":42,"message":null}"#),
            (Some("42".into()), None)
        );
    }

    #[test]
    fn display_is_useful() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", "req_123".parse().unwrap());
        let e = ApiError::from_response(
            Method::GET,
            "/payments/pay_x".into(),
            StatusCode::NOT_FOUND,
            headers,
            Bytes::from_static(br#"{"code":"NOT_FOUND","message":"Payment not found"}"#),
        );
        assert_eq!(
            e.to_string(),
            "404 Not Found from GET /payments/pay_x: NOT_FOUND: Payment not found (request id req_123)"
        );
    }
}
