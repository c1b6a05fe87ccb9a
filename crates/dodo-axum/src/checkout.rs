//! Checkout routes: static links, dynamic payment links and checkout sessions, for axum.
//!
//! Configure one [`Checkout`] with a [`dodo_client::Client`] (reused by every request), an
//! optional default return URL and, for emulators or proxies, the checkout host; then mount
//! its flows: [`Checkout::static_route`] (GET, query → hosted checkout link),
//! [`Checkout::dynamic_route`] (POST, body → one-time payment or subscription with
//! `payment_link: true`) and [`Checkout::session_route`] (POST, checkout-session body →
//! `POST /checkouts`). Every success is `200 {"checkout_url": …}` (sessions add
//! `session_id`); every failure is a JSON [`RouteError`]. To put two flows on one path,
//! combine the [`CheckoutHandler`]s: `get(c.handler(CheckoutFlow::Static)).post(c.handler(CheckoutFlow::Session))`.
//! What the flows decide lives in [`dodo_routes::checkout`]; this module reads the request
//! (a declared `Content-Length` above the limit is refused before reading) and runs the hook.
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

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use dodo_client::{Client, Environment};
use dodo_routes::FlowError;

pub use dodo_routes::checkout::{
    BrowserPolicy, CheckoutDraft, CheckoutFlow, DEFAULT_BODY_LIMIT, DEFAULT_PRODUCT_CACHE_CAPACITY,
    DEFAULT_PRODUCT_CACHE_TTL, DynamicCartItem, DynamicCheckoutRequest, LIVE_CHECKOUT_HOST,
    StaticQuery, TEST_CHECKOUT_HOST, checkout_host_for, policy, static_link,
};

use crate::body::read_checked;
use crate::error::{RouteError, method_not_allowed};

/// The future a checkout hook returns once boxed.
pub type HookFuture = dodo_types::BoxFuture<'static, Result<CheckoutDraft, Response>>;

/// The stored hook: request parts and draft in, edited draft or a refusal out.
type Hook = Arc<dyn Fn(Parts, CheckoutDraft) -> HookFuture + Send + Sync>;

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
#[derive(Clone)]
pub struct Checkout {
    core: dodo_routes::Checkout,
    hook: Option<Hook>,
}

impl std::fmt::Debug for Checkout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkout")
            .field("core", &self.core)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

impl Checkout {
    /// Checkout routes using `client` for every API call. The checkout host for static
    /// links follows the client's base URL: the test API gives
    /// [`TEST_CHECKOUT_HOST`], the live API [`LIVE_CHECKOUT_HOST`], and any other base URL
    /// (an emulator) is used itself, so links read `{base_url}/buy/{productId}`.
    pub fn new(client: Client) -> Self {
        Self::from_core(dodo_routes::Checkout::new(client))
    }

    /// Routes over a core configuration built elsewhere (shared with another adaptor).
    pub fn from_core(core: dodo_routes::Checkout) -> Self {
        Self { core, hook: None }
    }

    /// The framework-free configuration.
    pub fn core(&self) -> &dodo_routes::Checkout {
        &self.core
    }

    /// Checkout routes with a new client for `api_key` in `environment`.
    pub fn from_key(
        api_key: impl Into<String>,
        environment: Environment,
    ) -> Result<Self, dodo_client::Error> {
        dodo_routes::Checkout::from_key(api_key, environment).map(Self::from_core)
    }

    /// Checkout routes with a new client for `api_key` at `base_url` (an emulator such as
    /// `http://127.0.0.1:4010`); static links then point at `{base_url}/buy/{productId}`.
    pub fn from_base_url(
        api_key: impl Into<String>,
        base_url: impl Into<String>,
    ) -> Result<Self, dodo_client::Error> {
        dodo_routes::Checkout::from_base_url(api_key, base_url).map(Self::from_core)
    }

