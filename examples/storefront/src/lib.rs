//! The storefront demo: a tiny shop that takes payments end to end, fully offline.
//!
//! [`Storefront::start`] boots the embedded Dodo Payments emulator, seeds a catalogue through
//! the typed client, registers the shop's webhook endpoint on the emulator, and serves the
//! shop: a product page whose "Buy" buttons open a checkout session on the emulator's hosted
//! checkout; the checkout redirects back to a thank-you page; the emulator's signed
//! `payment.succeeded` (or `subscription.active`) webhook lands in a durable inbox (SQLite)
//! whose worker dispatches it and mirrors the objects; the orders page reads the mirror.
//! The same app also mounts the axum adaptor's routes (`/api/checkout`, `/api/checkout/dynamic`,
//! `/api/customer-portal`). The portal link goes only to the browser that paid: its customer
//! comes from the shop's own session cookie ([`session`]), never from the query. Everything
//! binds to 127.0.0.1.

mod pages;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use dodo_client::Client;
use dodo_client::types::{
    CreateCheckoutSessionRequest, CreateProductRequest, CreateWebhookRequest, Currency,
    OneTimePrice, Price, ProductItemReq, RecurringPrice, TaxCategory, TimeInterval,
};
use dodo_emulator::{Emulator, EmulatorConfig};
use dodo_inbox::{Inbox, ListFilter, WorkerHandle};
use dodo_webhooks::{Dispatcher, Verifier};

pub use dodo_client::BoxError;

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct Config {
    /// Port of the shop (0 picks a free one).
    pub port: u16,
    /// Inbox database URL (`sqlite::memory:` by default).
    pub inbox_url: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: 0,
            inbox_url: "sqlite::memory:".into(),
        }
    }
}

/// One product of the catalogue.
#[derive(Debug, Clone)]
pub struct Product {
    /// The emulator's product id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Price in cents.
    pub price: i64,
    /// Whether it is a monthly subscription.
    pub recurring: bool,
}

/// State shared by the shop's handlers.
#[derive(Clone)]
pub struct Shop {
    client: Client,
    inbox: Inbox<()>,
    products: Arc<Vec<Product>>,
    url: String,
    sessions: session::Sessions,
}

impl Shop {
    /// The seeded catalogue.
    pub fn products(&self) -> &[Product] {
        &self.products
    }

    /// The webhook inbox (deliveries and the mirror of Dodo objects).
    pub fn inbox(&self) -> &Inbox<()> {
        &self.inbox
    }
}

/// The running demo; dropping it stops the shop (the emulator stops with it).
pub struct Storefront {
    /// Base URL of the shop.
    pub url: String,
    /// The shop's state, for tests.
    pub shop: Shop,
    emulator: Emulator,
    worker: Option<WorkerHandle>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Storefront {
    /// Starts the emulator, seeds the catalogue, wires the webhook inbox and serves the shop.
    pub async fn start(config: Config) -> Result<Storefront, BoxError> {
        let emulator = Emulator::start(EmulatorConfig::default()).await?;
        let client = Client::builder()
            .api_key(emulator.api_key())
            .base_url(emulator.base_url())
            .build()?;
        let products = seed_catalogue(&client).await?;

        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], config.port))).await?;
        let url = format!("http://{}", listener.local_addr()?);

        let endpoint = client
            .webhooks()
            .create(
                &CreateWebhookRequest::new(format!("{url}/api/webhook"))
                    .description("storefront demo"),
            )
            .await?;
        let secret = client
            .webhooks()
            .retrieve_secret(&endpoint.id)
            .await?
            .secret;
        let dispatcher = Dispatcher::new(Verifier::from_secret(&secret)?, ())
            .on_payment_succeeded(|ctx, payment| async move {
                tracing::info!(webhook_id = %ctx.webhook_id, payment_id = %payment.payment_id, "order paid");
                Ok(())
            })
            .on_payment_failed(|ctx, payment| async move {
                tracing::info!(webhook_id = %ctx.webhook_id, payment_id = %payment.payment_id, "payment failed");
                Ok(())
            })
            .on_subscription_active(|ctx, sub| async move {
                tracing::info!(webhook_id = %ctx.webhook_id, subscription_id = %sub.subscription_id, "subscription active");
                Ok(())
            });
        let inbox = Inbox::builder(dispatcher)
            .connect(&config.inbox_url)
            .await?;
        let worker = inbox.worker().spawn();

        let shop = Shop {
            client: client.clone(),
            inbox: inbox.clone(),
            products: Arc::new(products),
            url: url.clone(),
            sessions: session::Sessions::default(),
        };
        let app = router(shop.clone(), &client)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Storefront {
            url,
            shop,
            emulator,
            worker: Some(worker),
            shutdown: Some(tx),
        })
    }

    /// Base URL of the embedded emulator.
    pub fn emulator_url(&self) -> &str {
        self.emulator.base_url()
    }

    /// API key of the embedded emulator.
    pub fn emulator_api_key(&self) -> &str {
        self.emulator.api_key()
    }

    /// Stops the shop, its inbox worker and the emulator.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(worker) = self.worker.take() {
            worker.stop().await;
        }
    }
}

