use serde_json::{Value, json};

use crate::support::{Api, s};

async fn key(api: &Api, key: &str, limit: Option<i64>) -> Value {
    let c = api.customer("lic@example.com").await;
    let p = api.one_time_product(100).await;
    api.post(
        "/license_keys",
        json!({"key": key, "customer_id": c["customer_id"], "product_id": p["product_id"],
               "activations_limit": limit}),
    )
    .await
    .expect(201)
    .body
}

#[tokio::test]
async fn license_key_activate_validate_deactivate_and_limit() {
    let api = Api::start().await;
    let k = key(&api, "KEY-1234", Some(1)).await;
    let kid = s(&k["id"]).to_string();
    assert!(kid.starts_with("lic_"));
    assert_eq!(k["status"], "active");
    assert_eq!(k["source"], "manual");
    assert_eq!(k["instances_count"], 0);

    // Public endpoints need no key.
    let public = reqwest::Client::new();
    let activate = |name: &str| {
        public
            .post(api.url("/licenses/activate"))
            .json(&json!({"license_key": "KEY-1234", "name": name}))
            .send()
    };
    let r = activate("laptop").await.unwrap();
    assert_eq!(r.status(), 201);
    let inst: Value = r.json().await.unwrap();
    let iid = s(&inst["id"]).to_string();
    assert!(iid.starts_with("lki_"));
    assert_eq!(inst["license_key_id"], kid.as_str());
    assert_eq!(inst["product"]["name"], "E-book");
    assert_eq!(inst["customer"]["email"], "lic@example.com");
    assert_eq!(
        api.get(&format!("/license_keys/{kid}")).await.body["instances_count"],
        1
    );

    let r = activate("desktop").await.unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "LICENSE_KEY_ACTIVATION_LIMIT_REACHED");

    let v = api
        .post(
            "/licenses/validate",
            json!({"license_key": "KEY-1234", "license_key_instance_id": iid}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(v, json!({"valid": true}));
    let v = api
        .post("/licenses/validate", json!({"license_key": "NOPE"}))
        .await
        .expect(200)
        .body;
    assert_eq!(v["valid"], false);

    let instances = api
        .get(&format!("/license_key_instances?license_key_id={kid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(instances["items"][0]["id"], iid.as_str());
    let renamed = api
        .patch(
            &format!("/license_key_instances/{iid}"),
            json!({"name": "work laptop"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(renamed["name"], "work laptop");
    assert_eq!(
        api.get(&format!("/license_key_instances/{iid}")).await.body["name"],
        "work laptop"
    );

    let r = public
        .post(api.url("/licenses/deactivate"))
        .json(&json!({"license_key": "KEY-1234", "license_key_instance_id": iid}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        api.get(&format!("/license_keys/{kid}")).await.body["instances_count"],
        0
    );
    api.post(
        "/licenses/deactivate",
        json!({"license_key": "KEY-1234", "license_key_instance_id": iid}),
    )
    .await
    .expect(404);
    let v = api
        .post(
            "/licenses/validate",
            json!({"license_key": "KEY-1234", "license_key_instance_id": iid}),
        )
        .await
        .body;
    assert_eq!(v["valid"], false);
}

#[tokio::test]
async fn disabled_or_expired_keys_are_forbidden() {
    let api = Api::start().await;
    let k = key(&api, "KEY-OFF", None).await;
    let kid = s(&k["id"]);
    let d = api
        .patch(&format!("/license_keys/{kid}"), json!({"disabled": true}))
        .await
        .expect(200)
        .body;
    assert_eq!(d["status"], "disabled");
    let r = api
        .post(
            "/licenses/activate",
            json!({"license_key": "KEY-OFF", "name": "x"}),
        )
        .await
        .expect(403);
    assert_eq!(r.body["code"], "LICENSE_KEY_INACTIVE");
    api.patch(
        &format!("/license_keys/{kid}"),
        json!({"disabled": false, "expires_at": "2020-01-01T00:00:00Z"}),
    )
    .await
    .expect(200);
    assert_eq!(
        api.get(&format!("/license_keys/{kid}")).await.body["status"],
        "expired"
    );
    api.post(
        "/licenses/activate",
        json!({"license_key": "KEY-OFF", "name": "x"}),
    )
    .await
    .expect(403);
    api.post(
        "/licenses/activate",
        json!({"license_key": "KEY-NONE", "name": "x"}),
    )
    .await
    .expect(404);
    let dup = api
        .post("/license_keys", json!({"key": "KEY-OFF", "customer_id": k["customer_id"], "product_id": k["product_id"]}))
        .await
        .expect(409);
    assert_eq!(dup.body["code"], "LICENSE_KEY_ALREADY_EXISTS");
    let listed = api
        .get("/license_keys?status=disabled")
        .await
        .expect(200)
        .body;
    assert_eq!(listed["items"], json!([]));
    let listed = api
        .get(&format!(
            "/license_keys?customer_id={}",
            s(&k["customer_id"])
        ))
        .await
        .body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn paid_license_products_issue_keys() {
    let api = Api::start().await;
    let p = api
        .post(
            "/products",
            json!({"name": "App", "tax_category": "saas", "license_key_enabled": true,
            "license_key_activations_limit": 3,
            "price": {"type": "one_time_price", "price": 4900, "currency": "USD",
                      "discount": 0, "purchasing_power_parity": false}}),
        )
        .await
        .expect(200)
        .body;
    let payment = api.paid_payment(s(&p["product_id"]), 1).await;
    let keys = api
        .get(&format!("/license_keys?product_id={}", s(&p["product_id"])))
        .await
        .body;
    let k = &keys["items"][0];
    assert_eq!(k["source"], "auto");
    assert_eq!(k["activations_limit"], 3);
    assert_eq!(k["payment_id"], payment["payment_id"]);
    assert_eq!(s(&k["key"]).len(), 19);
}
