//! End to end: the example app configured like `cargo run -p actix-routes` with
//! `DODO_PAYMENTS_BASE_URL` pointing at the in-process emulator, called over real HTTP.

use std::collections::HashMap;

use actix_routes::{Settings, app};
use dodo_emulator::{Emulator, EmulatorConfig};
use dodo_webhooks::Verifier;
use serde_json::{Value, json};

struct Running {
    emu: Emulator,
    base: String,
    http: reqwest::Client,
}

async fn start() -> Running {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let vars = HashMap::from([
        ("DODO_PAYMENTS_API_KEY", emu.api_key().to_owned()),
        ("DODO_PAYMENTS_WEBHOOK_KEY", emu.webhook_secret().to_owned()),
        ("DODO_PAYMENTS_BASE_URL", emu.base_url().to_owned()),
        // Ignored in favour of the base URL, as documented.
        ("DODO_PAYMENTS_ENVIRONMENT", "test_mode".to_owned()),
        (
            "DODO_PAYMENTS_RETURN_URL",
            "https://shop.example/thanks".to_owned(),
        ),
    ]);
    let settings = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let routes = app(&settings).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = actix_web::HttpServer::new(move || {
        let routes = routes.clone();
        actix_web::App::new().configure(move |cfg| routes.configure(cfg))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Running {
        emu,
        base: format!("http://{addr}"),
        http,
    }
}

impl Running {
    async fn api(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}{path}", self.emu.base_url()))
            .bearer_auth(self.emu.api_key())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    async fn product(&self, recurring: bool) -> String {
        let price = if recurring {
            json!({"type": "recurring_price", "price": 900, "currency": "USD", "discount": 0,
                   "purchasing_power_parity": false, "payment_frequency_count": 1,
                   "payment_frequency_interval": "Month", "subscription_period_count": 1,
                   "subscription_period_interval": "Year"})
        } else {
            json!({"type": "one_time_price", "price": 1500, "currency": "USD", "discount": 0,
                   "purchasing_power_parity": false})
        };
        let p = self
            .api(
                "/products",
                json!({"name": "Thing", "tax_category": "saas", "price": price}),
            )
            .await;
        p["product_id"].as_str().unwrap().to_owned()
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }
}

#[tokio::test]
async fn checkout_flows_against_the_emulator() {
    let r = start().await;
    let once = r.product(false).await;
    let sub = r.product(true).await;

    // Static: link on the emulator's host.
    let (status, body) = r
        .call(r.http.get(format!(
            "{}/api/checkout?productId={once}&quantity=2",
            r.base
        )))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["checkout_url"],
        format!(
            "{}/buy/{once}?quantity=2&redirect_url=https%3A%2F%2Fshop.example%2Fthanks",
            r.emu.base_url()
        )
    );
    let (status, body) = r
        .call(
            r.http
                .get(format!("{}/api/checkout?productId=pdt_missing", r.base)),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("product_not_found"))
    );

    // Dynamic, one-time and subscription.
    let billing = json!({"country": "US", "city": "SF", "state": "CA", "street": "1 Main", "zipcode": "94107"});
    let (status, body) = r
        .call(
            r.http
                .post(format!("{}/api/checkout/dynamic", r.base))
                .json(&json!({
                    "product_id": once, "billing": billing,
                    "customer": {"email": "jane@example.com", "name": "Jane"},
                    "metadata": {"order": "42"},
                })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["checkout_url"]
            .as_str()
            .unwrap()
            .starts_with(r.emu.base_url())
    );
    assert!(body["payment_id"].as_str().unwrap().starts_with("pay_"));

    let (status, body) = r
        .call(
            r.http
                .post(format!("{}/api/checkout/dynamic", r.base))
                .json(&json!({
                    "product_id": sub, "billing": billing,
                    "customer": {"email": "jane@example.com", "name": "Jane"},
                })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["subscription_id"]
            .as_str()
            .unwrap()
            .starts_with("sub_")
    );
    assert!(
        body["checkout_url"]
            .as_str()
            .unwrap()
            .starts_with(r.emu.base_url())
    );

    // Session.
    let (status, body) = r
        .call(
            r.http
                .post(format!("{}/api/checkout", r.base))
                .json(&json!({
                    "product_cart": [{"product_id": once, "quantity": 1}],
                    "customer": {"email": "jane@example.com", "name": "Jane"},
                })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["session_id"].as_str().unwrap().len() > 3);
    assert!(
        body["checkout_url"]
            .as_str()
            .unwrap()
            .starts_with(r.emu.base_url())
    );

    // Unknown product in a session: the emulator's 4xx reaches the browser as a stable
    // code without the API's words.
    let (status, body) = r
        .call(
            r.http
                .post(format!("{}/api/checkout", r.base))
                .json(&json!({
                    "product_cart": [{"product_id": "pdt_missing", "quantity": 1}],
                })),
        )
        .await;
    let code = body["error"]["code"].as_str().unwrap_or_default();
    assert!(
        matches!(
            (status, code),
            (400, "upstream_invalid_request") | (502, "upstream_rejected")
        ),
        "{status} {body}"
    );
    assert!(body["error"].get("upstream").is_none(), "{body}");
    assert!(!body.to_string().contains("pdt_missing"), "{body}");
}

#[tokio::test]
async fn webhook_signed_with_the_emulator_secret() {
    let r = start().await;
    let verifier = Verifier::from_secret(r.emu.webhook_secret()).unwrap();
    let body = br#"{"business_id":"bus_1","type":"widget.made","timestamp":"2025-08-04T05:30:45Z","data":{}}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut req = r
        .http
        .post(format!("{}/api/webhook", r.base))
        .body(body.to_vec());
    for (name, value) in verifier.signed_headers("msg_e2e", now, body).pairs() {
        req = req.header(name, value);
    }
    let (status, answer) = r.call(req).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "delivered");
    let (status, answer) = r
        .call(
            r.http
                .post(format!("{}/api/webhook", r.base))
                .body(body.to_vec()),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], "missing_header");
}

#[tokio::test]
async fn customer_portal_against_the_emulator() {
    let r = start().await;
    let customer = r
        .api(
            "/customers",
            json!({"email": "jane@example.com", "name": "Jane"}),
        )
        .await;
    let id = customer["customer_id"].as_str().unwrap().to_owned();

    let resp = r
        .http
        .get(format!(
            "{}/api/customer-portal?customer_id={id}&send_email=false",
            r.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/portal/{id}", r.emu.base_url())),
        "{location}"
    );

    let (status, body) = r
        .call(
            r.http
                .get(format!("{}/api/customer-portal?customer_id={id}", r.base))
                .header("accept", "application/json"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["link"].as_str().unwrap().contains(&id));

    let (status, body) = r
        .call(r.http.get(format!(
            "{}/api/customer-portal?customer_id=cus_missing",
            r.base
        )))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "customer_not_found");
}

/// The emulator delivers a real signed `payment.succeeded` to the app's webhook route, which
/// verifies it over the raw bytes and dispatches it.
#[tokio::test]
async fn emulator_delivers_signed_webhooks_to_the_app() {
    let r = start().await;
    let emu = r.emu.base_url().to_owned();
    let admin = dodo_emulator::testing::Admin::connect(&emu, r.emu.api_key()).unwrap();
    admin
        .add_endpoint(&format!("{}/api/webhook", r.base), &["payment.succeeded"])
        .await
        .unwrap();

    let once = r.product(false).await;
    let (status, body) = r
        .call(
            r.http
                .post(format!("{}/api/checkout/dynamic", r.base))
                .json(&json!({
                    "product_id": once,
                    "billing": {"country": "US"},
                    "customer": {"email": "jane@example.com", "name": "Jane"},
                })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let payment_id = body["payment_id"].as_str().unwrap().to_owned();
    admin
        .complete_payment(&payment_id, "succeeded")
        .await
        .unwrap();

    // Wait (bounded) for the background delivery to reach a final state; no timing is asserted.
    let detail = admin.wait_for_delivery("payment.succeeded").await.unwrap();
    assert_eq!(detail.status, "succeeded", "{detail:?}");
    let attempt = detail.attempt_log.last().unwrap();
    assert_eq!(attempt["status_code"], 200, "{detail:?}");
    let answer: Value = serde_json::from_str(attempt["response_body"].as_str().unwrap()).unwrap();
    assert_eq!(answer["status"], "delivered");
    assert_eq!(answer["type"], "payment.succeeded");
    let payload = detail.payload.as_ref().unwrap();
    assert_eq!(payload["data"]["payment_id"], payment_id.as_str());
}
