//! One suite, two adaptors: every test below is defined once and run against `dodo-axum`
//! and `dodo-actix` over real HTTP (the `both!` macro generates one `#[tokio::test]` per
//! adaptor), with the same scripted fake Dodo API recording what reached it. Hostile
//! checkout input, the portal's resolver and HEAD rules, webhook verification, limits and
//! 405s, and a parity test that sends the same requests to both and compares the answers.

#[path = "../../dodo-axum/tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use dodo_webhooks::{Dispatcher, ManualClock, MemoryIdempotency, Verifier, WebhookSecret};
use serde_json::{Value, json};
use support::{FakeDodo, billing, fake_dodo, http, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RETURN: &str = "https://shop.example/thanks";
const NOW: i64 = 1_754_285_445;
const WEBHOOK_LIMIT: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Adaptor {
    Axum,
    Actix,
}

fn verifier() -> Verifier {
    Verifier::new(WebhookSecret::from_bytes(b"both-adaptors-test-secret-32byte".to_vec()).unwrap())
        .with_clock(ManualClock::new(NOW))
}

fn dispatcher() -> Dispatcher<()> {
    Dispatcher::new(verifier(), ())
        .idempotency(MemoryIdempotency::new())
        .on_payment_succeeded(|_ctx, _payment| async move { Ok(()) })
}

/// The routes every adaptor serves in this suite:
/// `/api/checkout` (GET static, POST session), `/api/checkout/dynamic`, `/api/hooked`
/// (session with a hook binding the `x-customer` header's customer),
/// `/api/customer-portal` (resolver: the `x-customer` header), `/api/portal-trusting`,
/// `/api/webhook` (limit 4 KiB) and `/api/verified` (the extractor).
async fn serve(adaptor: Adaptor, fake: &FakeDodo) -> String {
    let core = dodo_routes::Checkout::new(fake.client())
        .return_url(RETURN)
        .unwrap();
    let webhook_dispatcher = Arc::new(dispatcher());
    match adaptor {
        Adaptor::Axum => serve_axum(fake, core, webhook_dispatcher).await,
        Adaptor::Actix => serve_actix(fake, core, webhook_dispatcher),
    }
}

async fn serve_axum(
    fake: &FakeDodo,
    core: dodo_routes::Checkout,
    dispatcher: Arc<Dispatcher<()>>,
) -> String {
    use axum::Router;
    use axum::extract::FromRef;
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use dodo_axum::{Checkout, CheckoutFlow, CustomerPortal, VerifiedWebhook, WebhookRoute};

    #[derive(Clone)]
    struct State {
        verifier: Verifier,
    }
    impl FromRef<State> for Verifier {
        fn from_ref(s: &State) -> Verifier {
            s.verifier.clone()
        }
    }
    let checkout = Checkout::from_core(core);
    let hooked = checkout
        .clone()
        .before_create(|parts, mut draft| async move {
            let id = parts
                .headers
                .get("x-customer")
                .and_then(|v| v.to_str().ok())
                .ok_or(StatusCode::UNAUTHORIZED)?;
            draft.set_customer_id(id);
            Ok::<_, StatusCode>(draft)
        });
    let portal = CustomerPortal::new(
        fake.client(),
        |parts: axum::http::request::Parts, _: State| async move {
            parts
                .headers
                .get("x-customer")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .ok_or(StatusCode::UNAUTHORIZED)
        },
    )
    .return_url("https://shop.example/account")
    .unwrap();
    let trusting = CustomerPortal::trusting_query_customer_id(fake.client());
    let app = Router::new()
        .route(
            "/api/checkout",
            get(checkout.handler(CheckoutFlow::Static))
                .post(checkout.handler(CheckoutFlow::Session))
                .fallback(dodo_axum::method_not_allowed),
        )
        .route("/api/checkout/dynamic", checkout.dynamic_route())
        .route("/api/hooked", hooked.session_route())
        .route("/api/customer-portal", portal.route())
        .route("/api/portal-trusting", trusting.route())
        .route(
            "/api/webhook",
            WebhookRoute::shared(dispatcher)
                .body_limit(WEBHOOK_LIMIT)
                .route(),
        )
        .route(
            "/api/verified",
            post(|w: VerifiedWebhook| async move { w.event.event_type().to_string() }),
        )
        .with_state(State {
            verifier: verifier(),
        });
    support::serve(app).await
}

fn serve_actix(
    fake: &FakeDodo,
    core: dodo_routes::Checkout,
    dispatcher: Arc<Dispatcher<()>>,
) -> String {
    use actix_web::error::ErrorUnauthorized;
    use actix_web::{App, HttpRequest, HttpServer, web};
    use dodo_actix::{Checkout, CheckoutFlow, CustomerPortal, VerifiedWebhook, WebhookRoute};

    let checkout = Checkout::from_core(core);
    let hooked = checkout
        .clone()
        .before_create(|req: HttpRequest, mut draft| async move {
            let id = req
                .headers()
                .get("x-customer")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| ErrorUnauthorized("Unauthorized"))?;
            draft.set_customer_id(id);
            Ok::<_, actix_web::Error>(draft)
        });
    let portal = CustomerPortal::new(fake.client(), |req: HttpRequest| async move {
        req.headers()
            .get("x-customer")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| ErrorUnauthorized("Unauthorized"))
    })
    .return_url("https://shop.example/account")
    .unwrap();
    let trusting = CustomerPortal::trusting_query_customer_id(fake.client());
    let webhooks = WebhookRoute::shared(dispatcher).body_limit(WEBHOOK_LIMIT);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(verifier()))
            .service(checkout.resource(
                "/api/checkout",
                &[CheckoutFlow::Static, CheckoutFlow::Session],
            ))
            .service(checkout.resource("/api/checkout/dynamic", &[CheckoutFlow::Dynamic]))
            .service(hooked.resource("/api/hooked", &[CheckoutFlow::Session]))
            .service(portal.resource("/api/customer-portal"))
            .service(trusting.resource("/api/portal-trusting"))
            .service(webhooks.resource("/api/webhook"))
            .route(
                "/api/verified",
                web::post()
                    .to(|w: VerifiedWebhook| async move { w.event.event_type().to_string() }),
            )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://{addr}")
}

