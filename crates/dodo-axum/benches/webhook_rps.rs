//! Webhook route throughput on loopback: requests/s and latency percentiles for a signed
//! ~2 KB `payment.succeeded` delivery, verified, parsed and dispatched to a typed handler.
//!
//! Run with `cargo bench -p dodo-axum --bench webhook_rps` (optionally
//! `-- <requests> <concurrency> <max_seconds>`, defaults 20000, 32, 20). The load loop is
//! bounded by both a request count and a time limit. Server and client share the machine, so
//! the numbers are a floor, not a capacity figure.

#![recursion_limit = "256"]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use dodo_axum::WebhookRoute;
use dodo_webhooks::{Dispatcher, ManualClock, Verifier, WebhookSecret};
use serde_json::{Value, json};

const NOW: i64 = 1_754_285_445;

/// A `payment.succeeded` body of about 2 KB (fields of the API's Payment object).
fn payload() -> Vec<u8> {
    let mut body = json!({
        "business_id": "bus_H4ekzPSlcg",
        "type": "payment.succeeded",
        "timestamp": "2025-08-04T05:30:45.182629Z",
        "data": {
            "payload_type": "Payment",
            "payment_id": "pay_2IjeQm4hqU6RA4Z4kwDee",
            "business_id": "bus_H4ekzPSlcg",
            "brand_id": "bus_H4ekzPSlcg",
            "total_amount": 400,
            "currency": "USD",
            "settlement_amount": 400,
            "settlement_currency": "USD",
            "settlement_tax": 0,
            "tax": 0,
            "status": "succeeded",
            "created_at": "2025-08-04T05:30:31.152232Z",
            "updated_at": null,
            "customer": {"customer_id": "cus_8VbC6JDZzPEqfBPUdpj0K", "email": "test@acme.com", "name": "Test user", "phone_number": null, "metadata": {}},
            "billing": {"city": "New York", "country": "US", "state": "New York", "street": "11th Main", "zipcode": "08002"},
            "metadata": {},
            "product_cart": [{"product_id": "pdt_RUST4raxbl0Rfe4VQi1z", "quantity": 1}],
            "discount_id": null,
            "disputes": [],
            "refunds": [],
            "refund_status": null,
            "digital_products_delivered": false,
            "is_update_payment_method": false,
            "payment_link": "https://test.checkout.dodopayments.com/cbq",
            "payment_method": "card",
            "payment_method_type": null,
            "card_holder_name": "Test user",
            "card_issuing_country": "US",
            "card_last_four": "4242",
            "card_network": "VISA",
            "card_type": "CREDIT",
            "checkout_session_id": null,
            "error_code": null,
            "error_message": null,
            "invoice_id": "inv_1",
            "invoice_url": null,
            "subscription_id": null,
            "custom_field_responses": null,
            "retry_attempt": 0,
            "payment_provider": "dodo"
        }
    });
    let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
    if bytes.len() < 2048 {
        let pad = "x".repeat(2048 - bytes.len() - 20);
        body["data"]["metadata"] = json!({ "note": pad });
        bytes = serde_json::to_vec(&body).unwrap_or_default();
    }
    bytes
}

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .filter(|a| !a.starts_with('-'))
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let total = arg(1, 20_000);
    let concurrency = arg(2, 32).max(1);
    let max_time = Duration::from_secs(arg(3, 20));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("could not start the runtime: {e}");
            return;
        }
    };
    runtime.block_on(run(total, concurrency, max_time));
}

async fn run(total: u64, concurrency: u64, max_time: Duration) {
    let secret = match WebhookSecret::from_bytes(b"bench-secret-0123456789abcdefghi".to_vec()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bad secret: {e}");
            return;
        }
    };
    let verifier = Verifier::new(secret).with_clock(ManualClock::new(NOW));
    let handled = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&handled);
    let dispatcher = Dispatcher::new(verifier.clone(), counter).on_payment_succeeded(
        |ctx, _payment| async move {
            ctx.state.fetch_add(1, Ordering::Relaxed);
            Ok(())
        },
    );
    let app = Router::new().route("/api/webhook", WebhookRoute::new(dispatcher).route());
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bind failed: {e}");
            return;
        }
    };
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let body = payload();
    let headers = verifier.signed_headers("msg_bench", NOW, &body);
    let pairs: Vec<(String, String)> = headers.into_pairs();
    let url = format!("http://{addr}/api/webhook");
    let client = reqwest::Client::new();

    // Warm-up (connections, allocator).
    for _ in 0..200 {
        let mut req = client.post(&url).body(body.clone());
        for (k, v) in &pairs {
            req = req.header(k, v);
        }
        let _ = req.send().await;
    }

    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + max_time;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.clone();
        let body = bytes::Bytes::from(body.clone());
        let pairs = pairs.clone();
        let issued = Arc::clone(&issued);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0_u64;
            while issued.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < deadline {
                let mut req = client.post(&url).body(body.clone());
                for (k, v) in &pairs {
                    req = req.header(k, v);
                }
                let t = Instant::now();
                match req.send().await {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.bytes().await;
                        latencies.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((l, e)) = task.await {
            latencies.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| -> Duration {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i.min(latencies.len() - 1)]
    };
    let ok = latencies.len() as f64;
    let summary: Value = json!({
        "payload_bytes": body.len(),
        "concurrency": concurrency,
        "requests_ok": latencies.len(),
        "errors": errors,
        "handled": handled.load(Ordering::Relaxed),
        "seconds": elapsed.as_secs_f64(),
        "requests_per_second": (ok / elapsed.as_secs_f64()).round(),
        "p50_us": pct(0.50).as_micros() as u64,
        "p99_us": pct(0.99).as_micros() as u64,
        "max_us": pct(1.0).as_micros() as u64,
    });
    println!(
        "webhook route: {} requests/s, p50 {} µs, p99 {} µs ({} ok, {} errors, {} B payload, concurrency {})",
        summary["requests_per_second"],
        summary["p50_us"],
        summary["p99_us"],
        summary["requests_ok"],
        summary["errors"],
        summary["payload_bytes"],
        concurrency
    );
    println!("{summary}");
}
