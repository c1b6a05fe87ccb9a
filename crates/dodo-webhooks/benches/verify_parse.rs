//! Verify + typed parse of a ~2 KB `payment.succeeded` delivery, against a floor.
//!
//! The floor is the least any receiver must do with the same bytes: one HMAC-SHA256 over
//! `id.timestamp.body` (with the key schedule precomputed), base64 of the MAC, and a parse
//! into an untyped `serde_json::Value`. The typed path is the crate's real work:
//! `Verifier::verify` (header lookup, timestamp check, base64 decode, constant-time compare)
//! plus `WebhookEvent::parse` into the generated `Payment` model. After the criterion
//! groups, both are timed again in interleaved rounds and the median ratio is printed as
//! `ratio typed/floor = …` (target: ≤ 1.0).

use std::hint::black_box;
use std::time::Instant;

use base64::Engine as _;
use criterion::Criterion;
use dodo_webhooks::{ManualClock, SignedHeaders, Verifier, WebhookEvent, WebhookSecret};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const TIMESTAMP: i64 = 1_754_285_445;

/// A `payment.succeeded` body shaped like Dodo's (spec example plus a longer cart and
/// metadata), about 2 KB.
const BODY: &str = r#"{"business_id":"bus_P3SXLcppjXgagmHS","type":"payment.succeeded","timestamp":"2025-08-04T05:30:45.182629Z","data":{"payload_type":"Payment","billing":{"city":"New York","country":"US","state":"New York","street":"350 Fifth Avenue, Floor 21","zipcode":"10118"},"brand_id":"bus_P3SXLcppjXgagmHS","business_id":"bus_P3SXLcppjXgagmHS","card_holder_name":"John Doe","card_issuing_country":"GB","card_last_four":"4242","card_network":"VISA","card_type":"CREDIT","checkout_session_id":"cks_stst1231","created_at":"2025-08-04T05:30:31.152232Z","currency":"USD","custom_field_responses":null,"customer":{"customer_id":"cus_8VbC6JDZzPEqfB","email":"test@acme.com","metadata":{"crm_id":"crm_000123","segment":"enterprise"},"name":"Test user","phone_number":"+15555550100"},"digital_products_delivered":false,"discount_id":null,"discounts":null,"disputes":[],"error_code":null,"error_message":null,"invoice_id":"inv_2IsUnWGtRKFLxk7xAQeyt","invoice_url":"https://api.dodopayments.com/invoices/payments/pay_2IjeQm4hqU6RA4Z4kwDee","is_update_payment_method":false,"metadata":{"order_id":"ord_77812","channel":"web","campaign":"summer-sale-2025","affiliate":"aff_991","note":"gift wrap requested"},"payment_id":"pay_2IjeQm4hqU6RA4Z4kwDee","payment_link":"https://test.checkout.dodopayments.com/cbq","payment_method":"card","payment_method_id":null,"payment_method_type":null,"payment_provider":"dodo","product_cart":[{"product_id":"pdt_e9mUw084cWnu0tz","quantity":1},{"product_id":"pdt_Q1w2E3r4T5y6U7i8","quantity":2},{"product_id":"pdt_A9s8D7f6G5h4J3k2","quantity":1},{"product_id":"pdt_Z1x2C3v4B5n6M7q8","quantity":5}],"refund_status":null,"refunds":[],"retry_attempt":0,"settlement_amount":4000,"settlement_currency":"USD","settlement_tax":320,"status":"succeeded","subscription_id":null,"tax":320,"total_amount":4320,"updated_at":"2025-08-04T05:30:45.182629Z","extra_field_from_a_newer_api":{"nested":[1,2,3],"flag":true}}}"#;

