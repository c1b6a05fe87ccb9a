//! Customer portal route over real HTTP against the scripted fake Dodo API.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use dodo_axum::CustomerPortal;
use serde_json::json;
use support::{fake_dodo, get_json, http, json, serve};

#[tokio::test]
async fn redirects_to_the_portal_and_forwards_options() {
    let fake = fake_dodo().await;
    let portal = CustomerPortal::<()>::trusting_query_customer_id(fake.client())
        .return_url("https://shop.example/back")
        .unwrap();
    let base = serve(Router::new().route("/api/customer-portal", portal.route())).await;

    let resp = http()
        .get(format!(
            "{base}/api/customer-portal?customer_id=cus_1&send_email=true&return_url=https%3A%2F%2Fshop.example%2Faccount"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        "https://portal.example/cus_1?send_email=true&return_url=https%3A%2F%2Fshop.example%2Faccount"
    );
    let writes = fake.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path, "/customers/cus_1/customer-portal/session");

    // JSON when the caller prefers it; send_email=false is forwarded as false.
    let resp = http()
        .get(format!(
            "{base}/api/customer-portal?customer_id=cus_1&send_email=false"
        ))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let (status, _, body) = json(resp).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"link": "https://portal.example/cus_1?send_email=false&return_url=https%3A%2F%2Fshop.example%2Fback"})
    );
}

#[tokio::test]
async fn default_return_url_is_forwarded() {
    let fake = fake_dodo().await;
    let portal = CustomerPortal::<()>::trusting_query_customer_id(fake.client())
        .return_url("https://shop.example/back")
        .unwrap();
    let base = serve(Router::new().route("/p", portal.route())).await;
    let resp = http()
        .get(format!("{base}/p?customer_id=cus_1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(
        fake.writes()[0].query.as_deref(),
        Some("return_url=https%3A%2F%2Fshop.example%2Fback")
    );
}

#[tokio::test]
async fn a_request_return_url_must_share_the_configured_origin() {
    let fake = fake_dodo().await;
    let portal = CustomerPortal::<()>::trusting_query_customer_id(fake.client())
        .return_url("https://shop.example/back")
        .unwrap();
    let base = serve(Router::new().route("/p", portal.route())).await;
    let same = http()
        .get(format!(
            "{base}/p?customer_id=cus_1&return_url=https%3A%2F%2Fshop.example%2Faccount"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 302);
    let elsewhere = http()
        .get(format!(
            "{base}/p?customer_id=cus_1&return_url=https%3A%2F%2Fevil.example%2F"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 400);
    let body: serde_json::Value = elsewhere.json().await.unwrap();
    assert_eq!(body["error"]["field"], "return_url");
    assert_eq!(
        fake.writes().len(),
        1,
        "the rejected request never reached the API"
    );
}

#[tokio::test]
async fn errors_are_json() {
    let fake = fake_dodo().await;
    let portal = CustomerPortal::<()>::trusting_query_customer_id(fake.client());
    let base = serve(Router::new().route("/p", portal.route())).await;
    let cases = [
        ("", 400, "missing_parameter", Some("customer_id")),
        (
            "customer_id=",
            400,
            "missing_parameter",
            Some("customer_id"),
        ),
        (
            "customer_id=cus_1&send_email=yes",
            400,
            "invalid_parameter",
            Some("send_email"),
        ),
        (
            "customer_id=cus_1&return_url=%2Frelative",
            400,
            "invalid_parameter",
            Some("return_url"),
        ),
        (
            "customer_id=cus_1&customer_id=cus_2",
            400,
            "invalid_parameter",
            Some("customer_id"),
        ),
        ("customer_id=cus_unknown", 404, "customer_not_found", None),
    ];
    for (query, status, code, field) in cases {
        let (got, _, body) = get_json(&format!("{base}/p?{query}")).await;
        assert_eq!(got, status, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}");
        assert_eq!(body["error"]["field"].as_str(), field, "{query}");
    }
    let (status, headers, body) =
        json(http().post(format!("{base}/p")).send().await.unwrap()).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET,HEAD");
    assert_eq!(body["error"]["code"], "method_not_allowed");
    // Only the unknown customer reached the API.
    assert_eq!(fake.writes().len(), 1);
}

/// App state mapping session tokens to customer ids (stands in for a session store).
#[derive(Clone)]
struct Sessions(Arc<HashMap<&'static str, &'static str>>);

#[tokio::test]
async fn resolver_derives_the_customer_from_the_session() {
    let fake = fake_dodo().await;
    let sessions = Sessions(Arc::new(HashMap::from([
        ("token-jane", "cus_1"),
        ("token-ghost", "cus_gone"),
    ])));
    let portal = CustomerPortal::<Sessions>::new(
        fake.client(),
        |parts: axum::http::request::Parts, state: Sessions| async move {
            let token = parts
                .headers
                .get("x-session")
                .and_then(|v| v.to_str().ok())
                .ok_or((StatusCode::UNAUTHORIZED, "sign in first"))?;
            state
                .0
                .get(token)
                .map(|id| (*id).to_owned())
                .ok_or((StatusCode::FORBIDDEN, "unknown session"))
        },
    );
    let app = Router::new()
        .route("/p", portal.route())
        .with_state(sessions);
    let base = serve(app).await;

    // The query's customer_id is ignored: the session decides.
    let resp = http()
        .get(format!("{base}/p?customer_id=cus_victim"))
        .header("x-session", "token-jane")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let (status, _, body) = json(resp).await;
    assert_eq!(status, 200);
    assert_eq!(body["link"], "https://portal.example/cus_1?");
    assert_eq!(
        fake.writes()[0].path,
        "/customers/cus_1/customer-portal/session"
    );

    // No session: the resolver's rejection is the answer, and the API is not called.
    let resp = http()
        .get(format!("{base}/p?customer_id=cus_1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.text().await.unwrap(), "sign in first");
    assert_eq!(fake.writes().len(), 1);

    // A session whose customer is gone upstream: 404.
    let (status, _, body) = json(
        http()
            .get(format!("{base}/p"))
            .header("x-session", "token-ghost")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "customer_not_found");
}
