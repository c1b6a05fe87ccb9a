//! [`WebhookRoute`]: a [`Dispatcher`] mounted as an axum route.
//!
//! The handler reads the raw body with a limit, hands headers and bytes to
//! [`Dispatcher::process`], logs the outcome (webhook id, event type, disposition, status;
//! never the body) and answers the outcome's status and JSON body.

use std::sync::Arc;

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use dodo_webhooks::Dispatcher;

use super::DEFAULT_WEBHOOK_BODY_LIMIT;
use crate::body::read_checked;
use crate::error::{RouteError, method_not_allowed, to_axum};

/// A webhook route around a shared [`Dispatcher`]; `C` is the dispatcher's handler state.
///
/// ```
/// use axum::Router;
/// use dodo_axum::WebhookRoute;
/// use dodo_webhooks::{Dispatcher, MemoryIdempotency, Verifier};
///
/// #[derive(Clone)]
/// struct Db; // your pool
///
/// let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let dispatcher = Dispatcher::new(verifier, Db)
///     .idempotency(MemoryIdempotency::new())
///     .on_payment_succeeded(|ctx, payment| async move {
///         let _db: Db = ctx.state; // app state in every handler
///         println!("{} paid", payment.payment_id);
///         Ok(())
///     });
/// let app: Router = Router::new()
///     .route("/api/webhook", WebhookRoute::new(dispatcher).body_limit(256 * 1024).route());
/// ```
pub struct WebhookRoute<C = ()> {
    dispatcher: Arc<Dispatcher<C>>,
    body_limit: usize,
}

impl<C> Clone for WebhookRoute<C> {
    fn clone(&self) -> Self {
        Self {
            dispatcher: Arc::clone(&self.dispatcher),
            body_limit: self.body_limit,
        }
    }
}

impl<C> std::fmt::Debug for WebhookRoute<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRoute")
            .field("dispatcher", &self.dispatcher)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

impl<C: Clone + Send + Sync + 'static> WebhookRoute<C> {
    /// A route processing deliveries with `dispatcher`.
    pub fn new(dispatcher: Dispatcher<C>) -> Self {
        Self::shared(Arc::new(dispatcher))
    }

    /// A route around an already shared dispatcher.
    pub fn shared(dispatcher: Arc<Dispatcher<C>>) -> Self {
        Self {
            dispatcher,
            body_limit: DEFAULT_WEBHOOK_BODY_LIMIT,
        }
    }

    /// Maximum body size in bytes (default [`DEFAULT_WEBHOOK_BODY_LIMIT`]); larger → 413.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The dispatcher.
    pub fn dispatcher(&self) -> &Arc<Dispatcher<C>> {
        &self.dispatcher
    }

    /// `POST` route with a JSON 405 for other methods.
    pub fn route<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        post(self.clone()).fallback(method_not_allowed)
    }

    /// Processes one request: 405 for non-POST, 413 beyond the limit, else the outcome.
    pub async fn run(&self, req: Request) -> Response {
        if req.method() != Method::POST {
            return RouteError::method_not_allowed().into_response();
        }
        let (parts, body) = req.into_parts();
        let bytes = match read_checked(&parts.headers, body, self.body_limit).await {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::info!(
                    status = e.status.as_u16(),
                    code = e.code,
                    "webhook body rejected"
                );
                return e.into_response();
            }
        };
        to_axum(dodo_routes::webhook::process(&self.dispatcher, &parts.headers, &bytes).await)
    }
}

impl<C: Clone + Send + Sync + 'static, S: Send + Sync + 'static> Handler<(), S>
    for WebhookRoute<C>
{
    type Future = dodo_types::BoxFuture<'static, Response>;

    fn call(self, req: Request, _state: S) -> Self::Future {
        Box::pin(async move { self.run(req).await })
    }
}
