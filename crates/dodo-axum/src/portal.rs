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
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use dodo_client::Client;
use dodo_types::CreateSessionCustomersCustomerPortalQuery;

use crate::checkout::policy::same_origin;
use crate::checkout::static_link::check_url;
use crate::error::{RouteError, method_not_allowed};

pub use dodo_types::BoxFuture;

type Resolver<S> =
    Arc<dyn Fn(Parts, S) -> BoxFuture<'static, Result<String, Response>> + Send + Sync>;

/// Customer portal route configuration; `S` is the app state the resolver receives.
pub struct CustomerPortal<S = ()> {
    client: Client,
    /// `None` only in the explicitly named query-trusting mode.
    resolver: Option<Resolver<S>>,
    return_url: Option<String>,
    expose_upstream_errors: bool,
}

impl<S> Clone for CustomerPortal<S> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            resolver: self.resolver.clone(),
            return_url: self.return_url.clone(),
            expose_upstream_errors: self.expose_upstream_errors,
        }
    }
}

impl<S> std::fmt::Debug for CustomerPortal<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerPortal")
            .field("client", &self.client)
            .field("trusts_query_customer_id", &self.resolver.is_none())
            .field("return_url", &self.return_url)
            .field("expose_upstream_errors", &self.expose_upstream_errors)
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
            client,
            resolver: Some(resolver(resolve)),
            return_url: None,
            expose_upstream_errors: false,
        }
    }

    /// A portal route that **trusts the `customer_id` query parameter**, as the Express
    /// adaptor does. **Risk:** anyone who knows or guesses a customer id gets a link to that
    /// customer's billing account; use it only behind your own authorisation. Logs a warning
    /// when built.
    pub fn trusting_query_customer_id(client: Client) -> Self {
        tracing::warn!(
            "customer portal route trusts `customer_id` from the query: anyone who knows an id \
             gets that customer's portal link; protect the route or use CustomerPortal::new \
             with a resolver"
        );
        Self {
            client,
            resolver: None,
            return_url: None,
            expose_upstream_errors: false,
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
        self.return_url = Some(check_url("return_url", &url.into())?);
        Ok(self)
    }

    /// Puts the API's status and code under `upstream` in error answers. **Risk:** tells any
    /// visitor how your integration fails; for local debugging only. Default `false`.
    #[must_use]
    pub fn expose_upstream_errors(mut self, expose: bool) -> Self {
        self.expose_upstream_errors = expose;
        self
    }

    /// `GET` route with a JSON 405 for other methods.
    pub fn route(&self) -> MethodRouter<S> {
        get(self.clone()).fallback(method_not_allowed)
    }

    /// Runs the route for one request.
    pub async fn run(&self, req: Request, state: S) -> Response {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return RouteError::method_not_allowed().into_response();
        }
        let (parts, _body) = req.into_parts();
        let query = match PortalQuery::parse(parts.uri.query().unwrap_or("")) {
            Ok(q) => q,
            Err(e) => return e.into_response(),
        };
        if parts.method == Method::HEAD {
            // A HEAD (link prefetchers, scanners) must not create a session or send email.
            return (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response();
        }
        let wants_json = prefers_json(&parts.headers);
        let customer_id = match &self.resolver {
            Some(resolve) => match resolve(parts, state).await {
                Ok(id) if !id.is_empty() => id,
                Ok(_) => {
                    return RouteError::new(
                        StatusCode::FORBIDDEN,
                        "no_customer",
                        "no customer is associated with this request",
                    )
                    .into_response();
                }
                Err(rejection) => return rejection,
            },
            None => match query.customer_id {
                Some(id) => id,
                None => return RouteError::missing("customer_id").into_response(),
            },
        };
        let mut api_query = CreateSessionCustomersCustomerPortalQuery::new();
        if let Some(send) = query.send_email {
            api_query = api_query.send_email(send);
        }
        let return_url = match (query.return_url, &self.return_url) {
            (Some(_), None) => {
                return RouteError::invalid(
                    "return_url",
                    "cannot be chosen per request: this route has no configured return URL",
                )
                .into_response();
            }
            (Some(requested), Some(configured)) if !same_origin(&requested, configured) => {
                return RouteError::invalid(
                    "return_url",
                    "must be on the same origin as the configured return URL",
                )
                .into_response();
            }
            (requested, configured) => requested.or_else(|| configured.clone()),
        };
        if let Some(url) = return_url {
            api_query = api_query.return_url(url);
        }
        let not_found = RouteError::new(
            StatusCode::NOT_FOUND,
            "customer_not_found",
            "no customer with this id exists",
        );
        match self
            .client
            .customers()
            .customer_portal()
            .create_session(&customer_id, &api_query)
            .await
        {
            Ok(session) if wants_json => {
                axum::Json(serde_json::json!({ "link": session.link })).into_response()
            }
            Ok(session) => match HeaderValue::from_str(&session.link) {
                Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
                Err(_) => RouteError::new(
                    StatusCode::BAD_GATEWAY,
                    "upstream_invalid_response",
                    "the Dodo Payments API returned a portal link that is not a valid URL",
                )
                .into_response(),
            },
            Err(e) => {
                let e = RouteError::from_client(&e, Some(not_found))
                    .expose_upstream(self.expose_upstream_errors);
                tracing::info!(
                    status = e.status.as_u16(),
                    code = e.code,
                    upstream_status = e.upstream_status,
                    "customer portal request failed"
                );
                e.into_response()
            }
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

/// Whether `Accept` asks for JSON rather than a page (`application/json` listed, and no
/// `text/html` ranked at least as high).
fn prefers_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let quality = |wanted: &str| {
        accept
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let media = parts.next()?.trim();
                if !media.eq_ignore_ascii_case(wanted) {
                    return None;
                }
                let q = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                Some(q)
            })
            .fold(None, |best: Option<f32>, q| {
                Some(best.map_or(q, |b| b.max(q)))
            })
    };
    match (quality("application/json"), quality("text/html")) {
        (Some(json), Some(html)) => json > 0.0 && json > html,
        (Some(json), None) => json > 0.0,
        _ => false,
    }
}

