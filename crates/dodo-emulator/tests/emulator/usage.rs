use serde_json::{Value, json};

use crate::support::{Api, s};

fn event(id: &str, name: &str, customer: &str) -> Value {
    json!({"event_id": id, "customer_id": customer, "event_name": name, "metadata": {"tokens": 5}})
}

#[tokio::test]
async fn ingest_is_idempotent_per_event_id_and_lists_with_filters() {
    let api = Api::start().await;
    let r = api
        .post("/events/ingest", json!({"events": [event("e1", "api.call", "cus_a"), event("e2", "api.call", "cus_b"), event("e3", "upload", "cus_a")]}))
        .await
        .expect(200)
        .body;
    assert_eq!(r, json!({"ingested_count": 3}));
    let again = api
        .post(
            "/events/ingest",
            json!({"events": [event("e1", "api.call", "cus_a"), event("e4", "upload", "cus_b")]}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(again["ingested_count"], 1, "e1 is already stored");

    let e1 = api.get("/events/e1").await.expect(200).body;
    assert_eq!(e1["event_name"], "api.call");
    assert_eq!(e1["customer_id"], "cus_a");
    assert_eq!(e1["metadata"]["tokens"], 5);
    assert!(s(&e1["timestamp"]).ends_with('Z'));
    api.get("/events/nope").await.expect(404);

    let all = api.get("/events").await.expect(200).body;
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    let a = api.get("/events?customer_id=cus_a").await.body;
    assert_eq!(a["items"].as_array().unwrap().len(), 2);
    let calls = api.get("/events?event_name=api.call").await.body;
    assert_eq!(calls["items"].as_array().unwrap().len(), 2);
    let meter = api
        .post("/meters", json!({"name": "Uploads", "event_name": "upload", "aggregation": {"type": "count"}, "measurement_unit": "files"}))
        .await
        .expect(201)
        .body;
    let by_meter = api
        .get(&format!("/events?meter_id={}", s(&meter["id"])))
        .await
        .body;
    assert_eq!(by_meter["items"].as_array().unwrap().len(), 2);
    let future = api.get("/events?start=2999-01-01T00:00:00Z").await.body;
    assert_eq!(future["items"], json!([]));
}

#[tokio::test]
async fn ingest_rejects_bad_batches() {
    let api = Api::start().await;
    let dup = api
        .post(
            "/events/ingest",
            json!({"events": [event("d", "x", "c"), event("d", "x", "c")]}),
        )
        .await
        .expect(400);
    assert_eq!(dup.body["code"], "DUPLICATE_EVENT_ID");
    assert_eq!(
        api.get("/events").await.body["items"],
        json!([]),
        "nothing stored"
    );

    let many: Vec<Value> = (0..1001)
        .map(|i| event(&format!("m{i}"), "x", "c"))
        .collect();
    let r = api
        .post("/events/ingest", json!({"events": many}))
        .await
        .expect(413);
    assert_eq!(r.body["code"], "TOO_MANY_EVENTS");

    let old = api
        .post("/events/ingest", json!({"events": [{"event_id": "o", "customer_id": "c", "event_name": "x", "timestamp": "2020-01-01T00:00:00Z"}]}))
        .await
        .expect(400);
    assert!(s(&old.body["message"]).contains("events[0].timestamp"));
    let missing = api
        .post(
            "/events/ingest",
            json!({"events": [{"event_id": "n", "event_name": "x"}]}),
        )
        .await
        .expect(422);
    let msg = s(&missing.body["message"]);
    assert!(
        msg.contains("events[0]") && msg.contains("customer_id"),
        "{msg}"
    );
    let long_value = "v".repeat(501);
    let meta = api
        .post("/events/ingest", json!({"events": [{"event_id": "n", "customer_id": "c", "event_name": "x", "metadata": {"k": long_value}}]}))
        .await
        .expect(400);
    assert!(s(&meta.body["message"]).contains("events[0].metadata.k"));
}
