//! actix-web 4 routes for Dodo Payments: checkout, customer portal and webhooks.
//!
//! The same routes, options and answers as `dodo-axum`, over the same framework-free core
//! ([`dodo_routes`]): [`Checkout`] serves the static, dynamic and session flows under the
//! [`BrowserPolicy`] (privileged fields only from your server, through
//! [`Checkout::before_create`], whose hook gets the [`actix_web::HttpRequest`] and so your
//! app data); [`CustomerPortal`] answers a portal link for the customer your resolver derives
//! from your session; [`WebhookRoute`] mounts a [`dodo_webhooks::Dispatcher`] over the raw
//! body, and [`VerifiedWebhook`] is a verifying extractor. Errors are the same JSON bodies and
//! statuses ([`RouteError`] is an actix [`ResponseError`](actix_web::ResponseError)); every
//! resource answers other methods with a JSON 405 and `Allow`; a body whose `Content-Length`
//! is above the limit is refused before it is read, so clients using `Expect: 100-continue`
//! get their 413 without sending it. It is an adaptor only: what the routes decide is
//! `dodo-routes`'.
//!
//! ```no_run
//! use actix_web::{App, HttpMessage, HttpServer};
//! use dodo_actix::{Checkout, CheckoutFlow, CustomerPortal, WebhookRoute};
//! use dodo_webhooks::{Dispatcher, Verifier};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = dodo_client::Client::from_env()?;
//! let checkout = Checkout::new(client.clone()).return_url("https://shop.example/thanks")?;
//! let portal = CustomerPortal::new(client.clone(), |req: actix_web::HttpRequest| async move {
//!     // Your session middleware's signed-in customer.
//!     req.extensions().get::<String>().cloned().ok_or(actix_web::error::ErrorUnauthorized("sign in"))
//! });
//! let verifier = Verifier::from_secret(client.webhook_key().unwrap_or_default())?;
//! let webhooks = WebhookRoute::new(Dispatcher::new(verifier, ()));
//! HttpServer::new(move || {
//!     App::new()
//!         .service(checkout.resource("/api/checkout", &[CheckoutFlow::Static, CheckoutFlow::Session]))
//!         .service(checkout.resource("/api/checkout/dynamic", &[CheckoutFlow::Dynamic]))
//!         .service(portal.resource("/api/customer-portal"))
//!         .service(webhooks.resource("/api/webhook"))
//! })
//! .bind(("127.0.0.1", 3000))?
//! .run()
//! .await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod body;
pub mod checkout;
mod error;
pub mod portal;
pub mod webhook;

pub use body::{check_declared, read_limited};
pub use checkout::{BrowserPolicy, Checkout, CheckoutDraft, CheckoutFlow};
pub use error::{RouteError, to_actix};
pub use portal::CustomerPortal;
pub use webhook::{VerifiedWebhook, WebhookConfig, WebhookRoute};
