//! The customer portal route: a GET that answers a link to the customer's billing portal.
//!
//! # Security: a portal link is a key to the customer's account
//!
//! Whoever holds a portal link can see the customer's invoices and payment methods and
//! cancel or change their subscriptions. The Express adaptor creates a link for **any**
//! `customer_id` in the query, so anyone who learns or guesses an id gets access (an IDOR).
//! Do not expose [`CustomerPortal::new`]'s query-trusting mode to the internet unless the
//! route sits behind your own authorisation. Instead give a resolver with
//! [`CustomerPortal::resolver`]: an async function of the request parts and your app state
//! that derives the customer id from **your** session (or rejects the request); the query's
//! `customer_id` is then ignored.
//!
//! Query parameters: `customer_id` (only without a resolver), `send_email` (`true`/`false`),
//! `return_url` (absolute http(s) URL, forwarded to the API). Answer: `302` to the link, or
//! `200 {"link": …}` when the request's `Accept` prefers `application/json`. Errors are JSON:
//! 400 bad input, 404 unknown customer, 405 wrong method, 502 API failure; a resolver's
//! rejection is answered as the resolver built it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use dodo_client::Client;
use dodo_types::CreateSessionCustomersCustomerPortalQuery;

use crate::checkout::static_link::check_url;
use crate::error::{RouteError, method_not_allowed};

/// A boxed, `Send` future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

type Resolver<S> = Arc<dyn Fn(Parts, S) -> BoxFuture<Result<String, Response>> + Send + Sync>;

/// Customer portal route configuration; `S` is the app state the resolver receives.
pub struct CustomerPortal<S = ()> {
    client: Client,
    resolver: Option<Resolver<S>>,
    return_url: Option<String>,
}

impl<S> Clone for CustomerPortal<S> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            resolver: self.resolver.clone(),
            return_url: self.return_url.clone(),
        }
    }
}

impl<S> std::fmt::Debug for CustomerPortal<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerPortal")
            .field("client", &self.client)
            .field("resolver", &self.resolver.is_some())
            .field("return_url", &self.return_url)
            .finish()
    }
}

impl<S: Clone + Send + Sync + 'static> CustomerPortal<S> {
    /// A portal route that **trusts the `customer_id` query parameter** (the Express
    /// behaviour). See the module docs: add a [`resolver`](Self::resolver) or protect the
    /// route yourself.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            resolver: None,
            return_url: None,
        }
    }

    /// Derives the customer id from the request instead of the query. The function gets
    /// the request parts (headers, cookies, extensions set by your auth layer) and the app
    /// state, and returns the customer id or a rejection (any [`IntoResponse`], typically
    /// 401/403). With a resolver the query's `customer_id` is ignored.
    ///
    /// ```
    /// # use axum::http::StatusCode;
    /// # let client = dodo_client::Client::builder().api_key("k").build().unwrap();
    /// let portal = dodo_axum::CustomerPortal::<()>::new(client).resolver(|parts, _state: ()| async move {
    ///     // Look the signed-in user up in your session store instead.
    ///     parts.headers.get("x-customer").and_then(|v| v.to_str().ok()).map(str::to_owned)
    ///         .ok_or(StatusCode::UNAUTHORIZED)
    /// });
    /// ```
    #[must_use]
    pub fn resolver<F, Fut, R>(mut self, resolve: F) -> Self
    where
        F: Fn(Parts, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, R>> + Send + 'static,
        R: IntoResponse + 'static,
    {
        self.resolver = Some(Arc::new(move |parts, state| {
            let fut = resolve(parts, state);
            Box::pin(async move { fut.await.map_err(IntoResponse::into_response) })
        }));
        self
    }

    /// A default `return_url` forwarded to the API when the request does not give one.
    ///
    /// Once it is set, a `return_url` in the request must share its origin (scheme, host
    /// and port), so a crafted link cannot send a signed-in customer from their portal to
    /// another site. Without it, any absolute http(s) URL is forwarded, as the Express
    /// adaptor does.
    pub fn return_url(mut self, url: impl Into<String>) -> Result<Self, RouteError> {
        self.return_url = Some(check_url("return_url", &url.into())?);
        Ok(self)
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
                let e = RouteError::from_client(&e, Some(not_found));
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

impl<S: Clone + Send + Sync + 'static> Handler<(), S> for CustomerPortal<S> {
    type Future = BoxFuture<Response>;

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

/// `scheme://authority` of an absolute URL (already checked to be http or https).
fn origin(url: &str) -> Option<&str> {
    let start = url.find("://")? + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    Some(&url[..end])
}

fn same_origin(a: &str, b: &str) -> bool {
    matches!((origin(a), origin(b)), (Some(x), Some(y)) if x.eq_ignore_ascii_case(y))
}

#[cfg(test)]
mod origin_tests {
    use super::same_origin;

    #[test]
    fn compares_scheme_host_and_port_only() {
        assert!(same_origin(
            "https://shop.example/a?x=1",
            "https://SHOP.example/back"
        ));
        assert!(!same_origin(
            "https://evil.example/",
            "https://shop.example/back"
        ));
        assert!(!same_origin(
            "https://shop.example@evil.example/",
            "https://shop.example/"
        ));
        assert!(!same_origin(
            "http://shop.example/",
            "https://shop.example/"
        ));
        assert!(!same_origin(
            "https://shop.example:8443/",
            "https://shop.example/"
        ));
    }
}
