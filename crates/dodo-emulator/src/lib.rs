//! A local, stateful emulator of the Dodo Payments API for development and tests.
//!
//! It answers every endpoint of the spec on the same paths with the same JSON shapes (a
//! conformance crawler validates every answer against the spec), keeps real state in SQLite
//! (in memory or a file that survives restarts), enforces Bearer auth, 0-based pagination,
//! error bodies `{"code", "message"}` with the statuses the spec lists, judges requests as
//! strictly as the API (unknown enum values refused; `Idempotency-Key` ignored unless
//! [`EmulatorConfig::replay_idempotency_key`] is on, as the live API documents no such
//! header), and can inject faults (errors with `retry-after`, delays, dropped connections)
//! through an admin API under `/_emulator`. Every operation has domain logic: the catalog,
//! customers, payments, subscriptions, credits and wallets, entitlements and uploads, and the
//! platform's own objects (disputes, payouts, the balance ledger); an operation without it
//! would answer 501 naming it, never a made-up echo.
//! It is not a payment processor: no money moves.
//! Payments settle on the hosted checkout pages ([`hosted`], with test cards), with a saved
//! payment method, or when a test says so (`POST /_emulator/payments/{id}/complete`). Every
//! state change emits the webhook the real API would ([`emit`]), delivered signed, retried and
//! logged ([`delivery`]); a virtual clock drives renewals ([`timewarp`]); the customer portal
//! is served too ([`portal`]). See `WEBHOOKS.md` beside this crate for the guide.
//!
//! Tests use the harness in [`testing`]: the example below creates a checkout session with the
//! typed client, pays it with a test card (no browser), receives the verified
//! `payment.succeeded`, moves the emulator's clock a month and receives the renewal.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//!
//! use dodo_client::types::{
//!     CreateCheckoutSessionRequest, CreateProductRequest, Currency, ProductItemReq,
//!     RecurringPrice, TaxCategory, TimeInterval,
//! };
//! use dodo_emulator::purchase::TestCard;
//! use dodo_emulator::testing::TestEmulator;
//! use dodo_webhooks::{EventPayload, EventType};
//!
//! let emu = TestEmulator::start().await?;
//! let client = emu.client();
//! let mut webhooks = emu.webhook_receiver().await?;
//!
//! let monthly = RecurringPrice::new(
//!     Currency::Usd, 0, 1, TimeInterval::Month, 1_500, false, 1, TimeInterval::Year,
//! );
//! let plan = client
//!     .products()
//!     .create(&CreateProductRequest::new("Pro plan", monthly, TaxCategory::Saas))
//!     .await?;
//! let cart = vec![ProductItemReq::new(plan.product_id.clone(), 1)];
//! let session = client
//!     .checkout_sessions()
//!     .create(&CreateCheckoutSessionRequest::new(cart))
//!     .await?;
//!
//! let paid = emu
//!     .admin()
//!     .pay_checkout_session(&session.session_id, TestCard::Succeeds)
//!     .await?;
//! let event = webhooks.next_of(EventType::PaymentSucceeded).await?;
//! let EventPayload::PaymentSucceeded(payment) = &event.payload else {
//!     return Err("not a payment".into());
//! };
//! assert_eq!(payment.payment_id, paid.payment_id);
//! assert_eq!(payment.total_amount, 1_500);
//!
//! emu.admin().advance_clock(Duration::from_secs(31 * 24 * 3600)).await?;
//! let renewal = webhooks.next_of(EventType::SubscriptionRenewed).await?;
//! let EventPayload::SubscriptionRenewed(subscription) = &renewal.payload else {
//!     return Err("not a subscription".into());
//! };
//! assert_eq!(Some(&subscription.subscription_id), paid.subscription_id.as_ref());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod auth;
pub mod blobs;
pub mod clock;
pub mod config;
pub mod csrf;
pub mod delivery;
pub mod dispatch;
pub mod emit;
pub mod error;
pub mod extensions;
pub mod faults;
pub mod hosted;
pub mod ids;
pub mod live;
pub mod money;
pub mod ops;
pub mod pages;
pub mod portal;
pub mod purchase;
pub mod request;
pub mod request_log;
pub mod resources;
pub mod schema;
pub mod server;
pub mod short_urls;
pub mod signal;
pub mod state;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timewarp;
pub mod triggers;
pub mod upload_routes;
pub mod validate;

pub use config::{DEFAULT_API_KEY, DEFAULT_BUSINESS_ID, EmulatorConfig};
pub use error::ApiError;
pub use server::{Emulator, StartError};
pub use store::Storage;
