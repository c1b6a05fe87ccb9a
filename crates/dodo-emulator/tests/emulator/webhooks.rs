use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::{Api, s};

#[tokio::test]
async fn webhook_endpoint_crud_secret_and_headers() {
    let api = Api::start().await;
    let w = api
        .post(
            "/webhooks",
            json!({"url": "https://example.com/hook", "description": "main",
            "filter_types": ["payment.succeeded"], "headers": {"x-team": "billing"},
            "metadata": {"env": "test"}}),
        )
        .await
        .expect(200)
        .body;
    let id = s(&w["id"]).to_string();
    assert!(id.starts_with("whk_"));
    assert_eq!(w["url"], "https://example.com/hook");
    assert_eq!(w["filter_types"], json!(["payment.succeeded"]));
    assert_eq!(w["disabled"], false);
    assert!(
        w.get("secret").is_none(),
        "the secret is not part of WebhookDetails"
    );

    assert_eq!(
        api.get(&format!("/webhooks/{id}")).await.expect(200).body,
        w
    );
    let secret = api
        .get(&format!("/webhooks/{id}/secret"))
        .await
        .expect(200)
        .body;
    let b64 = s(&secret["secret"]).strip_prefix("whsec_").unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
            .len(),
        32
    );

    let headers = api
        .get(&format!("/webhooks/{id}/headers"))
        .await
        .expect(200)
        .body;
    assert_eq!(
        headers,
        json!({"headers": {"x-team": "billing"}, "sensitive": []})
    );
    api.patch(
        &format!("/webhooks/{id}/headers"),
        json!({"headers": {"x-env": "ci"}}),
    )
    .await
    .expect(200);
    let headers = api.get(&format!("/webhooks/{id}/headers")).await.body;
    assert_eq!(
        headers["headers"],
        json!({"x-team": "billing", "x-env": "ci"})
    );

    let upd = api
        .patch(
            &format!("/webhooks/{id}"),
            json!({"disabled": true, "description": "paused"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(upd["disabled"], true);
    assert_eq!(upd["description"], "paused");
    assert_eq!(upd["url"], "https://example.com/hook");

    let bad = api
        .post("/webhooks", json!({"url": "ftp://x"}))
        .await
        .expect(422);
    assert!(s(&bad.body["message"]).contains("url"));

    api.delete(&format!("/webhooks/{id}")).await.expect(200);
    api.get(&format!("/webhooks/{id}")).await.expect(404);
    api.get(&format!("/webhooks/{id}/secret")).await.expect(404);
}

#[tokio::test]
async fn webhook_list_is_a_cursor_list() {
    let api = Api::start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let w = api
            .post(
                "/webhooks",
                json!({"url": format!("https://example.com/{i}")}),
            )
            .await
            .expect(200)
            .body;
        ids.push(s(&w["id"]).to_string());
    }
    let mut seen = Vec::new();
    let mut iterator: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &iterator {
            Some(it) => format!("/webhooks?limit=2&iterator={it}"),
            None => "/webhooks?limit=2".to_string(),
        };
        let page = api.get(&path).await.expect(200).body;
        pages += 1;
        assert_eq!(
            page["prev_iterator"],
            iterator.clone().map_or(Value::Null, Value::from)
        );
        for w in page["data"].as_array().unwrap() {
            seen.push(s(&w["id"]).to_string());
        }
        if page["done"] == true {
            break;
        }
        iterator = Some(s(&page["iterator"]).to_string());
        assert!(pages < 10, "no runaway paging");
    }
    assert_eq!(pages, 3);
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");
    let all = api.get("/webhooks").await.body;
    assert_eq!(all["data"].as_array().unwrap().len(), 5);
    assert_eq!(all["done"], true);
    api.get("/webhooks?iterator=garbage").await.expect(422);
    api.get("/webhooks?limit=0").await.expect(422);
}

#[tokio::test]
async fn webhook_create_honours_its_idempotency_key_field() {
    let api = Api::start().await;
    let body = json!({"url": "https://example.com/h", "idempotency_key": "create-1"});
    let a = api.post("/webhooks", body.clone()).await.expect(200).body;
    let b = api.post("/webhooks", body).await.expect(200).body;
    assert_eq!(a["id"], b["id"]);
    assert_eq!(
        api.get("/webhooks").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
