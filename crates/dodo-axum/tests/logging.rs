//! No personal data in logs: drive every route with requests full of personal data, in
//! success and failure cases, capture all `tracing` output (every level, every crate), and
//! check that none of it appears.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use dodo_axum::{Checkout, CheckoutFlow, CustomerPortal, WebhookRoute, method_not_allowed};
use dodo_webhooks::{Dispatcher, ManualClock, Verifier, WebhookSecret};
use serde_json::json;
use support::{fake_dodo, http, serve};

const NOW: i64 = 1_754_285_445;
const EMAIL: &str = "very.private.person@example.com";
const PHONE: &str = "+15550001234";
const STREET: &str = "42 Secret Lane";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_personal_data_in_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fake = fake_dodo().await;
    let client = dodo_client::Client::builder()
        .api_key("sk_test_fake")
        .base_url(&fake.base_url)
        .max_retries(0)
        .log_level(dodo_client::LogLevel::Debug)
        .build()
        .unwrap();
    let checkout = Checkout::new(client.clone());
    let verifier = Verifier::new(
        WebhookSecret::from_bytes(b"logging-test-secret-0123456789ab".to_vec()).unwrap(),
    )
    .with_clock(ManualClock::new(NOW));
    let dispatcher = Dispatcher::new(verifier.clone(), ())
        .on_payment_succeeded(|_, _| async { Err::<(), _>(std::io::Error::other("boom").into()) });
    let app = Router::new()
        .route(
            "/api/checkout",
            get(checkout.handler(CheckoutFlow::Static))
                .post(checkout.handler(CheckoutFlow::Session))
                .fallback(method_not_allowed),
        )
        .route("/api/checkout/dynamic", checkout.dynamic_route())
        .route(
            "/api/customer-portal",
            CustomerPortal::trusting_query_customer_id(client).route(),
        )
        .route("/api/webhook", WebhookRoute::new(dispatcher).route());
    let base = serve(app).await;
    let http = http();

    let billing =
        json!({"country": "US", "street": STREET, "city": "X", "state": "Y", "zipcode": "1"});
    let customer = json!({"email": EMAIL, "name": "Private Person", "phone_number": PHONE});
    for query in [
        format!("productId=pdt_once&email={EMAIL}&addressLine={STREET}"),
        format!("productId=pdt_nope&email={EMAIL}"),
        format!("productId=pdt_boom&email={EMAIL}"),
        format!("productId=pdt_once&email={EMAIL}&quantity=x"),
    ] {
        http.get(format!("{base}/api/checkout?{query}"))
            .send()
            .await
            .unwrap();
    }
    for body in [
        json!({"product_id": "pdt_once", "billing": billing, "customer": customer}),
        json!({"product_id": "pdt_once", "billing": billing, "customer": customer, "discount_code": "BAD"}),
        json!({"product_id": "pdt_nope", "billing": billing, "customer": customer}),
        json!({"product_id": "pdt_once", "billing": {"street": STREET}, "customer": customer}),
    ] {
        http.post(format!("{base}/api/checkout/dynamic"))
            .json(&body)
            .send()
            .await
            .unwrap();
    }
    for body in [
        json!({"product_cart": [{"product_id": "pdt_once", "quantity": 1}], "customer": customer, "billing_address": billing}),
        json!({"product_cart": [{"product_id": "pdt_boom", "quantity": 1}], "customer": customer}),
        json!({"product_cart": [], "customer": customer}),
    ] {
        http.post(format!("{base}/api/checkout"))
            .json(&body)
            .send()
            .await
            .unwrap();
    }
    let webhook = serde_json::to_vec(&json!({
        "business_id": "bus_1",
        "type": "payment.succeeded",
        "timestamp": "2025-08-04T05:30:45Z",
        "data": {"payment_id": "pay_1", "customer": {"email": EMAIL, "phone_number": PHONE}},
    }))
    .unwrap();
    for signed in [true, false] {
        let mut req = http
            .post(format!("{base}/api/webhook"))
            .body(webhook.clone());
        if signed {
            for (k, v) in verifier.signed_headers("msg_1", NOW, &webhook).pairs() {
                req = req.header(k, v);
            }
        }
        req.send().await.unwrap();
    }

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("checkout request failed"),
        "logging is captured: {logs}"
    );
    assert!(
        logs.contains("webhook"),
        "webhook outcomes are logged: {logs}"
    );
    for secret in [EMAIL, PHONE, STREET, "Private Person", "sk_test_fake"] {
        assert!(
            !logs.contains(secret),
            "{secret:?} leaked into the logs:\n{logs}"
        );
    }
}
