//! Browser test: headless Chromium pays on the hosted checkout with each test card; the
//! resulting payment status and the signed webhook at a local receiver are checked.
//!
//! Chromium comes from env `CHROMIUM` or `/usr/bin/chromium` (`scripts/ensure-chromium`
//! installs it). Without it the test fails when `CI=true` and is skipped loudly otherwise.

#[path = "../webhooks_e2e/receiver.rs"]
#[allow(dead_code)]
mod receiver;
#[path = "../emulator/support.rs"]
#[allow(dead_code)]
mod support;

mod cdp;

use dodo_webhooks::{EventPayload, EventType};
use serde_json::json;

use receiver::Receiver;
use support::{Api, s};

fn chromium_or_skip() -> Option<std::path::PathBuf> {
    match cdp::chromium_path() {
        Some(p) => Some(p),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "Chromium not found (set CHROMIUM or run scripts/ensure-chromium); required when CI=true"
            )
        }
        None => {
            eprintln!(
                "\n!!! SKIPPED browser checkout test: Chromium not found (set CHROMIUM or run scripts/ensure-chromium) !!!\n"
            );
            None
        }
    }
}

fn query_of(url: &str) -> std::collections::BTreeMap<String, String> {
    let q = url.split_once('?').map(|x| x.1).unwrap_or("");
    serde_urlencoded::from_str::<Vec<(String, String)>>(q)
        .unwrap()
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_on_the_hosted_checkout_with_each_test_card() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let api = Api::start().await;
    let mut rx = Receiver::start(vec![]).await;
    api.harness().add_endpoint(&rx.url, &[]).await.unwrap();
    let secret = api.emu.webhook_secret().to_string();
    let product = api.one_time_product(4900).await;
    let pid = s(&product["product_id"]).to_string();
    let browser = cdp::Browser::launch(&chromium).await;
    let mut page = browser.page().await;

    let cases = [
        (
            "4242 4242 4242 4242",
            "succeeded",
            "succeeded",
            EventType::PaymentSucceeded,
        ),
        (
            "4000 0000 0000 0002",
            "failed",
            "failed",
            EventType::PaymentFailed,
        ),
        (
            "4000 0000 0000 3220",
            "processing",
            "succeeded",
            EventType::PaymentProcessing,
        ),
    ];
    for (i, (card, redirect_status, final_status, first_event)) in cases.into_iter().enumerate() {
        let session = api
            .post(
                "/checkouts",
                json!({"product_cart": [{"product_id": pid, "quantity": 1}],
                       "customer": {"email": format!("buyer{i}@example.com"), "name": "Browser Buyer"},
                       "billing_address": {"country": "US"},
                       "return_url": rx.return_url}),
            )
            .await
            .expect(200)
            .body;
        let url = s(&session["checkout_url"]).to_string();
        page.goto(&url).await;
        let title = page.eval("document.querySelector('h1').textContent").await;
        assert_eq!(title, "Checkout");
        let total = page
            .eval("document.getElementById('total').textContent")
            .await;
        assert_eq!(total, "$49.00");
        if i == 0 {
            let png = page.screenshot().await;
            let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hosted-checkout.png");
            std::fs::write(&out, png).unwrap();
            eprintln!("checkout screenshot: {}", out.display());
        }
        page.eval(&format!(
            "document.getElementById('card_number').value = '{card}'; document.getElementById('pay').click(); true"
        ))
        .await;
        let landed = page.wait_for_url(&rx.return_url).await;
        let q = query_of(&landed);
        assert_eq!(q["status"], redirect_status, "{card}");
        let payment_id = q["payment_id"].clone();

        let got = rx.next_of(first_event.as_str()).await;
        let event = got.verify(&secret);
        assert_eq!(event.event_type(), first_event);
        let data_id = match &event.payload {
            EventPayload::PaymentSucceeded(p)
            | EventPayload::PaymentFailed(p)
            | EventPayload::PaymentProcessing(p) => p.payment_id.clone(),
            other => panic!("unexpected payload {:?}", other.event_type()),
        };
        assert_eq!(data_id, payment_id);
        if first_event == EventType::PaymentProcessing {
            let later = rx.next_of("payment.succeeded").await.verify(&secret);
            let EventPayload::PaymentSucceeded(p) = &later.payload else {
                panic!("expected payment.succeeded")
            };
            assert_eq!(p.payment_id, payment_id);
        }
        let payment = api
            .get(&format!("/payments/{payment_id}"))
            .await
            .expect(200)
            .body;
        assert_eq!(payment["status"], final_status, "{card}");
        assert_eq!(payment["checkout_session_id"], session["session_id"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_pay_what_you_want_link_prefills_locks_and_charges_the_chosen_amount() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let api = Api::start().await;
    let rx = Receiver::start(vec![]).await;
    let product = api
        .post(
            "/products",
            json!({"name": "Tip jar", "tax_category": "digital_products",
                   "price": {"type": "one_time_price", "price": 500, "currency": "USD",
                             "discount": 0, "purchasing_power_parity": false,
                             "pay_what_you_want": true}}),
        )
        .await
        .expect(200)
        .body;
    let query = serde_urlencoded::to_string([
        ("paymentAmount", "2500"),
        ("email", "locked@example.com"),
        ("disableEmail", "true"),
        ("fullName", "Browser Tipper"),
        ("country", "US"),
        ("metadata_source", "browser"),
        ("redirect_url", rx.return_url.as_str()),
    ])
    .unwrap();
    let browser = cdp::Browser::launch(&chromium).await;
    let mut page = browser.page().await;
    page.goto(&api.url(&format!("/buy/{}?{query}", s(&product["product_id"]))))
        .await;
    let email = page
        .eval("[document.getElementById('email').value, document.getElementById('email').readOnly].join('|')")
        .await;
    assert_eq!(email, "locked@example.com|true");
    let amount = page.eval("document.getElementById('amount').value").await;
    assert_eq!(amount, "25.00");
    assert_eq!(
        page.eval("document.getElementById('full_name').readOnly")
            .await,
        false
    );
    page.eval(
        "document.getElementById('amount').value = '31.00'; \
         document.getElementById('card_number').value = '4242 4242 4242 4242'; \
         document.getElementById('pay').click(); true",
    )
    .await;
    let landed = page.wait_for_url(&rx.return_url).await;
    let q = query_of(&landed);
    assert_eq!(q["status"], "succeeded");
    let payment = api
        .get(&format!("/payments/{}", q["payment_id"]))
        .await
        .expect(200)
        .body;
    assert_eq!(payment["total_amount"], 3100);
    assert_eq!(payment["metadata"], json!({"source": "browser"}));
    assert_eq!(payment["customer"]["email"], "locked@example.com");
    assert_eq!(payment["customer"]["name"], "Browser Tipper");
}