fn session_body() -> Value {
    json!({"product_cart": [{"product_id": "pdt_once", "quantity": 1}], "customer": {"email": "a@b.co"}})
}

fn dynamic_body() -> Value {
    json!({"product_id": "pdt_once", "billing": billing(), "customer": {"email": "a@b.co"}})
}

async fn post(url: String, body: &Value) -> (u16, Value) {
    let (status, _, body) = json(http().post(url).json(body).send().await.unwrap()).await;
    (status, body)
}

/// A signed `payment.succeeded` delivery: the spec's example body, read at test time.
fn payment_event(id: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/dodo-openapi/openapi.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("spec needed at {}: {e}", path.display()));
    let spec: Value = serde_json::from_str(&text).unwrap();
    let body =
        spec["webhooks"]["payment.succeeded"]["post"]["requestBody"]["content"]["application/json"]
            ["example"]
            .to_string()
            .into_bytes();
    let headers = verifier()
        .signed_headers(id, NOW, &body)
        .pairs()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (headers, body)
}

async fn deliver(url: String, headers: &[(String, String)], body: &[u8]) -> (u16, Value) {
    let mut req = http()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let (status, _, body) = json(req.send().await.unwrap()).await;
    (status, body)
}

// ---------------------------------------------------------------- the tests, defined once

async fn hostile_checkout_fields_are_refused_and_nothing_is_created(a: Adaptor) {
    let fake = fake_dodo().await;
    let base = serve(a, &fake).await;
    let cases = [
        (
            "/api/checkout",
            json!({"customer": {"customer_id": "cus_1"}}),
            "customer.customer_id",
        ),
        (
            "/api/checkout",
            json!({"payment_method_id": "pm_1"}),
            "payment_method_id",
        ),
        ("/api/checkout", json!({"confirm": true}), "confirm"),
        (
            "/api/checkout",
            json!({"custom_fields": []}),
            "custom_fields",
        ),
        (
            "/api/checkout",
            json!({"subscription_data": {"trial_period_days": 3650}}),
            "subscription_data.trial_period_days",
        ),
    ];
    for (path, extra, field) in cases {
        let mut body = session_body();
        for (k, v) in extra.as_object().unwrap() {
            if let (Some(Value::Object(target)), Value::Object(add)) = (body.get_mut(k), v) {
                target.extend(add.clone());
            } else {
                body[k] = v.clone();
            }
        }
        let (status, answer) = post(format!("{base}{path}"), &body).await;
        assert_eq!(status, 400, "{a:?} {field}: {answer}");
        assert_eq!(
            answer["error"]["code"], "field_not_allowed",
            "{a:?} {field}"
        );
        let named = answer["error"]["field"].as_str().unwrap();
        assert!(
            field.starts_with(named) || named.starts_with(field),
            "{a:?}: {named} vs {field}"
        );
    }
    let mut line_amount = dynamic_body();
    line_amount["product_cart"] = json!([{"product_id": "pdt_once", "quantity": 1, "amount": 1}]);
    line_amount.as_object_mut().unwrap().remove("product_id");
    let (status, answer) = post(format!("{base}/api/checkout/dynamic"), &line_amount).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("field_not_allowed")),
        "{a:?}"
    );
    let mut trial = dynamic_body();
    trial["trial_period_days"] = json!(3650);
    let (status, answer) = post(format!("{base}/api/checkout/dynamic"), &trial).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("trial_period_days")),
        "{a:?}"
    );
    assert!(fake.writes().is_empty(), "{a:?}: {:?}", fake.writes());
}

