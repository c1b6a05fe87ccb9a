//! Reading an actix-web payload with a size limit, refusing an oversized declared length
//! before a byte is read.
//!
//! [`read_limited`] first checks `Content-Length` against the limit (413 at once, so a
//! client that sent `Expect: 100-continue` is answered without sending its body), then
//! buffers the stream and stops with 413 as soon as it passes the limit (chunked bodies);
//! a broken stream is 400. The body is never logged.

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web::{BytesMut, Payload};
use bytes::Bytes;
use futures_util::StreamExt;

/// Buffers `payload`, failing with 413 beyond `limit` bytes and 400 if the stream breaks.
pub async fn read_limited(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> Result<Bytes, dodo_routes::RouteError> {
    check_declared(req, limit)?;
    // One allocation for a body that declares its length (already checked against the limit).
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut buf = BytesMut::with_capacity(declared.min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| dodo_routes::body_read_failed())?;
        if buf.len().saturating_add(chunk.len()) > limit {
            return Err(dodo_routes::RouteError::too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// 413 when the request declares a `Content-Length` above `limit` (400 when unreadable).
pub fn check_declared(req: &HttpRequest, limit: usize) -> Result<(), dodo_routes::RouteError> {
    dodo_routes::check_declared_length(
        req.headers()
            .get(header::CONTENT_LENGTH)
            .map(|v| v.as_bytes()),
        limit,
    )
}
