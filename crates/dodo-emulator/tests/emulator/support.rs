//! Test support: an in-process emulator (through the public harness,
//! [`dodo_emulator::testing`]) and a tiny JSON-over-HTTP helper for the API.

use dodo_emulator::EmulatorConfig;
use dodo_emulator::testing::{Admin, TestEmulator};
use reqwest::Method;
use serde_json::{Value, json};

/// A response reduced to what tests assert on.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the error message mentions `text`, printing the body otherwise.
    #[track_caller]
    pub fn says(self, text: &str) -> Self {
        let message = self.body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(text),
            "expected the message to mention {text:?}; body: {}",
            self.body
        );
        self
    }

    /// Asserts the status, printing the body on mismatch.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }
}

pub struct Api {
    pub emu: TestEmulator,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn start() -> Self {
        Self::with(EmulatorConfig::default()).await
    }

    pub async fn with(config: EmulatorConfig) -> Self {
        let emu = TestEmulator::with_config(config).await.unwrap();
        Self {
            emu,
            http: reqwest::Client::new(),
        }
    }

    /// The typed admin handle of the harness (clock, paying, triggers, faults, deliveries,
    /// emails): what tests use for admin operations.
    pub fn harness(&self) -> &Admin {
        self.emu.admin()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(self.emu.api_key())
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::POST, path).json(&body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::PATCH, path).json(&body))
            .await
    }

    // Used by the upload and translation tests of other groups (none on every branch).
    #[allow(dead_code)]
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::PUT, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// A raw admin API call (with the API key, as the admin surface requires): only for tests
    /// of the admin routes themselves (auth, validation, answers the typed handle does not
    /// expose). Everything else goes through [`Api::harness`].
    pub async fn admin_http(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        self.send(rb).await
    }

    // ---- fixtures ----

    pub async fn customer(&self, email: &str) -> Value {
        self.post(
            "/customers",
            json!({"email": email, "name": "Test Customer"}),
        )
        .await
        .expect(200)
        .body
    }

    pub async fn one_time_product(&self, price: i64) -> Value {
        self.post(
            "/products",
            json!({
                "name": "E-book",
                "tax_category": "e_book",
                "price": {"type": "one_time_price", "price": price, "currency": "USD",
                          "discount": 0, "purchasing_power_parity": false},
            }),
        )
        .await
        .expect(200)
        .body
    }

    pub async fn recurring_product(&self, price: i64) -> Value {
        self.post(
            "/products",
            json!({
                "name": "Pro plan",
                "tax_category": "saas",
                "price": {"type": "recurring_price", "price": price, "currency": "USD",
                          "discount": 0, "purchasing_power_parity": false,
                          "payment_frequency_count": 1, "payment_frequency_interval": "Month",
                          "subscription_period_count": 1, "subscription_period_interval": "Year"},
            }),
        )
        .await
        .expect(200)
        .body
    }

    /// A payment for `quantity` × product, settled as succeeded.
    pub async fn paid_payment(&self, product_id: &str, quantity: i64) -> Value {
        let created = self
            .post(
                "/payments",
                json!({
                    "product_cart": [{"product_id": product_id, "quantity": quantity}],
                    "customer": {"email": "payer@example.com", "name": "Payer"},
                    "billing": {"country": "US"},
                }),
            )
            .await
            .expect(200)
            .body;
        let id = created["payment_id"].as_str().unwrap().to_string();
        self.harness()
            .complete_payment(&id, "succeeded")
            .await
            .unwrap()
    }
}

/// A `POST /subscriptions` body for one unit of `product_id` (US billing, a test customer),
/// with the fields of `extra` added or replaced.
pub fn new_subscription(product_id: &Value, extra: Value) -> Value {
    let mut body = json!({"product_id": product_id, "quantity": 1,
        "customer": {"email": "od@example.com", "name": "On Demand"},
        "billing": {"country": "US"}});
    if let Some(fields) = extra.as_object() {
        for (k, v) in fields {
            body[k] = v.clone();
        }
    }
    body
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}
