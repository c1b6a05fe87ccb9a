//! The JSON error answer as an actix-web response, and the core's responses converted.
//!
//! [`RouteError`] wraps [`dodo_routes::RouteError`] (same fields through `Deref`) and
//! implements [`ResponseError`], so it can be returned from any handler with `?`: the body
//! is `{"error": {"code", "message"}}` with the same status and bytes the axum adaptor sends.

use std::ops::Deref;

use actix_web::body::BoxBody;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use bytes::Bytes;

/// An error answer: status, stable code, public message and optional extra fields.
///
/// ```
/// use actix_web::ResponseError;
/// let e = dodo_actix::RouteError::from(dodo_routes::RouteError::missing("productId"));
/// assert_eq!(e.error_response().status(), 400);
/// assert_eq!(e.code, "missing_parameter");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RouteError(pub dodo_routes::RouteError);

impl Deref for RouteError {
    type Target = dodo_routes::RouteError;
    fn deref(&self) -> &Self::Target {
        &self.0
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

impl ResponseError for RouteError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        to_actix(self.0.to_response())
    }
}

/// A core `http::Response<Bytes>` as an actix-web response (status, headers, body).
pub fn to_actix(response: http::Response<Bytes>) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let status =
        StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::with_body(status, body).map_into_boxed_body();
    let headers = response.headers_mut();
    for (name, value) in &parts.headers {
        // The core only sets well-formed headers; the names are re-parsed as actix's own type.
        let name = if name == http::header::CONTENT_TYPE {
            Some(header::CONTENT_TYPE)
        } else {
            header::HeaderName::from_bytes(name.as_str().as_bytes()).ok()
        };
        if let (Some(name), Ok(value)) = (name, header::HeaderValue::from_bytes(value.as_bytes())) {
            headers.append(name, value);
        }
    }
    response
}

/// The JSON 405 with `Allow: {allowed}`, as the default service of a resource.
pub(crate) fn method_not_allowed(allowed: &str) -> HttpResponse {
    to_actix(dodo_routes::method_not_allowed_response(allowed))
}
