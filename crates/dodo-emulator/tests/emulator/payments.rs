//! Payments, refunds, checkout sessions.

use serde_json::{Value, json};

use dodo_emulator::testing::HarnessError;

use crate::support::{Api, s};

#[tokio::test]
async fn payment_with_link_then_settle_and_list() {
    let api = Api::start().await;
    let product = api.one_time_product(1500).await;
    let pid = s(&product["product_id"]);
    let created = api
        .post(
            "/payments",
            json!({
                "product_cart": [{"product_id": pid, "quantity": 2}],
                "customer": {"email": "buyer@example.com", "name": "Buyer"},
                "billing": {"country": "IN", "city": "Pune"},
                "payment_link": true,
                "metadata": {"order": "42"},
            }),
        )
        .await
        .expect(200)
        .body;
    let id = s(&created["payment_id"]).to_string();
    assert!(id.starts_with("pay_"));
    assert_eq!(created["total_amount"], 3000);
    assert_eq!(
        created["payment_link"],
        format!("{}/pay/{id}", api.emu.base_url()).as_str()
    );
    assert!(s(&created["client_secret"]).starts_with(&id));
    assert_eq!(created["customer"]["email"], "buyer@example.com");
    assert_eq!(
        created["product_cart"],
        json!([{"product_id": pid, "quantity": 2}])
    );

    let got = api.get(&format!("/payments/{id}")).await.expect(200).body;
    assert_eq!(got["status"], "requires_payment_method");
    assert_eq!(got["total_amount"], 3000);
    assert_eq!(got["currency"], "USD");
    assert_eq!(got["billing"]["city"], "Pune");
    assert_eq!(got["metadata"]["order"], "42");
    assert_eq!(got["refunds"], json!([]));
    let customer_id = s(&got["customer"]["customer_id"]).to_string();

    let lines = api
        .get(&format!("/payments/{id}/line-items"))
        .await
        .expect(200)
        .body;
    assert_eq!(lines["currency"], "USD");
    assert_eq!(lines["items"][0]["items_id"], pid);
    assert_eq!(lines["items"][0]["amount"], 3000);

    let settled = api
        .harness()
        .complete_payment(&id, "succeeded")
        .await
        .unwrap();
    assert_eq!(settled["status"], "succeeded");
    assert_eq!(settled["card_last_four"], "4242");
    let twice = api
        .harness()
        .complete_payment(&id, "succeeded")
        .await
        .unwrap_err();
    assert!(
        matches!(twice, HarnessError::Api { status: 409, .. }),
        "{twice}"
    );

    // A second, unpaid payment by another customer.
    api.post(
        "/payments",
        json!({"product_cart": [{"product_id": pid, "quantity": 1}],
               "customer": {"email": "other@example.com"}, "billing": {"country": "US"}}),
    )
    .await
    .expect(200);
    let all = api.get("/payments").await.expect(200).body;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let ok = api.get("/payments?status=succeeded").await.expect(200).body;
    assert_eq!(ok["items"].as_array().unwrap().len(), 1);
    assert_eq!(ok["items"][0]["payment_id"], id.as_str());
    assert_eq!(ok["items"][0]["has_license_key"], false);
    let mine = api
        .get(&format!("/payments?customer_id={customer_id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let by_product = api.get(&format!("/payments?product_id={pid}")).await.body;
    assert_eq!(by_product["items"].as_array().unwrap().len(), 2);
    let none = api
        .get("/payments?created_at_lte=2000-01-01T00:00:00Z")
        .await
        .expect(200)
        .body;
    assert_eq!(none["items"], json!([]));
}

#[tokio::test]
async fn payment_validation_errors() {
    let api = Api::start().await;
    let rec = api.recurring_product(1000).await;
    let r = api
        .post(
            "/payments",
            json!({"product_cart": [{"product_id": rec["product_id"], "quantity": 1}],
            "customer": {"email": "a@b.c"}, "billing": {"country": "US"}}),
        )
        .await
        .expect(422);
    assert!(s(&r.body["message"]).contains("product_cart[0].product_id"));
    let r = api
        .post("/payments", json!({"product_cart": [], "customer": {"email": "a@b.c"}, "billing": {"country": "US"}}))
        .await
        .expect(422);
    assert_eq!(r.body["code"], "PRODUCT_CART_EMTPY");
    let r = api
        .post(
            "/payments",
            json!({"product_cart": [{"product_id": "pdt_nope", "quantity": 1}],
            "customer": {"email": "a@b.c"}, "billing": {"country": "US"}}),
        )
        .await
        .expect(404);
    assert!(s(&r.body["message"]).contains("pdt_nope"));
    let r = api
        .post(
            "/payments",
            json!({"product_cart": [{"product_id": "pdt_x", "quantity": 1}],
            "customer": {"email": "a@b.c"}}),
        )
        .await
        .expect(422);
    assert!(s(&r.body["message"]).contains("billing"));
    let r = api
        .post(
            "/payments",
            json!({"product_cart": [{"product_id": "pdt_x", "quantity": 1}],
            "customer": {"customer_id": "cus_nope"}, "billing": {"country": "US"}}),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn refunds_full_partial_and_never_more_than_paid() {
    let api = Api::start().await;
    let product = api.one_time_product(1000).await;
    let pid = s(&product["product_id"]).to_string();

    // Unpaid payments cannot be refunded.
    let unpaid = api
        .post(
            "/payments",
            json!({"product_cart": [{"product_id": pid, "quantity": 1}],
            "customer": {"email": "u@x.io"}, "billing": {"country": "US"}}),
        )
        .await
        .body;
    let r = api
        .post("/refunds", json!({"payment_id": unpaid["payment_id"]}))
        .await
        .expect(422);
    assert_eq!(r.body["code"], "PAYMENT_NOT_SUCCEEDED");
    api.post("/refunds", json!({"payment_id": "pay_nope"}))
        .await
        .expect(404);

    let payment = api.paid_payment(&pid, 3).await;
    let pay_id = s(&payment["payment_id"]).to_string();
    assert_eq!(payment["total_amount"], 3000);

    let partial = api
        .post("/refunds", json!({"payment_id": pay_id, "items": [{"item_id": pid, "amount": 1200}], "reason": "damaged"}))
        .await
        .expect(200)
        .body;
    let rid = s(&partial["refund_id"]).to_string();
    assert!(rid.starts_with("ref_"));
    assert_eq!(partial["amount"], 1200);
    assert_eq!(partial["is_partial"], true);
    assert_eq!(partial["status"], "succeeded");
    assert_eq!(partial["currency"], "USD");
    let p = api.get(&format!("/payments/{pay_id}")).await.body;
    assert_eq!(p["refund_status"], "partial");
    assert_eq!(p["refunds"][0]["refund_id"], rid.as_str());
    let lines = api
        .get(&format!("/payments/{pay_id}/line-items"))
        .await
        .body;
    assert_eq!(lines["items"][0]["refundable_amount"], 1800);

    let too_much = api
        .post(
            "/refunds",
            json!({"payment_id": pay_id, "items": [{"item_id": pid, "amount": 1801}]}),
        )
        .await
        .expect(422);
    assert_eq!(too_much.body["code"], "REFUND_EXCEEDS_REFUNDABLE_AMOUNT");
    let bad_item = api
        .post(
            "/refunds",
            json!({"payment_id": pay_id, "items": [{"item_id": "pdt_other"}]}),
        )
        .await
        .expect(422);
    assert!(s(&bad_item.body["message"]).contains("items[0].item_id"));

    let rest = api
        .post("/refunds", json!({"payment_id": pay_id}))
        .await
        .expect(200)
        .body;
    assert_eq!(rest["amount"], 1800);
    assert_eq!(rest["is_partial"], true);
    let p = api.get(&format!("/payments/{pay_id}")).await.body;
    assert_eq!(p["refund_status"], "full");
    assert_eq!(p["refunds"].as_array().unwrap().len(), 2);
    let again = api
        .post("/refunds", json!({"payment_id": pay_id}))
        .await
        .expect(422);
    assert_eq!(again.body["code"], "PAYMENT_ALREADY_REFUNDED");

    let got = api.get(&format!("/refunds/{rid}")).await.expect(200).body;
    assert_eq!(got, partial);
    let listed = api.get("/refunds?status=succeeded").await.expect(200).body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert_eq!(listed["items"][1]["refund_id"], rid.as_str());
    assert!(
        listed["items"][0].get("customer").is_none(),
        "list items are RefundListItem"
    );
    api.get("/refunds/ref_nope").await.expect(404);
}

#[tokio::test]
async fn full_refund_of_whole_payment_is_not_partial() {
    let api = Api::start().await;
    let product = api.one_time_product(700).await;
    let payment = api.paid_payment(s(&product["product_id"]), 1).await;
    let r = api
        .post("/refunds", json!({"payment_id": payment["payment_id"]}))
        .await
        .expect(200)
        .body;
    assert_eq!(r["amount"], 700);
    assert_eq!(r["is_partial"], false);
}

#[tokio::test]
async fn checkout_session_create_preview_and_status() {
    let api = Api::start().await;
    let product = api.one_time_product(2500).await;
    let pid = s(&product["product_id"]);
    api.post(
        "/discounts",
        json!({"type": "flat", "amount": 500, "code": "FIVE", "currency_options": [{"currency": "USD", "max_amount_possible": 500}]}),
    )
    .await
    .expect(200);
    let body = json!({"product_cart": [{"product_id": pid, "quantity": 2}], "discount_code": "FIVE",
        "customer": {"email": "shopper@example.com", "name": "Shopper"}});
    let preview = api
        .post("/checkouts/preview", body.clone())
        .await
        .expect(200)
        .body;
    assert_eq!(preview["total_price"], 4500);
    assert_eq!(preview["current_breakup"]["subtotal"], 5000);
    assert_eq!(preview["current_breakup"]["discount"], 500);
    assert_eq!(preview["product_cart"][0]["og_price"], 2500);
    // `discount_amount` is a percentage code's rate; a flat code's deduction is in the prices.
    assert_eq!(preview["product_cart"][0]["discount_amount"], Value::Null);
    assert_eq!(preview["product_cart"][0]["discounted_price"], 4500);
    assert_eq!(preview["product_cart"][0]["is_subscription"], false);
    assert_eq!(preview["billing_country"], "US");

    let session = api.post("/checkouts", body).await.expect(200).body;
    let sid = s(&session["session_id"]);
    assert!(sid.starts_with("cks_"));
    assert_eq!(
        session["checkout_url"],
        format!("{}/checkout/{sid}", api.emu.base_url()).as_str()
    );
    let status = api.get(&format!("/checkouts/{sid}")).await.expect(200).body;
    assert_eq!(status["id"], sid);
    assert_eq!(status["customer_email"], "shopper@example.com");
    assert_eq!(status["payment_status"], serde_json::Value::Null);

    // A saved card is charged at once, but only the customer's own saved card.
    let earlier = api.paid_payment(pid, 1).await;
    let pm = s(&earlier["payment_method_id"]).to_string();
    let payer = earlier["customer"]["customer_id"].clone();
    let shopper = api.customer("shopper@example.com").await["customer_id"].clone();
    let saved_card = |customer: Value, confirm: bool| {
        json!({"product_cart": [{"product_id": pid, "quantity": 1}], "confirm": confirm,
               "billing_address": {"country": "US"},
               "customer": customer, "payment_method_id": pm})
    };
    // Another customer's card, a card without `confirm` (the spec: "only allowed when
    // confirm is true"), and a card for a customer given by email are refused.
    for (body, says) in [
        (
            saved_card(json!({"customer_id": shopper}), true),
            "payment_method_id",
        ),
        (saved_card(json!({"customer_id": payer}), false), "confirm"),
        (
            saved_card(json!({"email": "payer@example.com"}), true),
            "existing customer",
        ),
    ] {
        api.post("/checkouts", body).await.expect(422).says(says);
    }
    let paid = api
        .post(
            "/checkouts",
            saved_card(json!({"customer_id": payer}), true),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(paid["checkout_url"], serde_json::Value::Null);
    let pay_id = s(&paid["payment_id"]);
    let st = api
        .get(&format!("/checkouts/{}", s(&paid["session_id"])))
        .await
        .body;
    assert_eq!(st["payment_id"], pay_id);
    assert_eq!(st["payment_status"], "succeeded");
    let p = api.get(&format!("/payments/{pay_id}")).await.body;
    assert_eq!(p["status"], "succeeded");
    assert_eq!(p["checkout_session_id"], paid["session_id"]);

    api.get("/checkouts/cks_nope").await.expect(404);
    let r = api
        .post("/checkouts", json!({"product_cart": [{"product_id": pid}]}))
        .await
        .expect(422);
    let msg = s(&r.body["message"]);
    assert!(
        msg.contains("product_cart[0]") && msg.contains("quantity"),
        "{msg}"
    );
}

#[tokio::test]
async fn invoices_are_public_pdfs_of_paid_payments() {
    let api = Api::start().await;
    let product = api.one_time_product(1234).await;
    let paid = api.paid_payment(s(&product["product_id"]), 1).await;
    let url = api.url(&format!("/invoices/payments/{}", s(&paid["payment_id"])));
    let r = reqwest::Client::new().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    assert!(String::from_utf8_lossy(&bytes).contains("1234 USD"));
    api.get("/invoices/payments/pay_nope").await.expect(404);
}

#[tokio::test]
async fn concurrent_refunds_never_exceed_the_paid_amount() {
    let api = Api::start().await;
    let product = api.one_time_product(1000).await;
    let pid = s(&product["product_id"]).to_string();
    let payment = api.paid_payment(&pid, 3).await;
    let pay_id = s(&payment["payment_id"]).to_string();
    let attempts = (0..10).map(|_| {
        api.post(
            "/refunds",
            json!({"payment_id": pay_id, "items": [{"item_id": pid, "amount": 400}]}),
        )
    });
    let results = futures_join_all(attempts).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    let rejected = results
        .iter()
        .filter(|r| r.status == 422 && r.body["code"] == "REFUND_EXCEEDS_REFUNDABLE_AMOUNT")
        .count();
    assert_eq!((ok, rejected), (7, 3), "7 × 400 fit in 3000");
    let lines = api
        .get(&format!("/payments/{pay_id}/line-items"))
        .await
        .body;
    assert_eq!(lines["items"][0]["refundable_amount"], 200);
    let p = api.get(&format!("/payments/{pay_id}")).await.body;
    assert_eq!(p["refunds"].as_array().unwrap().len(), 7);
    assert_eq!(p["refund_status"], "partial");
}

/// Runs futures concurrently on the current task and collects their outputs in order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().flatten());
    out
}
