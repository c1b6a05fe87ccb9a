//! The customer portal route: a GET that answers a link to the customer's billing portal.
//!
//! # Security: a portal link is a key to the customer's account
//!
//! Whoever holds a portal link can see the customer's invoices and payment methods and
//! cancel or change their subscriptions. The Express adaptor creates a link for **any**
//! `customer_id` in the query, so anyone who learns or guesses an id gets access (an IDOR).
//! So [`CustomerPortal::new`] requires a resolver: an async function of the request parts
//! and your app state that derives the customer id from **your** session (or rejects the
//! request); the query's `customer_id` is ignored. The Express behaviour exists only as
//! [`CustomerPortal::trusting_query_customer_id`], which logs a warning when built; put it
//! behind your own authorisation.
//!
//! Query parameters: `customer_id` (only in the query-trusting mode), `send_email`
//! (`true`/`false`), `return_url` (on the configured return URL's origin). Answer: `302` to
//! the link, or `200 {"link": …}` when the request's `Accept` prefers `application/json`. A
//! `HEAD` request is answered `200` without creating a session or sending an email. Errors are
//! JSON: 400 bad input, 404 unknown customer, 405 wrong method, 502/504 API failure (no API
//! message reaches the browser); a resolver's rejection is answered as the resolver built it.
//!
//! A portal route cannot be built without deciding where the customer comes from:
//!
//! ```compile_fail
//! let client = dodo_client::Client::builder().api_key("k").build().unwrap();
//! let portal = dodo_axum::CustomerPortal::<()>::new(client); // error: a resolver is required
//! ```

use std::future::Future;
use std::sync::Arc;

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use dodo_client::Client;
use dodo_routes::{Portal, PortalQuery};

use crate::error::{RouteError, method_not_allowed, to_axum};

pub use dodo_types::BoxFuture;

type Resolver<S> =
    Arc<dyn Fn(Parts, S) -> BoxFuture<'static, Result<String, Response>> + Send + Sync>;

/// Customer portal route configuration; `S` is the app state the resolver receives.
pub struct CustomerPortal<S = ()> {
    core: Portal,
    /// `None` only in the explicitly named query-trusting mode.
    resolver: Option<Resolver<S>>,
}

impl<S> Clone for CustomerPortal<S> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            resolver: self.resolver.clone(),
        }
    }
}

impl<S> std::fmt::Debug for CustomerPortal<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerPortal")
            .field("core", &self.core)
            .field("trusts_query_customer_id", &self.resolver.is_none())
            .finish()
    }
}

impl<S: Clone + Send + Sync + 'static> CustomerPortal<S> {
    /// A portal route whose customer comes from `resolve`: an async function of the request
    /// parts (headers, cookies, extensions set by your auth layer) and the app state that
    /// returns the signed-in customer's id or a rejection (any [`IntoResponse`], typically
    /// 401/403). The query's `customer_id` is ignored.
    ///
    /// ```
    /// # use axum::http::StatusCode;
    /// # let client = dodo_client::Client::builder().api_key("k").build().unwrap();
    /// #[derive(Clone)]
    /// struct SignedIn { customer_id: String }
    /// let portal = dodo_axum::CustomerPortal::new(client, |parts: axum::http::request::Parts, _state: ()| async move {
    ///     // Your session layer put the signed-in user in the extensions.
    ///     parts.extensions.get::<SignedIn>().map(|u| u.customer_id.clone())
    ///         .ok_or(StatusCode::UNAUTHORIZED)
    /// });
    /// # let _ = portal;
    /// ```
    pub fn new<F, Fut, R>(client: Client, resolve: F) -> Self
    where
        F: Fn(Parts, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, R>> + Send + 'static,
        R: IntoResponse + 'static,
    {
        Self {
            core: Portal::new(client),
            resolver: Some(resolver(resolve)),
        }
    }

    /// A portal route that **trusts the `customer_id` query parameter**, as the Express
    /// adaptor does. **Risk:** anyone who knows or guesses a customer id gets a link to that
    /// customer's billing account; use it only behind your own authorisation. Logs a warning
    /// when built.
    pub fn trusting_query_customer_id(client: Client) -> Self {
        dodo_routes::portal::warn_trusting_query();
        Self {
            core: Portal::new(client),
            resolver: None,
        }
    }

    /// Replaces the resolver (see [`new`](Self::new)); also turns a query-trusting route
    /// into a resolving one.
    #[must_use]
    pub fn resolver<F, Fut, R>(mut self, resolve: F) -> Self
    where
        F: Fn(Parts, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, R>> + Send + 'static,
        R: IntoResponse + 'static,
    {
        self.resolver = Some(resolver(resolve));
        self
    }

    /// A default `return_url` forwarded to the API when the request does not give one.
    ///
    /// A `return_url` in the request must share its origin (scheme, host and port), so a
    /// crafted link cannot send a signed-in customer from their portal to another site;
    /// without a configured URL, a request's `return_url` is refused.
    pub fn return_url(mut self, url: impl Into<String>) -> Result<Self, RouteError> {
        self.core = self.core.return_url(url)?;
        Ok(self)
    }

    /// Puts the API's status and code under `upstream` in error answers. **Risk:** tells any
    /// visitor how your integration fails; for local debugging only. Default `false`.
    #[must_use]
    pub fn expose_upstream_errors(mut self, expose: bool) -> Self {
        self.core = self.core.expose_upstream_errors(expose);
        self
    }

    /// `GET` route with a JSON 405 for other methods.
    pub fn route(&self) -> MethodRouter<S> {
        get(self.clone()).fallback(method_not_allowed)
    }

    /// Runs the route for one request.
    pub async fn run(&self, req: Request, state: S) -> Response {
        if let Err(e) = Portal::check_method(req.method()) {
            return RouteError::from(e).into_response();
        }
        let (parts, _body) = req.into_parts();
        let query = match PortalQuery::parse(parts.uri.query().unwrap_or("")) {
            Ok(q) => q,
            Err(e) => return RouteError::from(e).into_response(),
        };
        if parts.method == Method::HEAD {
            // A HEAD (link prefetchers, scanners) must not create a session or send email.
            return to_axum(self.core.head_response());
        }
        let wants_json = dodo_routes::portal::prefers_json(&parts.headers);
        let customer_id = match &self.resolver {
            Some(resolve) => match resolve(parts, state).await {
                Ok(id) if !id.is_empty() => id,
                Ok(_) => return RouteError::from(Portal::no_customer()).into_response(),
                Err(rejection) => return rejection,
            },
            None => match Portal::customer_from_query(&query) {
                Ok(id) => id,
                Err(e) => return RouteError::from(e).into_response(),
            },
        };
        match self.core.create_link(&customer_id, query, wants_json).await {
            Ok(response) => to_axum(response),
            Err(e) => RouteError::from(e).into_response(),
        }
    }
}

/// Wraps a user resolver into the stored shape.
fn resolver<S, F, Fut, R>(resolve: F) -> Resolver<S>
where
    F: Fn(Parts, S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, R>> + Send + 'static,
    R: IntoResponse + 'static,
{
    Arc::new(move |parts, state| {
        let fut = resolve(parts, state);
        Box::pin(async move { fut.await.map_err(IntoResponse::into_response) })
    })
}

impl<S: Clone + Send + Sync + 'static> Handler<(), S> for CustomerPortal<S> {
    type Future = BoxFuture<'static, Response>;

    fn call(self, req: Request, state: S) -> Self::Future {
        Box::pin(async move { self.run(req, state).await })
    }
}
