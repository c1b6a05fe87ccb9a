//! The live admin feeds: the delivery stream and the request log (list and stream).

use std::time::Duration;

use dodo_emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::{Value, json};

use crate::delivery::register;
use crate::receiver::Receiver;
use crate::support::{Api, s};

/// Reads SSE `data:` lines from a streaming response until one parses; 60 s hang guard.
struct SseReader {
    resp: reqwest::Response,
    buf: String,
}

impl SseReader {
    async fn open(api: &Api, path: &str) -> Self {
        let resp = api.request(Method::GET, path).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            resp,
            buf: String::new(),
        }
    }

    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                while let Some(end) = self.buf.find("\n\n") {
                    let event: String = self.buf.drain(..end + 2).collect();
                    if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) {
                        return serde_json::from_str(data.trim()).unwrap();
                    }
                }
                let chunk = self.resp.chunk().await.unwrap().expect("stream ended");
                self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .expect("no SSE event within 60 s")
    }
}

#[tokio::test]
async fn delivery_stream_pushes_each_finished_attempt_in_the_detail_shape() {
    let api = Api::start().await;
    let mut rx = Receiver::start(vec![500]).await;
    let (endpoint, _) = register(&api, &rx.url, &["payment.succeeded"]).await;
    let mut other = Receiver::start(vec![]).await;
    register(&api, &other.url, &[]).await;
    let mut stream = SseReader::open(
        &api,
        &format!(
            "/_emulator/deliveries/stream?endpoint_id={endpoint}&event_type=payment.succeeded"
        ),
    )
    .await;
    let product = api.one_time_product(900).await;
    api.paid_payment(s(&product["product_id"]), 1).await;
    rx.next_of("payment.succeeded").await;
    other.next_of("payment.succeeded").await;

    let first = stream.next().await;
    assert_eq!(first["endpoint_id"], endpoint.as_str());
    assert_eq!(first["event_type"], "payment.succeeded");
    assert_eq!(first["attempts"], 1);
    assert_eq!(first["status"], "pending");
    assert_eq!(first["attempt_log"][0]["status_code"], 500);
    assert_eq!(first["payload"]["type"], "payment.succeeded");

    let second = stream.next().await;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["status"], "succeeded");
    assert_eq!(second["attempt_log"][1]["status_code"], 200);
    let detail = api
        .admin_http(
            Method::GET,
            &format!("/_emulator/deliveries/{}", s(&second["id"])),
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        detail, second,
        "the stream sends what the detail route answers"
    );
}

#[tokio::test]
async fn request_log_lists_newest_first_without_query_strings() {
    let api = Api::start().await;
    let created = api
        .post(
            "/customers",
            json!({"email": "log@example.com", "name": "Log"}),
        )
        .await
        .expect(200);
    let request_id = created.header("x-request-id").unwrap().to_string();
    api.get("/customers?email=secret%40example.com")
        .await
        .expect(200);
    api.get("/customers/cus_missing").await.expect(404);

    let all = api
        .admin_http(Method::GET, "/_emulator/requests", None)
        .await
        .expect(200)
        .body;
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{all}");
    assert_eq!(items[0]["path"], "/customers/cus_missing");
    assert_eq!(items[0]["status"], 404);
    assert_eq!(
        items[1]["path"], "/customers",
        "query strings are not logged"
    );
    assert_eq!(items[2]["method"], "POST");
    assert_eq!(items[2]["request_id"], request_id.as_str());
    assert!(
        time::OffsetDateTime::parse(
            s(&items[2]["at"]),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
    assert!(items[2]["duration_ms"].is_u64());
    assert!(!all.to_string().contains("secret"));

    let filtered = api
        .admin_http(
            Method::GET,
            "/_emulator/requests?method=get&path_prefix=/customers&status=404&limit=5",
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["items"][0]["status"], 404);
    api.admin_http(Method::GET, "/_emulator/requests?colour=red", None)
        .await
        .expect(422);
}

#[tokio::test]
async fn request_log_keeps_only_its_capacity() {
    let api = Api::with(EmulatorConfig::default().request_log_capacity(2)).await;
    for _ in 0..4 {
        api.get("/customers").await.expect(200);
    }
    api.get("/products").await.expect(200);
    let all = api
        .admin_http(Method::GET, "/_emulator/requests", None)
        .await
        .expect(200)
        .body;
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["path"], "/products");
    assert_eq!(items[1]["path"], "/customers");
}

#[tokio::test]
async fn request_stream_pushes_requests_as_they_complete() {
    let api = Api::start().await;
    let mut stream = SseReader::open(&api, "/_emulator/requests/stream?method=POST").await;
    api.get("/customers").await.expect(200);
    let created = api
        .post("/customers", json!({"email": "s@example.com", "name": "S"}))
        .await
        .expect(200);
    let item = stream.next().await;
    assert_eq!(item["method"], "POST");
    assert_eq!(item["path"], "/customers");
    assert_eq!(item["status"], 200);
    assert_eq!(item["request_id"], created.header("x-request-id").unwrap());
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let api = Api::start().await;
    let mut stream = SseReader::open(&api, "/_emulator/deliveries/stream").await;
    let started = std::time::Instant::now();
    api.emu.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "an open stream held shutdown up"
    );
    let end = tokio::time::timeout(Duration::from_secs(10), stream.resp.chunk()).await;
    assert!(
        matches!(end, Ok(Ok(None)) | Ok(Err(_))),
        "stream still open"
    );
    stream.buf.clear();
}
