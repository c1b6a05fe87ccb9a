//! axum 0.8 routes for Dodo Payments: checkout, customer portal and webhooks.
//!
//! This is the Express adaptor (`@dodopayments/express`) done right for Rust. [`Checkout`]
//! serves the three checkout flows (static links from a query, dynamic payment links,
//! checkout sessions), reusing one [`dodo_client::Client`]; a [`BrowserPolicy`] decides what
//! an anonymous request may set, and a hook adds what only your server may decide.
//! [`CustomerPortal`] answers a portal link (redirect or JSON) for the customer your resolver
//! derives from your session, never from the query.
//! [`WebhookRoute`] mounts a [`dodo_webhooks::Dispatcher`] over the raw body bytes with a
//! body limit; [`VerifiedWebhook`] (extractor) and [`verify_webhook`] (middleware) serve apps
//! that write their own handler. Every error is JSON `{"error": {"code", "message"}}` with a
//! correct status ([`RouteError`]); nothing panics on input and no personal data is logged.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use dodo_axum::{Checkout, CustomerPortal, CheckoutFlow, WebhookRoute};
//! use dodo_webhooks::{Dispatcher, Verifier};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = dodo_client::Client::from_env()?;
//! let checkout = Checkout::new(client.clone()).return_url("https://shop.example/thanks")?;
//! let verifier = Verifier::from_secret(client.webhook_key().unwrap_or_default())?;
//! let dispatcher = Dispatcher::new(verifier, ()).on_payment_succeeded(|ctx, payment| async move {
//!     tracing::info!(webhook_id = %ctx.webhook_id, payment_id = %payment.payment_id, "paid");
//!     Ok(())
//! });
//! let app: Router = Router::new()
//!     .route(
//!         "/api/checkout",
//!         get(checkout.handler(CheckoutFlow::Static))
//!             .post(checkout.handler(CheckoutFlow::Session))
//!             .fallback(dodo_axum::method_not_allowed),
//!     )
//!     .route("/api/checkout/dynamic", checkout.dynamic_route())
//!     .route(
//!         "/api/customer-portal",
//!         CustomerPortal::new(client, |parts: axum::http::request::Parts, _: ()| async move {
//!             // Your session layer's signed-in customer.
//!             parts.extensions.get::<String>().cloned().ok_or(axum::http::StatusCode::UNAUTHORIZED)
//!         })
//!         .route(),
//!     )
//!     .route("/api/webhook", WebhookRoute::new(dispatcher).route());
//! # let _ = app; Ok(()) }
//! ```

#![warn(missing_docs)]
//!
//! What the routes decide (flows, browser policy, portal rules, webhook outcomes, the JSON
//! error shape) lives in the framework-free [`dodo_routes`]; this crate reads axum requests,
//! runs your hooks and resolvers with axum request parts, and writes axum responses.

mod body;
pub mod checkout;
pub mod error;
pub mod portal;
pub mod webhook;

pub use body::{decode_json, read_limited};
pub use checkout::{BrowserPolicy, Checkout, CheckoutDraft, CheckoutFlow, CheckoutHandler};
pub use error::{RouteError, method_not_allowed};
pub use portal::CustomerPortal;
pub use webhook::{VerifiedWebhook, WebhookGuard, WebhookRejection, WebhookRoute, verify_webhook};