/// The validated portal query.
#[derive(Debug, Default, PartialEq)]
struct PortalQuery {
    customer_id: Option<String>,
    send_email: Option<bool>,
    return_url: Option<String>,
}

impl PortalQuery {
    fn parse(raw: &str) -> Result<Self, RouteError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).map_err(|_| {
            RouteError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "the query string could not be decoded",
            )
        })?;
        let mut q = PortalQuery::default();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in &pairs {
            if !matches!(key.as_str(), "customer_id" | "send_email" | "return_url") {
                continue;
            }
            if seen.contains(&key.as_str()) {
                return Err(RouteError::invalid(key, "must be given only once"));
            }
            seen.push(key);
            if value.is_empty() {
                continue;
            }
            match key.as_str() {
                "customer_id" => q.customer_id = Some(value.clone()),
                "send_email" => {
                    q.send_email = Some(match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(RouteError::invalid(key, "must be `true` or `false`")),
                    });
                }
                _ => q.return_url = Some(check_url("return_url", value)?),
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, v.parse().unwrap());
            prefers_json(&m)
        };
        assert!(h("application/json"));
        assert!(h("application/json, text/plain"));
        assert!(!h("text/html,application/xhtml+xml,application/json;q=0.9"));
        assert!(h("text/html;q=0.5, application/json"));
        assert!(!h("*/*"));
        assert!(!h("application/json;q=0"));
        assert!(!prefers_json(&HeaderMap::new()));
    }

    #[test]
    fn query_rules() {
        assert_eq!(
            PortalQuery::parse("customer_id=cus_1&send_email=false").unwrap(),
            PortalQuery {
                customer_id: Some("cus_1".into()),
                send_email: Some(false),
                return_url: None
            }
        );
        let field = |raw: &str| PortalQuery::parse(raw).unwrap_err().field.unwrap();
        assert_eq!(field("send_email=yes"), "send_email");
        assert_eq!(field("customer_id=a&customer_id=b"), "customer_id");
        assert_eq!(field("return_url=ftp://x"), "return_url");
    }
}
