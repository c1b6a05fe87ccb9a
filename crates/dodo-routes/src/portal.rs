//! The customer portal's decisions: query rules, content negotiation, return URL, the API
//! call and its answer.
//!
//! # Security: a portal link is a key to the customer's account
//!
//! Whoever holds a portal link can see the customer's invoices and payment methods and
//! cancel or change their subscriptions. The Express adaptor creates a link for **any**
//! `customer_id` in the query, so anyone who learns or guesses an id gets access (an IDOR).
//! The adaptors therefore take the customer id from a resolver over the merchant's own
//! session; [`Portal`] itself only receives the id the adaptor settled on. The query's
//! `customer_id` is read only by [`Portal::customer_from_query`], which the adaptors call in
//! their explicitly named query-trusting mode.
//!
//! Query parameters: `customer_id` (query-trusting mode only), `send_email`
//! (`true`/`false`), `return_url` (on the configured return URL's origin). Answer: `302` to
//! the link, or `200 {"link": …}` when the request's `Accept` prefers `application/json`. A
//! `HEAD` request is answered `200` ([`Portal::head_response`]) without creating a session or
//! sending an email. Errors are JSON: 400 bad input, 404 unknown customer, 405 wrong method,
//! 502/504 API failure (no API message reaches the browser).

use bytes::Bytes;
use dodo_client::Client;
use dodo_types::CreateSessionCustomersCustomerPortalQuery;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::checkout::policy::same_origin;
use crate::checkout::static_link::check_url;
use crate::error::{RouteError, json_response};

/// The portal configuration shared by the adaptors' portal routes. Cheap to clone.
///
/// ```
/// use dodo_routes::Portal;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let client = dodo_client::Client::builder().api_key("k").build().unwrap();
/// let portal = Portal::new(client).return_url("https://shop.example/account").unwrap();
/// // A HEAD (a link prefetcher) is answered without any API call.
/// assert_eq!(portal.head_response().status(), 200);
/// // A per-request return URL on another origin is refused before any API call.
/// let query = dodo_routes::PortalQuery::parse("return_url=https%3A%2F%2Fevil.example%2F").unwrap();
/// let e = portal.create_link("cus_1", query, true).await.unwrap_err();
/// assert_eq!(e.field.as_deref(), Some("return_url"));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Portal {
    client: Client,
    return_url: Option<String>,
    expose_upstream_errors: bool,
}

impl Portal {
    /// A portal using `client` for the API call.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            return_url: None,
            expose_upstream_errors: false,
        }
    }

    /// The default return URL (absolute http(s)); a request's own `return_url` must share
    /// its origin, and without one configured a request URL is refused.
    pub fn return_url(mut self, url: impl Into<String>) -> Result<Self, RouteError> {
        self.return_url = Some(check_url("return_url", &url.into())?);
        Ok(self)
    }

    /// Puts the API's status and code under `upstream` in error answers. **Risk:** tells
    /// any visitor how your integration fails; for local debugging only.
    #[must_use]
    pub fn expose_upstream_errors(mut self, expose: bool) -> Self {
        self.expose_upstream_errors = expose;
        self
    }

    /// The client in use.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// 405 unless `method` is GET or HEAD.
    pub fn check_method(method: &Method) -> Result<(), RouteError> {
        if method == Method::GET || method == Method::HEAD {
            Ok(())
        } else {
            Err(RouteError::method_not_allowed())
        }
    }

    /// The answer to a HEAD: 200, `cache-control: no-store`, nothing created or sent.
    pub fn head_response(&self) -> http::Response<Bytes> {
        let mut response = http::Response::new(Bytes::new());
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    /// The query-trusting mode's customer: the query's `customer_id` or 400.
    pub fn customer_from_query(query: &PortalQuery) -> Result<String, RouteError> {
        query
            .customer_id
            .clone()
            .ok_or_else(|| RouteError::missing("customer_id"))
    }

    /// The 403 for a resolver that settled on an empty customer id.
    pub fn no_customer() -> RouteError {
        RouteError::new(
            StatusCode::FORBIDDEN,
            "no_customer",
            "no customer is associated with this request",
        )
    }

    /// Creates the portal session for `customer_id` and answers it: `200 {"link"}` when
    /// `wants_json`, else `302` to the link. Failures are logged and mapped (404
    /// `customer_not_found`, 502/504 upstream).
    pub async fn create_link(
        &self,
        customer_id: &str,
        query: PortalQuery,
        wants_json: bool,
    ) -> Result<http::Response<Bytes>, RouteError> {
        let mut api_query = CreateSessionCustomersCustomerPortalQuery::new();
        if let Some(send) = query.send_email {
            api_query = api_query.send_email(send);
        }
        let return_url = match (query.return_url, &self.return_url) {
            (Some(_), None) => {
                return Err(RouteError::invalid(
                    "return_url",
                    "cannot be chosen per request: this route has no configured return URL",
                ));
            }
            (Some(requested), Some(configured)) if !same_origin(&requested, configured) => {
                return Err(RouteError::invalid(
                    "return_url",
                    "must be on the same origin as the configured return URL",
                ));
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
            .create_session(customer_id, &api_query)
            .await
        {
            Ok(session) if wants_json => Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "link": session.link }),
            )),
            Ok(session) => match HeaderValue::from_str(&session.link) {
                Ok(location) => {
                    let mut response = http::Response::new(Bytes::new());
                    *response.status_mut() = StatusCode::FOUND;
                    response.headers_mut().insert(header::LOCATION, location);
                    Ok(response)
                }
                Err(_) => Err(RouteError::new(
                    StatusCode::BAD_GATEWAY,
                    "upstream_invalid_response",
                    "the Dodo Payments API returned a portal link that is not a valid URL",
                )),
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
                Err(e)
            }
        }
    }
}

/// Logs, once per route built, that a portal route trusts the query's `customer_id`.
pub fn warn_trusting_query() {
    tracing::warn!(
        "customer portal route trusts `customer_id` from the query: anyone who knows an id \
         gets that customer's portal link; protect the route or use CustomerPortal::new \
         with a resolver"
    );
}

/// Whether `Accept` asks for JSON rather than a page (`application/json` listed, and no
/// `text/html` ranked at least as high).
pub fn prefers_json(headers: &HeaderMap) -> bool {
    prefers_json_values(headers.get_all(header::ACCEPT).iter().map(|v| v.as_bytes()))
}

/// [`prefers_json`] over the raw `Accept` values, for adaptors with their own header maps.
pub fn prefers_json_values<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let accept = values
        .into_iter()
        .filter_map(|v| std::str::from_utf8(v).ok())
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
#[derive(Debug, Default, Clone, PartialEq)]
#[non_exhaustive]
pub struct PortalQuery {
    /// `customer_id` (used only by the query-trusting mode).
    pub customer_id: Option<String>,
    /// `send_email`: whether the API emails the link to the customer.
    pub send_email: Option<bool>,
    /// A per-request return URL (checked against the configured one's origin).
    pub return_url: Option<String>,
}

impl PortalQuery {
    /// Parses and checks a raw query string (duplicates, `send_email`, URL shape).
    pub fn parse(raw: &str) -> Result<Self, RouteError> {
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
