//! Webhook route, extractor and middleware over real HTTP with signed deliveries.

mod support;

use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::routing::post;
use axum::{Extension, Router, middleware};
use dodo_axum::{VerifiedWebhook, WebhookGuard, WebhookRoute, verify_webhook};
use dodo_webhooks::{Dispatcher, ManualClock, MemoryIdempotency, Verifier, WebhookSecret};
use serde_json::{Value, json};
use support::{http, json, serve};

/// The fixed "now" of the test verifier.
const NOW: i64 = 1_754_285_445;

fn verifier() -> Verifier {
    Verifier::new(WebhookSecret::from_bytes(b"axum-adaptor-test-secret-32bytes".to_vec()).unwrap())
        .with_clock(ManualClock::new(NOW))
}

/// The spec's example body for `event_type`, read at test time.
fn spec_example(event_type: &str) -> Value {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/dodo-openapi/openapi.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("spec needed at {}: {e}", path.display()));
    let spec: Value = serde_json::from_str(&text).unwrap();
    spec["webhooks"][event_type]["post"]["requestBody"]["content"]["application/json"]["example"]
        .clone()
}

/// Handler state: what the handlers saw.
#[derive(Clone, Default)]
struct AppState {
    seen: Arc<Mutex<Vec<String>>>,
}

fn dispatcher(state: AppState) -> Dispatcher<AppState> {
    Dispatcher::new(verifier(), state)
        .idempotency(MemoryIdempotency::new())
        .on_payment_succeeded(|ctx, payment| async move {
            ctx.state.seen.lock().unwrap().push(format!(
                "payment.succeeded {} {}",
                payment.payment_id, ctx.webhook_id
            ));
            Ok(())
        })
        .on_subscription_active(|_ctx, _subscription| async move {
            Err::<(), _>(std::io::Error::other("database is down").into())
        })
}

async fn send(url: &str, id: &str, ts: i64, body: &[u8], sign: bool) -> (u16, Value) {
    let mut req = http()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if sign {
        for (name, value) in verifier().signed_headers(id, ts, body).pairs() {
            req = req.header(name, value);
        }
    }
    let (status, _, body) = json(req.send().await.unwrap()).await;
    (status, body)
}

async fn route_app(state: AppState, limit: usize) -> String {
    let route = WebhookRoute::new(dispatcher(state)).body_limit(limit);
    serve(Router::new().route("/api/webhook", route.route())).await
}

#[tokio::test]
async fn signed_deliveries_are_dispatched() {
    let state = AppState::default();
    let base = route_app(state.clone(), 64 * 1024).await;
    let url = format!("{base}/api/webhook");
    let example = spec_example("payment.succeeded");
    let payment_id = example["data"]["payment_id"].as_str().unwrap().to_owned();

    // Compact bytes.
    let compact = serde_json::to_vec(&example).unwrap();
    let (status, body) = send(&url, "msg_compact", NOW, &compact, true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"received": true, "id": "msg_compact", "type": "payment.succeeded", "status": "delivered"})
    );

    // Pretty-printed bytes, signed as sent: verified over the raw bytes, so accepted.
    let pretty = serde_json::to_vec_pretty(&example).unwrap();
    assert_ne!(pretty, compact);
    let (status, body) = send(&url, "msg_pretty", NOW - 200, &pretty, true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "delivered");

    assert_eq!(
        *state.seen.lock().unwrap(),
        vec![
            format!("payment.succeeded {payment_id} msg_compact"),
            format!("payment.succeeded {payment_id} msg_pretty"),
        ]
    );
}

#[tokio::test]
async fn refused_deliveries() {
    let state = AppState::default();
    let base = route_app(state.clone(), 1024 * 1024).await;
    let url = format!("{base}/api/webhook");
    let body = serde_json::to_vec(&spec_example("payment.succeeded")).unwrap();

    // Unsigned.
    let (status, answer) = send(&url, "msg_1", NOW, &body, false).await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], "missing_header");

    // Tampered: signed, then one byte changed.
    let mut req = http().post(&url).body({
        let mut b = body.clone();
        let i = b.iter().position(|c| *c == b'0').unwrap();
        b[i] = b'1';
        b
    });
    for (name, value) in verifier().signed_headers("msg_2", NOW, &body).pairs() {
        req = req.header(name, value);
    }
    let (status, _, answer) = json(req.send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], "invalid_signature");

    // Stale and future timestamps.
    let (status, answer) = send(&url, "msg_3", NOW - 3600, &body, true).await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], "timestamp_too_old");
    let (status, answer) = send(&url, "msg_4", NOW + 3600, &body, true).await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], "timestamp_too_new");

    // Signed but not JSON, and signed JSON that is not an envelope.
    let (status, answer) = send(&url, "msg_5", NOW, b"{nope", true).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "invalid_json");
    let (status, answer) = send(&url, "msg_6", NOW, br#"{"hello":"world"}"#, true).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "invalid_envelope");

    // Wrong method.
    let (status, headers, answer) = json(http().get(&url).send().await.unwrap()).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "POST");
    assert_eq!(answer["error"]["code"], "method_not_allowed");

    assert!(state.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_types_failures_and_duplicates() {
    let state = AppState::default();
    let base = route_app(state.clone(), 1024 * 1024).await;
    let url = format!("{base}/api/webhook");

    // An event type this crate has never heard of: acknowledged so Dodo stops retrying.
    let unknown = br#"{"business_id":"bus_1","type":"widget.made","timestamp":"2025-08-04T05:30:45Z","data":{"x":1}}"#;
    let (status, body) = send(&url, "msg_unknown", NOW, unknown, true).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "unhandled");
    assert_eq!(body["type"], "widget.made");

    // A handler error: 500 so Dodo retries, with a stable code and no internal detail.
    let active = serde_json::to_vec(&spec_example("subscription.active")).unwrap();
    let (status, body) = send(&url, "msg_fail", NOW, &active, true).await;
    assert_eq!(status, 500);
    assert_eq!(body["error"]["code"], "handler_failed");
    assert!(!body.to_string().contains("database is down"));

    // Duplicate delivery of the same webhook-id: the handler runs once.
    let paid = serde_json::to_vec(&spec_example("payment.succeeded")).unwrap();
    let (status, body) = send(&url, "msg_dup", NOW, &paid, true).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("delivered")));
    let (status, body) = send(&url, "msg_dup", NOW + 60, &paid, true).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(state.seen.lock().unwrap().len(), 1);

    // The failed delivery is retried by Dodo with the same id and runs again (still failing).
    let (status, _) = send(&url, "msg_fail", NOW + 30, &active, true).await;
    assert_eq!(status, 500);
}

