//! Entitlements across routes: CRUD and config checks, digital files (multipart attach,
//! download, detach), product attachment, grants issued by a paid checkout, the customer's
//! views, revocation and manual license-key fulfilment.

use std::time::Duration;

use dodo_emulator::purchase::TestCard;
use dodo_emulator::testing::Admin;
use dodo_types::models as m;
use serde_json::{Value, json};

use crate::support::{Api, s};

async fn entitlement(api: &Api, name: &str, ty: &str, config: Value) -> Value {
    let body = api
        .post(
            "/entitlements",
            json!({"name": name, "integration_type": ty, "integration_config": config,
                   "description": format!("{name} access")}),
        )
        .await
        .expect(200)
        .body;
    let _: m::EntitlementResponse = serde_json::from_value(body.clone()).unwrap();
    body
}

/// A product carrying `entitlement_id`, bought through a checkout session paid with a
/// test card; answers (product, payment).
async fn buy(api: &Api, entitlement_ids: &[&str], recurring: bool) -> (Value, Value) {
    let p = if recurring {
        api.recurring_product(1_000).await
    } else {
        api.one_time_product(1_000).await
    };
    let pid = s(&p["product_id"]).to_string();
    let attach: Vec<Value> = entitlement_ids
        .iter()
        .map(|id| json!({"entitlement_id": id}))
        .collect();
    api.patch(&format!("/products/{pid}"), json!({"entitlements": attach}))
        .await
        .expect(200);
    let product = api.get(&format!("/products/{pid}")).await.expect(200).body;
    let session = api
        .post(
            "/checkouts",
            json!({"product_cart": [{"product_id": pid, "quantity": 1}],
                   "customer": {"email": "buyer@example.com", "name": "Buyer"}}),
        )
        .await
        .expect(200)
        .body;
    let admin = Admin::connect(api.emu.base_url(), api.emu.api_key()).unwrap();
    let paid = admin
        .pay_checkout_session(s(&session["session_id"]), TestCard::Succeeds)
        .await
        .unwrap();
    assert_eq!(paid.status, "succeeded");
    let payment = api
        .get(&format!("/payments/{}", paid.payment_id))
        .await
        .expect(200)
        .body;
    (product, payment)
}

fn grants(body: &Value) -> Vec<m::EntitlementGrantResponse> {
    let list: m::ListEntitlementGrantsResponse = serde_json::from_value(body.clone()).unwrap();
    list.items
}

