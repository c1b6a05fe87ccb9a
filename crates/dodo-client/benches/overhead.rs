//! Client overhead per call, side by side with plain `reqwest` + `serde_json`.
//!
//! Starts a local axum server answering every GET with a ~1 KB payment-like JSON document,
//! then times sequential calls made (a) through `dodo_client` (`Call::json` with the same
//! `RequestSpec` a generated `payments().retrieve(id)` builds: path encoding, header
//! assembly, idempotency/retry bookkeeping, tracing checks, `serde_path_to_error` decoding)
//! and (b) with a bare `reqwest::Client` + `serde_json::from_slice` into the same struct,
//! also (c) with a per-request timeout as the client sets one on every attempt.
//! Rounds alternate between the two so drift affects both equally. Run with
//! `cargo bench -p dodo-client --bench overhead`; set `DODO_BENCH_CALLS` to change the
//! number of calls per round (default 2000).

use std::time::{Duration, Instant};

use dodo_client::path::{PathPart, build};
use dodo_client::{Call, Client, Method, RequestSpec};
use serde::Deserialize;

/// The fields of a payment the benchmark decodes (unknown fields are skipped, as in the
/// generated models).
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct PaymentLike {
    payment_id: String,
    business_id: String,
    brand_id: String,
    status: Option<String>,
    total_amount: i64,
    settlement_amount: i64,
    currency: String,
    settlement_currency: String,
    created_at: String,
    updated_at: Option<String>,
    customer: Customer,
    billing: Billing,
    metadata: std::collections::BTreeMap<String, serde_json::Value>,
    product_cart: Option<Vec<CartItem>>,
    refunds: Vec<serde_json::Value>,
    disputes: Vec<serde_json::Value>,
    tax: Option<i64>,
    payment_method: Option<String>,
    card_last_four: Option<String>,
    card_network: Option<String>,
    digital_products_delivered: bool,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Customer {
    customer_id: String,
    email: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Billing {
    city: String,
    country: String,
    state: String,
    street: String,
    zipcode: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct CartItem {
    product_id: String,
    quantity: u32,
}

fn payment_body() -> Vec<u8> {
    let doc = serde_json::json!({
        "payment_id": "pay_2IjeQm4hqU6RA4Z4kwDee",
        "business_id": "bus_Xq3ahk7gfd0mMKtCUqvSv",
        "brand_id": "brnd_9f8c7b6a5d4e3f2a1b0c9",
        "status": "succeeded",
        "total_amount": 129900,
        "settlement_amount": 129900,
        "currency": "USD",
        "settlement_currency": "USD",
        "created_at": "2025-08-04T05:30:31.152232Z",
        "updated_at": "2025-08-04T05:31:02.004711Z",
        "customer": {
            "customer_id": "cus_8VbC6JDZzPEqfBPUdpj0K",
            "email": "jane.doe@example.com",
            "name": "Jane Doe"
        },
        "billing": {
            "city": "San Francisco",
            "country": "US",
            "state": "CA",
            "street": "548 Market Street, Suite 9000",
            "zipcode": "94104"
        },
        "metadata": {"order_id": "ord_1234567890", "channel": "web", "campaign": "spring"},
        "product_cart": [
            {"product_id": "pdt_QMDuvLkbVzCRWRQjLNcs", "quantity": 1},
            {"product_id": "pdt_Akc8sWq2RbJ5Y7TzGNcs", "quantity": 2}
        ],
        "refunds": [],
        "disputes": [],
        "tax": 10400,
        "payment_method": "card",
        "card_last_four": "4242",
        "card_network": "VISA",
        "card_type": "CREDIT",
        "card_issuing_country": "US",
        "payment_link": "https://test.checkout.dodopayments.com/pay_2IjeQm4hqU6RA4Z4kwDee",
        "discount_id": null,
        "error_code": null,
        "error_message": null,
        "subscription_id": null,
        "digital_products_delivered": true,
        "payment_method_type": "credit",
        "invoice_id": "inv_7Hs2kLmN9pQ4rT6vW8xY1"
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

async fn serve(body: Vec<u8>) -> std::io::Result<String> {
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { ([("content-type", "application/json")], body) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

async fn dodo_round(client: &Client, calls: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..calls {
        let spec = RequestSpec::new(
            Method::GET,
            build(&[
                PathPart::Lit("/payments/"),
                PathPart::Param("pay_2IjeQm4hqU6RA4Z4kwDee"),
            ]),
        );
        let payment: PaymentLike = match Call::json(client, spec).await {
            Ok(p) => p,
            Err(e) => panic!("dodo call failed: {e}"),
        };
        std::hint::black_box(payment);
    }
    start.elapsed()
}

async fn reqwest_round(
    http: &reqwest::Client,
    url: &str,
    calls: u32,
    timeout: Option<Duration>,
) -> Duration {
    let start = Instant::now();
    for _ in 0..calls {
        let mut request = http
            .get(url)
            .header("authorization", "Bearer sk_bench")
            .header("accept", "application/json");
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => panic!("reqwest call failed: {e}"),
        };
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => panic!("reqwest body failed: {e}"),
        };
        let payment: PaymentLike = match serde_json::from_slice(&bytes) {
            Ok(p) => p,
            Err(e) => panic!("decode failed: {e}"),
        };
        std::hint::black_box(payment);
    }
    start.elapsed()
}

fn main() {
    let calls: u32 = std::env::var("DODO_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    // `cargo test --benches` runs bench binaries with `--bench` absent: keep it quick then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (calls, rounds) = if quick { (20, 1) } else { (calls, 5) };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    runtime.block_on(async move {
        let body = payment_body();
        let body_len = body.len();
        let base = match serve(body).await {
            Ok(b) => b,
            Err(e) => panic!("server: {e}"),
        };
        let client = match Client::builder()
            .api_key("sk_bench")
            .base_url(&base)
            .build()
        {
            Ok(c) => c,
            Err(e) => panic!("client: {e}"),
        };
        let http = reqwest::Client::new();
        let url = format!("{base}/payments/pay_2IjeQm4hqU6RA4Z4kwDee");

        // Warm up both connection pools.
        let timeout = Some(Duration::from_secs(60));
        dodo_round(&client, 50).await;
        reqwest_round(&http, &url, 50, None).await;
        reqwest_round(&http, &url, 50, timeout).await;

        let mut dodo_total = Duration::ZERO;
        let mut plain_total = Duration::ZERO;
        let mut timed_total = Duration::ZERO;
        for _ in 0..rounds {
            dodo_total += dodo_round(&client, calls).await;
            plain_total += reqwest_round(&http, &url, calls, None).await;
            timed_total += reqwest_round(&http, &url, calls, timeout).await;
        }
        let n = f64::from(calls * rounds);
        let dodo_us = dodo_total.as_secs_f64() * 1e6 / n;
        let plain_us = plain_total.as_secs_f64() * 1e6 / n;
        let timed_us = timed_total.as_secs_f64() * 1e6 / n;
        println!(
            "overhead: {} calls each, {body_len}-byte JSON body, local axum server",
            calls * rounds
        );
        println!("  dodo_client Call::json      {dodo_us:>9.1} µs/call");
        println!("  reqwest + serde_json        {plain_us:>9.1} µs/call");
        println!("  same + per-request timeout  {timed_us:>9.1} µs/call");
        println!(
            "  ratio dodo/plain            {:>9.3}   (overhead {:+.1} µs/call)",
            dodo_us / plain_us,
            dodo_us - plain_us
        );
    });
}
