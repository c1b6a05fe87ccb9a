//! The example app as a library: settings read through a lookup function (the process
//! environment in `main`, a map in tests) and the five routes as an actix-web
//! [`ServiceConfig`](actix_web::web::ServiceConfig) function. The mirror of `axum-routes`:
//! same variables, paths, answers and logs.
//!
//! Variables: `DODO_PAYMENTS_API_KEY` (required), `DODO_PAYMENTS_WEBHOOK_SECRET` or
//! `DODO_PAYMENTS_WEBHOOK_KEY` (required, `whsec_…`; `_SECRET` wins when both are set), `DODO_PAYMENTS_ENVIRONMENT` (`test_mode`/`live_mode`, default live),
//! `DODO_PAYMENTS_RETURN_URL` (optional default return URL), `DODO_PAYMENTS_BASE_URL` (point
//! the client, and the static checkout links, at an emulator; wins over the environment) and
//! `PORT` (default 3000).

#![warn(missing_docs)]

use actix_web::web::ServiceConfig;
use dodo_actix::{Checkout, CheckoutFlow, CustomerPortal, WebhookRoute};
use dodo_client::{Client, ClientBuilder, EnvConfig};
use dodo_webhooks::{Dispatcher, MemoryIdempotency, Verifier};

/// Settings read from the environment.
pub struct Settings {
    /// The API client (one for the whole app).
    pub client: Client,
    /// The webhook signing secret.
    pub webhook_key: String,
    /// The default return URL, if any.
    pub return_url: Option<String>,
    /// The port to listen on.
    pub port: u16,
}

pub use dodo_client::BoxError;

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, BoxError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (variable name → value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BoxError> {
        settings(lookup)
    }
}

fn settings(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, BoxError> {
    let mut env = EnvConfig::from_lookup(&lookup)?;
    if env.base_url.is_some() && env.environment.is_some() {
        tracing::info!("DODO_PAYMENTS_BASE_URL is set; it wins over DODO_PAYMENTS_ENVIRONMENT");
        env.environment = None;
    }
    let client = ClientBuilder::new().env(env).build()?;
    let webhook_key = client
        .webhook_key()
        .filter(|k| !k.is_empty())
        .ok_or("neither DODO_PAYMENTS_WEBHOOK_SECRET nor DODO_PAYMENTS_WEBHOOK_KEY is set")?
        .to_owned();
    let return_url = lookup("DODO_PAYMENTS_RETURN_URL").filter(|v| !v.is_empty());
    let port = match lookup("PORT").filter(|v| !v.is_empty()) {
        Some(p) => p
            .parse()
            .map_err(|_| format!("PORT {p:?} is not a port number"))?,
        None => 3000,
    };
    Ok(Settings {
        client,
        webhook_key,
        return_url,
        port,
    })
}

/// The five routes over one client; mount them with `App::new().configure(routes.clone())`
/// inside `HttpServer::new` (the routes are cheap to clone).
#[derive(Clone)]
pub struct Routes {
    checkout: Checkout,
    portal: CustomerPortal,
    webhooks: WebhookRoute,
}

impl Routes {
    /// Registers the five routes.
    pub fn configure(&self, cfg: &mut ServiceConfig) {
        cfg.service(self.checkout.resource(
            "/api/checkout",
            &[CheckoutFlow::Static, CheckoutFlow::Session],
        ))
        .service(
            self.checkout
                .resource("/api/checkout/dynamic", &[CheckoutFlow::Dynamic]),
        )
        .service(self.portal.resource("/api/customer-portal"))
        .service(self.webhooks.resource("/api/webhook"));
    }
}

/// The app's routes over one client.
pub fn app(settings: &Settings) -> Result<Routes, BoxError> {
    let mut checkout = Checkout::new(settings.client.clone());
    if let Some(url) = &settings.return_url {
        checkout = checkout.return_url(url.clone())?;
    }

    // Express parity: the Express docs' portal trusts `customer_id` from the query, so anyone
    // who knows an id gets a link to that customer's account. This constructor says so and
    // logs a warning; a real app uses `CustomerPortal::new(client, resolver)` instead.
    let mut portal = CustomerPortal::trusting_query_customer_id(settings.client.clone());
    if let Some(url) = &settings.return_url {
        portal = portal.return_url(url.clone())?;
    }

    let verifier = Verifier::from_secret(&settings.webhook_key)?;
    let dispatcher = Dispatcher::new(verifier, ())
        .idempotency(MemoryIdempotency::new())
        .on_payload(|ctx, event| async move {
            tracing::info!(
                webhook_id = %ctx.webhook_id,
                event_type = %event.event_type(),
                "webhook received"
            );
            Ok(())
        })
        .on_payment_succeeded(|ctx, payment| async move {
            tracing::info!(webhook_id = %ctx.webhook_id, payment_id = %payment.payment_id, "payment succeeded");
            Ok(())
        })
        .on_subscription_active(|ctx, subscription| async move {
            tracing::info!(
                webhook_id = %ctx.webhook_id,
                subscription_id = %subscription.subscription_id,
                "subscription active"
            );
            Ok(())
        });

    Ok(Routes {
        checkout,
        portal,
        webhooks: WebhookRoute::new(dispatcher),
    })
}
