//! Test support: a scripted fake Dodo API that records requests, and helpers to serve an
//! app on 127.0.0.1:0 and call it with reqwest.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// One request the fake API received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Raw (still percent-encoded) path.
    pub path: String,
    pub query: Option<String>,
    pub body: Value,
    pub authorization: Option<String>,
}

/// A running fake API.
pub struct FakeDodo {
    pub base_url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeDodo {
    /// Requests received so far, excluding product lookups.
    pub fn writes(&self) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method != Method::GET)
            .cloned()
            .collect()
    }

    /// All requests received so far.
    pub fn all(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// A client for this fake (no retries, so failures surface at once).
    pub fn client(&self) -> dodo_client::Client {
        dodo_client::Client::builder()
            .api_key("sk_test_fake")
            .base_url(&self.base_url)
            .max_retries(0)
            .build()
            .unwrap()
    }
}

type Log = Arc<Mutex<Vec<Recorded>>>;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

fn customer() -> Value {
    json!({"customer_id": "cus_1", "email": "jane@example.com", "name": "Jane"})
}

async fn product(Path(id): Path<String>) -> Response {
    let recurring = match id.as_str() {
        "pdt_once" | "pdt a/b" => false,
        "pdt_sub" => true,
        "pdt_boom" => return error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "boom"),
        "pdt_locked" => return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "bad key"),
        _ => return error(StatusCode::NOT_FOUND, "NOT_FOUND", "Product not found"),
    };
    axum::Json(json!({"product_id": id, "is_recurring": recurring, "name": "Thing"}))
        .into_response()
}

async fn payments(Json(body): Json<Value>) -> Response {
    if body["discount_code"] == "BAD" {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_DISCOUNT",
            "Discount code is invalid",
        );
    }
    axum::Json(json!({
        "payment_id": "pay_1",
        "payment_link": "https://test.checkout.dodopayments.com/pay_1",
        "client_secret": "secret",
        "customer": customer(),
        "total_amount": 1000,
        "metadata": body.get("metadata").cloned().unwrap_or(json!({})),
    }))
    .into_response()
}

async fn subscriptions(Json(body): Json<Value>) -> Response {
    if body["discount_code"] == "BAD" {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_DISCOUNT",
            "Discount code is invalid",
        );
    }
    axum::Json(json!({
        "subscription_id": "sub_1",
        "payment_id": "pay_2",
        "payment_link": "https://test.checkout.dodopayments.com/sub_1",
        "client_secret": "secret",
        "customer": customer(),
        "recurring_pre_tax_amount": 500,
        "addons": [],
        "metadata": {},
    }))
    .into_response()
}

async fn checkouts(Json(body): Json<Value>) -> Response {
    if body.get("payment_method_id").is_some() {
        return axum::Json(
            json!({"session_id": "cks_2", "checkout_url": null, "payment_id": "pay_9"}),
        )
        .into_response();
    }
    if body["product_cart"][0]["product_id"] == "pdt_boom" {
        return error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try later");
    }
    axum::Json(json!({
        "session_id": "cks_1",
        "checkout_url": "https://test.checkout.dodopayments.com/session/cks_1",
    }))
    .into_response()
}

async fn portal(Path(id): Path<String>, req: Request) -> Response {
    if id != "cus_1" {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "Customer not found");
    }
    let query = req.uri().query().unwrap_or("").to_owned();
    axum::Json(json!({"link": format!("https://portal.example/cus_1?{query}")})).into_response()
}

async fn record(State(log): State<Log>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let value: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    log.lock().unwrap().push(Recorded {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        body: value,
        authorization: parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Starts the fake API.
pub async fn fake_dodo() -> FakeDodo {
    let requests: Log = Arc::default();
    let app = Router::new()
        .route("/products/{id}", get(product))
        .route("/payments", post(payments))
        .route("/subscriptions", post(subscriptions))
        .route("/checkouts", post(checkouts))
        .route("/customers/{id}/customer-portal/session", post(portal))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&requests),
            record,
        ));
    let base_url = serve(app).await;
    FakeDodo { base_url, requests }
}

/// Serves `app` on 127.0.0.1:0 and returns its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

/// A reqwest client that does not follow redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Status, headers and JSON body of a response (the body must be JSON).
pub async fn json(resp: reqwest::Response) -> (u16, HeaderMap, Value) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, headers, body)
}

/// The billing object of the Express README examples.
pub fn billing() -> Value {
    json!({"city": "San Francisco", "country": "US", "state": "CA", "street": "1 Main St", "zipcode": "94107"})
}

/// A request to the fake (or any) server, sent with a JSON body.
pub async fn post_json(url: &str, body: &Value) -> (u16, HeaderMap, Value) {
    json(http().post(url).json(body).send().await.unwrap()).await
}

/// A GET, answered with JSON.
pub async fn get_json(url: &str) -> (u16, HeaderMap, Value) {
    json(http().get(url).send().await.unwrap()).await
}
