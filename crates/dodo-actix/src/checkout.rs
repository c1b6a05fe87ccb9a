//! Checkout routes for actix-web: static links, dynamic payment links, checkout sessions.
//!
//! One [`Checkout`] (the same options as the axum adaptor's, over the same
//! [`dodo_routes::Checkout`]) mounts its flows as resources: [`Checkout::resource`] puts one
//! or more [`CheckoutFlow`]s on a path (for example GET static + POST session on
//! `/api/checkout`) and answers other methods with a JSON 405 and `Allow`. POST bodies above
//! the limit are refused from their `Content-Length` before they are read. The browser policy,
//! the product cache and the sanitised upstream errors are the core's; the merchant's hook
//! ([`Checkout::before_create`]) receives the [`HttpRequest`] (headers, extensions, and app
//! data through [`HttpRequest::app_data`]) and the [`CheckoutDraft`].

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, Resource, web};
use dodo_client::{Client, Environment};
use dodo_routes::FlowError;
use futures_util::future::LocalBoxFuture;

pub use dodo_routes::checkout::{BrowserPolicy, CheckoutDraft, CheckoutFlow, DEFAULT_BODY_LIMIT};

use crate::body::read_limited;
use crate::error::{RouteError, method_not_allowed, to_actix};

/// The stored hook: the request and the draft in, an edited draft or a refusal out.
type Hook = Arc<
    dyn Fn(
            HttpRequest,
            CheckoutDraft,
        ) -> LocalBoxFuture<'static, Result<CheckoutDraft, HttpResponse>>
        + Send
        + Sync,
>;

/// The checkout configuration shared by all flows. Cheap to clone.
///
/// ```
/// use actix_web::{App, test};
/// use dodo_actix::{Checkout, CheckoutFlow};
///
/// # #[actix_web::main] async fn main() {
/// let client = dodo_client::Client::builder().api_key("sk_test_...").build().unwrap();
/// let checkout = Checkout::new(client).return_url("https://shop.example/thanks").unwrap();
/// let app = test::init_service(
///     App::new()
///         .service(checkout.resource("/api/checkout", &[CheckoutFlow::Static, CheckoutFlow::Session]))
///         .service(checkout.resource("/api/checkout/dynamic", &[CheckoutFlow::Dynamic])),
/// )
/// .await;
/// let req = test::TestRequest::put().uri("/api/checkout").to_request();
/// let res = test::call_service(&app, req).await;
/// assert_eq!(res.status(), 405);
/// assert_eq!(res.headers().get("allow").unwrap(), "GET,HEAD,POST");
/// # }
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
    /// Checkout routes using `client` for every API call (see
    /// [`dodo_routes::Checkout::new`] for the checkout host).
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

    /// Checkout routes with a new client for `api_key` at `base_url` (an emulator).
    pub fn from_base_url(
        api_key: impl Into<String>,
        base_url: impl Into<String>,
    ) -> Result<Self, dodo_client::Error> {
        dodo_routes::Checkout::from_base_url(api_key, base_url).map(Self::from_core)
    }

    /// The default return URL; a request's own `return_url`/`cancel_url` is accepted only
    /// on this URL's origin.
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
    /// request, or refuses it (its `Err` is answered as built). It receives the
    /// [`HttpRequest`]: headers, extensions your auth middleware set, and app data.
    ///
    /// ```
    /// use actix_web::{HttpRequest, error::ErrorUnauthorized, web};
    /// # let client = dodo_client::Client::builder().api_key("k").build().unwrap();
    /// struct Sessions; // your session store, registered with `App::app_data`
    /// impl Sessions { fn customer_of(&self, _req: &HttpRequest) -> Option<String> { None } }
    ///
    /// let checkout = dodo_actix::Checkout::new(client).before_create(|req: HttpRequest, mut draft| async move {
    ///     let sessions = req.app_data::<web::Data<Sessions>>().ok_or(ErrorUnauthorized("no session"))?;
    ///     let customer_id = sessions.customer_of(&req).ok_or(ErrorUnauthorized("sign in first"))?;
    ///     draft.set_customer_id(customer_id);
    ///     Ok::<_, actix_web::Error>(draft)
    /// });
    /// # let _ = checkout;
    /// ```
    #[must_use]
    pub fn before_create<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(HttpRequest, CheckoutDraft) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CheckoutDraft, E>> + 'static,
        E: Into<actix_web::Error> + 'static,
    {
        self.hook = Some(Arc::new(move |req, draft| {
            let fut = f(req, draft);
            Box::pin(async move { fut.await.map_err(|e| e.into().error_response()) })
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
    /// any visitor how your integration fails; for local debugging only. Default `false`.
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

    /// A resource at `path` serving `flows` (at most one GET flow and one POST flow), with a
    /// JSON 405 and `Allow` for every other method.
    pub fn resource(&self, path: &str, flows: &[CheckoutFlow]) -> Resource {
        let mut resource = web::resource(path);
        let mut allow = Vec::new();
        for &flow in flows {
            let this = self.clone();
            let handler = move |req: HttpRequest, payload: web::Payload| {
                let this = this.clone();
                async move { this.run(flow, req, payload).await }
            };
            if flow.method() == http::Method::GET {
                allow.extend(["GET", "HEAD"]);
                resource = resource
                    .route(web::get().to(handler.clone()))
                    .route(web::head().to(handler));
            } else {
                allow.push("POST");
                resource = resource.route(web::post().to(handler));
            }
        }
        let allow: Rc<str> = Rc::from(allow.join(","));
        resource.default_service(web::to(move || {
            let allow = Rc::clone(&allow);
            async move { method_not_allowed(&allow) }
        }))
    }

    /// Runs `flow` for one request (405 for a method the flow does not take).
    pub async fn run(
        &self,
        flow: CheckoutFlow,
        req: HttpRequest,
        payload: web::Payload,
    ) -> HttpResponse {
        let method = http::Method::from_bytes(req.method().as_str().as_bytes())
            .unwrap_or(http::Method::OPTIONS);
        let bytes = if flow == CheckoutFlow::Static || method != flow.method() {
            bytes::Bytes::new()
        } else {
            match read_limited(&req, payload, self.core.body_limit_bytes()).await {
                Ok(bytes) => bytes,
                Err(e) => return to_actix(e.to_response()),
            }
        };
        let query = req.uri().query().map(str::to_owned);
        let hook = self.hook.clone();
        let run_hook = move |draft: CheckoutDraft| async move {
            match hook {
                Some(hook) => hook(req, draft).await,
                None => Ok(draft),
            }
        };
        match self
            .core
            .run(flow, &method, query.as_deref(), &bytes, run_hook)
            .await
        {
            Ok(body) => to_actix(dodo_routes::json_response(http::StatusCode::OK, &body)),
            Err(FlowError::Route(e)) => to_actix(e.to_response()),
            Err(FlowError::Refused(response)) => {
                dodo_routes::checkout::log_refused(flow, response.status().as_u16());
                response
            }
        }
    }
}
