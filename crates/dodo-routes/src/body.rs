//! Reading request bodies with a size limit and decoding JSON with the failing field named.
//!
//! [`check_content_length`] refuses a body whose declared length is above the limit before
//! a byte of it is read (413); adaptors still cap the bytes they buffer, for chunked bodies.
//! [`decode_json`] deserialises with
//! `serde_path_to_error` so a 400 names the offending field (`billing.country`,
//! `product_cart[0].quantity`). Neither logs the body.

use http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::RouteError;

/// Refuses with 413 a request whose `Content-Length` is above `limit`, and with 400 one
/// whose `Content-Length` is not a number. Call it before reading the body: a client that
/// sent `Expect: 100-continue` then gets the 413 without having sent the body.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert(http::header::CONTENT_LENGTH, "70000".parse().unwrap());
/// let e = dodo_routes::check_content_length(&headers, 65536).unwrap_err();
/// assert_eq!(e.status, 413);
/// assert!(dodo_routes::check_content_length(&headers, 70000).is_ok());
/// ```
pub fn check_content_length(headers: &HeaderMap, limit: usize) -> Result<(), RouteError> {
    check_declared_length(
        headers.get(header::CONTENT_LENGTH).map(|v| v.as_bytes()),
        limit,
    )
}

/// [`check_content_length`] over the raw `Content-Length` value, for adaptors whose
/// framework has its own header map type.
pub fn check_declared_length(value: Option<&[u8]>, limit: usize) -> Result<(), RouteError> {
    let Some(value) = value else {
        return Ok(());
    };
    let declared = std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            RouteError::new(
                StatusCode::BAD_REQUEST,
                "invalid_content_length",
                "the Content-Length header is not a number",
            )
        })?;
    if u64::try_from(limit).is_ok_and(|limit| declared > limit) {
        return Err(RouteError::too_large(limit));
    }
    Ok(())
}

/// The 400 answer for a body stream that broke while it was read.
pub fn body_read_failed() -> RouteError {
    RouteError::new(
        StatusCode::BAD_REQUEST,
        "body_read_failed",
        "the request body could not be read",
    )
}

/// Decodes a JSON body into `T`; a failure is a 400 naming the field.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RouteError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| json_error(&e))?;
    de.end().map_err(|_| {
        RouteError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the request body has trailing characters after the JSON value",
        )
    })?;
    Ok(value)
}

/// Turns a path-aware serde error into a 400 naming the field.
pub fn json_error(e: &serde_path_to_error::Error<serde_json::Error>) -> RouteError {
    let inner = e.inner();
    if inner.is_syntax() || inner.is_eof() || inner.is_io() {
        return RouteError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the request body is not valid JSON",
        );
    }
    let path = e.path().to_string();
    let text = inner.to_string();
    // serde reports a missing field at the parent's path, with the name in the message.
    let field = match text
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        Some(name) if path == "." => name.to_owned(),
        Some(name) => format!("{path}.{name}"),
        None => path,
    };
    let why = match text.find(" at line ") {
        Some(i) => &text[..i],
        None => &text,
    };
    RouteError::new(
        StatusCode::BAD_REQUEST,
        "invalid_body",
        format!("invalid request body at `{field}`: {why}"),
    )
    .with_field(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        country: String,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        billing: Inner,
        quantity: Option<u32>,
    }

    #[test]
    fn fields_are_named() {
        let e = decode_json::<Outer>(br#"{"billing":{}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("billing.country"));
        let e = decode_json::<Outer>(br#"{}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("billing"));
        let e =
            decode_json::<Outer>(br#"{"billing":{"country":"US"},"quantity":"x"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("quantity"));
        let e = decode_json::<Outer>(b"{nope").unwrap_err();
        assert_eq!(e.code, "invalid_json");
    }
}
