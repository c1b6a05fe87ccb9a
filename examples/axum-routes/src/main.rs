//! Example axum app mounting the Dodo Payments checkout, customer portal and webhook routes
//! at the paths the Express adaptor's documentation uses, configured only by environment.
//!
//! Variables: `DODO_PAYMENTS_API_KEY` (required), `DODO_PAYMENTS_WEBHOOK_KEY` (required,
//! `whsec_…`), `DODO_PAYMENTS_ENVIRONMENT` (`test_mode`/`live_mode`, default live),
//! `DODO_PAYMENTS_RETURN_URL` (optional default return URL), `DODO_PAYMENTS_BASE_URL` (point
//! the client, and the static checkout links, at an emulator; wins over the environment) and
//! `PORT` (default 3000). Routes: `GET /api/checkout` (static), `POST /api/checkout`
//! (session), `POST /api/checkout/dynamic`, `GET /api/customer-portal`, `POST /api/webhook`.
//! Run with `cargo run -p axum-routes`.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use dodo_axum::{Checkout, CustomerPortal, Flow, WebhookRoute};
use dodo_client::{Client, ClientBuilder, EnvConfig};
use dodo_webhooks::{Dispatcher, MemoryIdempotency, Verifier};

/// Settings read from the environment.
struct Settings {
    client: Client,
    webhook_key: String,
    return_url: Option<String>,
    port: u16,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn settings() -> Result<Settings, BoxError> {
    let mut env = EnvConfig::from_process_env()?;
    if env.base_url.is_some() && env.environment.is_some() {
        tracing::info!("DODO_PAYMENTS_BASE_URL is set; it wins over DODO_PAYMENTS_ENVIRONMENT");
        env.environment = None;
    }
    let client = ClientBuilder::new().env(env).build()?;
    let webhook_key = client
        .webhook_key()
        .filter(|k| !k.is_empty())
        .ok_or("DODO_PAYMENTS_WEBHOOK_KEY is not set")?
        .to_owned();
    let return_url = std::env::var("DODO_PAYMENTS_RETURN_URL")
        .ok()
        .filter(|v| !v.is_empty());
    let port = match std::env::var("PORT") {
        Ok(p) => p.parse().map_err(|_| format!("PORT {p:?} is not a port number"))?,
        Err(_) => 3000,
    };
    Ok(Settings {
        client,
        webhook_key,
        return_url,
        port,
    })
}

/// The app: the five routes over one client.
fn app(settings: &Settings) -> Result<Router, BoxError> {
    let mut checkout = Checkout::new(settings.client.clone());
    if let Some(url) = &settings.return_url {
        checkout = checkout.return_url(url.clone())?;
    }

    // The Express docs' portal trusts `customer_id` from the query: anyone who knows an id
    // gets a link to that customer's account. Real apps should add
    // `.resolver(|parts, state| ...)` deriving the id from their own session.
    tracing::warn!(
        "GET /api/customer-portal trusts the customer_id query parameter; protect it or add a resolver"
    );
    let mut portal = CustomerPortal::new(settings.client.clone());
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
            Ok::<_, Infallible>(())
        })
        .on_payment_succeeded(|ctx, payment| async move {
            tracing::info!(webhook_id = %ctx.webhook_id, payment_id = %payment.payment_id, "payment succeeded");
            Ok::<_, Infallible>(())
        })
        .on_subscription_active(|ctx, subscription| async move {
            tracing::info!(
                webhook_id = %ctx.webhook_id,
                subscription_id = %subscription.subscription_id,
                "subscription active"
            );
            Ok::<_, Infallible>(())
        });

    Ok(Router::new()
        .route(
            "/api/checkout",
            get(checkout.handler(Flow::Static))
                .post(checkout.handler(Flow::Session))
                .fallback(dodo_axum::method_not_allowed),
        )
        .route("/api/checkout/dynamic", checkout.dynamic_route())
        .route("/api/customer-portal", portal.route())
        .route("/api/webhook", WebhookRoute::new(dispatcher).route()))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let settings = settings()?;
    let app = app(&settings)?;
    let addr = SocketAddr::from(([0, 0, 0, 0], settings.port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(
        address = %listener.local_addr()?,
        api = settings.client.base_url(),
        "axum-routes listening"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
