//! Checkout routes: static links, dynamic payment links and checkout sessions.
//!
//! Configure one [`Checkout`] with a [`dodo_client::Client`] (reused by every request), an
//! optional default return URL and, for emulators or proxies, the checkout host; then mount
//! its flows: [`Checkout::static_route`] (GET, query → hosted checkout link),
//! [`Checkout::dynamic_route`] (POST, body → one-time payment or subscription with
//! `payment_link: true`) and [`Checkout::session_route`] (POST, checkout-session body passed
//! through whole → `POST /checkouts`). Every success is `200 {"checkout_url": …}` (sessions
//! add `session_id`); every failure is a JSON [`RouteError`]. To put two flows on one path,
//! combine the [`CheckoutHandler`]s: `get(c.handler(Flow::Static)).post(c.handler(Flow::Session))`.

mod dynamic;
mod session;
pub mod static_link;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use dodo_client::{Client, Environment};

pub use dynamic::{DynamicCartItem, DynamicCheckoutRequest};
pub use static_link::StaticQuery;

use crate::error::{RouteError, method_not_allowed};

/// Checkout host of the test environment.
pub const TEST_CHECKOUT_HOST: &str = "https://test.checkout.dodopayments.com";
/// Checkout host of the live environment.
pub const LIVE_CHECKOUT_HOST: &str = "https://checkout.dodopayments.com";
/// Default limit for POST bodies (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Which checkout flow a handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flow {
    /// GET with a query: answers a hosted checkout link for one product.
    Static,
    /// POST with a payment or subscription body: answers the payment link.
    Dynamic,
    /// POST with a checkout-session body: answers the session's URL and id.
    Session,
}

impl Flow {
    /// The HTTP method this flow accepts.
    pub fn method(self) -> Method {
        match self {
            Flow::Static => Method::GET,
            Flow::Dynamic | Flow::Session => Method::POST,
        }
    }

    /// Lower-case name for logs (`static`, `dynamic`, `session`).
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Static => "static",
            Flow::Dynamic => "dynamic",
            Flow::Session => "session",
        }
    }
}

/// The checkout configuration shared by all flows. Cheap to clone.
///
/// ```
/// use axum::{Router, routing::get};
/// use dodo_axum::{Checkout, Flow, method_not_allowed};
///
/// let client = dodo_client::Client::builder()
///     .api_key("sk_test_...")
///     .environment(dodo_client::Environment::TestMode)
///     .build()
///     .unwrap();
/// let checkout = Checkout::new(client)
///     .return_url("https://shop.example/thanks")
///     .unwrap();
/// assert_eq!(checkout.host(), "https://test.checkout.dodopayments.com");
/// let app: Router = Router::new()
///     .route(
///         "/api/checkout",
///         get(checkout.handler(Flow::Static))
///             .post(checkout.handler(Flow::Session))
///             .fallback(method_not_allowed),
///     )
///     .route("/api/checkout/dynamic", checkout.dynamic_route());
/// ```
#[derive(Clone, Debug)]
pub struct Checkout {
    inner: Arc<Config>,
}

#[derive(Clone, Debug)]
struct Config {
    client: Client,
    return_url: Option<String>,
    checkout_host: String,
    allow_request_return_url: bool,
    body_limit: usize,
}

impl Checkout {
    /// Checkout routes using `client` for every API call. The checkout host for static
    /// links follows the client's base URL: the test API gives
    /// [`TEST_CHECKOUT_HOST`], the live API [`LIVE_CHECKOUT_HOST`], and any other base URL
    /// (an emulator) is used itself, so links read `{base_url}/buy/{productId}`.
    pub fn new(client: Client) -> Self {
        let checkout_host = checkout_host_for(client.base_url());
        Self {
            inner: Arc::new(Config {
                client,
                return_url: None,
                checkout_host,
                allow_request_return_url: true,
                body_limit: DEFAULT_BODY_LIMIT,
            }),
        }
    }

