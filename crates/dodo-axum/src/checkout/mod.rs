//! Checkout routes: static links, dynamic payment links and checkout sessions.
//!
//! Configure one [`Checkout`] with a [`dodo_client::Client`] (reused by every request), an
//! optional default return URL and, for emulators or proxies, the checkout host; then mount
//! its flows: [`Checkout::static_route`] (GET, query → hosted checkout link),
//! [`Checkout::dynamic_route`] (POST, body → one-time payment or subscription with
//! `payment_link: true`) and [`Checkout::session_route`] (POST, checkout-session body →
//! `POST /checkouts`). Every success is `200 {"checkout_url": …}` (sessions add
//! `session_id`); every failure is a JSON [`RouteError`]. To put two flows on one path,
//! combine the [`CheckoutHandler`]s: `get(c.handler(CheckoutFlow::Static)).post(c.handler(CheckoutFlow::Session))`.
//!
//! # Security: the routes face anonymous browsers
//!
//! The POST flows create objects with your API key, so the request may set only what a buyer
//! may choose ([`BrowserPolicy`]): cart product ids and quantities, new-customer contact
//! details, the billing address and currency, a tax id, discount codes, bounded metadata, and
//! a `return_url`/`cancel_url` on the configured return URL's origin. Binding an existing
//! customer, a saved card, a price, a trial or any field the policy does not list is a 400
//! `field_not_allowed`; add such fields from your server with
//! [`before_create`](Checkout::before_create). Product lookups are cached briefly so
//! anonymous traffic cannot burn your rate limit, and API failures reach the browser only as
//! a stable code, a generic message and the request id.

mod dynamic;
mod hook;
pub mod policy;
mod product_cache;
mod session;
pub mod static_link;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use dodo_client::{Client, Environment};

pub use dynamic::{DynamicCartItem, DynamicCheckoutRequest};
pub use hook::{CheckoutDraft, HookFuture};
pub use policy::BrowserPolicy;
pub use product_cache::{DEFAULT_PRODUCT_CACHE_CAPACITY, DEFAULT_PRODUCT_CACHE_TTL};
pub use static_link::StaticQuery;

use crate::error::{RouteError, method_not_allowed};
use hook::Hook;
use product_cache::{ProductCache, ProductLookup};

/// Checkout host of the test environment.
pub const TEST_CHECKOUT_HOST: &str = "https://test.checkout.dodopayments.com";
/// Checkout host of the live environment.
pub const LIVE_CHECKOUT_HOST: &str = "https://checkout.dodopayments.com";
/// Default limit for POST bodies (64 KiB: a checkout request is a few hundred bytes).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Which checkout flow a handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckoutFlow {
    /// GET with a query: answers a hosted checkout link for one product.
    Static,
    /// POST with a payment or subscription body: answers the payment link.
    Dynamic,
    /// POST with a checkout-session body: answers the session's URL and id.
    Session,
}

impl CheckoutFlow {
    /// The HTTP method this flow accepts.
    pub fn method(self) -> Method {
        match self {
            CheckoutFlow::Static => Method::GET,
            CheckoutFlow::Dynamic | CheckoutFlow::Session => Method::POST,
        }
    }

    /// Lower-case name for logs (`static`, `dynamic`, `session`).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutFlow::Static => "static",
            CheckoutFlow::Dynamic => "dynamic",
            CheckoutFlow::Session => "session",
        }
    }
}

/// The checkout configuration shared by all flows. Cheap to clone.
///
/// ```
/// use axum::{Router, routing::get};
/// use dodo_axum::{Checkout, CheckoutFlow, method_not_allowed};
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
///         get(checkout.handler(CheckoutFlow::Static))
///             .post(checkout.handler(CheckoutFlow::Session))
///             .fallback(method_not_allowed),
///     )
///     .route("/api/checkout/dynamic", checkout.dynamic_route());
/// ```
#[derive(Clone, Debug)]
pub struct Checkout {
    inner: Arc<Config>,
}

