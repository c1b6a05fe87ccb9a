//! The JSON error answer shared by every route.
//!
//! Every failure is answered as `{"error": {"code", "message"}}` with a stable,
//! machine-readable `code`, a message safe to show (it may name the offending field, never
//! echoes secrets or personal data), and the right status: 400 for missing or invalid input,
//! 404 for an unknown product or customer, 405 for a wrong method, 413 for an oversized
//! body, 502/504 when the Dodo API failed. [`RouteError::from_client`] maps a
//! [`dodo_client::Error`] onto this shape **without** the API's message, code or body (they
//! can reveal a rejected key or an outage to any visitor): the browser gets a stable code, a
//! generic message and the API's request id, and the details are logged. The `upstream`
//! object appears only when a route is told to expose it.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value, json};

/// An error answer: status, stable code, public message and optional extra fields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RouteError {
    /// HTTP status to answer with.
    pub status: StatusCode,
    /// Stable machine-readable code (for example `missing_parameter`).
    pub code: &'static str,
    /// Human-readable message, safe to send to the caller.
    pub message: String,
    /// The request field the error is about, when there is one.
    pub field: Option<String>,
    /// Status of the failed Dodo API call, for upstream errors.
    pub upstream_status: Option<u16>,
    /// Error code the Dodo API returned, for upstream errors.
    pub upstream_code: Option<String>,
    /// The Dodo API's request id, for upstream errors (sent to the caller, so support can
    /// find the call).
    pub request_id: Option<String>,
    /// Whether the body carries `upstream` (status and code); off unless a route enables
    /// its debug option.
    pub show_upstream: bool,
}

impl RouteError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            upstream_status: None,
            upstream_code: None,
            request_id: None,
            show_upstream: false,
        }
    }

    /// Shows (or hides) the `upstream` object in the body.
    #[must_use]
    pub fn expose_upstream(mut self, show: bool) -> Self {
        self.show_upstream = show;
        self
    }

    /// Names the request field the error is about.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 `missing_parameter` naming `field`.
    pub fn missing(field: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "missing_parameter",
            format!("`{field}` is required"),
        )
        .with_field(field)
    }

    /// 400 `invalid_parameter` naming `field`, with `why` explaining the rule.
    pub fn invalid(field: &str, why: impl AsRef<str>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("`{field}` {}", why.as_ref()),
        )
        .with_field(field)
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not accept this HTTP method",
        )
    }

    /// 413 `payload_too_large` for a body above `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// Maps a failed Dodo API call, logging its details at `warn`.
    ///
    /// `not_found` is the answer for a 404 from the API (for example "unknown product");
    /// `None` treats a 404 like any other rejection. The answer never carries the API's
    /// message, code or body:
    ///
    /// | API outcome | answer |
    /// |---|---|
    /// | 400 / 422 (the request as sent was invalid) | 400 `upstream_invalid_request` |
    /// | 401 / 403 (the merchant's key was rejected) | 502 `upstream_rejected` |
    /// | 409 | 409 `upstream_conflict` |
    /// | 429 | 503 `upstream_busy` |
    /// | other 4xx | 502 `upstream_rejected` |
    /// | 5xx, connection failure | 502 `upstream_unavailable` |
    /// | timeout | 504 `upstream_timeout` |
    /// | undecodable or oversized answer | 502 `upstream_invalid_response` |
    /// | invalid request caught before sending | 400 `invalid_request` |
    /// | configuration error | 500 `configuration_error` |
    pub fn from_client(error: &dodo_client::Error, not_found: Option<RouteError>) -> Self {
        use dodo_client::Error as E;
        let status = error.status();
        let mut e = match error {
            E::Api(api) => {
                if api.status == StatusCode::NOT_FOUND
                    && let Some(not_found) = not_found
                {
                    return not_found;
                }
                let (http, code, message) = match api.status.as_u16() {
                    400 | 422 => (
                        StatusCode::BAD_REQUEST,
                        "upstream_invalid_request",
                        "the payment service refused the request as invalid",
                    ),
                    409 => (
                        StatusCode::CONFLICT,
                        "upstream_conflict",
                        "the payment service reported a conflict with the current state",
                    ),
                    429 => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "upstream_busy",
                        "the payment service is busy; try again shortly",
                    ),
                    s if s >= 500 => (
                        StatusCode::BAD_GATEWAY,
                        "upstream_unavailable",
                        "the payment service is unavailable; try again shortly",
                    ),
                    _ => (
                        StatusCode::BAD_GATEWAY,
                        "upstream_rejected",
                        "the payment service could not process this request",
                    ),
                };
                let mut e = Self::new(http, code, message);
                e.upstream_code.clone_from(&api.code);
                e
            }
            E::Timeout { .. } => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "the payment service did not answer in time",
            ),
            E::Connection { .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                "the payment service is unavailable; try again shortly",
            ),
            E::Decode(_) | E::ResponseTooLarge { .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                "upstream_invalid_response",
                "the payment service sent an answer that could not be read",
            ),
            E::InvalidRequest { .. } => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the request could not be sent to the payment service",
            ),
            _ => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "configuration_error",
                "the payments integration is misconfigured",
            ),
        };
        e.upstream_status = status;
        e.request_id = error.request_id().map(str::to_owned);
        tracing::warn!(
            code = e.code,
            upstream_status = status,
            request_id = e.request_id.as_deref(),
            error = %error,
            "Dodo Payments API call failed"
        );
        e
    }

    /// The JSON body of this error.
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        if let Some(field) = &self.field {
            error.insert("field".into(), json!(field));
        }
        if let Some(id) = &self.request_id {
            error.insert("request_id".into(), json!(id));
        }
        if self.show_upstream && (self.upstream_status.is_some() || self.upstream_code.is_some()) {
            error.insert(
                "upstream".into(),
                json!({ "status": self.upstream_status, "code": self.upstream_code }),
            );
        }
        json!({ "error": error })
    }
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for RouteError {}

impl RouteError {
    /// This error as an HTTP response: its status and JSON body.
    ///
    /// ```
    /// let response = dodo_routes::RouteError::missing("productId").to_response();
    /// assert_eq!(response.status(), 400);
    /// let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    /// assert_eq!(body["error"]["code"], "missing_parameter");
    /// assert_eq!(body["error"]["field"], "productId");
    /// ```
    pub fn to_response(&self) -> http::Response<Bytes> {
        json_response(self.status, &self.body())
    }
}

/// A JSON response with `status` and `body` (`content-type: application/json`).
pub fn json_response(status: StatusCode, body: &Value) -> http::Response<Bytes> {
    // Serialising a `Value` cannot fail (its map keys are strings).
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = http::Response::new(Bytes::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The 405 answer with its `Allow` header listing `allowed` (for example `"GET,HEAD"`).
pub fn method_not_allowed_response(allowed: &str) -> http::Response<Bytes> {
    let mut response = RouteError::method_not_allowed().to_response();
    if let Ok(value) = http::HeaderValue::from_str(allowed) {
        response.headers_mut().insert(http::header::ALLOW, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape() {
        let e = RouteError::invalid("quantity", "must be a positive integer");
        assert_eq!(
            e.body(),
            json!({"error": {"code": "invalid_parameter", "message": "`quantity` must be a positive integer", "field": "quantity"}})
        );
    }
}