    /// Checkout routes with a new client for `api_key` in `environment`.
    pub fn from_key(
        api_key: impl Into<String>,
        environment: Environment,
    ) -> Result<Self, dodo_client::Error> {
        let client = Client::builder()
            .api_key(api_key)
            .environment(environment)
            .build()?;
        Ok(Self::new(client))
    }

    /// Checkout routes with a new client for `api_key` at `base_url` (an emulator such as
    /// `http://127.0.0.1:4010`); static links then point at `{base_url}/buy/{productId}`.
    pub fn from_base_url(
        api_key: impl Into<String>,
        base_url: impl Into<String>,
    ) -> Result<Self, dodo_client::Error> {
        let client = Client::builder()
            .api_key(api_key)
            .base_url(base_url)
            .build()?;
        Ok(Self::new(client))
    }

    fn config_mut(&mut self) -> &mut Config {
        // Builders normally run before any clone exists; otherwise this copies the config.
        Arc::make_mut(&mut self.inner)
    }

    /// The default return URL (sent as `redirect_url` on static links and `return_url` to
    /// the API) when the request does not give one. It must be an absolute http(s) URL.
    pub fn return_url(mut self, url: impl Into<String>) -> Result<Self, RouteError> {
        let url = static_link::check_url("return_url", &url.into())?;
        self.config_mut().return_url = Some(url);
        Ok(self)
    }

    /// Overrides the host static links point to (for example an emulator's pages or a
    /// custom checkout domain), without a trailing slash.
    #[must_use]
    pub fn checkout_host(mut self, host: impl Into<String>) -> Self {
        self.config_mut().checkout_host = host.into().trim_end_matches('/').to_owned();
        self
    }

    /// Whether a request may choose its own return URL (`returnUrl`/`return_url` in the
    /// static query, `return_url` in POST bodies). Default `true`; turn it off so only the
    /// configured URL is ever used (a return URL is where the buyer lands after paying).
    #[must_use]
    pub fn allow_request_return_url(mut self, allow: bool) -> Self {
        self.config_mut().allow_request_return_url = allow;
        self
    }

