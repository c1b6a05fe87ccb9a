//! Async client for the Dodo Payments API.
//!
//! One [`Client`] (cheap to clone, one connection pool) gives typed methods for every
//! endpoint, grouped by resource (`client.payments()`, `client.subscriptions()`, ...).
//! Each method returns a [`Call`] that takes per-request options and is awaited; list
//! methods return a [`ListCall`] / [`CursorListCall`] that yields a [`Page`] or streams
//! every item. Retries never duplicate: GET/PUT/PATCH/DELETE are retried on transient
//! failures; a POST is retried only when it certainly was not processed (no connection,
//! 429, `x-should-retry: true`) or the API documents its deduplication (a body
//! `idempotency_key`, ingest `event_id`s), unless you opt in per call
//! ([`Call::assume_safe_to_repeat`]) or per client
//! ([`ClientBuilder::server_honours_idempotency_key`]). Every failure is one [`Error`] with
//! predicates (`is_not_found()`, `is_retryable()`, ...), whether the request may have been
//! processed ([`Error::processing`]), the API's `code`/`message`, the request id and the raw
//! body.
//! Models live in [`types`] (the `dodo-types` crate).
//!
//! # Quick start
//!
//! ```no_run
//! # async fn run() -> Result<(), dodo_client::Error> {
//! use futures_util::TryStreamExt;
//!
//! // Reads DODO_PAYMENTS_API_KEY (and the other DODO_PAYMENTS_* variables).
//! let client = dodo_client::Client::from_env()?;
//!
//! let payment = client.payments().retrieve("pay_123").await?;
//! println!("{} {}", payment.payment_id, payment.total_amount);
//!
//! // Every payment, page after page (0-based page numbers, no page skipped).
//! let query = dodo_client::types::ListPaymentsQuery::default();
//! let mut payments = client.payments().list(&query).into_stream();
//! while let Some(item) = payments.try_next().await? {
//!     println!("{}", item.payment_id);
//! }
//!
//! match client.payments().retrieve("pay_missing").await {
//!     Err(e) if e.is_not_found() => println!("no such payment"),
//!     other => { other?; }
//! }
//! # Ok(()) }
//! ```
//!
//! The low-level escape hatch works today and is authenticated like everything else:
//!
//! ```no_run
//! # async fn run() -> Result<(), dodo_client::Error> {
//! let client = dodo_client::Client::builder()
//!     .api_key("sk_test_...")
//!     .environment(dodo_client::Environment::TestMode)
//!     .build()?;
//! let payment: serde_json::Value = client.get("/payments/pay_123").max_retries(5).await?;
//! # let _ = payment; Ok(()) }
//! ```
//!
//! See `docs/client.md` for configuration, retries, idempotency, pagination and logging.

mod budget;
mod call;
mod client;
pub mod config;
pub mod error;
mod execute;
mod generated;
mod intercept;
mod logging;
mod options;
mod pagination;
pub mod path;
mod raw;
pub mod request;
pub use generated::resources;
pub mod retry;
mod transport;
#[cfg(feature = "unwrap")]
mod webhook_verify;

pub use budget::DEFAULT_RETRY_BUDGET;
pub use call::{ApiResponse, Call};
pub use client::{
    Client, ClientBuilder, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT,
    DEFAULT_USER_AGENT,
};
pub use config::{EnvConfig, Environment, LogLevel};
pub use dodo_types as types;
pub use dodo_types::BoxFuture;
/// The webhook layer (`dodo-webhooks`): typed events, `Verifier`, `Dispatcher`.
#[cfg(feature = "unwrap")]
pub use dodo_webhooks as webhooks;
pub use error::{ApiError, BoxError, DecodeError, Error, Processing, Result};
pub use execute::{GENERATED_KEY_PREFIX, IDEMPOTENCY_HEADER, RETRY_COUNT_HEADER};
pub use intercept::{AttemptRequest, AttemptResult, Interceptor};
pub use options::RequestOptions;
pub use pagination::{CursorListCall, ListCall, Page};
pub use path::PathPart;
pub use request::RequestSpec;
#[cfg(feature = "unwrap")]
pub use webhook_verify::UnwrapError;

/// Re-exported so generated code and callers can name HTTP methods.
pub use http::Method;
