use serde_json::{Value, json};

use crate::support::{Api, s};

async fn active_subscription(api: &Api, product_id: &str) -> Value {
    let created = api
        .post(
            "/subscriptions",
            json!({"product_id": product_id, "quantity": 2,
                   "customer": {"email": "sub@example.com", "name": "Sub"},
                   "billing": {"country": "US"}, "payment_link": true}),
        )
        .await
        .expect(200)
        .body;
    let pay = s(&created["payment_id"]).to_string();
    api.harness()
        .complete_payment(&pay, "succeeded")
        .await
        .unwrap();
    created
}

#[tokio::test]
async fn subscription_create_activate_list_update_cancel() {
    let api = Api::start().await;
    let product = api.recurring_product(1200).await;
    let pid = s(&product["product_id"]);
    let created = api
        .post(
            "/subscriptions",
            json!({"product_id": pid, "quantity": 2,
                   "customer": {"email": "sub@example.com", "name": "Sub"},
                   "billing": {"country": "US"}, "payment_link": true,
                   "metadata": {"plan": "pro"}}),
        )
        .await
        .expect(200)
        .body;
    let id = s(&created["subscription_id"]).to_string();
    assert!(id.starts_with("sub_"));
    assert_eq!(created["recurring_pre_tax_amount"], 2400);
    assert!(s(&created["payment_link"]).contains("/pay/pay_"));
    let sub = api
        .get(&format!("/subscriptions/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["status"], "pending");
    assert_eq!(sub["quantity"], 2);
    assert_eq!(sub["payment_frequency_interval"], "Month");
    assert_eq!(sub["subscription_period_interval"], "Year");
    assert_eq!(sub["metadata"]["plan"], "pro");
    assert!(s(&sub["next_billing_date"]) > s(&sub["previous_billing_date"]));

    let pay = s(&created["payment_id"]);
    let p = api.get(&format!("/payments/{pay}")).await.body;
    assert_eq!(p["subscription_id"], id.as_str());
    assert_eq!(p["total_amount"], 2400);
    api.harness()
        .complete_payment(pay, "succeeded")
        .await
        .unwrap();
    assert_eq!(
        api.get(&format!("/subscriptions/{id}")).await.body["status"],
        "active"
    );

    let listed = api
        .get("/subscriptions?status=active")
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"][0]["subscription_id"], id.as_str());
    assert_eq!(listed["items"][0]["discounts"], json!([]));
    let none = api.get("/subscriptions?status=cancelled").await.body;
    assert_eq!(none["items"], json!([]));
    let by_product = api
        .get(&format!("/subscriptions?product_id={pid}"))
        .await
        .body;
    assert_eq!(by_product["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.get(&format!("/payments?subscription_id={id}"))
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let upd = api
        .patch(
            &format!("/subscriptions/{id}"),
            json!({"cancel_at_next_billing_date": true}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(upd["cancel_at_next_billing_date"], true);
    assert_eq!(upd["status"], "active");
    let flagged = api
        .get("/subscriptions?cancel_at_next_billing_date=true")
        .await
        .body;
    assert_eq!(flagged["items"].as_array().unwrap().len(), 1);

    let paused = api
        .patch(&format!("/subscriptions/{id}"), json!({"status": "paused"}))
        .await
        .expect(200)
        .body;
    assert_eq!(paused["status"], "paused");
    assert!(paused["paused_at"].is_string());
    let resumed = api
        .patch(&format!("/subscriptions/{id}"), json!({"pause": false}))
        .await
        .expect(200)
        .body;
    assert_eq!(resumed["status"], "active");
    assert_eq!(resumed["paused_at"], Value::Null);

    let cancelled = api
        .patch(
            &format!("/subscriptions/{id}"),
            json!({"status": "cancelled", "cancellation_comment": "too pricey"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["cancelled_at"].is_string());
    assert_eq!(cancelled["cancellation_comment"], "too pricey");
    let again = api
        .patch(
            &format!("/subscriptions/{id}"),
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(again.status, 200, "same status is a no-op");
    let r = api
        .patch(
            &format!("/subscriptions/{id}"),
            json!({"cancel_at_next_billing_date": false}),
        )
        .await
        .expect(422);
    assert_eq!(r.body["code"], "SUBSCRIPTION_INACTIVE");
    let r = api
        .post(
            &format!("/subscriptions/{id}/charge"),
            json!({"product_price": 100}),
        )
        .await
        .expect(422);
    assert_eq!(r.body["code"], "SUBSCRIPTION_INACTIVE");
}

#[tokio::test]
async fn change_plan_preview_immediate_and_scheduled() {
    let api = Api::start().await;
    let basic = api.recurring_product(1000).await;
    let pro = api.recurring_product(3000).await;
    let sub = active_subscription(&api, s(&basic["product_id"])).await;
    let id = s(&sub["subscription_id"]).to_string();
    let change = json!({"product_id": pro["product_id"], "quantity": 1,
                        "proration_billing_mode": "difference_immediately"});

    let preview = api
        .post(
            &format!("/subscriptions/{id}/change-plan/preview"),
            change.clone(),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(preview["new_plan"]["product_id"], pro["product_id"]);
    assert_eq!(preview["new_plan"]["recurring_pre_tax_amount"], 3000);
    assert_eq!(
        preview["immediate_charge"]["summary"]["total_amount"], 1000,
        "3000 - 2x1000"
    );
    assert_eq!(
        preview["immediate_charge"]["line_items"][0]["type"],
        "subscription"
    );
    // Preview changes nothing.
    assert_eq!(
        api.get(&format!("/subscriptions/{id}")).await.body["product_id"],
        basic["product_id"]
    );

    let r = api
        .post(&format!("/subscriptions/{id}/change-plan"), change)
        .await
        .expect(200);
    assert_eq!(r.body, Value::Null);
    let now = api.get(&format!("/subscriptions/{id}")).await.body;
    assert_eq!(now["product_id"], pro["product_id"]);
    assert_eq!(now["quantity"], 1);
    assert_eq!(now["recurring_pre_tax_amount"], 3000);
    let payments = api
        .get(&format!("/payments?subscription_id={id}"))
        .await
        .body;
    assert_eq!(payments["items"].as_array().unwrap().len(), 2);
    assert_eq!(payments["items"][0]["total_amount"], 1000);
    assert_eq!(payments["items"][0]["status"], "succeeded");

    let scheduled = json!({"product_id": basic["product_id"], "quantity": 1,
        "proration_billing_mode": "do_not_bill", "effective_at": "next_billing_date"});
    api.post(
        &format!("/subscriptions/{id}/change-plan"),
        scheduled.clone(),
    )
    .await
    .expect(200);
    let s1 = api.get(&format!("/subscriptions/{id}")).await.body;
    assert_eq!(s1["scheduled_change"]["product_id"], basic["product_id"]);
    assert_eq!(
        s1["scheduled_change"]["effective_at"],
        s1["next_billing_date"]
    );
    assert_eq!(s1["product_id"], pro["product_id"]);
    let conflict = api
        .post(&format!("/subscriptions/{id}/change-plan"), scheduled)
        .await
        .expect(409);
    assert_eq!(conflict.body["code"], "PENDING_PLAN_CHANGE_EXISTS");
    api.delete(&format!("/subscriptions/{id}/change-plan/scheduled"))
        .await
        .expect(204);
    assert_eq!(
        api.get(&format!("/subscriptions/{id}")).await.body["scheduled_change"],
        Value::Null
    );
    api.delete(&format!("/subscriptions/{id}/change-plan/scheduled"))
        .await
        .expect(404);

    let one_time = api.one_time_product(10).await;
    let r = api
        .post(&format!("/subscriptions/{id}/change-plan"),
            json!({"product_id": one_time["product_id"], "quantity": 1, "proration_billing_mode": "do_not_bill"}))
        .await
        .expect(422);
    assert!(s(&r.body["message"]).contains("product_id"));
    let r = api
        .post(&format!("/subscriptions/{id}/change-plan"),
            json!({"product_id": pro["product_id"], "quantity": 1, "proration_billing_mode": "sometimes"}))
        .await
        .expect(422);
    assert!(s(&r.body["message"]).contains("proration_billing_mode"));
}

#[tokio::test]
async fn on_demand_charge_creates_a_settled_payment() {
    let api = Api::start().await;
    let product = api.recurring_product(1000).await;
    let sub = active_subscription(&api, s(&product["product_id"])).await;
    let id = s(&sub["subscription_id"]);
    let charged = api
        .post(
            &format!("/subscriptions/{id}/charge"),
            json!({"product_price": 250}),
        )
        .await
        .expect(200)
        .body;
    let pay = s(&charged["payment_id"]);
    let p = api.get(&format!("/payments/{pay}")).await.expect(200).body;
    assert_eq!(p["total_amount"], 250);
    assert_eq!(p["status"], "succeeded");
    assert_eq!(p["subscription_id"], id);
    let r = api
        .post(
            &format!("/subscriptions/{id}/charge"),
            json!({"product_price": 0}),
        )
        .await
        .expect(422);
    assert!(s(&r.body["message"]).contains("product_price"));
}

#[tokio::test]
async fn subscriptions_need_recurring_products_and_trials_start_free() {
    let api = Api::start().await;
    let once = api.one_time_product(100).await;
    let r = api
        .post(
            "/subscriptions",
            json!({"product_id": once["product_id"], "quantity": 1,
            "customer": {"email": "t@x.io"}, "billing": {"country": "US"}}),
        )
        .await
        .expect(422);
    assert!(s(&r.body["message"]).contains("product_id"));
    let rec = api.recurring_product(900).await;
    let created = api
        .post("/subscriptions", json!({"product_id": rec["product_id"], "quantity": 1,
            "customer": {"email": "t@x.io"}, "billing": {"country": "US"}, "trial_period_days": 14}))
        .await
        .expect(200)
        .body;
    let sub = api
        .get(&format!(
            "/subscriptions/{}",
            s(&created["subscription_id"])
        ))
        .await
        .body;
    assert_eq!(sub["trial_period_days"], 14);
    let p = api
        .get(&format!("/payments/{}", s(&created["payment_id"])))
        .await
        .body;
    assert_eq!(p["total_amount"], 0);
    api.get("/subscriptions/sub_nope").await.expect(404);
}

#[tokio::test]
async fn a_subscription_period_can_be_extended_but_never_shortened() {
    let api = Api::start().await;
    let product = api.recurring_product(1000).await;
    let sub = active_subscription(&api, s(&product["product_id"])).await;
    let id = s(&sub["subscription_id"]);
    let period = |v: &Value| {
        (
            v["subscription_period_count"].clone(),
            v["subscription_period_interval"].clone(),
        )
    };
    let two_years = api
        .patch(
            &format!("/subscriptions/{id}"),
            json!({"subscription_period_count": 2}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(period(&two_years), (json!(2), json!("Year")));
    api.patch(
        &format!("/subscriptions/{id}"),
        json!({"subscription_period_count": 18, "subscription_period_interval": "Month"}),
    )
    .await
    .expect(422)
    .says("only be extended");
    assert_eq!(
        period(&api.get(&format!("/subscriptions/{id}")).await.body),
        (json!(2), json!("Year")),
        "unchanged"
    );
    let longer = api
        .patch(
            &format!("/subscriptions/{id}"),
            json!({"subscription_period_count": 30, "subscription_period_interval": "Month"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(period(&longer), (json!(30), json!("Month")));
}

#[tokio::test]
async fn a_charge_allowed_to_use_customer_credit_takes_it_from_the_wallet_first() {
    let api = Api::start().await;
    let product = api.recurring_product(1000).await;
    let sub = active_subscription(&api, s(&product["product_id"])).await;
    let id = s(&sub["subscription_id"]);
    let customer = s(&sub["customer"]["customer_id"]).to_string();
    api.post(
        &format!("/customers/{customer}/wallets/ledger-entries"),
        json!({"entry_type": "credit", "currency": "USD", "amount": 300}),
    )
    .await
    .expect(200);
    let balance = || {
        let api = &api;
        let customer = customer.clone();
        async move {
            let w = api
                .get(&format!("/customers/{customer}/wallets"))
                .await
                .expect(200)
                .body;
            w["items"][0]["balance"].clone()
        }
    };
    let charge = |body: Value| {
        let api = &api;
        async move {
            let c = api
                .post(&format!("/subscriptions/{id}/charge"), body)
                .await
                .expect(200)
                .body;
            let p = api
                .get(&format!("/payments/{}", s(&c["payment_id"])))
                .await
                .body;
            (s(&c["payment_id"]).to_string(), p["total_amount"].clone())
        }
    };
    // Without the flag the wallet is left alone.
    let (_, total) = charge(json!({"product_price": 500})).await;
    assert_eq!((total, balance().await), (json!(500), json!(300)));
    let with_credit = json!({"product_price": 500,
                             "customer_balance_config": {"allow_customer_credits_usage": true}});
    let (pid, total) = charge(with_credit.clone()).await;
    assert_eq!((total, balance().await), (json!(200), json!(0)));
    let entries = api
        .get(&format!("/customers/{customer}/wallets/ledger-entries"))
        .await
        .expect(200)
        .body;
    let used = &entries["items"][0];
    assert_eq!(
        (
            used["event_type"].clone(),
            used["amount"].clone(),
            used["reference_object_id"].clone()
        ),
        (json!("payment"), json!(300), json!(pid))
    );
    let (_, total) = charge(with_credit).await;
    assert_eq!(total, 500, "an empty wallet settles nothing");
}

#[tokio::test]
async fn a_declined_plan_change_charge_keeps_the_plan_only_when_asked() {
    let api = Api::start().await;
    let basic = api.recurring_product(1000).await;
    let pro = api.recurring_product(3000).await;
    let sub = active_subscription(&api, s(&basic["product_id"])).await;
    let id = s(&sub["subscription_id"]).to_string();
    api.admin_http(
        reqwest::Method::POST,
        &format!("/_emulator/subscriptions/{id}/card"),
        Some(json!({"fail_renewals": true})),
    )
    .await
    .expect(200);
    let change = |on_failure: &str| {
        json!({"product_id": pro["product_id"], "quantity": 1,
               "proration_billing_mode": "full_immediately", "on_payment_failure": on_failure})
    };
    api.post(
        &format!("/subscriptions/{id}/change-plan"),
        change("prevent_change"),
    )
    .await
    .expect(200);
    let kept = api.get(&format!("/subscriptions/{id}")).await.body;
    assert_eq!(
        kept["product_id"], basic["product_id"],
        "prevent_change keeps the plan"
    );
    let payments = api
        .get(&format!("/payments?subscription_id={id}"))
        .await
        .body;
    assert_eq!(payments["items"][0]["status"], "failed");
    assert_eq!(payments["items"][0]["total_amount"], 3000);

    api.post(
        &format!("/subscriptions/{id}/change-plan"),
        change("apply_change"),
    )
    .await
    .expect(200);
    let changed = api.get(&format!("/subscriptions/{id}")).await.body;
    assert_eq!(
        changed["product_id"], pro["product_id"],
        "apply_change applies anyway"
    );
}

#[tokio::test]
async fn a_subscription_expires_when_its_period_ends_after_the_renewals_before_it() {
    let api = Api::start().await;
    // Monthly billing for a one-year subscription period.
    let product = api.recurring_product(1000).await;
    let sub = active_subscription(&api, s(&product["product_id"])).await;
    let id = s(&sub["subscription_id"]).to_string();
    let got = api.get(&format!("/subscriptions/{id}")).await.body;
    let created = s(&got["created_at"]).to_string();
    let expires = s(&got["expires_at"]).to_string();
    assert_eq!(
        &expires[..4],
        &(created[..4].parse::<i32>().unwrap() + 1).to_string()
    );
    assert_eq!(&expires[4..10], &created[4..10], "a year to the day");

    // One big move of the clock renews in order up to the end of the period, then expires.
    api.harness()
        .advance_clock(std::time::Duration::from_secs(400 * 86_400))
        .await
        .unwrap();
    let after = api.get(&format!("/subscriptions/{id}")).await.body;
    assert_eq!(after["status"], "expired");
    let payments = api
        .get(&format!("/payments?subscription_id={id}&page_size=100"))
        .await
        .body;
    assert_eq!(
        payments["items"].as_array().unwrap().len(),
        12,
        "the first payment and 11 monthly renewals"
    );

    // Extending the period moves the expiry with it.
    let other = active_subscription(&api, s(&product["product_id"])).await;
    let oid = s(&other["subscription_id"]);
    let before = api.get(&format!("/subscriptions/{oid}")).await.body;
    let longer = api
        .patch(
            &format!("/subscriptions/{oid}"),
            json!({"subscription_period_count": 2}),
        )
        .await
        .expect(200)
        .body;
    assert!(s(&longer["expires_at"]) > s(&before["expires_at"]));
}
