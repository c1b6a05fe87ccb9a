//! Reading request bodies with a size limit, and decoding JSON with the failing field named.
//!
//! [`read_limited`] buffers a body up to a byte limit and tells an oversized body (413)
//! apart from a broken stream (400); the routes first refuse a declared `Content-Length`
//! above the limit ([`dodo_routes::check_content_length`]) so nothing is read.
//! [`decode_json`] is the core's: a 400 names the offending field. Neither logs the body.

use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::error::RouteError;

/// Buffers `body`, failing with 413 beyond `limit` bytes and 400 if the stream breaks.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, RouteError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if is_length_limit(&*e) => Err(RouteError::too_large(limit)),
        Err(_) => Err(dodo_routes::body_read_failed().into()),
    }
}

/// Checks the declared length, then reads at most `limit` bytes.
pub(crate) async fn read_checked(
    headers: &http::HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, RouteError> {
    dodo_routes::check_content_length(headers, limit)?;
    read_limited(body, limit).await
}

/// Whether an error (or one of its sources) is a body length limit error.
fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
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
    dodo_routes::decode_json(bytes).map_err(RouteError::from)
}
