//! Client overhead per call, three ways in one run: our `dodo-client` (generated
//! `payments().retrieve(id)` into the typed `PaymentResponse`), the official `dodopayments`
//! crate (1.127.0, its `payments().retrieve().payment_id(id)`), and the floor: a bare
//! `reqwest::Client` GET parsed with `serde_json` into a `Value`.
//!
//! A local axum server answers every request with the same ~1.3 KB payment. Rounds of
//! sequential calls alternate between the contenders so drift hits all alike; the report
//! gives wall time and process CPU time per call and the ratios to the floor.
//!
//! `cargo run --release --manifest-path bench/client-overhead/Cargo.toml` (or
//! `scripts/bench-client`). `CALLS` sets calls per round (default 3000), `ROUNDS` (default 5).

#![recursion_limit = "256"]

use std::time::{Duration, Instant};

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
        "settlement_tax": 10400,
        "tax": 10400,
        "created_at": "2025-08-04T05:30:31.152232Z",
        "updated_at": "2025-08-04T05:31:02.004711Z",
        "customer": {
            "customer_id": "cus_8VbC6JDZzPEqfBPUdpj0K",
            "email": "jane.doe@example.com",
            "name": "Jane Doe",
            "phone_number": "+15555550100",
            "metadata": {}
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
        "payment_method": "card",
        "payment_method_type": "credit",
        "payment_provider": "dodo",
        "card_last_four": "4242",
        "card_network": "VISA",
        "card_type": "CREDIT",
        "card_holder_name": "Jane Doe",
        "card_issuing_country": "US",
        "payment_link": "https://test.checkout.dodopayments.com/pay_2IjeQm4hqU6RA4Z4kwDee",
        "checkout_session_id": "cks_stst1231",
        "discount_id": null,
        "error_code": null,
        "error_message": null,
        "subscription_id": null,
        "refund_status": null,
        "digital_products_delivered": true,
        "is_update_payment_method": false,
        "retry_attempt": 0,
        "includes_usage": false,
        "is_multi_subscription": false,
        "service_periods": [],
        "subscription_ids": [],
        "invoice_id": "inv_7Hs2kLmN9pQ4rT6vW8xY1",
        "invoice_url": "https://test.dodopayments.com/invoices/payments/pay_2IjeQm4hqU6RA4Z4kwDee"
    });
    serde_json::to_vec(&doc).expect("body")
}

async fn serve(body: Vec<u8>) -> String {
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { ([("content-type", "application/json")], body) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// User + system CPU time of this process so far (Linux `/proc/self/stat`, 100 Hz ticks).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the command name: state is field 0, utime 11, stime 12.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

const ID: &str = "pay_2IjeQm4hqU6RA4Z4kwDee";

#[derive(Clone, Copy, PartialEq)]
enum Who {
    Ours,
    Official,
    Floor,
}

struct Clients {
    ours: dodo_client::Client,
    official: dodopayments::Client,
    floor: reqwest::Client,
    url: String,
}

async fn one_call(c: &Clients, who: Who) {
    match who {
        Who::Ours => {
            let p = c.ours.payments().retrieve(ID).await.expect("ours");
            std::hint::black_box(p);
        }
        Who::Official => {
            let p = c
                .official
                .payments()
                .retrieve()
                .payment_id(ID)
                .await
                .expect("official");
            std::hint::black_box(p);
        }
        Who::Floor => {
            let bytes = c
                .floor
                .get(&c.url)
                .bearer_auth("sk_bench")
                .header("accept", "application/json")
                .send()
                .await
                .expect("floor")
                .bytes()
                .await
                .expect("floor body");
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("floor json");
            std::hint::black_box(v);
        }
    }
}

async fn round(c: &Clients, who: Who, calls: u32) -> (Duration, Duration) {
    let (wall, cpu) = (Instant::now(), cpu_time());
    for _ in 0..calls {
        one_call(c, who).await;
    }
    (wall.elapsed(), cpu_time().saturating_sub(cpu))
}

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let calls = env_u32("CALLS", 3000);
    let rounds = env_u32("ROUNDS", 5);
    let body = payment_body();
    let body_len = body.len();
    let base = serve(body).await;
    let clients = Clients {
        ours: dodo_client::Client::builder()
            .api_key("sk_bench")
            .base_url(&base)
            .build()
            .expect("ours"),
        official: dodopayments::Client::new(
            dodopayments::ClientConfig::new(&base).with_api_key("sk_bench"),
        )
        .expect("official"),
        floor: reqwest::Client::new(),
        url: format!("{base}/payments/{ID}"),
    };
    // `ONLY=ours|official|floor` runs one contender alone (for profiling).
    if let Ok(only) = std::env::var("ONLY") {
        let who = match only.as_str() {
            "official" => Who::Official,
            "floor" => Who::Floor,
            _ => Who::Ours,
        };
        let (w, c) = round(&clients, who, calls * rounds).await;
        println!(
            "{only}: {:.1} µs wall, {:.1} µs cpu per call",
            w.as_secs_f64() * 1e6 / f64::from(calls * rounds),
            c.as_secs_f64() * 1e6 / f64::from(calls * rounds)
        );
        return;
    }
    for who in [Who::Ours, Who::Official, Who::Floor] {
        round(&clients, who, 200).await;
    }
    let mut totals = [(Duration::ZERO, Duration::ZERO); 3];
    for _ in 0..rounds {
        for (i, who) in [Who::Ours, Who::Official, Who::Floor]
            .into_iter()
            .enumerate()
        {
            let (w, c) = round(&clients, who, calls).await;
            totals[i].0 += w;
            totals[i].1 += c;
        }
    }
    let n = f64::from(calls * rounds);
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n;
    let floor = totals[2];
    println!(
        "client overhead: {} sequential GETs each, {body_len}-byte payment, server in-process",
        calls * rounds
    );
    println!(
        "{:<34} {:>10} {:>10} {:>9} {:>9}",
        "", "wall µs", "cpu µs", "wall ×", "cpu ×"
    );
    for (name, (w, c)) in [
        ("dodo-client (typed PaymentResponse)", totals[0]),
        ("dodopayments 1.127.0 (official)", totals[1]),
        ("reqwest + serde_json::Value (floor)", totals[2]),
    ] {
        println!(
            "{name:<34} {:>10.1} {:>10.1} {:>9.3} {:>9.3}",
            per(w),
            per(c),
            per(w) / per(floor.0),
            per(c) / per(floor.1).max(f64::EPSILON)
        );
    }
}