    /// The default return URL (see [`dodo_routes::Checkout::return_url`]): a request's own
    /// `return_url`/`cancel_url` is accepted only on this URL's origin.
    pub fn return_url(mut self, url: impl Into<String>) -> Result<Self, RouteError> {
        self.core = self.core.return_url(url)?;
        Ok(self)
    }

    /// Overrides the host static links point to, without a trailing slash.
    #[must_use]
    pub fn checkout_host(mut self, host: impl Into<String>) -> Self {
        self.core = self.core.checkout_host(host);
        self
    }

    /// Whether a request may choose its own return URL on the configured origin (default
    /// `true`).
    #[must_use]
    pub fn allow_request_return_url(mut self, allow: bool) -> Self {
        self.core = self.core.allow_request_return_url(allow);
        self
    }

    /// Limit for POST bodies (default [`DEFAULT_BODY_LIMIT`]); larger bodies get 413.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.core = self.core.body_limit(bytes);
        self
    }

    /// Replaces the [`BrowserPolicy`] (what a request may set, and the bounds).
    #[must_use]
    pub fn policy(mut self, policy: BrowserPolicy) -> Self {
        self.core = self.core.policy(policy);
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
        F: Fn(Parts, CheckoutDraft) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CheckoutDraft, R>> + Send + 'static,
        R: IntoResponse + 'static,
    {
        self.hook = Some(Arc::new(move |parts, draft| {
            let fut = f(parts, draft);
            Box::pin(async move { fut.await.map_err(IntoResponse::into_response) })
        }));
        self
    }

    /// How long, and how many, product lookups are cached; a zero TTL turns the cache off.
    #[must_use]
    pub fn product_cache(mut self, ttl: Duration, capacity: usize) -> Self {
        self.core = self.core.product_cache(ttl, capacity);
        self
    }

    /// Puts the API's status and code under `upstream` in error answers. **Risk:** tells
    /// any visitor how your integration fails (a rejected key, an outage); for local
    /// debugging only. Default `false`.
    #[must_use]
    pub fn expose_upstream_errors(mut self, expose: bool) -> Self {
        self.core = self.core.expose_upstream_errors(expose);
        self
    }

    /// The client in use.
    pub fn client(&self) -> &Client {
        self.core.client()
    }

    /// The host static links point to.
    pub fn host(&self) -> &str {
        self.core.host()
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
        let (parts, body) = req.into_parts();
        let bytes = if flow == CheckoutFlow::Static || parts.method != flow.method() {
            bytes::Bytes::new()
        } else {
            read_checked(&parts.headers, body, self.core.body_limit_bytes()).await?
        };
        let method = parts.method.clone();
        let query = parts.uri.query().map(str::to_owned);
        let hook = self.hook.clone();
        let run_hook = move |draft: CheckoutDraft| async move {
            match hook {
                Some(hook) => hook(parts, draft).await,
                None => Ok(draft),
            }
        };
        match self
            .core
            .run(flow, &method, query.as_deref(), &bytes, run_hook)
            .await
        {
            Ok(body) => Ok(axum::Json(body).into_response()),
            Err(FlowError::Route(e)) => Err(e.into()),
            Err(FlowError::Refused(response)) => {
                dodo_routes::checkout::log_refused(flow, response.status().as_u16());
                Ok(response)
            }
        }
    }
}

/// An axum [`Handler`] running one checkout [`CheckoutFlow`]; get it from [`Checkout::handler`].
#[derive(Clone, Debug)]
pub struct CheckoutHandler {
    checkout: Checkout,
    flow: CheckoutFlow,
}

impl<S: Send + Sync + 'static> Handler<(), S> for CheckoutHandler {
    type Future = dodo_types::BoxFuture<'static, Response>;

    fn call(self, req: Request, _state: S) -> Self::Future {
        Box::pin(async move {
            match self.checkout.run(self.flow, req).await {
                Ok(response) => response,
                Err(e) => e.into_response(),
            }
        })
    }
}