async fn seed_catalogue(client: &Client) -> Result<Vec<Product>, BoxError> {
    let one_time = |price| Price::OneTimePrice(OneTimePrice::new(Currency::Usd, 0, price, false));
    let monthly = |price| {
        Price::RecurringPrice(RecurringPrice::new(
            Currency::Usd,
            0,
            1,
            TimeInterval::Month,
            price,
            false,
            12,
            TimeInterval::Month,
        ))
    };
    let catalogue = [
        ("The Rust Payments Handbook", one_time(1900), false),
        ("Ferris sticker pack", one_time(500), false),
        ("Pro plan (monthly)", monthly(900), true),
    ];
    let mut out = Vec::new();
    for (name, price, recurring) in catalogue {
        let amount = match &price {
            Price::OneTimePrice(p) => p.price,
            Price::RecurringPrice(p) => p.price,
            _ => 0,
        };
        let tax = if recurring {
            TaxCategory::Saas
        } else {
            TaxCategory::DigitalProducts
        };
        let product = client
            .products()
            .create(&CreateProductRequest::new(name, price, tax))
            .await?;
        out.push(Product {
            id: product.product_id,
            name: name.to_owned(),
            price: amount,
            recurring,
        });
    }
    Ok(out)
}

fn router(shop: Shop, client: &Client) -> Result<Router, BoxError> {
    let checkout =
        dodo_axum::Checkout::new(client.clone()).return_url(format!("{}/thanks", shop.url))?;
    let webhook = dodo_inbox::axum::router_at(shop.inbox.clone(), "/api/webhook");
    Ok(Router::new()
        .route("/", get(home))
        .route("/buy/{product_id}", get(buy))
        .route("/thanks", get(thanks))
        .route("/orders", get(orders))
        .route(
            "/api/checkout",
            get(checkout.handler(dodo_axum::CheckoutFlow::Static))
                .post(checkout.handler(dodo_axum::CheckoutFlow::Session)),
        )
        .route("/api/checkout/dynamic", checkout.dynamic_route())
        .route(
            "/api/customer-portal",
            dodo_axum::CustomerPortal::new(client.clone(), |parts, shop: Shop| async move {
                shop.sessions
                    .customer(&parts.headers)
                    .ok_or(StatusCode::UNAUTHORIZED)
            })
            .return_url(shop.url.clone())?
            .route(),
        )
        .with_state(shop)
        .merge(webhook))
}

async fn home(State(shop): State<Shop>) -> Html<String> {
    Html(pages::home(&shop.products))
}

