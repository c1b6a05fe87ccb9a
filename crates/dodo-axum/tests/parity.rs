//! Parity with the Express adaptor (`@dodopayments/express` 0.2.6 / core 0.3.9).
//!
//! One app mounts the routes exactly as the Express docs do (`GET /api/checkout` static,
//! `POST /api/checkout` session, `POST /api/checkout/dynamic`, `GET /api/customer-portal`,
//! `POST /api/webhook`). Each row sends one of the Express adaptor's documented example
//! requests (or a documented edge case), records what Express answers (from
//! `reference/express-adaptor.md`) and checks what we answer. `same` rows must match
//! Express; every other row names the flaw we deliberately fix.

mod support;

use axum::Router;
use axum::routing::get;
use dodo_axum::checkout::TEST_CHECKOUT_HOST;
use dodo_axum::{Checkout, CheckoutFlow, CustomerPortal, WebhookRoute, method_not_allowed};
use dodo_webhooks::{Dispatcher, ManualClock, Verifier, WebhookSecret};
use serde_json::{Value, json};
use support::{billing, fake_dodo, http};

const NOW: i64 = 1_754_285_445;

fn verifier() -> Verifier {
    Verifier::new(WebhookSecret::from_bytes(b"parity-test-secret-0123456789abc".to_vec()).unwrap())
        .with_clock(ManualClock::new(NOW))
}

fn spec_example(event_type: &str) -> Value {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/dodo-openapi/openapi.json");
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    spec["webhooks"][event_type]["post"]["requestBody"]["content"]["application/json"]["example"]
        .clone()
}