#[tokio::test]
async fn body_limit_answers_413() {
    let base = route_app(AppState::default(), 1024).await;
    let url = format!("{base}/api/webhook");
    let mut example = spec_example("payment.succeeded");
    example["data"]["metadata"] = json!({"pad": "x".repeat(2000)});
    let body = serde_json::to_vec(&example).unwrap();
    assert!(body.len() > 2048);
    let (status, answer) = send(&url, "msg_big", NOW, &body, true).await;
    assert_eq!(status, 413);
    assert_eq!(answer["error"]["code"], "payload_too_large");
}

// ---------- extractor ----------

#[derive(Clone)]
struct ExtractorState {
    verifier: Verifier,
}

impl FromRef<ExtractorState> for Verifier {
    fn from_ref(state: &ExtractorState) -> Verifier {
        state.verifier.clone()
    }
}

async fn own_handler(webhook: VerifiedWebhook) -> axum::Json<Value> {
    axum::Json(json!({
        "id": webhook.delivery.id,
        "type": webhook.event.event_type().as_str(),
        "bytes": webhook.body.len(),
    }))
}

#[tokio::test]
async fn extractor_verifies_with_the_state_verifier() {
    let app = Router::new()
        .route("/hook", post(own_handler))
        .layer(DefaultBodyLimit::max(4096))
        .with_state(ExtractorState {
            verifier: verifier(),
        });
    let base = serve(app).await;
    let url = format!("{base}/hook");
    let pretty = serde_json::to_vec_pretty(&spec_example("refund.succeeded")).unwrap();

    let (status, body) = send(&url, "msg_x", NOW, &pretty, true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"id": "msg_x", "type": "refund.succeeded", "bytes": pretty.len()})
    );

    let (status, body) = send(&url, "msg_y", NOW, &pretty, false).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "missing_header");

    let (status, body) = send(&url, "msg_z", NOW - 1000, &pretty, true).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "timestamp_too_old");

    let big = format!(
        r#"{{"business_id":"b","type":"x.y","timestamp":"2025-08-04T05:30:45Z","data":{{"pad":"{}"}}}}"#,
        "x".repeat(5000)
    );
    let (status, body) = send(&url, "msg_big", NOW, big.as_bytes(), true).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payload_too_large");
}

// ---------- middleware ----------

#[tokio::test]
async fn middleware_puts_the_verified_event_in_extensions() {
    let calls = Arc::new(Mutex::new(0_u32));
    let handler = |State(calls): State<Arc<Mutex<u32>>>,
                   Extension(webhook): Extension<VerifiedWebhook>,
                   body: axum::body::Bytes| async move {
        *calls.lock().unwrap() += 1;
        // The inner handler still gets the exact verified bytes as its body.
        assert_eq!(body, webhook.body);
        axum::Json(json!({"type": webhook.event.event_type().as_str()}))
    };
    let guard = WebhookGuard::new(verifier()).body_limit(4096);
    let app = Router::new()
        .route("/hook", post(handler))
        .route_layer(middleware::from_fn_with_state(guard, verify_webhook))
        .with_state(Arc::clone(&calls));
    let base = serve(app).await;
    let url = format!("{base}/hook");
    let body = serde_json::to_vec(&spec_example("dispute.opened")).unwrap();

    let (status, answer) = send(&url, "msg_m1", NOW, &body, true).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"type": "dispute.opened"}));

    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let mut req = http().post(&url).body(tampered);
    for (name, value) in verifier().signed_headers("msg_m2", NOW, &body).pairs() {
        req = req.header(name, value);
    }
    let (status, _, answer) = json(req.send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(answer["error"]["code"], "invalid_signature");

    let big = vec![b' '; 5000];
    let (status, answer) = send(&url, "msg_m3", NOW, &big, true).await;
    assert_eq!(status, 413);
    assert_eq!(answer["error"]["code"], "payload_too_large");

    assert_eq!(*calls.lock().unwrap(), 1);
}