async fn bounds_and_foreign_urls_are_refused(a: Adaptor) {
    let fake = fake_dodo().await;
    let base = serve(a, &fake).await;
    let mut body = session_body();
    body["product_cart"][0]["quantity"] = json!(101);
    let (status, answer) = post(format!("{base}/api/checkout"), &body).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid_parameter")),
        "{a:?}"
    );
    let mut body = session_body();
    body["return_url"] = json!("https://evil.example/phish");
    let (status, answer) = post(format!("{base}/api/checkout"), &body).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("return_url")),
        "{a:?}"
    );
    let (status, _, answer) = json(
        http()
            .get(format!(
                "{base}/api/checkout?productId=pdt_once&returnUrl=https%3A%2F%2Fevil.example%2F"
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("returnUrl")),
        "{a:?}"
    );
    assert!(fake.writes().is_empty(), "{a:?}");
}

async fn the_hook_binds_the_server_side_customer(a: Adaptor) {
    let fake = fake_dodo().await;
    let base = serve(a, &fake).await;
    let (status, _, answer) = json(
        http()
            .post(format!("{base}/api/hooked"))
            .header("x-customer", "cus_42")
            .json(&session_body())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{a:?}: {answer}");
    assert_eq!(answer["session_id"], "cks_1");
    let writes = fake.writes();
    assert_eq!(writes.len(), 1, "{a:?}");
    assert_eq!(
        writes[0].body["customer"],
        json!({"customer_id": "cus_42"}),
        "{a:?}"
    );
    // Without the header the hook refuses: its own 401, nothing created.
    let resp = http()
        .post(format!("{base}/api/hooked"))
        .json(&session_body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "{a:?}");
    assert_eq!(fake.writes().len(), 1, "{a:?}");
}

async fn static_links_and_sanitised_upstream_errors(a: Adaptor) {
    let fake = fake_dodo().await;
    let base = serve(a, &fake).await;
    let (status, _, answer) = json(
        http()
            .get(format!("{base}/api/checkout?productId=pdt_once&quantity=2"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{a:?}: {answer}");
    assert!(
        answer["checkout_url"]
            .as_str()
            .unwrap()
            .contains("/buy/pdt_once?quantity=2"),
        "{a:?}: {answer}"
    );
    let (status, _, answer) = json(
        http()
            .get(format!("{base}/api/checkout?productId=pdt_nope"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("product_not_found")),
        "{a:?}"
    );
    let mut body = session_body();
    body["product_cart"][0]["product_id"] = json!("pdt_boom");
    let (status, answer) = post(format!("{base}/api/checkout"), &body).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (502, Some("upstream_unavailable")),
        "{a:?}"
    );
    assert!(
        !answer.to_string().contains("try later"),
        "{a:?}: API message leaked: {answer}"
    );
    assert!(answer["error"].get("upstream").is_none(), "{a:?}");
}

async fn wrong_methods_are_json_405s_with_allow(a: Adaptor) {
    let fake = fake_dodo().await;
    let base = serve(a, &fake).await;
    for (path, allow) in [
        ("/api/checkout", "GET,HEAD,POST"),
        ("/api/checkout/dynamic", "POST"),
        ("/api/customer-portal", "GET,HEAD"),
        ("/api/webhook", "POST"),
    ] {
        let (status, headers, answer) =
            json(http().put(format!("{base}{path}")).send().await.unwrap()).await;
        assert_eq!(status, 405, "{a:?} {path}");
        assert_eq!(
            answer["error"]["code"], "method_not_allowed",
            "{a:?} {path}"
        );
        assert_eq!(headers["allow"], allow, "{a:?} {path}");
    }
}

async fn post_bodies_above_the_limit_are_413(a: Adaptor) {
    let fake = fake_dodo().await;
    let base = serve(a, &fake).await;
    let big = vec![b' '; dodo_routes::checkout::DEFAULT_BODY_LIMIT + 1];
    let resp = http()
        .post(format!("{base}/api/checkout"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let (status, _, answer) = json(resp).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{a:?}"
    );
    assert!(fake.all().is_empty(), "{a:?}");
}

async fn the_portal_takes_the_customer_from_the_resolver_only(a: Adaptor) {
    let fake = fake_dodo().await;
    let base = serve(a, &fake).await;
    // The query's customer id is ignored: no session, 401 from the resolver.
    let resp = http()
        .get(format!("{base}/api/customer-portal?customer_id=cus_1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "{a:?}");
    let resp = http()
        .get(format!("{base}/api/customer-portal"))
        .header("x-customer", "cus_1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "{a:?}");
    assert!(
        resp.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("https://portal.example/cus_1"),
        "{a:?}"
    );
    let (status, _, answer) = json(
        http()
            .get(format!("{base}/api/customer-portal"))
            .header("x-customer", "cus_1")
            .header("accept", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{a:?}");
    assert!(
        answer["link"]
            .as_str()
            .unwrap()
            .starts_with("https://portal.example/cus_1")
    );
    let (status, _, answer) = json(
        http()
            .get(format!(
                "{base}/api/customer-portal?return_url=https%3A%2F%2Fevil.example%2F"
            ))
            .header("x-customer", "cus_1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("return_url")),
        "{a:?}"
    );
    let (status, _, answer) = json(
        http()
            .get(format!("{base}/api/customer-portal"))
            .header("x-customer", "cus_nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("customer_not_found")),
        "{a:?}"
    );
    let writes_before_head = fake.writes().len();
    let resp = http()
        .head(format!("{base}/api/customer-portal?send_email=true"))
        .header("x-customer", "cus_1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{a:?}");
    let resp = http()
        .head(format!(
            "{base}/api/portal-trusting?customer_id=cus_1&send_email=true"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{a:?}");
    assert_eq!(
        fake.writes().len(),
        writes_before_head,
        "{a:?}: a HEAD created a session"
    );
    let resp = http()
        .get(format!("{base}/api/portal-trusting?customer_id=cus_1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "{a:?}");
    let (status, _, answer) = json(
        http()
            .get(format!("{base}/api/portal-trusting"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("missing_parameter")),
        "{a:?}"
    );
}

async fn webhooks_verify_deduplicate_and_limit(a: Adaptor) {
    let fake = fake_dodo().await;
    let base = serve(a, &fake).await;
    let (headers, body) = payment_event("msg_1");
    let (status, first) = deliver(format!("{base}/api/webhook"), &headers, &body).await;
    assert_eq!(status, 200, "{a:?}: {first}");
    let (status, again) = deliver(format!("{base}/api/webhook"), &headers, &body).await;
    assert_eq!(status, 200, "{a:?}");
    assert_ne!(first, again, "{a:?}: a duplicate must be reported as one");
    let mut tampered = body.clone();
    tampered.push(b' ');
    let (status, answer) = deliver(format!("{base}/api/webhook"), &headers, &tampered).await;
    assert_eq!(status, 401, "{a:?}: {answer}");
    let (status, answer) = deliver(format!("{base}/api/webhook"), &[], &body).await;
    assert_eq!(status, 401, "{a:?}: {answer}");
    let big = vec![b'{'; WEBHOOK_LIMIT + 1];
    let (status, answer) = deliver(format!("{base}/api/webhook"), &headers, &big).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{a:?}"
    );
    // The extractor.
    let resp = {
        let mut req = http()
            .post(format!("{base}/api/verified"))
            .body(body.clone());
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        req.send().await.unwrap()
    };
    assert_eq!(resp.status(), 200, "{a:?}");
    assert_eq!(resp.text().await.unwrap(), "payment.succeeded", "{a:?}");
    let (status, _, answer) = json(
        http()
            .post(format!("{base}/api/verified"))
            .body(body.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "{a:?}: {answer}");
}

/// A client that sends `Expect: 100-continue` with a too-large `Content-Length` must get
/// the 413 without sending its body. axum (hyper) answers the 413 alone; actix-web's server
/// writes its interim `100 Continue` before any handler runs (actix-http's default expect
/// handler, not configurable through `HttpServer`), so there the 413 follows in the same
/// write, with `connection: close`, before a byte of the body was sent.
async fn expect_continue_gets_413_before_sending_the_body(a: Adaptor) {
    let fake = fake_dodo().await;
    let base = serve(a, &fake).await;
    let addr = base.trim_start_matches("http://");
    for (path, size) in [
        ("/api/webhook", WEBHOOK_LIMIT + 1),
        ("/api/checkout", 10 * 1024 * 1024),
    ] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {size}\r\nExpect: 100-continue\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                let n = stream.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                answer.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&answer);
                if text.contains("payload_too_large") {
                    break;
                }
            }
        })
        .await;
        let text = String::from_utf8_lossy(&answer);
        assert!(
            read.is_ok(),
            "{a:?} {path}: no answer without the body; got {text:?}"
        );
        let final_answer = match a {
            Adaptor::Axum => &text[..],
            Adaptor::Actix => text
                .strip_prefix("HTTP/1.1 100 Continue\r\n\r\n")
                .unwrap_or(&text),
        };
        assert!(
            final_answer.starts_with("HTTP/1.1 413"),
            "{a:?} {path}: {text:?}"
        );
        assert!(text.contains("payload_too_large"), "{a:?} {path}: {text:?}");
    }
}

/// The same requests to both adaptors get the same statuses and JSON bodies.
#[tokio::test]
async fn both_adaptors_answer_alike() {
    let fake = fake_dodo().await;
    let axum = serve(Adaptor::Axum, &fake).await;
    let actix = serve(Adaptor::Actix, &fake).await;
    let requests: Vec<(&str, &str, Option<Value>)> = vec![
        ("GET", "/api/checkout?productId=pdt_once", None),
        ("GET", "/api/checkout?quantity=2", None),
        ("GET", "/api/checkout?productId=pdt_locked", None),
        ("POST", "/api/checkout", Some(session_body())),
        ("POST", "/api/checkout", Some(json!({"product_cart": []}))),
        ("POST", "/api/checkout", Some(json!("not an object"))),
        ("POST", "/api/checkout/dynamic", Some(dynamic_body())),
        (
            "POST",
            "/api/checkout/dynamic",
            Some(json!({"product_id": "pdt_sub", "billing": {}, "customer": {}})),
        ),
        ("DELETE", "/api/checkout/dynamic", None),
        (
            "GET",
            "/api/portal-trusting?customer_id=cus_1&send_email=maybe",
            None,
        ),
        (
            "POST",
            "/api/webhook",
            Some(json!({"type": "payment.succeeded"})),
        ),
    ];
    for (method, path, body) in requests {
        let mut answers = Vec::new();
        for base in [&axum, &actix] {
            let mut req = http().request(method.parse().unwrap(), format!("{base}{path}"));
            if let Some(body) = &body {
                req = req.json(body);
            }
            let (status, headers, answer) = json(req.send().await.unwrap()).await;
            answers.push((
                status,
                headers["content-type"].to_str().unwrap().to_owned(),
                answer,
            ));
        }
        assert_eq!(answers[0], answers[1], "{method} {path}: axum vs actix");
    }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod axum_adaptor {
            $( #[tokio::test] async fn $name() { super::$name(super::Adaptor::Axum).await } )*
        }
        mod actix_adaptor {
            $( #[tokio::test] async fn $name() { super::$name(super::Adaptor::Actix).await } )*
        }
    };
}

both!(
    hostile_checkout_fields_are_refused_and_nothing_is_created,
    bounds_and_foreign_urls_are_refused,
    the_hook_binds_the_server_side_customer,
    static_links_and_sanitised_upstream_errors,
    wrong_methods_are_json_405s_with_allow,
    post_bodies_above_the_limit_are_413,
    the_portal_takes_the_customer_from_the_resolver_only,
    webhooks_verify_deduplicate_and_limit,
    expect_continue_gets_413_before_sending_the_body,
);