struct Fixture {
    verifier: Verifier,
    headers: SignedHeaders,
    keyed: Hmac<Sha256>,
    body: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        let key = b"bench-secret-0123456789abcdef-32".to_vec();
        let verifier = Verifier::new(WebhookSecret::from_bytes(key.clone()).unwrap())
            .with_clock(ManualClock::new(TIMESTAMP));
        let body = BODY.as_bytes().to_vec();
        let headers = verifier.signed_headers("msg_2IjeQm4hqU6RA4Z4kwDee", TIMESTAMP, &body);
        let keyed = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        let fixture = Self {
            verifier,
            headers,
            keyed,
            body,
        };
        // Both paths must succeed on this input.
        assert!(fixture.typed());
        assert!(fixture.floor());
        fixture
    }

    /// The crate's work: verify + typed parse.
    fn typed(&self) -> bool {
        let delivery = self
            .verifier
            .verify(black_box(&self.headers), black_box(&self.body));
        let event = WebhookEvent::parse(black_box(&self.body));
        black_box(&delivery);
        black_box(&event);
        delivery.is_ok() && event.is_ok()
    }

    /// The floor: HMAC + base64 + untyped parse of the same bytes.
    fn floor(&self) -> bool {
        let mut mac = self.keyed.clone();
        mac.update(black_box(self.headers.id.as_bytes()));
        mac.update(b".");
        mac.update(black_box(self.headers.timestamp.as_bytes()));
        mac.update(b".");
        mac.update(black_box(&self.body));
        let encoded = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let value = serde_json::from_slice::<serde_json::Value>(black_box(&self.body));
        black_box(&encoded);
        black_box(&value);
        value.is_ok() && !encoded.is_empty()
    }
}

/// Nanoseconds per call of `f` over `iters` calls.
fn time_per_call(iters: u32, f: impl Fn() -> bool) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    start.elapsed().as_nanos() as f64 / f64::from(iters)
}

fn main() {
    let fixture = Fixture::new();
    let bench_mode = std::env::args().any(|a| a == "--bench");

    let mut criterion = Criterion::default().configure_from_args();
    criterion.bench_function("verify_parse/typed", |b| b.iter(|| fixture.typed()));
    criterion.bench_function("verify_parse/floor", |b| b.iter(|| fixture.floor()));
    criterion.final_summary();

    // Interleaved rounds so both sides see the same machine load; median of the ratios.
    let (rounds, iters) = if bench_mode { (15, 20_000) } else { (3, 200) };
    let mut ratios = Vec::with_capacity(rounds);
    let mut typed_ns = Vec::with_capacity(rounds);
    let mut floor_ns = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = time_per_call(iters, || fixture.typed());
        let f = time_per_call(iters, || fixture.floor());
        typed_ns.push(t);
        floor_ns.push(f);
        ratios.push(t / f);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratio = median(&mut ratios);
    println!(
        "body {} bytes: typed verify+parse {:.2} µs, floor hmac+base64+Value {:.2} µs",
        fixture.body.len(),
        median(&mut typed_ns) / 1000.0,
        median(&mut floor_ns) / 1000.0
    );
    if bench_mode {
        println!("ratio typed/floor = {ratio:.3} (target <= 1.0)");
    } else {
        println!("ratio typed/floor = {ratio:.3} (test run, unoptimised: not a measurement)");
    }
    if std::env::var_os("BENCH_PARTS").is_some() {
        parts(&fixture);
    }
}

/// A breakdown (set `BENCH_PARTS=1`): verification alone, typed vs untyped parse, and the
/// same body with empty metadata (metadata values are the costliest part of typed parsing
/// while `MetadataValue` deserialises as an untagged enum).
fn parts(fixture: &Fixture) {
    let n = 20_000;
    let body = fixture.body.as_slice();
    let verify = time_per_call(n, || {
        fixture
            .verifier
            .verify(black_box(&fixture.headers), black_box(body))
            .is_ok()
    });
    let typed = time_per_call(n, || WebhookEvent::parse(black_box(body)).is_ok());
    let value = time_per_call(n, || {
        serde_json::from_slice::<serde_json::Value>(black_box(body)).is_ok()
    });
    println!("verify {verify:.0} ns, typed parse {typed:.0} ns, Value parse {value:.0} ns");
    let no_metadata = BODY
        .replace(
            r#"{"order_id":"ord_77812","channel":"web","campaign":"summer-sale-2025","affiliate":"aff_991","note":"gift wrap requested"}"#,
            "{}",
        )
        .replace(r#"{"crm_id":"crm_000123","segment":"enterprise"}"#, "{}");
    let body = no_metadata.as_bytes();
    let typed = time_per_call(n, || WebhookEvent::parse(black_box(body)).is_ok());
    let value = time_per_call(n, || {
        serde_json::from_slice::<serde_json::Value>(black_box(body)).is_ok()
    });
    println!("empty metadata: typed parse {typed:.0} ns, Value parse {value:.0} ns");
}
