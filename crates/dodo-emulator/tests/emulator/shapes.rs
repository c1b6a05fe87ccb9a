//! Every domain response deserialises into its generated `dodo_types` type.

use dodo_types as t;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::support::{Api, s};

#[track_caller]
pub(crate) fn fits<T: DeserializeOwned>(what: &str, v: &Value) {
    let text = v.to_string();
    let de = &mut serde_json::Deserializer::from_str(&text);
    if let Err(e) = serde_path_to_error::deserialize::<_, T>(de) {
        panic!(
            "{what} does not fit {}: {e}\n{v:#}",
            std::any::type_name::<T>()
        );
    }
}

#[track_caller]
fn items_fit<T: DeserializeOwned>(what: &str, list: &Value) {
    let items = list["items"].as_array().expect("items");
    assert!(!items.is_empty(), "{what}: empty list");
    for item in items {
        fits::<T>(what, item);
    }
}

#[tokio::test]
async fn domain_responses_fit_the_generated_types() {
    let api = Api::start().await;
    let customer = api.customer("shape@example.com").await;
    fits::<t::CustomerResponse>("customer", &customer);
    items_fit::<t::CustomerResponse>("customers", &api.get("/customers").await.body);

    let product = api.one_time_product(1000).await;
    fits::<t::GetProductResponse>("product", &product);
    let recurring = api.recurring_product(500).await;
    fits::<t::GetProductResponse>("recurring product", &recurring);
    items_fit::<t::GetProductsListResponseItem>("products", &api.get("/products").await.body);
    let pid = s(&product["product_id"]).to_string();

    let discount = api
        .post("/discounts", json!({"type": "percentage", "amount": 500, "code": "SHAPE", "expires_at": "2999-01-01T00:00:00Z"}))
        .await
        .expect(200)
        .body;
    fits::<t::DiscountResponse>("discount", &discount);
    items_fit::<t::DiscountResponse>("discounts", &api.get("/discounts").await.body);

    let created = api
        .post(
            "/payments",
            json!({"product_cart": [{"product_id": pid, "quantity": 1}],
            "customer": {"customer_id": customer["customer_id"]}, "billing": {"country": "US"},
            "payment_link": true, "discount_code": "SHAPE"}),
        )
        .await
        .expect(200)
        .body;
    fits::<t::CreateOneTimePaymentResponse>("payment create", &created);
    let pay_id = s(&created["payment_id"]).to_string();
    fits::<t::PaymentResponse>(
        "payment",
        &api.get(&format!("/payments/{pay_id}")).await.body,
    );
    let settled = api
        .harness()
        .complete_payment(&pay_id, "succeeded")
        .await
        .unwrap();
    fits::<t::PaymentResponse>("settled payment", &settled);
    items_fit::<t::GetPaymentsListResponseItem>("payments", &api.get("/payments").await.body);
    fits::<t::PaymentLineItemsResponse>(
        "line items",
        &api.get(&format!("/payments/{pay_id}/line-items"))
            .await
            .body,
    );

    let refund = api
        .post(
            "/refunds",
            json!({"payment_id": pay_id, "items": [{"item_id": pid, "amount": 100}]}),
        )
        .await
        .expect(200)
        .body;
    fits::<t::RefundResponse>("refund", &refund);
    items_fit::<t::RefundListItem>("refunds", &api.get("/refunds").await.body);
    fits::<t::PaymentResponse>(
        "refunded payment",
        &api.get(&format!("/payments/{pay_id}")).await.body,
    );

    let sub = api
        .post(
            "/subscriptions",
            json!({"product_id": recurring["product_id"], "quantity": 1,
            "customer": {"email": "shape@example.com"}, "billing": {"country": "US"}}),
        )
        .await
        .expect(200)
        .body;
    fits::<t::CreateSubscriptionResponse>("subscription create", &sub);
    let sid = s(&sub["subscription_id"]).to_string();
    api.harness()
        .complete_payment(s(&sub["payment_id"]), "succeeded")
        .await
        .unwrap();
    fits::<t::SubscriptionResponse>(
        "subscription",
        &api.get(&format!("/subscriptions/{sid}")).await.body,
    );
    items_fit::<t::SubscriptionListResponseItem>(
        "subscriptions",
        &api.get("/subscriptions").await.body,
    );
    let change = json!({"product_id": recurring["product_id"], "quantity": 2,
        "proration_billing_mode": "full_immediately", "effective_at": "next_billing_date"});
    let preview = api
        .post(
            &format!("/subscriptions/{sid}/change-plan/preview"),
            change.clone(),
        )
        .await
        .expect(200)
        .body;
    fits::<t::ChangePlanPreviewResponse>("change-plan preview", &preview);
    api.post(&format!("/subscriptions/{sid}/change-plan"), change)
        .await
        .expect(200);
    fits::<t::SubscriptionResponse>(
        "subscription with scheduled change",
        &api.get(&format!("/subscriptions/{sid}")).await.body,
    );
    let charge = api
        .post(
            &format!("/subscriptions/{sid}/charge"),
            json!({"product_price": 100}),
        )
        .await
        .expect(200)
        .body;
    fits::<t::CreateSubscriptionChargeResponse>("charge", &charge);
    let cancelled = api
        .patch(
            &format!("/subscriptions/{sid}"),
            json!({"status": "cancelled"}),
        )
        .await
        .expect(200)
        .body;
    fits::<t::SubscriptionResponse>("cancelled subscription", &cancelled);

    let key = api
        .post(
            "/license_keys",
            json!({"key": "SHAPE-KEY", "customer_id": customer["customer_id"],
            "product_id": pid, "activations_limit": 2, "expires_at": "2999-01-01T00:00:00Z"}),
        )
        .await
        .expect(201)
        .body;
    fits::<t::LicenseKeyResponse>("license key", &key);
    items_fit::<t::LicenseKeyResponse>("license keys", &api.get("/license_keys").await.body);
    let inst = api
        .post(
            "/licenses/activate",
            json!({"license_key": "SHAPE-KEY", "name": "box"}),
        )
        .await
        .expect(201)
        .body;
    fits::<t::ActivateLicenseKeyResponse>("activation", &inst);
    fits::<t::LicenseKeyInstanceResponse>(
        "instance",
        &api.get(&format!("/license_key_instances/{}", s(&inst["id"])))
            .await
            .body,
    );
    items_fit::<t::LicenseKeyInstanceResponse>(
        "instances",
        &api.get("/license_key_instances").await.body,
    );
    let valid = api
        .post("/licenses/validate", json!({"license_key": "SHAPE-KEY"}))
        .await
        .body;
    fits::<t::ValidateLicenseKeyResponse>("validate", &valid);

    let cart = json!({"product_cart": [{"product_id": pid, "quantity": 1}, {"product_id": recurring["product_id"], "quantity": 1}]});
    fits::<t::CalculateSessionResponse>(
        "checkout preview",
        &api.post("/checkouts/preview", cart.clone())
            .await
            .expect(200)
            .body,
    );
    let session = api.post("/checkouts", cart).await.expect(200).body;
    fits::<t::CreateSessionResponse>("checkout session", &session);
    fits::<t::GetCheckoutSessionsStatus>(
        "checkout status",
        &api.get(&format!("/checkouts/{}", s(&session["session_id"])))
            .await
            .body,
    );

    let hook = api
        .post(
            "/webhooks",
            json!({"url": "https://example.com/h", "filter_types": ["payment.succeeded"]}),
        )
        .await
        .expect(200)
        .body;
    fits::<t::WebhookDetails>("webhook", &hook);
    let wid = s(&hook["id"]).to_string();
    fits::<t::ListWebhooksResponse>("webhooks", &api.get("/webhooks").await.body);
    fits::<t::GetWebhookSecretResponse>(
        "secret",
        &api.get(&format!("/webhooks/{wid}/secret")).await.body,
    );
    fits::<t::GetWebhookHeadersResponse>(
        "headers",
        &api.get(&format!("/webhooks/{wid}/headers")).await.body,
    );

    let ingest = api
        .post(
            "/events/ingest",
            json!({"events": [{"event_id": "shape-1", "customer_id": customer["customer_id"],
            "event_name": "api.call", "metadata": {"n": 1}}]}),
        )
        .await
        .expect(200)
        .body;
    fits::<t::IngestEventsResponse>("ingest", &ingest);
    fits::<t::Event>("event", &api.get("/events/shape-1").await.body);
    items_fit::<t::Event>("events", &api.get("/events").await.body);

    let meter = api
        .post("/meters", json!({"name": "Calls", "event_name": "api.call", "aggregation": {"type": "count"}, "measurement_unit": "calls"}))
        .await
        .expect(201)
        .body;
    fits::<t::MeterResponse>("meter", &meter);
    items_fit::<t::MeterResponse>("meters", &api.get("/meters").await.body);

    let brand = api
        .post("/brands", json!({"name": "Shape"}))
        .await
        .expect(200)
        .body;
    fits::<t::BrandResponse>("brand", &brand);
    items_fit::<t::BrandResponse>("brands", &api.get("/brands").await.body);
    let archived = api
        .post(
            &format!("/brands/{}/archive", s(&brand["brand_id"])),
            json!({}),
        )
        .await
        .expect(200)
        .body;
    fits::<t::ArchiveBrandResponse>("brand archive", &archived);

    let addon = api
        .post(
            "/addons",
            json!({"name": "Seat", "price": 100, "currency": "USD", "tax_category": "saas"}),
        )
        .await
        .expect(200)
        .body;
    fits::<t::AddonResponse>("addon", &addon);
    items_fit::<t::AddonResponse>("addons", &api.get("/addons").await.body);
}
