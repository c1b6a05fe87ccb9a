//! Who may call what: the bearer key of the API and of the admin surface.
//!
//! The API checks `Authorization: Bearer <api key>` per operation ([`check_bearer`], called by
//! the dispatcher). The admin surface under `/_emulator/` is closed the same way by
//! [`guard_admin`], a middleware around every route: every admin route except
//! `GET /_emulator/health` requires the emulator's API key (401 otherwise), and a
//! state-changing admin request (any method but `GET`/`HEAD`) must carry either no body or an
//! `application/json` one (415 otherwise). A cross-site HTML form can set neither an
//! `Authorization` header nor a JSON content type, so it cannot forge an admin call. The hosted
//! checkout and portal pages are not admin routes: their forms carry CSRF tokens instead.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode};

use crate::error::{ApiError, error_response};

/// Path prefix of the admin surface.
pub const ADMIN_PREFIX: &str = "/_emulator";

/// Admin-prefixed routes that carry their own credential instead of the API key: presigned
/// upload URLs and file download URLs (an unguessable token in the path) and public image
/// URLs ([`crate::upload_routes`]).
pub const TOKEN_ROUTES: &[&str] = &[
    "/_emulator/uploads/",
    "/_emulator/images/",
    "/_emulator/files/",
];

/// Checks `Authorization: Bearer <key>` in constant time.
pub fn check_bearer(headers: &HeaderMap, key: &str) -> Result<(), ApiError> {
    let provided = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match provided {
        Some(p) if constant_time_eq(p.as_bytes(), key.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "invalid API key",
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "missing `Authorization: Bearer <api key>` header",
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `path` is on the admin surface.
pub fn is_admin(path: &str) -> bool {
    path == ADMIN_PREFIX
        || path
            .strip_prefix(ADMIN_PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Checks one admin request (see the module docs).
pub fn check_admin(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    key: &str,
) -> Result<(), ApiError> {
    if !is_admin(path) {
        return Ok(());
    }
    let reading = method == Method::GET || method == Method::HEAD;
    if reading && path == "/_emulator/health" {
        return Ok(());
    }
    if TOKEN_ROUTES.iter().any(|p| path.starts_with(p)) {
        return Ok(());
    }
    check_bearer(headers, key)?;
    if reading {
        return Ok(());
    }
    match headers.get(CONTENT_TYPE) {
        Some(ct) => {
            let essence = ct
                .to_str()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim();
            if !essence.eq_ignore_ascii_case("application/json") {
                return Err(unsupported());
            }
        }
        None => {
            let has_body = headers.contains_key(TRANSFER_ENCODING)
                || headers
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim() != "0");
            if has_body {
                return Err(unsupported());
            }
        }
    }
    Ok(())
}

fn unsupported() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        "admin requests take an `application/json` body or none",
    )
}

/// Middleware closing the admin surface (added around the whole router with the API key as
/// its state).
pub async fn guard_admin(State(key): State<Arc<str>>, req: Request, next: Next) -> Response {
    match check_admin(req.method(), req.uri().path(), req.headers(), &key) {
        Ok(()) => next.run(req).await,
        Err(e) => error_response(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn bearer_accepts_only_the_key() {
        let mut h = HeaderMap::new();
        assert_eq!(check_bearer(&h, "k").unwrap_err().code, "UNAUTHORIZED");
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer nope"));
        assert!(check_bearer(&h, "k").is_err());
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer k"));
        assert!(check_bearer(&h, "k").is_ok());
    }

    #[test]
    fn admin_rules() {
        let mut h = HeaderMap::new();
        assert!(check_admin(&Method::GET, "/_emulator/health", &h, "k").is_ok());
        assert!(check_admin(&Method::GET, "/customers", &h, "k").is_ok());
        assert!(check_admin(&Method::GET, "/_emulatorx", &h, "k").is_ok());
        let e = check_admin(&Method::GET, "/_emulator/faults", &h, "k").unwrap_err();
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer k"));
        assert!(check_admin(&Method::POST, "/_emulator/reset", &h, "k").is_ok());
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let e = check_admin(&Method::POST, "/_emulator/reset", &h, "k").unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(check_admin(&Method::POST, "/_emulator/reset", &h, "k").is_ok());
        h.remove(CONTENT_TYPE);
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("12"));
        assert!(check_admin(&Method::POST, "/_emulator/reset", &h, "k").is_err());
    }
}