#[derive(Clone)]
struct Config {
    client: Client,
    return_url: Option<String>,
    checkout_host: String,
    allow_request_return_url: bool,
    body_limit: usize,
    policy: BrowserPolicy,
    hook: Option<Hook>,
    products: Arc<ProductCache>,
    expose_upstream_errors: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkout")
            .field("client", &self.client)
            .field("return_url", &self.return_url)
            .field("checkout_host", &self.checkout_host)
            .field("allow_request_return_url", &self.allow_request_return_url)
            .field("body_limit", &self.body_limit)
            .field("policy", &self.policy)
            .field("hook", &self.hook.is_some())
            .field("expose_upstream_errors", &self.expose_upstream_errors)
            .finish_non_exhaustive()
    }
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
                policy: BrowserPolicy::default(),
                hook: None,
                products: Arc::new(ProductCache::new(
                    DEFAULT_PRODUCT_CACHE_TTL,
                    DEFAULT_PRODUCT_CACHE_CAPACITY,
                )),
                expose_upstream_errors: false,
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
    /// A request's own `return_url`/`cancel_url` is accepted only on this URL's origin;
    /// without a configured return URL, a request URL is refused.
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
    /// static query, `return_url`/`cancel_url` in POST bodies) on the configured return
    /// URL's origin. Default `true`; turn it off so only the configured URL is ever used.
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

    /// Replaces the [`BrowserPolicy`] (what a request may set, and the bounds).
    #[must_use]
    pub fn policy(mut self, policy: BrowserPolicy) -> Self {
        self.config_mut().policy = policy;
        self
    }

    /// The hook that adds server-only fields to the dynamic and session flows' outgoing
    /// request, or refuses it. It receives the request parts (headers, cookies, extensions
    /// your auth layer set) and the [`CheckoutDraft`]; capture your app state in the
    /// closure. Its `Err` is answered as it is built.
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// # let client = dodo_client::Client::builder().api_key("k").build().unwrap();
    /// let checkout = dodo_axum::Checkout::new(client).before_create(|parts, mut draft| async move {
    ///     // Your session layer put the signed-in user's customer id in the extensions.
    ///     #[derive(Clone)]
    ///     struct SignedIn { customer_id: String }
    ///     let user = parts.extensions.get::<SignedIn>().ok_or(StatusCode::UNAUTHORIZED)?;
    ///     draft.set_customer_id(user.customer_id.clone());
    ///     draft.set_trial_period_days(14);
    ///     Ok::<_, StatusCode>(draft)
    /// });
    /// # let _ = checkout;
    /// ```
    #[must_use]
    pub fn before_create<F, Fut, R>(mut self, f: F) -> Self
    where
        F: Fn(axum::http::request::Parts, CheckoutDraft) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CheckoutDraft, R>> + Send + 'static,
        R: IntoResponse + 'static,
    {
        self.config_mut().hook = Some(hook::hook(f));
        self
    }

    /// How long, and how many, product lookups are cached (defaults
    /// [`DEFAULT_PRODUCT_CACHE_TTL`], [`DEFAULT_PRODUCT_CACHE_CAPACITY`]); a zero TTL turns
    /// the cache off.
    #[must_use]
    pub fn product_cache(mut self, ttl: Duration, capacity: usize) -> Self {
        self.config_mut().products = Arc::new(ProductCache::new(ttl, capacity));
        self
    }

    /// Puts the API's status and code under `upstream` in error answers. **Risk:** tells
    /// any visitor how your integration fails (a rejected key, an outage); for local
    /// debugging only. Default `false`: browsers get a stable code, a generic message and
    /// the request id, and the details go to the logs.
    #[must_use]
    pub fn expose_upstream_errors(mut self, expose: bool) -> Self {
        self.config_mut().expose_upstream_errors = expose;
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
    pub fn handler(&self, flow: CheckoutFlow) -> CheckoutHandler {
        CheckoutHandler {
            checkout: self.clone(),
            flow,
        }
    }

    /// `GET` route for the static flow, with a JSON 405 for other methods.
    pub fn static_route<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        get(self.handler(CheckoutFlow::Static)).fallback(method_not_allowed)
    }

    /// `POST` route for the dynamic flow, with a JSON 405 for other methods.
    pub fn dynamic_route<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        post(self.handler(CheckoutFlow::Dynamic)).fallback(method_not_allowed)
    }

    /// `POST` route for the session flow, with a JSON 405 for other methods.
    pub fn session_route<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        post(self.handler(CheckoutFlow::Session)).fallback(method_not_allowed)
    }

    /// Runs `flow` for one request.
    pub async fn run(&self, flow: CheckoutFlow, req: Request) -> Result<Response, RouteError> {
        let method = req.method().clone();
        let allowed = flow.method();
        if method != allowed && !(allowed == Method::GET && method == Method::HEAD) {
            return Err(RouteError::method_not_allowed());
        }
        let result = match flow {
            CheckoutFlow::Static => self.run_static(req).await,
            CheckoutFlow::Dynamic => dynamic::run(self, req).await,
            CheckoutFlow::Session => session::run(self, req).await,
        };
        let result = match result {
            Ok(response) => Ok(response),
            Err(FlowError::Route(e)) => Err(e),
            Err(FlowError::Refused(response)) => {
                tracing::info!(
                    flow = flow.as_str(),
                    status = response.status().as_u16(),
                    "checkout refused by the merchant's hook"
                );
                return Ok(response);
            }
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

    async fn run_static(&self, req: Request) -> Result<Response, FlowError> {
        let mut query = StaticQuery::parse(req.uri().query().unwrap_or(""))?;
        let policy = &self.inner.policy;
        policy.check_product("productId", &query.product_id)?;
        let quantity = i64::try_from(query.quantity).unwrap_or(i64::MAX);
        policy.check_quantity("quantity", Some(quantity))?;
        let metadata: serde_json::Map<String, serde_json::Value> = query
            .params
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix(static_link::METADATA_PREFIX)?;
                Some((key.to_owned(), serde_json::Value::String(v.clone())))
            })
            .collect();
        policy.check_metadata(&serde_json::Value::Object(metadata))?;
        let field = "returnUrl";
        query.return_url = self.pick_url(field, query.return_url.as_deref())?;
        self.product_is_recurring(&query.product_id, "productId")
            .await?;
        let url = query.link(&self.inner.checkout_host, None);
        Ok(axum::Json(serde_json::json!({ "checkout_url": url })).into_response())
    }

    /// Looks the product up (through the cache): `Ok(is_recurring)`, 404
    /// `product_not_found` naming `field`, or an upstream error.
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
        let not_found = || {
            RouteError::new(
                StatusCode::NOT_FOUND,
                "product_not_found",
                "no product with this id exists",
            )
            .with_field(field)
        };
        match self.inner.products.get(product_id) {
            Some(ProductLookup::Found { recurring }) => return Ok(recurring),
            Some(ProductLookup::NotFound) => return Err(not_found()),
            None => {}
        }
        let path = dodo_client::path::build(&[
            dodo_client::PathPart::Lit("/products/"),
            dodo_client::PathPart::Param(product_id),
        ])
        .map_err(|_| RouteError::invalid(field, "is not a valid product id"))?;
        match self.inner.client.get::<ProductKind>(&path).await {
            Ok(p) => {
                let recurring = p.is_recurring;
                self.inner
                    .products
                    .put(product_id, ProductLookup::Found { recurring });
                Ok(recurring)
            }
            Err(e) if e.is_not_found() => {
                self.inner.products.put(product_id, ProductLookup::NotFound);
                Err(not_found())
            }
            Err(e) => Err(self.upstream(&e, None)),
        }
    }

    /// Maps a failed API call to a browser answer, with upstream details only when
    /// [`expose_upstream_errors`](Self::expose_upstream_errors) is on.
    pub(crate) fn upstream(
        &self,
        error: &dodo_client::Error,
        not_found: Option<RouteError>,
    ) -> RouteError {
        RouteError::from_client(error, not_found).expose_upstream(self.inner.expose_upstream_errors)
    }

    /// A request's own return or cancel URL (`field` names it): refused when request URLs
    /// are off, when no return URL is configured, or off the configured URL's origin;
    /// `None` falls back to the configured return URL.
    pub(crate) fn pick_url(
        &self,
        field: &str,
        requested: Option<&str>,
    ) -> Result<Option<String>, RouteError> {
        let Some(url) = requested else {
            return Ok(self.inner.return_url.clone());
        };
        let url = static_link::check_url(field, url)?;
        match &self.inner.return_url {
            _ if !self.inner.allow_request_return_url => Err(RouteError::invalid(
                field,
                "cannot be chosen per request on this route",
            )),
            None => Err(RouteError::invalid(
                field,
                "cannot be chosen per request: this route has no configured return URL",
            )),
            Some(configured) if !policy::same_origin(&url, configured) => Err(RouteError::invalid(
                field,
                "must be on the same origin as the configured return URL",
            )),
            Some(_) => Ok(Some(url)),
        }
    }

    pub(crate) fn body_limit_bytes(&self) -> usize {
        self.inner.body_limit
    }

    pub(crate) fn browser_policy(&self) -> &BrowserPolicy {
        &self.inner.policy
    }

    /// Runs the merchant's hook on the outgoing request, if one is set.
    pub(crate) async fn apply_hook(
        &self,
        parts: axum::http::request::Parts,
        draft: CheckoutDraft,
    ) -> Result<CheckoutDraft, FlowError> {
        match &self.inner.hook {
            Some(hook) => hook(parts, draft).await.map_err(FlowError::Refused),
            None => Ok(draft),
        }
    }
}

/// Why a flow did not create a checkout: a route error, or the hook's own refusal.
pub(crate) enum FlowError {
    /// Answered as a JSON [`RouteError`].
    Route(RouteError),
    /// The merchant's hook refused the request with this response.
    Refused(Response),
}

impl From<RouteError> for FlowError {
    fn from(e: RouteError) -> Self {
        FlowError::Route(e)
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

/// An axum [`Handler`] running one checkout [`CheckoutFlow`]; get it from [`Checkout::handler`].
#[derive(Clone, Debug)]
pub struct CheckoutHandler {
    checkout: Checkout,
    flow: CheckoutFlow,
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
