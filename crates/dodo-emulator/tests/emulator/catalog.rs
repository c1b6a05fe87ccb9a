//! Products, discounts, brands, addons, meters.

use serde_json::json;

use crate::support::{Api, s};

#[tokio::test]
async fn product_lifecycle_with_archive_and_410() {
    let api = Api::start().await;
    let p = api.one_time_product(1999).await;
    let id = s(&p["product_id"]);
    assert!(id.starts_with("pdt_"));
    assert_eq!(p["is_recurring"], false);
    assert_eq!(p["price"]["type"], "one_time_price");
    assert_eq!(p["price"]["price"], 1999);
    assert!(s(&p["brand_id"]).starts_with("brnd_"));

    let got = api.get(&format!("/products/{id}")).await.expect(200).body;
    assert_eq!(got, p);

    let r = api
        .patch(
            &format!("/products/{id}"),
            json!({"name": "Renamed", "description": "d"}),
        )
        .await
        .expect(200);
    assert_eq!(
        r.body,
        serde_json::Value::Null,
        "PATCH /products answers an empty body"
    );
    let got = api.get(&format!("/products/{id}")).await.expect(200).body;
    assert_eq!(got["name"], "Renamed");
    assert_eq!(got["description"], "d");

    let listed = api.get("/products").await.expect(200).body;
    assert_eq!(listed["items"][0]["product_id"], id);
    assert_eq!(listed["items"][0]["price"], 1999);
    assert_eq!(listed["items"][0]["currency"], "USD");
    assert_eq!(listed["items"][0]["price_detail"]["type"], "one_time_price");

    api.delete(&format!("/products/{id}")).await.expect(200);
    assert_eq!(api.get("/products").await.body["items"], json!([]));
    let archived = api.get("/products?archived=true").await.expect(200).body;
    assert_eq!(archived["items"][0]["product_id"], id);
    api.get(&format!("/products/{id}")).await.expect(200);
    let gone = api.delete(&format!("/products/{id}")).await.expect(410);
    assert_eq!(gone.body["code"], "PRODUCT_ARCHIVED");
    api.patch(&format!("/products/{id}"), json!({"name": "x"}))
        .await
        .expect(410);

    api.post(&format!("/products/{id}/unarchive"), json!({}))
        .await
        .expect(200);
    assert_eq!(
        api.get("/products").await.body["items"][0]["product_id"],
        id
    );
}

