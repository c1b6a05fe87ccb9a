//! The framework-free core of the Dodo Payments web adaptors (`dodo-axum`, `dodo-actix`).
//!
//! This crate decides what the routes do and knows no web framework: only `http` types,
//! bytes, the [`dodo_client::Client`] and [`dodo_webhooks`]. [`Checkout`] runs the three
//! checkout flows (static link, dynamic payment link, checkout session) under the
//! [`BrowserPolicy`] that keeps privileged fields away from anonymous browsers, handing each
//! outgoing [`CheckoutDraft`] to the adaptor's hook; [`Portal`] answers a portal link for a
//! customer the adaptor's resolver settled on; [`webhook`] turns raw bytes and headers into a
//! dispatcher outcome or a verified event; [`RouteError`] is the one JSON error shape
//! (`{"error": {"code", "message"}}`); [`check_content_length`] refuses an oversized body
//! before it is read. An adaptor only reads the request, calls in here, and writes the
//! `http::Response<Bytes>` it gets back. It is not a web framework and serves nothing itself.
//!
//! ```
//! use dodo_routes::{RouteError, check_content_length};
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert(http::header::CONTENT_LENGTH, "2000000".parse().unwrap());
//! let refused: http::Response<bytes::Bytes> = check_content_length(&headers, 64 * 1024)
//!     .map_err(|e: RouteError| e.to_response())
//!     .unwrap_err();
//! assert_eq!(refused.status(), 413);
//! assert_eq!(refused.headers()["content-type"], "application/json");
//! ```

#![warn(missing_docs)]

mod body;
pub mod checkout;
pub mod error;
pub mod portal;
pub mod webhook;

pub use body::{
    body_read_failed, check_content_length, check_declared_length, decode_json, json_error,
};
pub use checkout::{BrowserPolicy, Checkout, CheckoutDraft, CheckoutFlow, FlowError};
pub use error::{RouteError, json_response, method_not_allowed_response};
pub use portal::{Portal, PortalQuery};
pub use webhook::{DEFAULT_WEBHOOK_BODY_LIMIT, WebhookRejection};