    /// Limit for POST bodies (default [`DEFAULT_BODY_LIMIT`]); larger bodies get 413.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config_mut().body_limit = bytes;
        self
    }

    /// The client in use.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The host static links point to.
    pub fn host(&self) -> &str {
        &self.inner.checkout_host
    }

    /// A handler running `flow` (it answers 405 itself for any other method).
    pub fn handler(&self, flow: Flow) -> CheckoutHandler {
        CheckoutHandler {
            checkout: self.clone(),
            flow,
        }
    }

    /// `GET` route for the static flow, with a JSON 405 for other methods.
    pub fn static_route<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        get(self.handler(Flow::Static)).fallback(method_not_allowed)
    }

    /// `POST` route for the dynamic flow, with a JSON 405 for other methods.
    pub fn dynamic_route<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        post(self.handler(Flow::Dynamic)).fallback(method_not_allowed)
    }

    /// `POST` route for the session flow, with a JSON 405 for other methods.
    pub fn session_route<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        post(self.handler(Flow::Session)).fallback(method_not_allowed)
    }

    /// Runs `flow` for one request.
    pub async fn run(&self, flow: Flow, req: Request) -> Result<Response, RouteError> {
        let method = req.method().clone();
        let allowed = flow.method();
        if method != allowed && !(allowed == Method::GET && method == Method::HEAD) {
            return Err(RouteError::method_not_allowed());
        }
        let result = match flow {
            Flow::Static => self.run_static(req).await,
            Flow::Dynamic => dynamic::run(self, req).await,
            Flow::Session => session::run(self, req).await,
        };
        match &result {
            Ok(_) => tracing::debug!(flow = flow.as_str(), "checkout created"),
            Err(e) => tracing::info!(
                flow = flow.as_str(),
                status = e.status.as_u16(),
                code = e.code,
                field = e.field.as_deref(),
                upstream_status = e.upstream_status,
                "checkout request failed"
            ),
        }
        result
    }

    async fn run_static(&self, req: Request) -> Result<Response, RouteError> {
        let query = StaticQuery::parse(req.uri().query().unwrap_or(""))?;
        if query.return_url.is_some() && !self.inner.allow_request_return_url {
            return Err(RouteError::invalid(
                "returnUrl",
                "cannot be chosen per request on this route",
            ));
        }
        self.product_is_recurring(&query.product_id, "productId")
            .await?;
        let url = query.link(&self.inner.checkout_host, self.inner.return_url.as_deref());
        Ok(axum::Json(serde_json::json!({ "checkout_url": url })).into_response())
    }

    /// Fetches the product: `Ok(is_recurring)`, 404 `product_not_found` naming `field`, or
    /// an upstream error.
    pub(crate) async fn product_is_recurring(
        &self,
        product_id: &str,
        field: &str,
    ) -> Result<bool, RouteError> {
        #[derive(serde::Deserialize)]
        struct ProductKind {
            #[serde(default)]
            is_recurring: bool,
        }
        let path = dodo_client::path::build(&[
            dodo_client::PathPart::Lit("/products/"),
            dodo_client::PathPart::Param(product_id),
        ])
        .map_err(|_| RouteError::invalid(field, "is not a valid product id"))?;
        let not_found = RouteError::new(
            StatusCode::NOT_FOUND,
            "product_not_found",
            "no product with this id exists",
        )
        .with_field(field);
        self.inner
            .client
            .get::<ProductKind>(&path)
            .await
            .map(|p| p.is_recurring)
            .map_err(|e| RouteError::from_client(&e, Some(not_found)))
    }

    /// The return URL for a request: its own (if allowed) or the configured default.
    pub(crate) fn pick_return_url(
        &self,
        requested: Option<&str>,
    ) -> Result<Option<String>, RouteError> {
        match requested {
            Some(_) if !self.inner.allow_request_return_url => Err(RouteError::invalid(
                "return_url",
                "cannot be chosen per request on this route",
            )),
            Some(url) => static_link::check_url("return_url", url).map(Some),
            None => Ok(self.inner.return_url.clone()),
        }
    }

    pub(crate) fn body_limit_bytes(&self) -> usize {
        self.inner.body_limit
    }
}

/// The checkout host matching an API base URL (see [`Checkout::new`]).
pub fn checkout_host_for(api_base_url: &str) -> String {
    let base = api_base_url.trim_end_matches('/');
    if base == Environment::TestMode.base_url() {
        TEST_CHECKOUT_HOST.to_owned()
    } else if base == Environment::LiveMode.base_url() {
        LIVE_CHECKOUT_HOST.to_owned()
    } else {
        base.to_owned()
    }
}

/// An axum [`Handler`] running one checkout [`Flow`]; get it from [`Checkout::handler`].
#[derive(Clone, Debug)]
pub struct CheckoutHandler {
    checkout: Checkout,
    flow: Flow,
}

impl<S: Send + Sync + 'static> Handler<(), S> for CheckoutHandler {
    type Future = Pin<Box<dyn Future<Output = Response> + Send>>;

    fn call(self, req: Request, _state: S) -> Self::Future {
        Box::pin(async move {
            match self.checkout.run(self.flow, req).await {
                Ok(response) => response,
                Err(e) => e.into_response(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_follow_the_api() {
        assert_eq!(
            checkout_host_for("https://test.dodopayments.com"),
            TEST_CHECKOUT_HOST
        );
        assert_eq!(
            checkout_host_for("https://live.dodopayments.com/"),
            LIVE_CHECKOUT_HOST
        );
        assert_eq!(
            checkout_host_for("http://127.0.0.1:4010/"),
            "http://127.0.0.1:4010"
        );
    }
}
