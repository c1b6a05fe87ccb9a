//! A local, stateful emulator of the Dodo Payments API for development and tests.
//!
//! It answers every endpoint of the spec on the same paths with the same JSON shapes, keeps
//! real state in SQLite (in memory or a file that survives restarts), enforces Bearer auth,
//! 0-based pagination, error bodies `{"code", "message"}`, `Idempotency-Key` replay, and can
//! inject faults (errors with `retry-after`, delays, dropped connections) through an admin API
//! under `/_emulator`. Domain logic exists for customers, products, discounts, payments,
//! refunds, subscriptions, license keys, checkout sessions, webhook endpoints, usage events,
//! meters, brands and addons; every other operation is served by a documented generic CRUD
//! fallback ([`resources::generic`]). It is not a payment processor: no money moves.
//! Payments settle on the hosted checkout pages ([`hosted`], with test cards), with a saved
//! payment method, or when a test says so (`POST /_emulator/payments/{id}/complete`). Every
//! state change emits the webhook the real API would ([`emit`]), delivered signed, retried and
//! logged ([`delivery`]); a virtual clock drives renewals ([`timewarp`]); the customer portal
//! is served too ([`portal`]). See `WEBHOOKS.md` beside this crate for the guide.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use dodo_emulator::{Emulator, EmulatorConfig};
//! let emu = Emulator::start(EmulatorConfig::default()).await?;
//! let url = format!("{}/customers", emu.base_url());
//! // ... point a client at `emu.base_url()` with `emu.api_key()` ...
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod auth;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod emit;
pub mod error;
pub mod extensions;
pub mod faults;
pub mod hosted;
pub mod ids;
pub mod live;
pub mod ops;
pub mod portal;
pub mod purchase;
pub mod request;
pub mod request_log;
pub mod resources;
pub mod server;
pub mod store;
pub mod timewarp;
pub mod triggers;
pub mod validate;

pub use config::{DEFAULT_API_KEY, DEFAULT_BUSINESS_ID, EmulatorConfig};
pub use error::ApiError;
pub use server::{Emulator, StartError};
pub use store::Storage;
