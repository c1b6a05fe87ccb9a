//! Reading request bodies with a size limit and decoding JSON with the failing field named.
//!
//! [`read_limited`] buffers a body up to a byte limit and tells an oversized body (413)
//! apart from a broken stream (400); [`decode_json`] deserialises with
//! `serde_path_to_error` so a 400 names the offending field (`billing.country`,
//! `product_cart[0].quantity`). Neither logs the body.

use axum::body::Body;
use axum::http::StatusCode;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::error::RouteError;

/// Buffers `body`, failing with 413 beyond `limit` bytes and 400 if the stream breaks.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, RouteError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if is_length_limit(&*e) => Err(RouteError::too_large(limit)),
        Err(_) => Err(RouteError::new(
            StatusCode::BAD_REQUEST,
            "body_read_failed",
            "the request body could not be read",
        )),
    }
}

/// Whether an error (or one of its sources) is a body length limit error.
pub(crate) fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(err) = current {
        if err.is::<LengthLimitError>() {
            return true;
        }
        current = err.source();
    }
    false
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
pub(crate) fn json_error(e: &serde_path_to_error::Error<serde_json::Error>) -> RouteError {
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
