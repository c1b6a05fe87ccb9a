use serde_json::json;

use crate::support::{Api, s};

#[tokio::test]
async fn customer_create_retrieve_update_list() {
    let api = Api::start().await;
    let created = api
        .post(
            "/customers",
            json!({"email": "ada@example.com", "name": "Ada", "metadata": {"tier": "gold"}}),
        )
        .await
        .expect(200)
        .body;
    let id = s(&created["customer_id"]);
    assert!(id.starts_with("cus_") && id.len() == 4 + 21, "{id}");
    assert_eq!(created["email"], "ada@example.com");
    assert_eq!(created["metadata"]["tier"], "gold");
    assert_eq!(created["business_id"], dodo_emulator::DEFAULT_BUSINESS_ID);
    assert!(s(&created["created_at"]).ends_with('Z'));

    let got = api.get(&format!("/customers/{id}")).await.expect(200).body;
    assert_eq!(got, created);

    let updated = api
        .patch(
            &format!("/customers/{id}"),
            json!({"name": "Ada L.", "phone_number": "+100"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(updated["name"], "Ada L.");
    assert_eq!(updated["phone_number"], "+100");
    assert_eq!(updated["email"], "ada@example.com");
    let got = api.get(&format!("/customers/{id}")).await.expect(200).body;
    assert_eq!(got["name"], "Ada L.");
}

#[tokio::test]
async fn customer_list_pages_newest_first_and_filters() {
    let api = Api::start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let c = api
            .post(
                "/customers",
                json!({"email": format!("c{i}@x.io"), "name": format!("N{}", i % 2)}),
            )
            .await
            .expect(200)
            .body;
        ids.push(s(&c["customer_id"]).to_string());
    }
    let page0 = api.get("/customers?page_size=2").await.expect(200).body;
    let got: Vec<_> = page0["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| s(&c["customer_id"]).to_string())
        .collect();
    assert_eq!(got, vec![ids[4].clone(), ids[3].clone()]);
    let page2 = api
        .get("/customers?page_size=2&page_number=2")
        .await
        .expect(200)
        .body;
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert_eq!(page2["items"][0]["customer_id"], ids[0].as_str());
    let past = api
        .get("/customers?page_size=2&page_number=3")
        .await
        .expect(200)
        .body;
    assert_eq!(past["items"], json!([]));
    let default = api.get("/customers").await.expect(200).body;
    assert_eq!(default["items"].as_array().unwrap().len(), 5);

    let by_email = api.get("/customers?email=c3%40x.io").await.expect(200).body;
    assert_eq!(by_email["items"].as_array().unwrap().len(), 1);
    assert_eq!(by_email["items"][0]["customer_id"], ids[3].as_str());
    let by_name = api.get("/customers?name=N0").await.expect(200).body;
    assert_eq!(by_name["items"].as_array().unwrap().len(), 3);
    let future = api
        .get("/customers?created_at_gte=2999-01-01T00:00:00Z")
        .await
        .expect(200)
        .body;
    assert_eq!(future["items"], json!([]));
    let past = api
        .get("/customers?created_at_lte=2999-01-01T00:00:00Z&created_at_gte=2000-01-01T00:00:00Z")
        .await
        .expect(200)
        .body;
    assert_eq!(past["items"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn customer_errors_name_fields_and_ids() {
    let api = Api::start().await;
    let r = api.get("/customers/cus_missing").await.expect(404);
    assert_eq!(r.body["code"], "NOT_FOUND");
    assert!(s(&r.body["message"]).contains("cus_missing"));
    assert!(s(&r.body["message"]).contains("not found"));
    let r = api
        .post("/customers", json!({"name": "No Email"}))
        .await
        .expect(422);
    assert!(s(&r.body["message"]).contains("email"), "{}", r.body);
    let r = api
        .post("/customers", json!({"email": "x@y.z", "name": 12}))
        .await
        .expect(422);
    assert!(s(&r.body["message"]).contains("name"));
    let r = api
        .patch("/customers/cus_nope", json!({"name": "x"}))
        .await
        .expect(404);
    assert_eq!(r.body["code"], "NOT_FOUND");
    let r = api
        .get("/customers?created_at_gte=yesterday")
        .await
        .expect(422);
    assert!(s(&r.body["message"]).contains("created_at_gte"));
}

#[tokio::test]
async fn portal_sessions_and_wallets_of_a_customer() {
    let api = Api::start().await;
    let c = api.customer("portal@example.com").await;
    let id = s(&c["customer_id"]);
    let session = api
        .post(
            &format!("/customers/{id}/customer-portal/session"),
            json!({}),
        )
        .await
        .expect(200)
        .body;
    let link = s(&session["link"]);
    assert!(
        link.starts_with(&format!("{}/portal/{id}?session=cps_", api.emu.base_url())),
        "{link}"
    );
    let wallets = api
        .get(&format!("/customers/{id}/wallets"))
        .await
        .expect(200)
        .body;
    assert_eq!(wallets, json!({"items": [], "total_balance_usd": 0}));
    api.post("/customers/cus_nope/customer-portal/session", json!({}))
        .await
        .expect(404);
    api.get("/customers/cus_nope/wallets").await.expect(404);
    let methods = api
        .get(&format!("/customers/{id}/payment-methods"))
        .await
        .expect(200)
        .body;
    assert_eq!(methods["items"], json!([]));
}