#[tokio::test]
async fn product_prices_are_validated_and_filtered() {
    let api = Api::start().await;
    let rec = api.recurring_product(900).await;
    assert_eq!(rec["is_recurring"], true);
    assert_eq!(rec["price"]["trial_period_days"], 0);
    let usage = api
        .post(
            "/products",
            json!({"name": "API", "tax_category": "saas", "price": {
                "type": "usage_based_price", "fixed_price": 100, "currency": "EUR",
                "discount": 0, "purchasing_power_parity": false,
                "payment_frequency_count": 1, "payment_frequency_interval": "Month",
                "subscription_period_count": 1, "subscription_period_interval": "Month"}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(usage["is_recurring"], true);
    api.one_time_product(5).await;

    let recurring = api.get("/products?recurring=true").await.expect(200).body;
    assert_eq!(recurring["items"].as_array().unwrap().len(), 2);
    let once = api.get("/products?recurring=false").await.expect(200).body;
    assert_eq!(once["items"].as_array().unwrap().len(), 1);

    let bad = api
        .post(
            "/products",
            json!({"name": "x", "tax_category": "saas", "price": {"type": "free"}}),
        )
        .await
        .expect(422);
    assert!(s(&bad.body["message"]).contains("price.type"));
    let bad = api
        .post("/products", json!({"name": "x", "tax_category": "food", "price": {"type": "one_time_price", "price": 1, "currency": "USD", "discount": 0, "purchasing_power_parity": false}}))
        .await
        .expect(422);
    assert!(s(&bad.body["message"]).contains("tax_category"));
    let bad = api
        .post("/products", json!({"name": "x", "tax_category": "saas", "price": {"type": "recurring_price", "price": 1, "currency": "USD", "discount": 0, "purchasing_power_parity": false}}))
        .await
        .expect(422);
    let msg = s(&bad.body["message"]);
    assert!(
        msg.contains("price") && msg.contains("payment_frequency_count"),
        "{msg}"
    );
}

#[tokio::test]
async fn discount_codes_limits_soft_delete_and_lookup() {
    let api = Api::start().await;
    let d = api
        .post(
            "/discounts",
            json!({"type": "percentage", "amount": 1000, "code": "SAVE10", "usage_limit": 1}),
        )
        .await
        .expect(200)
        .body;
    let id = s(&d["discount_id"]);
    assert!(id.starts_with("dsc_"));
    assert_eq!(d["times_used"], 0);
    assert_eq!(d["customer_eligibility"], "any");
    assert_eq!(d["restricted_to"], json!([]));

    let dup = api
        .post(
            "/discounts",
            json!({"type": "flat", "amount": 5, "code": "SAVE10"}),
        )
        .await
        .expect(409);
    assert_eq!(dup.body["code"], "DISCOUNT_CODE_ALREADY_EXISTS");
    let bad = api
        .post("/discounts", json!({"type": "percentage", "amount": 10001}))
        .await
        .expect(422);
    assert!(s(&bad.body["message"]).contains("amount"));
    let generated = api
        .post("/discounts", json!({"type": "flat", "amount": 500, "currency_options": [{"currency": "USD", "max_amount_possible": 500}]}))
        .await
        .expect(200)
        .body;
    assert_eq!(s(&generated["code"]).len(), 16);

    let by_code = api.get("/discounts/code/SAVE10").await.expect(200).body;
    assert_eq!(by_code["discount_id"], id);
    let patched = api
        .patch(
            &format!("/discounts/{id}"),
            json!({"name": "Ten off", "amount": 1500}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(patched["amount"], 1500);
    assert_eq!(patched["name"], "Ten off");

    let filtered = api.get("/discounts?code=SAVE10").await.expect(200).body;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    let flat = api
        .get("/discounts?discount_type=flat")
        .await
        .expect(200)
        .body;
    assert_eq!(flat["items"][0]["discount_id"], generated["discount_id"]);

    // Use the code once: the usage limit then blocks a second use.
    let product = api.one_time_product(2000).await;
    let pay = api
        .post(
            "/payments",
            json!({
            "product_cart": [{"product_id": product["product_id"], "quantity": 1}],
            "customer": {"email": "d@x.io"}, "billing": {"country": "US"},
            "discount_code": "SAVE10"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(pay["total_amount"], 1700, "15% off 2000");
    assert_eq!(pay["discount_id"], id);
    let used = api.get(&format!("/discounts/{id}")).await.body;
    assert_eq!(used["times_used"], 1);
    let inactive = api.get("/discounts?active=false").await.expect(200).body;
    assert_eq!(inactive["items"][0]["discount_id"], id);
    let again = api
        .post(
            "/payments",
            json!({
            "product_cart": [{"product_id": product["product_id"], "quantity": 1}],
            "customer": {"email": "d@x.io"}, "billing": {"country": "US"},
            "discount_code": "SAVE10"}),
        )
        .await
        .expect(422);
    assert_eq!(again.body["code"], "DISCOUNT_USAGE_LIMIT_REACHED");

    api.delete(&format!("/discounts/{id}")).await.expect(204);
    api.get(&format!("/discounts/{id}")).await.expect(404);
    api.get("/discounts/code/SAVE10").await.expect(404);
    api.delete(&format!("/discounts/{id}")).await.expect(404);
    let listed = api.get("/discounts").await.expect(200).body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn expired_discount_is_rejected_at_redemption() {
    let api = Api::start().await;
    api.post(
        "/discounts",
        json!({"type": "flat", "amount": 100, "code": "OLD", "expires_at": "2020-01-01T00:00:00Z", "currency_options": [{"currency": "USD", "max_amount_possible": 100}]}),
    )
    .await
    .expect(200);
    let product = api.one_time_product(1000).await;
    let r = api
        .post(
            "/payments",
            json!({
            "product_cart": [{"product_id": product["product_id"], "quantity": 1}],
            "customer": {"email": "e@x.io"}, "billing": {"country": "US"},
            "discount_code": "OLD"}),
        )
        .await
        .expect(422);
    assert_eq!(r.body["code"], "DISCOUNT_CODE_EXPIRED");
}

#[tokio::test]
async fn brands_and_addons_crud() {
    let api = Api::start().await;
    let default = api.get("/brands").await.expect(200).body;
    assert_eq!(
        default["items"].as_array().unwrap().len(),
        1,
        "the default brand"
    );
    let b = api
        .post(
            "/brands",
            json!({"name": "Acme", "url": "https://acme.test"}),
        )
        .await
        .expect(200)
        .body;
    let bid = s(&b["brand_id"]);
    assert!(bid.starts_with("brnd_"));
    assert_eq!(b["statement_descriptor"], "ACME");
    assert_eq!(b["verification_status"], "Success");
    let b2 = api
        .patch(&format!("/brands/{bid}"), json!({"description": "Tools"}))
        .await
        .expect(200)
        .body;
    assert_eq!(b2["description"], "Tools");
    assert_eq!(
        api.get(&format!("/brands/{bid}")).await.body["description"],
        "Tools"
    );
    let archived = api
        .post(&format!("/brands/{bid}/archive"), json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(archived["brand_id"], bid);
    assert_eq!(archived["products_moved"], 0);
    api.post(&format!("/brands/{bid}/archive"), json!({}))
        .await
        .expect(409);

    let a = api
        .post(
            "/addons",
            json!({"name": "Seat", "price": 500, "currency": "USD", "tax_category": "saas"}),
        )
        .await
        .expect(200)
        .body;
    let aid = s(&a["id"]);
    assert!(aid.starts_with("adn_"));
    let a2 = api
        .patch(&format!("/addons/{aid}"), json!({"price": 700}))
        .await
        .expect(200)
        .body;
    assert_eq!(a2["price"], 700);
    assert_eq!(api.get("/addons").await.body["items"][0]["id"], aid);
    api.delete(&format!("/addons/{aid}")).await.expect(200);
    assert_eq!(api.get("/addons").await.body["items"], json!([]));
    api.post(&format!("/addons/{aid}/unarchive"), json!({}))
        .await
        .expect(200);
    assert_eq!(api.get("/addons").await.body["items"][0]["id"], aid);
    api.get("/addons/adn_nope").await.expect(404);
}

#[tokio::test]
async fn meters_create_201_archive_204() {
    let api = Api::start().await;
    let m = api
        .post(
            "/meters",
            json!({"name": "API calls", "event_name": "api.call",
            "aggregation": {"type": "sum", "key": "tokens"}, "measurement_unit": "tokens"}),
        )
        .await
        .expect(201)
        .body;
    let id = s(&m["id"]);
    assert!(id.starts_with("mtr_"));
    let bad = api
        .post("/meters", json!({"name": "x", "event_name": "e", "aggregation": {"type": "sum"}, "measurement_unit": "u"}))
        .await
        .expect(422);
    assert!(s(&bad.body["message"]).contains("aggregation.key"));
    let m2 = api
        .patch(&format!("/meters/{id}"), json!({"description": "calls"}))
        .await
        .expect(200)
        .body;
    assert_eq!(m2["description"], "calls");
    assert_eq!(api.get("/meters").await.body["items"][0]["id"], id);
    api.delete(&format!("/meters/{id}")).await.expect(204);
    assert_eq!(api.get("/meters").await.body["items"], json!([]));
    assert_eq!(
        api.get("/meters?archived=true").await.body["items"][0]["id"],
        id
    );
    api.post(&format!("/meters/{id}/unarchive"), json!({}))
        .await
        .expect(200);
    assert_eq!(api.get("/meters").await.body["items"][0]["id"], id);
}

#[tokio::test]
async fn per_customer_usage_limit_counts_each_customers_payments() {
    let api = Api::start().await;
    api.post(
        "/discounts",
        json!({"type": "flat", "amount": 100, "code": "ONCE", "per_customer_usage_limit": 1, "currency_options": [{"currency": "USD", "max_amount_possible": 100}]}),
    )
    .await
    .expect(200);
    let product = api.one_time_product(1000).await;
    let pay = |email: &str| {
        json!({"product_cart": [{"product_id": product["product_id"], "quantity": 1}],
               "customer": {"email": email}, "billing": {"country": "US"}, "discount_code": "ONCE"})
    };
    let first = api.post("/payments", pay("a@x.io")).await.expect(200).body;
    assert_eq!(first["total_amount"], 900);
    let again = api.post("/payments", pay("a@x.io")).await.expect(422);
    assert_eq!(again.body["code"], "DISCOUNT_CUSTOMER_LIMIT_REACHED");
    api.post("/payments", pay("b@x.io")).await.expect(200);
    assert_eq!(api.get("/discounts/code/ONCE").await.body["times_used"], 2);
}

/// Bodies are read through the generated request types: enums are stored by their wire
/// names, timestamps in the canonical form, and a PATCH field sent as `null` or left out
/// keeps the stored value (the typed request cannot clear these fields).
#[tokio::test]
async fn typed_discount_bodies_store_wire_values_and_patch_keeps_nulls() {
    let api = Api::start().await;
    let d = api
        .post(
            "/discounts",
            json!({
                "type": "flat", "amount": 250, "code": "TYPED1", "name": "Typed",
                "currency_options": [{"currency": "USD", "max_amount_possible": 250}],
                "customer_eligibility": "first_time",
                "expires_at": "2099-01-02T03:04:05+02:00",
                "metadata": {"k": "v", "n": 3}
            }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(d["type"], "flat");
    assert_eq!(d["customer_eligibility"], "first_time");
    assert_eq!(d["expires_at"], "2099-01-02T01:04:05.000000Z");
    assert_eq!(d["metadata"], json!({"k": "v", "n": 3}));
    let id = s(&d["discount_id"]);

    let p = api
        .patch(
            &format!("/discounts/{id}"),
            json!({"name": null, "usage_limit": 7, "type": "percentage", "amount": 500}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(p["name"], "Typed");
    assert_eq!(p["usage_limit"], 7);
    assert_eq!(p["type"], "percentage");
    assert_eq!(p["amount"], 500);
    assert_eq!(p["metadata"], json!({"k": "v", "n": 3}));
    let bad = api
        .patch(&format!("/discounts/{id}"), json!({"amount": 10001}))
        .await
        .expect(422);
    assert!(s(&bad.body["message"]).contains("amount"));
}

#[tokio::test]
async fn archiving_a_brand_moves_its_products_live_subscriptions_and_collections() {
    let api = Api::start().await;
    let brand = |name: &str| {
        let api = &api;
        let name = name.to_string();
        async move {
            let b = api
                .post("/brands", json!({"name": name}))
                .await
                .expect(200)
                .body;
            s(&b["brand_id"]).to_string()
        }
    };
    let (old, new) = (brand("Old").await, brand("New").await);
    let product = api
        .post(
            "/products",
            json!({"name": "Plan", "tax_category": "saas", "brand_id": old,
                   "price": {"type": "recurring_price", "price": 900, "currency": "USD",
                             "discount": 0, "purchasing_power_parity": false,
                             "payment_frequency_count": 1, "payment_frequency_interval": "Month",
                             "subscription_period_count": 1, "subscription_period_interval": "Year"}}),
        )
        .await
        .expect(200)
        .body;
    let pid = s(&product["product_id"]).to_string();
    let subscribe = || {
        api.post(
            "/subscriptions",
            json!({"product_id": pid, "quantity": 1, "billing": {"country": "US"},
                   "customer": {"email": "b@example.com", "name": "B"}}),
        )
    };
    let live = subscribe().await.expect(200).body;
    let ended = subscribe().await.expect(200).body;
    let ended_id = s(&ended["subscription_id"]).to_string();
    api.patch(
        &format!("/subscriptions/{ended_id}"),
        json!({"status": "cancelled"}),
    )
    .await
    .expect(200);
    let collection = api
        .post(
            "/product-collections",
            json!({"name": "Old line", "brand_id": old, "groups": []}),
        )
        .await
        .expect(200)
        .body;

    // The spec: omit the target only when the brand holds no products and no live subscriptions.
    api.post(&format!("/brands/{old}/archive"), json!({}))
        .await
        .expect(422)
        .says("1 products and 1 live subscriptions");
    for bad in [old.as_str(), "brnd_nope"] {
        api.post(
            &format!("/brands/{old}/archive"),
            json!({"move_products_to": bad}),
        )
        .await
        .expect(422);
    }
    let moved = api
        .post(
            &format!("/brands/{old}/archive"),
            json!({"move_products_to": new}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        [
            &moved["moved_to_brand_id"],
            &moved["products_moved"],
            &moved["subscriptions_moved"],
            &moved["collections_moved"]
        ],
        [&json!(new), &json!(1), &json!(1), &json!(1)]
    );
    let brand_of = |path: String| {
        let api = &api;
        async move { api.get(&path).await.expect(200).body["brand_id"].clone() }
    };
    assert_eq!(brand_of(format!("/products/{pid}")).await, json!(new));
    assert_eq!(
        brand_of(format!("/subscriptions/{}", s(&live["subscription_id"]))).await,
        json!(new)
    );
    assert_eq!(
        brand_of(format!("/subscriptions/{ended_id}")).await,
        json!(old),
        "ended ones stay"
    );
    assert_eq!(
        brand_of(format!("/product-collections/{}", s(&collection["id"]))).await,
        json!(new)
    );
    // An archived brand cannot receive.
    api.post(
        &format!("/brands/{new}/archive"),
        json!({"move_products_to": old}),
    )
    .await
    .expect(422)
    .says("archived");
}