/// Creates a checkout session for one product and sends the buyer to the hosted checkout,
/// remembering it in the browser's shop session.
async fn buy(
    State(shop): State<Shop>,
    headers: HeaderMap,
    Path(product_id): Path<String>,
) -> Response {
    if !shop.products.iter().any(|p| p.id == product_id) {
        return (
            axum::http::StatusCode::NOT_FOUND,
            Html(pages::message("No such product.")),
        )
            .into_response();
    }
    let request = CreateCheckoutSessionRequest::new(vec![ProductItemReq::new(product_id, 1)])
        .return_url(format!("{}/thanks", shop.url));
    match shop.client.checkout_sessions().create(&request).await {
        Ok(created) => match created.checkout_url {
            Some(url) => {
                let sid = shop
                    .sessions
                    .from_headers(&headers)
                    .unwrap_or_else(|| shop.sessions.start());
                shop.sessions.record_checkout(&sid, &created.session_id);
                (
                    [(header::SET_COOKIE, session::set_cookie(&sid))],
                    Redirect::to(&url),
                )
                    .into_response()
            }
            None => Html(pages::message("The checkout session has no URL.")).into_response(),
        },
        Err(err) => {
            tracing::warn!(error = %err, "checkout session failed");
            (
                axum::http::StatusCode::BAD_GATEWAY,
                Html(pages::message(
                    "The payment service is unavailable; try again.",
                )),
            )
                .into_response()
        }
    }
}

#[derive(serde::Deserialize)]
struct ThanksQuery {
    payment_id: Option<String>,
    subscription_id: Option<String>,
    status: Option<String>,
}

async fn thanks(
    State(shop): State<Shop>,
    headers: HeaderMap,
    Query(q): Query<ThanksQuery>,
) -> Html<String> {
    let signed_in = bind_paying_customer(&shop, &headers).await;
    Html(pages::thanks(
        q.payment_id.as_deref().or(q.subscription_id.as_deref()),
        q.status.as_deref(),
        signed_in,
    ))
}

/// Asks the API who paid the checkout this browser opened and binds them to its session;
/// whether the session now has a customer. The query's ids are not trusted for this.
async fn bind_paying_customer(shop: &Shop, headers: &HeaderMap) -> bool {
    let Some(sid) = shop.sessions.from_headers(headers) else {
        return false;
    };
    if shop.sessions.customer(headers).is_some() {
        return true;
    }
    let Some(checkout_id) = shop.sessions.checkout_of(&sid) else {
        return false;
    };
    let payment_id = match shop.client.checkout_sessions().retrieve(&checkout_id).await {
        Ok(status) => status.payment_id,
        Err(err) => {
            tracing::warn!(error = %err, "checkout session lookup failed");
            None
        }
    };
    let Some(payment_id) = payment_id else {
        return false;
    };
    match shop.client.payments().retrieve(&payment_id).await {
        Ok(payment) => {
            shop.sessions
                .bind_customer(&sid, &payment.customer.customer_id);
            true
        }
        Err(err) => {
            tracing::warn!(error = %err, "payment lookup failed");
            false
        }
    }
}

/// Orders as the shop knows them: webhook deliveries stored by the inbox, with the payment
/// state from the local mirror.
async fn orders(State(shop): State<Shop>) -> Response {
    let mut filter = ListFilter::default();
    filter.limit = 50;
    match shop.inbox.store().list(&filter).await {
        Ok(rows) => {
            let mut lines = Vec::new();
            for row in rows {
                lines.push(pages::OrderLine {
                    event_type: row.event_type.clone(),
                    webhook_id: row.webhook_id.clone(),
                    status: format!("{:?}", row.status),
                    received: row.event_timestamp.to_string(),
                });
            }
            Html(pages::orders(&lines)).into_response()
        }
        Err(err) => {
            tracing::warn!(error = %err, "listing deliveries failed");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                Html(pages::message("Could not read the orders.")),
            )
                .into_response()
        }
    }
}