enum Req {
    Get(&'static str),
    Post(&'static str, Value),
    Webhook { body: Vec<u8>, signed: bool },
    Other(reqwest::Method, &'static str),
}

enum Expect {
    /// Exact JSON body.
    Json(Value),
    /// A JSON error with this code.
    Error(&'static str),
    /// A redirect to this location.
    Redirect(&'static str),
    /// A JSON body whose `status` field is this value (webhook acknowledgements).
    Ack(&'static str),
}

struct Row {
    name: &'static str,
    req: Req,
    /// What the Express adaptor answers (status and body).
    express: &'static str,
    status: u16,
    expect: Expect,
    /// `same`, or the Express flaw this row deliberately fixes.
    difference: &'static str,
}

#[tokio::test]
async fn express_documented_requests() {
    let fake = fake_dodo().await;
    let client = fake.client();
    let checkout = Checkout::new(client.clone())
        .checkout_host(TEST_CHECKOUT_HOST)
        .return_url("https://example.com/success")
        .unwrap();
    let dispatcher = Dispatcher::new(verifier(), ()).on_payment_succeeded(|_, _| async { Ok(()) });
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
    let base = support::serve(app).await;

    let compact = serde_json::to_vec(&spec_example("payment.succeeded")).unwrap();
    let pretty = serde_json::to_vec_pretty(&spec_example("payment.succeeded")).unwrap();
    let credit = serde_json::to_vec(&spec_example("credit.added")).unwrap();
    let unknown = br#"{"business_id":"bus_1","type":"widget.made","timestamp":"2025-08-04T05:30:45Z","data":{"x":1}}"#.to_vec();

    let rows = vec![
        Row {
            name: "static: README example",
            req: Req::Get("/api/checkout?productId=pdt_once"),
            express: "200 {checkout_url}",
            status: 200,
            expect: Expect::Json(
                json!({"checkout_url": "https://test.checkout.dodopayments.com/buy/pdt_once?quantity=1&redirect_url=https%3A%2F%2Fexample.com%2Fsuccess"}),
            ),
            difference: "same",
        },
        Row {
            name: "static: prefill, flags, metadata",
            req: Req::Get(
                "/api/checkout?productId=pdt_once&quantity=2&email=a%40b.co&disableEmail=true&disableCity=maybe&metadata_ref=x1",
            ),
            express: "200, disableCity dropped",
            status: 400,
            expect: Expect::Error("invalid_parameter"),
            difference: "booleans validated: `maybe` is a 400 naming disableCity instead of being dropped",
        },
        Row {
            name: "static: prefill and metadata (valid)",
            req: Req::Get(
                "/api/checkout?productId=pdt_once&quantity=2&email=a%40b.co&disableEmail=true&metadata_ref=x1",
            ),
            express: "200 {checkout_url}",
            status: 200,
            expect: Expect::Json(
                json!({"checkout_url": "https://test.checkout.dodopayments.com/buy/pdt_once?quantity=2&redirect_url=https%3A%2F%2Fexample.com%2Fsuccess&email=a%40b.co&disableEmail=true&metadata_ref=x1"}),
            ),
            difference: "same",
        },
        Row {
            name: "static: non-numeric quantity",
            req: Req::Get("/api/checkout?productId=pdt_once&quantity=abc"),
            express: "200 with quantity=abc in the link",
            status: 400,
            expect: Expect::Error("invalid_parameter"),
            difference: "quantity validated (positive integer)",
        },
        Row {
            name: "static: missing productId",
            req: Req::Get("/api/checkout"),
            express: "400 text/html \"Please provide productId query parameter\"",
            status: 400,
            expect: Expect::Error("missing_parameter"),
            difference: "JSON error body",
        },
        Row {
            name: "static: unknown product",
            req: Req::Get("/api/checkout?productId=pdt_nope"),
            express: "400 text/html \"Product not found\"",
            status: 404,
            expect: Expect::Error("product_not_found"),
            difference: "404 JSON instead of 400 text",
        },
        Row {
            name: "static: API outage",
            req: Req::Get("/api/checkout?productId=pdt_boom"),
            express: "400 text/html \"Product not found\"",
            status: 502,
            expect: Expect::Error("upstream_unavailable"),
            difference: "502 `upstream_unavailable` instead of a misleading 400; the API's message is logged, not shown",
        },
        Row {
            name: "session: README example",
            req: Req::Post(
                "/api/checkout",
                json!({
                    "product_cart": [{"product_id": "pdt_once", "quantity": 1}],
                    "customer": {"email": "customer@example.com", "name": "John Doe"},
                    "return_url": "https://example.com/success",
                }),
            ),
            express: "200 {checkout_url}",
            status: 200,
            expect: Expect::Json(
                json!({"checkout_url": "https://test.checkout.dodopayments.com/session/cks_1", "session_id": "cks_1"}),
            ),
            difference: "session_id returned too",
        },
        Row {
            name: "session: newer API field (custom_fields)",
            req: Req::Post(
                "/api/checkout",
                json!({
                    "product_cart": [{"product_id": "pdt_once", "quantity": 1}],
                    "custom_fields": [{"key": "team", "label": "Team", "field_type": "text"}],
                }),
            ),
            express: "200, custom_fields stripped before the API call",
            status: 400,
            expect: Expect::Error("field_not_allowed"),
            difference: "a field outside the browser policy is a 400 naming it, not silently dropped (set it in the hook)",
        },
        Row {
            name: "session: bind an existing customer",
            req: Req::Post(
                "/api/checkout",
                json!({
                    "product_cart": [{"product_id": "pdt_once", "quantity": 1}],
                    "customer": {"customer_id": "cus_victim"},
                }),
            ),
            express: "200, any visitor checks out as any customer",
            status: 400,
            expect: Expect::Error("field_not_allowed"),
            difference: "customer_id is server-only (the hook binds the signed-in customer)",
        },
        Row {
            name: "session: charge a saved card",
            req: Req::Post(
                "/api/checkout",
                json!({
                    "product_cart": [{"product_id": "pdt_once", "quantity": 1}],
                    "payment_method_id": "pm_victim",
                    "confirm": true,
                }),
            ),
            express: "200, payment_method_id stripped",
            status: 400,
            expect: Expect::Error("field_not_allowed"),
            difference: "payment_method_id and confirm are server-only: refused, never forwarded",
        },
        Row {
            name: "dynamic: pay-what-you-want amount from the browser",
            req: Req::Post(
                "/api/checkout/dynamic",
                json!({
                    "product_cart": [{"product_id": "pdt_once", "quantity": 1, "amount": 1}],
                    "billing": billing(),
                    "customer": {"email": "customer@example.com"},
                }),
            ),
            express: "200, the visitor's amount forwarded",
            status: 400,
            expect: Expect::Error("field_not_allowed"),
            difference: "a cart line's amount is server-only",
        },
        Row {
            name: "dynamic: return_url on another site",
            req: Req::Post(
                "/api/checkout/dynamic",
                json!({
                    "product_id": "pdt_once",
                    "billing": billing(),
                    "customer": {"email": "customer@example.com"},
                    "return_url": "https://evil.example/phish",
                }),
            ),
            express: "200, the buyer is sent to any site after paying",
            status: 400,
            expect: Expect::Error("invalid_parameter"),
            difference: "return_url must share the configured return URL's origin",
        },
        Row {
            name: "session: empty cart",
            req: Req::Post("/api/checkout", json!({"product_cart": []})),
            express: "400 text/html \"Invalid checkout session payload…\"",
            status: 400,
            expect: Expect::Error("invalid_parameter"),
            difference: "JSON error naming product_cart",
        },
        Row {
            name: "dynamic: README example (one-time)",
            req: Req::Post(
                "/api/checkout/dynamic",
                json!({
                    "product_id": "pdt_once",
                    "quantity": 1,
                    "billing": billing(),
                    "customer": {"email": "customer@example.com", "name": "John Doe"},
                    "metadata": {"order_id": "ord_1"},
                }),
            ),
            express: "200 {checkout_url}",
            status: 200,
            expect: Expect::Json(
                json!({"checkout_url": "https://test.checkout.dodopayments.com/pay_1", "payment_id": "pay_1"}),
            ),
            difference: "payment_id returned too",
        },
        Row {
            name: "dynamic: subscription with trial_period_days 0",
            req: Req::Post(
                "/api/checkout/dynamic",
                json!({
                    "product_id": "pdt_sub",
                    "billing": billing(),
                    "customer": {"email": "customer@example.com", "name": "John Doe"},
                    "trial_period_days": 0,
                }),
            ),
            express: "200 {checkout_url}, trial_period_days 0 dropped (any other trial forwarded)",
            status: 400,
            expect: Expect::Error("field_not_allowed"),
            difference: "a trial is server-only (the hook sets it); Express lets any visitor choose any trial",
        },
        Row {
            name: "dynamic: upstream 422",
            req: Req::Post(
                "/api/checkout/dynamic",
                json!({
                    "product_id": "pdt_once",
                    "billing": billing(),
                    "customer": {"email": "customer@example.com"},
                    "discount_code": "BAD",
                }),
            ),
            express: "400 text/html \"422 {…}\"",
            status: 400,
            expect: Expect::Error("upstream_invalid_request"),
            difference: "400 JSON with a stable code; the API's message stays in the logs",
        },
        Row {
            name: "checkout: wrong method",
            req: Req::Other(reqwest::Method::DELETE, "/api/checkout"),
            express: "405 text/html \"Method Not Allowed\"",
            status: 405,
            expect: Expect::Error("method_not_allowed"),
            difference: "JSON error body",
        },
        Row {
            name: "portal: README example",
            req: Req::Get("/api/customer-portal?customer_id=cus_1&send_email=true"),
            express: "302 to the portal link",
            status: 302,
            expect: Expect::Redirect("https://portal.example/cus_1?send_email=true"),
            difference: "same, but only through CustomerPortal::trusting_query_customer_id (logs a warning); the default constructor needs a resolver",
        },
        Row {
            name: "portal: missing customer_id",
            req: Req::Get("/api/customer-portal"),
            express: "400 text/html \"Missing customerId in query parameters\"",
            status: 400,
            expect: Expect::Error("missing_parameter"),
            difference: "JSON error naming customer_id",
        },
        Row {
            name: "portal: unknown customer",
            req: Req::Get("/api/customer-portal?customer_id=cus_nope"),
            express: "500 text/html \"Failed to create customer portal session: …\"",
            status: 404,
            expect: Expect::Error("customer_not_found"),
            difference: "404 JSON instead of 500",
        },
        Row {
            name: "webhook: signed payment.succeeded (compact)",
            req: Req::Webhook {
                body: compact.clone(),
                signed: true,
            },
            express: "200, empty body",
            status: 200,
            expect: Expect::Ack("delivered"),
            difference: "JSON acknowledgement body",
        },
        Row {
            name: "webhook: signed payment.succeeded (pretty-printed)",
            req: Req::Webhook {
                body: pretty,
                signed: true,
            },
            express: "401 (verifies its re-serialisation, not the bytes sent)",
            status: 200,
            expect: Expect::Ack("delivered"),
            difference: "raw bytes verified",
        },
        Row {
            name: "webhook: credit.added (no Express schema)",
            req: Req::Webhook {
                body: credit,
                signed: true,
            },
            express: "400 \"Error parsing webhook payload\" (Dodo retries)",
            status: 200,
            expect: Expect::Ack("unhandled"),
            difference: "all 48 types parsed; no handler registered → acknowledged with 2xx",
        },
        Row {
            name: "webhook: event type nobody knows yet",
            req: Req::Webhook {
                body: unknown,
                signed: true,
            },
            express: "400 \"Error parsing webhook payload\" (Dodo retries)",
            status: 200,
            expect: Expect::Ack("unhandled"),
            difference: "acknowledged with 2xx",
        },
        Row {
            name: "webhook: unsigned",
            req: Req::Webhook {
                body: compact,
                signed: false,
            },
            express: "401 text/html with the verifier's message",
            status: 401,
            expect: Expect::Error("missing_header"),
            difference: "JSON error with a stable code",
        },
        Row {
            name: "webhook: wrong method",
            req: Req::Other(reqwest::Method::PUT, "/api/webhook"),
            express: "405 text/html \"Method not allowed. Use POST\"",
            status: 405,
            expect: Expect::Error("method_not_allowed"),
            difference: "JSON error body",
        },
    ];

    let client = http();
    let mut failures = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let request = match &row.req {
            Req::Get(path) => client.get(format!("{base}{path}")),
            Req::Post(path, body) => client.post(format!("{base}{path}")).json(body),
            Req::Other(method, path) => client.request(method.clone(), format!("{base}{path}")),
            Req::Webhook { body, signed } => {
                let mut r = client
                    .post(format!("{base}/api/webhook"))
                    .header("content-type", "application/json")
                    .body(body.clone());
                if *signed {
                    let id = format!("msg_row_{i}");
                    for (name, value) in verifier().signed_headers(&id, NOW, body).pairs() {
                        r = r.header(name, value);
                    }
                }
                r
            }
        };
        let resp = request.send().await.unwrap();
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let ok = status == row.status
            && match &row.expect {
                Expect::Json(expected) => &body == expected,
                Expect::Error(code) => body["error"]["code"] == *code,
                Expect::Redirect(to) => location.as_deref() == Some(*to),
                Expect::Ack(disposition) => {
                    body["received"] == true && body["status"] == *disposition
                }
            };
        println!(
            "{:<48} | express: {:<60} | ours: {} | {}",
            row.name, row.express, status, row.difference
        );
        if !ok {
            failures.push(format!("{}: got {status} {text}", row.name));
        }
    }
    assert!(failures.is_empty(), "rows failed:\n{}", failures.join("\n"));
}
