//! Handlers that read their bodies through the generated request types (issue 11 item 2):
//! typed enums and timestamps are stored as the same JSON text, `null` on PATCH means
//! "unchanged" unless the spec documents it as removing the value, and an unknown enum value
//! still answers 422 naming the field.

use serde_json::{Value, json};

use crate::support::{Api, s};

fn error_message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn license_key_patch_canonicalises_time_and_null_follows_the_spec() {
    let api = Api::start().await;
    let c = api.customer("typed-lic@example.com").await;
    let p = api.one_time_product(100).await;
    let k = api
        .post(
            "/license_keys",
            json!({"key": "TYPED-1", "customer_id": c["customer_id"],
                   "product_id": p["product_id"], "activations_limit": 3,
                   "expires_at": "2031-06-01T02:00:00+02:00"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(k["expires_at"], "2031-06-01T00:00:00.000000Z");
    let id = s(&k["id"]).to_string();

    let patched = api
        .patch(
            &format!("/license_keys/{id}"),
            json!({"expires_at": "2032-01-01T00:00:00-01:00", "disabled": null,
                   "activations_limit": null}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(patched["expires_at"], "2032-01-01T01:00:00.000000Z");
    // `disabled: null` leaves the key as it was; `activations_limit: null` is documented as
    // "Use `null` to remove the limit".
    assert_eq!(patched["status"], "active");
    assert_eq!(patched["activations_limit"], Value::Null);

    let disabled = api
        .patch(&format!("/license_keys/{id}"), json!({"disabled": true}))
        .await
        .expect(200)
        .body;
    assert_eq!(disabled["status"], "disabled");

    let bad = api
        .patch(
            &format!("/license_keys/{id}"),
            json!({"activations_limit": -1}),
        )
        .await
        .expect(422)
        .body;
    assert!(error_message(&bad).contains("activations_limit"), "{bad}");
}

#[tokio::test]
async fn product_patch_stores_typed_fields_and_ignores_nulls() {
    let api = Api::start().await;
    let product = api.one_time_product(500).await;
    let pid = s(&product["product_id"]).to_string();
    api.patch(
        &format!("/products/{pid}"),
        json!({"name": "Renamed", "tax_category": "saas", "metadata": {"tier": 2},
               "license_key_duration": {"count": 1, "interval": "Year"},
               "addons": []}),
    )
    .await
    .expect(200);
    api.patch(
        &format!("/products/{pid}"),
        json!({"name": null, "description": null, "license_key_duration": null}),
    )
    .await
    .expect(200);
    let got = api.get(&format!("/products/{pid}")).await.expect(200).body;
    assert_eq!(got["name"], "Renamed");
    assert_eq!(got["tax_category"], "saas");
    assert_eq!(got["metadata"], json!({"tier": 2}));
    assert_eq!(
        got["license_key_duration"],
        json!({"count": 1, "interval": "Year"})
    );
    assert_eq!(got["price"]["price"], 500);
    assert_eq!(got["price"]["pay_what_you_want"], false);
}

#[tokio::test]
async fn subscription_patch_and_plan_change_read_typed_enums() {
    let api = Api::start().await;
    let product = api.recurring_product(1000).await;
    let pid = s(&product["product_id"]).to_string();
    let created = api
        .post(
            "/subscriptions",
            json!({"product_id": pid, "quantity": 1,
                   "customer": {"email": "typed-sub@example.com", "name": "T"},
                   "billing": {"country": "US"}, "payment_link": true,
                   "tax_id": "VAT-1"}),
        )
        .await
        .expect(200)
        .body;
    let id = s(&created["subscription_id"]).to_string();
    api.harness()
        .complete_payment(s(&created["payment_id"]), "succeeded")
        .await
        .unwrap();

    let patched = api
        .patch(
            &format!("/subscriptions/{id}"),
            json!({"cancellation_feedback": "too_expensive", "tax_id": null,
                   "metadata": {"seat": "a"}, "next_billing_date": "2030-01-01T00:00:00+05:00"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(patched["cancellation_feedback"], "too_expensive");
    assert_eq!(patched["tax_id"], "VAT-1");
    assert_eq!(patched["metadata"], json!({"seat": "a"}));
    assert_eq!(patched["next_billing_date"], "2029-12-31T19:00:00.000000Z");
    assert_eq!(patched["billing"]["country"], "US");

    let bad = api
        .patch(
            &format!("/subscriptions/{id}"),
            json!({"status": "on_hold"}),
        )
        .await
        .expect(422)
        .body;
    assert!(error_message(&bad).contains("on_hold"), "{bad}");

    let bad = api
        .post(
            &format!("/subscriptions/{id}/change-plan"),
            json!({"product_id": pid, "quantity": 1, "proration_billing_mode": "sometimes"}),
        )
        .await
        .expect(422)
        .body;
    assert!(
        error_message(&bad).contains("proration_billing_mode"),
        "{bad}"
    );

    let preview = api
        .post(
            &format!("/subscriptions/{id}/change-plan/preview"),
            json!({"product_id": pid, "quantity": 3,
                   "proration_billing_mode": "full_immediately"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(preview["immediate_charge"]["summary"]["total_amount"], 3000);
    let free = api
        .post(
            &format!("/subscriptions/{id}/change-plan/preview"),
            json!({"product_id": pid, "quantity": 3, "proration_billing_mode": "do_not_bill"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(free["immediate_charge"]["summary"]["total_amount"], 0);
}