#[tokio::test]
async fn entitlement_crud_checks_config_against_its_type() {
    let api = Api::start().await;
    let e = entitlement(
        &api,
        "Pro license",
        "license_key",
        json!({"activations_limit": 3, "duration_count": 1, "duration_interval": "Year"}),
    )
    .await;
    let id = s(&e["id"]);
    assert!(id.starts_with("ent_"));
    assert_eq!(e["is_active"], true);
    assert_eq!(e["metadata"], json!({}));
    assert_eq!(e["integration_config"]["activations_limit"], 3);
    assert_eq!(api.get(&format!("/entitlements/{id}")).await.body, e);

    // A config of another integration, or half a duration, is refused.
    api.post(
        "/entitlements",
        json!({"name": "x", "integration_type": "github", "integration_config": {"guild_id": "1"}}),
    )
    .await
    .expect(422);
    api.post(
        "/entitlements",
        json!({"name": "x", "integration_type": "license_key",
               "integration_config": {"duration_count": 2}}),
    )
    .await
    .expect(422);
    api.post(
        "/entitlements",
        json!({"name": "x", "integration_type": "digital_files",
               "integration_config": {"digital_file_ids": ["not-uploaded"]}}),
    )
    .await
    .expect(422);

    let patched = api
        .patch(
            &format!("/entitlements/{id}"),
            json!({"name": "Team license", "metadata": {"tier": "team"}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(patched["name"], "Team license");
    assert_eq!(patched["metadata"]["tier"], "team");
    assert_eq!(patched["integration_config"]["activations_limit"], 3);

    let flag = entitlement(
        &api,
        "Beta",
        "feature_flag",
        json!({"feature_type": "boolean", "feature_id": "beta"}),
    )
    .await;
    let all = api.get("/entitlements").await.expect(200).body;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let only = api
        .get("/entitlements?integration_type=feature_flag")
        .await
        .expect(200)
        .body;
    assert_eq!(only["items"].as_array().unwrap().len(), 1);
    assert_eq!(only["items"][0]["id"], flag["id"]);

    api.delete(&format!("/entitlements/{id}")).await.expect(200);
    api.get(&format!("/entitlements/{id}")).await.expect(404);
    api.delete(&format!("/entitlements/{id}")).await.expect(404);
    let all = api.get("/entitlements").await.body;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn digital_files_attach_download_and_detach() {
    let api = Api::start().await;
    let e = entitlement(
        &api,
        "Assets",
        "digital_files",
        json!({"digital_file_ids": [], "instructions": "Unzip it"}),
    )
    .await;
    let id = s(&e["id"]);
    assert_eq!(e["integration_config"]["digital_files"]["files"], json!([]));

    // The live API takes the file in a multipart body; a JSON body is refused.
    api.post(&format!("/entitlements/{id}/files"), json!({}))
        .await
        .expect(422);
    let part = reqwest::multipart::Part::bytes(b"PK\x03\x04 zip bytes".to_vec())
        .file_name("../../assets.zip")
        .mime_str("application/zip")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let r = api
        .send(
            api.request(reqwest::Method::POST, &format!("/entitlements/{id}/files"))
                .multipart(form),
        )
        .await
        .expect(201);
    let file_id = s(&r.body["file_id"]).to_string();

    // Without the API key the multipart route is closed too.
    let anon = reqwest::Client::new()
        .post(api.url(&format!("/entitlements/{id}/files")))
        .multipart(reqwest::multipart::Form::new().text("file", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);

    let back = api
        .get(&format!("/entitlements/{id}"))
        .await
        .expect(200)
        .body;
    let typed: m::EntitlementResponse = serde_json::from_value(back.clone()).unwrap();
    drop(typed);
    let files = &back["integration_config"]["digital_files"]["files"];
    assert_eq!(files.as_array().unwrap().len(), 1);
    assert_eq!(files[0]["file_id"], file_id.as_str());
    // The uploader's path is not kept.
    assert_eq!(files[0]["filename"], "assets.zip");
    assert_eq!(files[0]["content_type"], "application/zip");
    assert_eq!(
        back["integration_config"]["digital_files"]["instructions"],
        "Unzip it"
    );
    let dl = reqwest::get(s(&files[0]["download_url"])).await.unwrap();
    assert_eq!(dl.status(), 200);
    assert_eq!(dl.headers()["content-type"], "application/zip");
    assert_eq!(
        dl.headers()["content-disposition"],
        "attachment; filename=\"assets.zip\""
    );
    assert_eq!(dl.bytes().await.unwrap().as_ref(), b"PK\x03\x04 zip bytes");

    // Files only attach to digital_files entitlements.
    let flag = entitlement(
        &api,
        "Beta",
        "feature_flag",
        json!({"feature_type": "boolean", "feature_id": "beta"}),
    )
    .await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.txt"),
    );
    api.send(
        api.request(
            reqwest::Method::POST,
            &format!("/entitlements/{}/files", s(&flag["id"])),
        )
        .multipart(form),
    )
    .await
    .expect(422);

    let url = s(&files[0]["download_url"]).to_string();
    api.delete(&format!("/entitlements/{id}/files/{file_id}"))
        .await
        .expect(204);
    api.delete(&format!("/entitlements/{id}/files/{file_id}"))
        .await
        .expect(404);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 403);
    let back = api.get(&format!("/entitlements/{id}")).await.body;
    assert_eq!(
        back["integration_config"]["digital_files"]["files"],
        json!([])
    );
}

#[tokio::test]
async fn paid_checkout_grants_the_product_entitlements_and_revoke_changes_the_grant() {
    let api = Api::start().await;
    let lic = entitlement(
        &api,
        "Pro license",
        "license_key",
        json!({"activations_limit": 2}),
    )
    .await;
    let flag = entitlement(
        &api,
        "Beta",
        "feature_flag",
        json!({"feature_type": "boolean", "feature_id": "beta-ui"}),
    )
    .await;
    let lic_id = s(&lic["id"]).to_string();
    let flag_id = s(&flag["id"]).to_string();
    api.patch(
        "/products/pdt_missing",
        json!({"entitlements": [{"entitlement_id": lic_id}]}),
    )
    .await
    .expect(404);
    let (product, payment) = buy(&api, &[&lic_id, &flag_id, &lic_id], false).await;

    // The product shows each entitlement once, as a summary.
    let typed: m::GetProductResponse = serde_json::from_value(product.clone()).unwrap();
    assert_eq!(typed.entitlements.len(), 2);
    assert_eq!(product["entitlements"][0]["id"], lic_id.as_str());
    assert_eq!(product["entitlements"][0]["name"], "Pro license");
    assert_eq!(
        product["entitlements"][1]["integration_type"],
        "feature_flag"
    );

    let customer_id = s(&payment["customer"]["customer_id"]).to_string();
    let payment_id = s(&payment["payment_id"]).to_string();

    // Grants list under the entitlement, delivered, with a real license key.
    let under = api
        .get(&format!("/entitlements/{lic_id}/grants"))
        .await
        .expect(200)
        .body;
    let items = grants(&under);
    assert_eq!(items.len(), 1);
    let g = &items[0];
    assert_eq!(g.customer_id, customer_id);
    assert_eq!(g.payment_id.as_deref(), Some(payment_id.as_str()));
    assert_eq!(under["items"][0]["status"], "Delivered");
    assert!(g.delivered_at.is_some());
    let key = g.license_key.as_ref().unwrap();
    assert_eq!(key.activations_limit, Some(2));
    assert_eq!(key.activations_used, 0);
    let keys = api
        .get(&format!("/license_keys?customer_id={customer_id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(keys["items"][0]["key"], key.key.as_str());
    assert_eq!(keys["items"][0]["status"], "active");

    // The customer's views agree.
    let mine = api
        .get(&format!("/customers/{customer_id}/entitlement-grants"))
        .await
        .expect(200)
        .body;
    assert_eq!(grants(&mine).len(), 2);
    let flags = api
        .get(&format!(
            "/customers/{customer_id}/entitlement-grants?integration_type=feature_flag"
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(flags["items"].as_array().unwrap().len(), 1);
    assert_eq!(flags["items"][0]["feature"]["feature_id"], "beta-ui");
    let view = api
        .get(&format!("/customers/{customer_id}/entitlements"))
        .await
        .expect(200)
        .body;
    let typed: m::CustomerEntitlementsResponse = serde_json::from_value(view.clone()).unwrap();
    assert_eq!(typed.items.len(), 2);
    let lic_item = view["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["entitlement_id"] == lic_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(lic_item["status"], "delivered");
    assert_eq!(lic_item["entitlement_name"], "Pro license");
    assert_eq!(lic_item["grant_id"], g.id.as_str());

    // Revoke: the grant changes everywhere, the key is disabled, a repeat is a no-op.
    let revoked = api
        .delete(&format!("/entitlements/{lic_id}/grants/{}", g.id))
        .await
        .expect(200)
        .body;
    let typed: m::EntitlementGrantResponse = serde_json::from_value(revoked.clone()).unwrap();
    assert!(typed.revoked_at.is_some());
    assert_eq!(revoked["status"], "Revoked");
    let again = api
        .delete(&format!("/entitlements/{lic_id}/grants/{}", g.id))
        .await
        .expect(200)
        .body;
    assert_eq!(again, revoked);
    api.delete(&format!("/entitlements/{flag_id}/grants/{}", g.id))
        .await
        .expect(404);
    let revoked_only = api
        .get(&format!("/entitlements/{lic_id}/grants?status=Revoked"))
        .await
        .body;
    assert_eq!(revoked_only["items"][0]["id"], g.id.as_str());
    let delivered_only = api
        .get(&format!("/entitlements/{lic_id}/grants?status=Delivered"))
        .await
        .body;
    assert_eq!(delivered_only["items"], json!([]));
    let view = api
        .get(&format!("/customers/{customer_id}/entitlements"))
        .await
        .body;
    let item = view["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["grant_id"] == g.id.as_str())
        .unwrap()
        .clone();
    assert_eq!(item["status"], "revoked");
    assert!(item["revoked_at"].is_string());
    let keys = api
        .get(&format!("/license_keys?customer_id={customer_id}"))
        .await
        .body;
    assert_eq!(keys["items"][0]["status"], "disabled");

    // Editing the entitlement updates the product's summary; deleting detaches it.
    api.patch(
        &format!("/entitlements/{flag_id}"),
        json!({"name": "Beta UI"}),
    )
    .await
    .expect(200);
    let pid = s(&product["product_id"]);
    let p = api.get(&format!("/products/{pid}")).await.body;
    assert_eq!(p["entitlements"][1]["name"], "Beta UI");
    api.delete(&format!("/entitlements/{lic_id}"))
        .await
        .expect(200);
    let p = api.get(&format!("/products/{pid}")).await.body;
    assert_eq!(p["entitlements"].as_array().unwrap().len(), 1);
    assert_eq!(p["entitlements"][0]["id"], flag_id.as_str());
}

#[tokio::test]
async fn manual_license_keys_wait_for_fulfilment() {
    let api = Api::start().await;
    let lic = entitlement(
        &api,
        "Hand-made keys",
        "license_key",
        json!({"fulfillment_mode": "manual", "activations_limit": 5}),
    )
    .await;
    let lic_id = s(&lic["id"]).to_string();
    buy(&api, &[&lic_id], false).await;
    let list = api
        .get(&format!("/entitlements/{lic_id}/grants"))
        .await
        .expect(200)
        .body;
    assert_eq!(list["items"][0]["status"], "Pending");
    assert_eq!(list["items"][0]["license_key"], Value::Null);
    let gid = s(&list["items"][0]["id"]).to_string();

    let done = api
        .post(
            &format!("/grants/{gid}/license-key"),
            json!({"key": "HAND-MADE-0001"}),
        )
        .await
        .expect(200)
        .body;
    let typed: m::EntitlementGrantResponse = serde_json::from_value(done.clone()).unwrap();
    assert_eq!(done["status"], "Delivered");
    let key = typed.license_key.unwrap();
    assert_eq!(key.key, "HAND-MADE-0001");
    assert_eq!(key.activations_limit, Some(5));
    let r = api
        .post(
            &format!("/grants/{gid}/license-key"),
            json!({"key": "HAND-MADE-0002"}),
        )
        .await
        .expect(409);
    assert_eq!(r.body["code"], "GRANT_NOT_PENDING");
    api.post("/grants/entg_missing/license-key", json!({"key": "K"}))
        .await
        .expect(404);

    // The delivered key is a real license key: it activates.
    let act = reqwest::Client::new()
        .post(api.url("/licenses/activate"))
        .json(&json!({"license_key": "HAND-MADE-0001", "name": "laptop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(act.status(), 201);
    // The grant that delivered it counts the activation, and follows the key's new limit.
    let granted = api
        .get(&format!("/entitlements/{lic_id}/grants"))
        .await
        .expect(200)
        .body;
    let delivered = granted["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["license_key"]["key"] == "HAND-MADE-0001")
        .cloned()
        .unwrap();
    assert_eq!(delivered["license_key"]["activations_used"], 1);
    let key_id = api.get("/license_keys").await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == "HAND-MADE-0001")
        .map(|k| s(&k["id"]).to_string())
        .unwrap();
    api.patch(
        &format!("/license_keys/{key_id}"),
        json!({"activations_limit": 9}),
    )
    .await
    .expect(200);
    let granted = api
        .get(&format!("/entitlements/{lic_id}/grants"))
        .await
        .expect(200)
        .body;
    let limit = granted["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["license_key"]["key"] == "HAND-MADE-0001")
        .map(|g| g["license_key"]["activations_limit"].clone());
    assert_eq!(limit, Some(json!(9)));
}

#[tokio::test]
async fn subscription_renewals_do_not_grant_twice() {
    let api = Api::start().await;
    let flag = entitlement(
        &api,
        "Pro features",
        "feature_flag",
        json!({"feature_type": "boolean", "feature_id": "pro"}),
    )
    .await;
    let id = s(&flag["id"]).to_string();
    let (_, payment) = buy(&api, &[&id], true).await;
    assert!(payment["subscription_id"].is_string());
    let admin = Admin::connect(api.emu.base_url(), api.emu.api_key()).unwrap();
    admin
        .advance_clock(Duration::from_secs(32 * 24 * 3600))
        .await
        .unwrap();
    let payments = api
        .get(&format!(
            "/payments?subscription_id={}",
            s(&payment["subscription_id"])
        ))
        .await
        .body;
    assert!(
        payments["items"].as_array().unwrap().len() >= 2,
        "{payments}"
    );
    let list = api.get(&format!("/entitlements/{id}/grants")).await.body;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        list["items"][0]["subscription_id"],
        payment["subscription_id"]
    );
}

#[tokio::test]
async fn refunds_and_ended_subscriptions_revoke_their_grants() {
    let api = Api::start().await;
    let flag = entitlement(
        &api,
        "Pro features",
        "feature_flag",
        json!({"feature_type": "boolean", "feature_id": "pro"}),
    )
    .await;
    let id = s(&flag["id"]).to_string();
    let grant_of = |payment: &Value| {
        let pid = s(&payment["payment_id"]).to_string();
        let api = &api;
        let id = id.clone();
        async move {
            let list = api.get(&format!("/entitlements/{id}/grants")).await.body;
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["payment_id"] == pid.as_str())
                .unwrap()
                .clone()
        }
    };

    // A full refund revokes what the payment granted; a partial one would not.
    let (_, one_time) = buy(&api, &[&id], false).await;
    assert_eq!(grant_of(&one_time).await["status"], "Delivered");
    api.post(
        "/refunds",
        json!({"payment_id": one_time["payment_id"], "reason": "changed mind"}),
    )
    .await
    .expect(200);
    let g = grant_of(&one_time).await;
    assert_eq!(g["status"], "Revoked");
    assert_eq!(g["revocation_reason"], "payment_refunded");

    // Cancelling a subscription revokes its grant at once.
    let (_, first) = buy(&api, &[&id], true).await;
    let sub = s(&first["subscription_id"]).to_string();
    assert_eq!(grant_of(&first).await["status"], "Delivered");
    api.patch(
        &format!("/subscriptions/{sub}"),
        json!({"status": "cancelled"}),
    )
    .await
    .expect(200);
    let g = grant_of(&first).await;
    assert_eq!(g["status"], "Revoked");
    assert_eq!(g["revocation_reason"], "subscription_cancelled");

    // Cancelling at the next billing date keeps access until the clock gets there.
    let (_, second) = buy(&api, &[&id], true).await;
    let sub = s(&second["subscription_id"]).to_string();
    api.patch(
        &format!("/subscriptions/{sub}"),
        json!({"cancel_at_next_billing_date": true}),
    )
    .await
    .expect(200);
    assert_eq!(grant_of(&second).await["status"], "Delivered");
    let admin = Admin::connect(api.emu.base_url(), api.emu.api_key()).unwrap();
    admin
        .advance_clock(Duration::from_secs(32 * 24 * 3600))
        .await
        .unwrap();
    let g = grant_of(&second).await;
    assert_eq!(g["status"], "Revoked");
    assert_eq!(g["revocation_reason"], "subscription_cancelled");
}
