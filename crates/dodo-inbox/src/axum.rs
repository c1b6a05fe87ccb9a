//! axum integration: the webhook route served by an [`Inbox`].
//!
//! [`router`] (or [`router_at`] for another path) returns a `Router` with one `POST` route
//! that hands the raw body and headers to [`Inbox::receive`] and answers with the
//! receipt's status and JSON body (`{"error": {"code", "message"}}` on errors, including
//! an oversized body: 413 `payload_too_large`). Merge it into the application's router.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::inbox::Inbox;
use crate::receipt::Receipt;

/// The default route path.
pub const DEFAULT_PATH: &str = "/webhooks/dodo";

/// A router serving `POST /webhooks/dodo` with `inbox`.
pub fn router<S: Clone + Send + Sync + 'static>(inbox: Inbox<S>) -> Router {
    router_at(inbox, DEFAULT_PATH)
}

/// A router serving `POST path` with `inbox`.
pub fn router_at<S: Clone + Send + Sync + 'static>(inbox: Inbox<S>, path: &str) -> Router {
    let limit = inbox.max_body_bytes();
    Router::new()
        .route(path, post(receive::<S>))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(inbox)
}

/// The `POST` handler: receive the delivery and answer with the receipt.
async fn receive<S: Clone + Send + Sync + 'static>(
    State(inbox): State<Inbox<S>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let receipt = match body {
        Ok(body) => inbox.receive(&headers, &body).await,
        Err(rejection) => {
            let status = rejection.status().as_u16();
            let (code, message) = if status == 413 {
                ("payload_too_large", "the request body is too large")
            } else {
                ("invalid_body", "the request body could not be read")
            };
            Receipt::rejected(status, code, message, rejection.body_text())
        }
    };
    respond(&receipt)
}

/// The HTTP response for a receipt.
pub fn respond(receipt: &Receipt) -> Response {
    let status = StatusCode::from_u16(receipt.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        receipt.body_bytes(),
    )
        .into_response()
}
