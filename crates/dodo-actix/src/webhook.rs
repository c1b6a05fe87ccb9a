//! Webhooks for actix-web: the dispatcher as a route, and a verifying extractor.
//!
//! [`WebhookRoute`] mounts a [`Dispatcher`] over the raw body bytes (a declared
//! `Content-Length` above the limit is refused with 413 before reading; JSON 405 with
//! `Allow: POST` for other methods). [`VerifiedWebhook`] is an extractor for apps that write
//! their own handler: it takes the [`Verifier`] from app data (`web::Data<Verifier>`) and the
//! body limit from [`WebhookConfig`] app data when present. Verification always runs over the
//! exact bytes received.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header::HeaderMap;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Resource, ResponseError, web};
use bytes::Bytes;
use dodo_webhooks::{Dispatcher, VerifiedDelivery, Verifier, WebhookEvent, WebhookHeaders};
use futures_util::future::LocalBoxFuture;

pub use dodo_routes::{DEFAULT_WEBHOOK_BODY_LIMIT, WebhookRejection};

use crate::body::read_limited;
use crate::error::{method_not_allowed, to_actix};

/// actix-web's header map seen by the verifier.
struct Headers<'a>(&'a HeaderMap);

impl WebhookHeaders for Headers<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.0.get(name).map(|v| v.as_bytes())
    }
}

/// A webhook route around a shared [`Dispatcher`]; `C` is the dispatcher's handler state.
///
/// ```
/// use actix_web::{App, test};
/// use dodo_actix::WebhookRoute;
/// use dodo_webhooks::{Dispatcher, Verifier};
///
/// # #[actix_web::main] async fn main() {
/// let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let route = WebhookRoute::new(Dispatcher::new(verifier, ()));
/// let app = test::init_service(App::new().service(route.resource("/api/webhook"))).await;
/// let res = test::call_service(&app, test::TestRequest::post().uri("/api/webhook").set_payload("{}").to_request()).await;
/// assert_eq!(res.status(), 401); // unsigned
/// # }
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

    /// A resource at `path`: POST, and a JSON 405 with `Allow: POST` otherwise.
    pub fn resource(&self, path: &str) -> Resource {
        let this = self.clone();
        web::resource(path)
            .route(
                web::post().to(move |req: HttpRequest, payload: web::Payload| {
                    let this = this.clone();
                    async move { this.run(req, payload).await }
                }),
            )
            .default_service(web::to(|| async { method_not_allowed("POST") }))
    }

    /// Processes one POST: 413 beyond the limit, else the dispatcher's outcome.
    pub async fn run(&self, req: HttpRequest, payload: web::Payload) -> HttpResponse {
        let bytes = match read_limited(&req, payload, self.body_limit).await {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::info!(
                    status = e.status.as_u16(),
                    code = e.code,
                    "webhook body rejected"
                );
                return to_actix(e.to_response());
            }
        };
        let headers = Headers(req.headers());
        to_actix(dodo_routes::webhook::process(&self.dispatcher, &headers, &bytes).await)
    }
}

/// The body limit the [`VerifiedWebhook`] extractor applies, as app data (default
/// [`DEFAULT_WEBHOOK_BODY_LIMIT`]).
#[derive(Debug, Clone, Copy)]
pub struct WebhookConfig {
    /// Maximum body size in bytes; larger → 413.
    pub body_limit: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            body_limit: DEFAULT_WEBHOOK_BODY_LIMIT,
        }
    }
}

/// A delivery whose signature checked out, with its parsed event and raw body.
///
/// ```
/// use actix_web::{App, HttpResponse, test, web};
/// use dodo_actix::VerifiedWebhook;
/// use dodo_webhooks::{EventPayload, Verifier};
///
/// async fn hook(webhook: VerifiedWebhook) -> HttpResponse {
///     if let EventPayload::PaymentSucceeded(payment) = &webhook.event.payload {
///         println!("{} paid (delivery {})", payment.payment_id, webhook.delivery.id);
///     }
///     HttpResponse::Ok().finish()
/// }
///
/// # #[actix_web::main] async fn main() {
/// let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let app = test::init_service(
///     App::new().app_data(web::Data::new(verifier)).route("/webhook", web::post().to(hook)),
/// )
/// .await;
/// let res = test::call_service(&app, test::TestRequest::post().uri("/webhook").set_payload("{}").to_request()).await;
/// assert_eq!(res.status(), 401);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedWebhook {
    /// What verification established (`webhook-id`, `webhook-timestamp`).
    pub delivery: VerifiedDelivery,
    /// The parsed event (unknown types are [`dodo_webhooks::EventPayload::Unknown`]).
    pub event: WebhookEvent,
    /// The exact bytes that were verified.
    pub body: Bytes,
}

/// Why the [`VerifiedWebhook`] extractor refused a request, answered as JSON.
#[derive(Debug)]
pub struct ExtractError(dodo_routes::RouteError);

impl std::fmt::Display for ExtractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl ResponseError for ExtractError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::from_u16(self.0.status.as_u16())
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        to_actix(dodo_routes::webhook::rejected(&self.0))
    }
}

impl FromRequest for VerifiedWebhook {
    type Error = ExtractError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = web::Payload::from_request(&req, payload).into_inner();
        Box::pin(async move {
            let payload = payload.map_err(|_| ExtractError(dodo_routes::body_read_failed()))?;
            let verifier = req
                .app_data::<web::Data<Verifier>>()
                .map(|v| v.get_ref().clone())
                .or_else(|| req.app_data::<Verifier>().cloned())
                .ok_or_else(|| {
                    ExtractError(dodo_routes::RouteError::new(
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        "configuration_error",
                        "no webhook verifier is configured for this route",
                    ))
                })?;
            let limit = req
                .app_data::<WebhookConfig>()
                .or_else(|| {
                    req.app_data::<web::Data<WebhookConfig>>()
                        .map(|d| d.get_ref())
                })
                .map_or(DEFAULT_WEBHOOK_BODY_LIMIT, |c| c.body_limit);
            let body = read_limited(&req, payload, limit).await.map_err(|e| {
                ExtractError(if e.status == http::StatusCode::PAYLOAD_TOO_LARGE {
                    dodo_routes::webhook::too_large()
                } else {
                    e
                })
            })?;
            let (delivery, event) =
                dodo_routes::webhook::verify(&verifier, &Headers(req.headers()), &body)
                    .map_err(|e| ExtractError(e.to_route_error()))?;
            Ok(Self {
                delivery,
                event,
                body,
            })
        })
    }
}
