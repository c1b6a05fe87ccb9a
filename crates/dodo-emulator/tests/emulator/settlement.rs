//! What settled payments, subscriptions and sessions answer in the fields the live API fills
//! in once money moves: invoices, the card used, the subscription's card, list extras.

use dodo_emulator::purchase::TestCard;
use serde_json::json;

use crate::support::{Api, new_subscription, s};

#[tokio::test]
async fn settled_payments_and_subscriptions_answer_what_the_live_api_fills_in() {
    let api = Api::start().await;
    let plan = api.recurring_product(1000).await;
    let created = api
        .post(
            "/subscriptions",
            new_subscription(&plan["product_id"], json!({})),
        )
        .await
        .expect(200)
        .body;
    let sid = s(&created["subscription_id"]).to_string();
    let pay = s(&created["payment_id"]).to_string();
    let paid = api
        .harness()
        .complete_payment(&pay, "succeeded")
        .await
        .unwrap();
    assert_eq!(paid["invoice_id"], pay.as_str());
    assert_eq!(
        paid["invoice_url"],
        api.url(&format!("/invoices/payments/{pay}")).as_str()
    );
    assert_eq!(
        (
            paid["card_issuing_country"].clone(),
            paid["settlement_tax"].clone()
        ),
        (json!("US"), json!(0))
    );
    // The card of the first payment is the subscription's, with no update event.
    let sub = api.get(&format!("/subscriptions/{sid}")).await.body;
    assert!(paid["payment_method_id"].is_string());
    assert_eq!(sub["payment_method_id"], paid["payment_method_id"]);
    let list = api.get("/subscriptions").await.body;
    assert_eq!(list["items"][0]["product_name"], plan["name"]);

    // A session bought by a buyer it did not name reports that buyer, and the card they used.
    let session = api
        .post(
            "/checkouts",
            json!({"product_cart": [{"product_id": plan["product_id"], "quantity": 1}]}),
        )
        .await
        .expect(200)
        .body;
    let paid = api
        .harness()
        .pay_checkout_session(s(&session["session_id"]), TestCard::FailsRenewals)
        .await
        .unwrap();
    let status = api
        .get(&format!("/checkouts/{}", s(&session["session_id"])))
        .await
        .body;
    assert_eq!(status["customer_email"], "buyer@example.com");
    let p = api
        .get(&format!("/payments/{}", paid.payment_id))
        .await
        .body;
    assert_eq!(p["card_last_four"], "0341");
}

#[tokio::test]
async fn payment_lists_say_which_payments_issued_a_license_key() {
    let api = Api::start().await;
    let app = api
        .post(
            "/products",
            json!({"name": "App", "tax_category": "saas", "license_key_enabled": true,
                   "price": {"type": "one_time_price", "price": 900, "currency": "USD",
                             "discount": 0, "purchasing_power_parity": false}}),
        )
        .await
        .expect(200)
        .body;
    let book = api.one_time_product(500).await;
    let with_key = api.paid_payment(s(&app["product_id"]), 1).await;
    let without = api.paid_payment(s(&book["product_id"]), 1).await;
    let list = api.get("/payments").await.expect(200).body;
    let flag = |id: &serde_json::Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["payment_id"] == *id)
            .map(|p| p["has_license_key"].clone())
    };
    assert_eq!(flag(&with_key["payment_id"]), Some(json!(true)));
    assert_eq!(flag(&without["payment_id"]), Some(json!(false)));
}
