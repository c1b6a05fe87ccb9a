//! The customer portal route for actix-web.
//!
//! Same rules as the axum adaptor's (they are [`dodo_routes::Portal`]'s): the customer comes
//! from a resolver over **your** session, never from the query, unless the route is built
//! with the explicitly named [`CustomerPortal::trusting_query_customer_id`] (which logs a
//! warning). GET answers `302` to the link (or `200 {"link"}` when `Accept` prefers JSON);
//! HEAD answers `200` without creating a session or sending an email; other methods get a
//! JSON 405 with `Allow: GET,HEAD`.

use std::future::Future;
use std::sync::Arc;

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, Resource, web};
use dodo_client::Client;
use dodo_routes::{Portal, PortalQuery};
use futures_util::future::LocalBoxFuture;

use crate::error::{RouteError, method_not_allowed, to_actix};

type Resolver =
    Arc<dyn Fn(HttpRequest) -> LocalBoxFuture<'static, Result<String, HttpResponse>> + Send + Sync>;

/// Customer portal route configuration.
///
/// ```
/// use actix_web::{App, HttpMessage, HttpRequest, error::ErrorUnauthorized, test};
///
/// # #[actix_web::main] async fn main() {
/// let client = dodo_client::Client::builder().api_key("k").build().unwrap();
/// let portal = dodo_actix::CustomerPortal::new(client, |req: HttpRequest| async move {
///     // Your session middleware put the signed-in customer's id in the extensions.
///     req.extensions().get::<String>().cloned().ok_or(ErrorUnauthorized("sign in first"))
/// });
/// let app = test::init_service(App::new().service(portal.resource("/api/customer-portal"))).await;
/// let res = test::call_service(&app, test::TestRequest::get().uri("/api/customer-portal?customer_id=cus_1").to_request()).await;
/// assert_eq!(res.status(), 401); // the query's customer_id is never trusted
/// # }
/// ```
#[derive(Clone)]
pub struct CustomerPortal {
    core: Portal,
    /// `None` only in the explicitly named query-trusting mode.
    resolver: Option<Resolver>,
}

impl std::fmt::Debug for CustomerPortal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerPortal")
            .field("core", &self.core)
            .field("trusts_query_customer_id", &self.resolver.is_none())
            .finish()
    }
}

impl CustomerPortal {
    /// A portal route whose customer comes from `resolve`: an async function of the
    /// [`HttpRequest`] (headers, extensions, app data) returning the signed-in customer's id
    /// or a rejection. The query's `customer_id` is ignored.
    pub fn new<F, Fut, E>(client: Client, resolve: F) -> Self
    where
        F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, E>> + 'static,
        E: Into<actix_web::Error> + 'static,
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

    /// Replaces the resolver (also turns a query-trusting route into a resolving one).
    #[must_use]
    pub fn resolver<F, Fut, E>(mut self, resolve: F) -> Self
    where
        F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, E>> + 'static,
        E: Into<actix_web::Error> + 'static,
    {
        self.resolver = Some(resolver(resolve));
        self
    }

    /// A default `return_url`; a request's own must share its origin.
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

    /// A resource at `path`: GET and HEAD, a JSON 405 with `Allow: GET,HEAD` otherwise.
    pub fn resource(&self, path: &str) -> Resource {
        let this = self.clone();
        let handler = move |req: HttpRequest| {
            let this = this.clone();
            async move { this.run(req).await }
        };
        web::resource(path)
            .route(web::get().to(handler.clone()))
            .route(web::head().to(handler))
            .default_service(web::to(|| async { method_not_allowed("GET,HEAD") }))
    }

    /// Runs the route for one request.
    pub async fn run(&self, req: HttpRequest) -> HttpResponse {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return to_actix(dodo_routes::RouteError::method_not_allowed().to_response());
        }
        let query = match PortalQuery::parse(req.query_string()) {
            Ok(q) => q,
            Err(e) => return to_actix(e.to_response()),
        };
        if req.method() == Method::HEAD {
            // A HEAD (link prefetchers, scanners) must not create a session or send email.
            return to_actix(self.core.head_response());
        }
        let wants_json = dodo_routes::portal::prefers_json_values(
            req.headers().get_all(header::ACCEPT).map(|v| v.as_bytes()),
        );
        let customer_id = match &self.resolver {
            Some(resolve) => match resolve(req).await {
                Ok(id) if !id.is_empty() => id,
                Ok(_) => return to_actix(Portal::no_customer().to_response()),
                Err(rejection) => return rejection,
            },
            None => match Portal::customer_from_query(&query) {
                Ok(id) => id,
                Err(e) => return to_actix(e.to_response()),
            },
        };
        match self.core.create_link(&customer_id, query, wants_json).await {
            Ok(response) => to_actix(response),
            Err(e) => to_actix(e.to_response()),
        }
    }
}

fn resolver<F, Fut, E>(resolve: F) -> Resolver
where
    F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, E>> + 'static,
    E: Into<actix_web::Error> + 'static,
{
    Arc::new(move |req| {
        let fut = resolve(req);
        Box::pin(async move { fut.await.map_err(|e| e.into().error_response()) })
    })
}
