//! Checkout flows: static links, dynamic payment links and checkout sessions.
//!
//! Configure one [`Checkout`] with a [`dodo_client::Client`] (reused by every request), an
//! optional default return URL and, for emulators or proxies, the checkout host; the
//! adaptors mount its flows: static (GET, query → hosted checkout link), dynamic (POST,
//! body → one-time payment or subscription with `payment_link: true`) and session (POST,
//! checkout-session body → `POST /checkouts`). Every success is `200 {"checkout_url": …}` (sessions add
//! `session_id`); every failure is a JSON [`RouteError`]. This module knows no web
//! framework: [`Checkout::run`] takes the method, the query and the body bytes an adaptor
//! read (within [`Checkout::body_limit_bytes`]) plus the adaptor's hook, and answers the JSON
//! body or the error.
//!
//! # Security: the routes face anonymous browsers
//!
//! The POST flows create objects with your API key, so the request may set only what a buyer
//! may choose ([`BrowserPolicy`]): cart product ids and quantities, new-customer contact
//! details, the billing address and currency, a tax id, discount codes, bounded metadata, and
//! a `return_url`/`cancel_url` on the configured return URL's origin. Binding an existing
//! customer, a saved card, a price, a trial or any field the policy does not list is a 400
//! `field_not_allowed`; add such fields from your server with
//! the adaptor's `before_create` hook. Product lookups are cached briefly so
//! anonymous traffic cannot burn your rate limit, and API failures reach the browser only as
//! a stable code, a generic message and the request id.

mod draft;
mod dynamic;
pub mod policy;
mod product_cache;
mod session;
pub mod static_link;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use dodo_client::{Client, Environment};
use http::{Method, StatusCode};
use serde_json::Value;

pub use draft::CheckoutDraft;
pub use dynamic::{DynamicCartItem, DynamicCheckoutRequest};
pub use policy::BrowserPolicy;
pub use product_cache::{DEFAULT_PRODUCT_CACHE_CAPACITY, DEFAULT_PRODUCT_CACHE_TTL};
pub use static_link::StaticQuery;

use crate::error::RouteError;
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
/// use dodo_routes::{Checkout, CheckoutFlow};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let client = dodo_client::Client::builder()
///     .api_key("sk_test_...")
///     .environment(dodo_client::Environment::TestMode)
///     .build()
///     .unwrap();
/// let checkout = Checkout::new(client)
///     .return_url("https://shop.example/thanks")
///     .unwrap();
/// assert_eq!(checkout.host(), "https://test.checkout.dodopayments.com");
/// // An adaptor hands over what it read; a wrong method is refused before any API call.
/// let no_hook = |draft| async move { Ok::<_, ()>(draft) };
/// let e = checkout
///     .run(CheckoutFlow::Session, &http::Method::GET, None, b"{}", no_hook)
///     .await
///     .unwrap_err();
/// assert!(matches!(e, dodo_routes::FlowError::Route(e) if e.status == 405));
/// # }
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

    /// Runs `flow` for one request: `method`, the raw `query` and the `body` bytes (read by
    /// the adaptor within [`body_limit_bytes`](Self::body_limit_bytes); ignored by the static
    /// flow). The dynamic and session flows hand their [`CheckoutDraft`] to `hook` before
    /// anything is created; its `Err` comes back as [`FlowError::Refused`]. Success is the
    /// JSON body of a 200 answer. Route errors are logged here (status, code, field; never
    /// the body).
    pub async fn run<F, Fut, R>(
        &self,
        flow: CheckoutFlow,
        method: &Method,
        query: Option<&str>,
        body: &[u8],
        hook: F,
    ) -> Result<Value, FlowError<R>>
    where
        F: FnOnce(CheckoutDraft) -> Fut,
        Fut: Future<Output = Result<CheckoutDraft, R>>,
    {
        let allowed = flow.method();
        if *method != allowed && !(allowed == Method::GET && *method == Method::HEAD) {
            return Err(FlowError::Route(RouteError::method_not_allowed()));
        }
        let result = match flow {
            CheckoutFlow::Static => self.run_static(query).await,
            CheckoutFlow::Dynamic => dynamic::run(self, body, hook).await,
            CheckoutFlow::Session => session::run(self, body, hook).await,
        };
        match &result {
            Ok(_) => tracing::debug!(flow = flow.as_str(), "checkout created"),
            Err(FlowError::Route(e)) => tracing::info!(
                flow = flow.as_str(),
                status = e.status.as_u16(),
                code = e.code,
                field = e.field.as_deref(),
                upstream_status = e.upstream_status,
                "checkout request failed"
            ),
            Err(FlowError::Refused(_)) => {}
        }
        result
    }

    async fn run_static<R>(&self, query: Option<&str>) -> Result<Value, FlowError<R>> {
        let mut query = StaticQuery::parse(query.unwrap_or(""))?;
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
        Ok(serde_json::json!({ "checkout_url": url }))
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

    /// The limit for POST bodies: adaptors refuse a larger declared `Content-Length` before
    /// reading, and stop reading beyond it (413).
    pub fn body_limit_bytes(&self) -> usize {
        self.inner.body_limit
    }

    /// The [`BrowserPolicy`] in force.
    pub fn browser_policy(&self) -> &BrowserPolicy {
        &self.inner.policy
    }
}

/// Why a flow did not create a checkout: a route error, or the hook's own refusal `R`.
#[derive(Debug)]
pub enum FlowError<R> {
    /// Answered as a JSON [`RouteError`].
    Route(RouteError),
    /// The merchant's hook refused the request with this answer.
    Refused(R),
}

impl<R> From<RouteError> for FlowError<R> {
    fn from(e: RouteError) -> Self {
        FlowError::Route(e)
    }
}

/// Logs a hook's refusal the same way for every adaptor.
pub fn log_refused(flow: CheckoutFlow, status: u16) {
    tracing::info!(
        flow = flow.as_str(),
        status,
        "checkout refused by the merchant's hook"
    );
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
