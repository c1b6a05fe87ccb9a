//! The JSON error answer shared by every route, as an axum response.
//!
//! [`RouteError`] wraps the core's [`dodo_routes::RouteError`] (same fields through `Deref`,
//! same constructors, same body) and implements [`IntoResponse`]: every failure is answered
//! as `{"error": {"code", "message"}}` with a stable code and the right status. Upstream
//! failures never carry the API's message, code or body (see
//! [`dodo_routes::RouteError::from_client`]).

use std::ops::{Deref, DerefMut};

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

/// An error answer: status, stable code, public message and optional extra fields.
///
/// ```
/// use axum::response::IntoResponse;
/// let response = dodo_axum::RouteError::missing("productId").into_response();
/// assert_eq!(response.status(), 400);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RouteError(pub dodo_routes::RouteError);

impl RouteError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self(dodo_routes::RouteError::new(status, code, message))
    }

    /// Shows (or hides) the `upstream` object in the body.
    #[must_use]
    pub fn expose_upstream(self, show: bool) -> Self {
        Self(self.0.expose_upstream(show))
    }

    /// Names the request field the error is about.
    #[must_use]
    pub fn with_field(self, field: impl Into<String>) -> Self {
        Self(self.0.with_field(field))
    }

    /// 400 `missing_parameter` naming `field`.
    pub fn missing(field: &str) -> Self {
        Self(dodo_routes::RouteError::missing(field))
    }

    /// 400 `invalid_parameter` naming `field`, with `why` explaining the rule.
    pub fn invalid(field: &str, why: impl AsRef<str>) -> Self {
        Self(dodo_routes::RouteError::invalid(field, why))
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self(dodo_routes::RouteError::method_not_allowed())
    }

    /// 413 `payload_too_large` for a body above `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        Self(dodo_routes::RouteError::too_large(limit))
    }

    /// Maps a failed Dodo API call without leaking its message (see
    /// [`dodo_routes::RouteError::from_client`]).
    pub fn from_client(error: &dodo_client::Error, not_found: Option<RouteError>) -> Self {
        Self(dodo_routes::RouteError::from_client(
            error,
            not_found.map(|e| e.0),
        ))
    }

    /// The JSON body of this error.
    pub fn body(&self) -> Value {
        self.0.body()
    }
}

impl Deref for RouteError {
    type Target = dodo_routes::RouteError;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for RouteError {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<dodo_routes::RouteError> for RouteError {
    fn from(e: dodo_routes::RouteError) -> Self {
        Self(e)
    }
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for RouteError {}

impl IntoResponse for RouteError {
    fn into_response(self) -> Response {
        to_axum(self.0.to_response())
    }
}

/// An `http::Response<Bytes>` from the core as an axum response.
pub(crate) fn to_axum(response: http::Response<Bytes>) -> Response {
    response.map(Body::from)
}

/// A fallback answering 405 with a JSON error body; axum adds the `Allow` header.
///
/// ```
/// use axum::routing::get;
/// # async fn handler() {}
/// let route: axum::routing::MethodRouter = get(handler).fallback(dodo_axum::method_not_allowed);
/// ```
pub async fn method_not_allowed() -> Response {
    RouteError::method_not_allowed().into_response()
}
