//! The axum route: a real HTTP server on 127.0.0.1 backed by a SQLite inbox.

mod common;

use common::{Calls, at, signed, subscription_event, verifier};
use dodo_inbox::{DeliveryStatus, Inbox};
use dodo_webhooks::Dispatcher;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_stores_verified_deliveries_and_answers_json_errors() {
    let db = common::TestDb::new(common::Kind::Sqlite).await.unwrap();
    let calls = Calls::default();
    let counted = calls.clone();
    let dispatcher = Dispatcher::new(verifier(), ()).on_payload(move |ctx, _event| {
        counted.record(&ctx.webhook_id);
        async { Ok(()) }
    });
    let inbox = Inbox::builder(dispatcher)
        .max_body_bytes(8 * 1024)
        .open(db.connect().await)
        .await
        .unwrap();
    let app = dodo_inbox::axum::router(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/dodo", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();

    let post = |headers: Vec<(String, String)>, body: Vec<u8>| {
        let mut request = client.post(&url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let json: Value = response.json().await.unwrap();
            (status, json)
        }
    };

    let body = subscription_event("subscription.active", &at(0), "sub_h", "cus_h", "active");
    let headers = signed("msg_http", &body).into_pairs();
    let (status, json) = post(headers.clone(), body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"], "stored");
    assert_eq!(json["id"], "msg_http");
    assert_eq!(json["type"], "subscription.active");
    let (status, json) = post(headers, body.clone()).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("duplicate")));

    let mut forged = signed("msg_forged", &body);
    forged.signature = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned();
    let (status, json) = post(forged.into_pairs(), body.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(json["error"]["code"], "invalid_signature");
    assert!(json["error"]["message"].is_string());

    let (status, json) = post(Vec::new(), body.clone()).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (401, Some("missing_header"))
    );

    let big = vec![b'x'; 64 * 1024];
    let (status, json) = post(signed("msg_big", &big).into_pairs(), big).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    assert_eq!(
        inbox.worker().process_available().await.unwrap().processed,
        1
    );
    assert_eq!(calls.get("msg_http"), 1);
    let row = inbox.store().get("msg_http").await.unwrap().unwrap();
    assert_eq!(row.summary.status, DeliveryStatus::Processed);
    assert_eq!(row.raw_body, body);
    server.abort();
}
