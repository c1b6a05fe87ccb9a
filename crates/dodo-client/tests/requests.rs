//! Request anatomy against a real local server: paths, query, body, headers, raw access.

mod support;

use dodo_client::path::{PathPart, build};
use dodo_client::{Call, ListCall, Method, RequestSpec};
use serde::{Deserialize, Serialize};
use support::{API_KEY, Reply, Server};

#[derive(Debug, Deserialize, PartialEq)]
struct Payment {
    payment_id: String,
    total_amount: i64,
}

fn payment_json(id: &str) -> serde_json::Value {
    serde_json::json!({"payment_id": id, "total_amount": 1500, "extra": "ignored"})
}

fn retrieve(client: &dodo_client::Client, id: &str) -> Call<Payment> {
    Call::json(
        client,
        RequestSpec::new(
            Method::GET,
            build(&[PathPart::Lit("/payments/"), PathPart::Param(id)]),
        ),
    )
}

#[tokio::test]
async fn path_params_are_encoded_and_cannot_escape() {
    let server = Server::start().await;
    let client = server.client();
    server.push(Reply::json(200, payment_json("a/b")));
    let p = retrieve(&client, "a/b").await.unwrap();
    assert_eq!(p.payment_id, "a/b");

    server.push(Reply::json(200, payment_json("x")));
    retrieve(&client, "../customers").await.unwrap();

    let err = retrieve(&client, "..").await.unwrap_err();
    assert!(err.is_invalid_request(), "{err}");
    let err = retrieve(&client, "").await.unwrap_err();
    assert!(err.is_invalid_request(), "{err}");

    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    // Rejected ids never reach the server.
    assert_eq!(paths, vec!["/payments/a%2Fb", "/payments/..%2Fcustomers"]);
}

#[derive(Serialize, Default)]
struct ListQuery {
    page_number: Option<u32>,
    page_size: Option<u32>,
    customer_id: Option<String>,
    status: Option<String>,
    email: Option<String>,
}

#[tokio::test]
async fn query_is_encoded_and_none_omitted() {
    let server = Server::start().await;
    let client = server.client();
    server.push(Reply::json(200, serde_json::json!({"items": []})));
    let query = ListQuery {
        page_size: Some(25),
        customer_id: Some("cus_1".into()),
        email: Some("a+b@example.com & co".into()),
        ..Default::default()
    };
    let page = ListCall::<Payment>::new(
        &client,
        RequestSpec::new(Method::GET, Ok("/payments".into())).query(&query),
    )
    .await
    .unwrap();
    assert!(page.items.is_empty());
    let req = &server.requests()[0];
    assert_eq!(req.method, "GET");
    assert_eq!(
        req.query_pairs(),
        vec![
            ("page_size".to_string(), "25".to_string()),
            ("customer_id".to_string(), "cus_1".to_string()),
            ("email".to_string(), "a+b@example.com & co".to_string()),
        ]
    );
    assert!(!req.query.as_deref().unwrap().contains("status"));
}

#[derive(Serialize)]
struct CreateBody {
    product_id: String,
    quantity: u32,
    note: Option<String>,
}

#[tokio::test]
async fn json_body_auth_and_user_agent() {
    let server = Server::start().await;
    let client = server.client();
    server.push(Reply::json(200, payment_json("pay_new")));
    let body = CreateBody {
        product_id: "pdt_1".into(),
        quantity: 2,
        note: None,
    };
    let created: Payment = Call::json(
        &client,
        RequestSpec::new(Method::POST, Ok("/payments".into())).json(&body),
    )
    .await
    .unwrap();
    assert_eq!(
        created,
        Payment {
            payment_id: "pay_new".into(),
            total_amount: 1500
        }
    );
    let req = &server.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/payments");
    assert_eq!(
        req.json(),
        serde_json::json!({"product_id": "pdt_1", "quantity": 2, "note": null})
    );
    assert_eq!(
        req.header("authorization").unwrap(),
        format!("Bearer {API_KEY}")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("accept"), Some("application/json"));
    assert_eq!(
        req.header("user-agent").unwrap(),
        format!("dodopayments-rust/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(req.header("x-retry-count"), Some("0"));
}

#[tokio::test]
async fn default_and_per_request_headers() {
    let server = Server::start().await;
    let client = server
        .builder()
        .default_header("X-Team", "payments")
        .default_header("X-Override", "default")
        .user_agent("my-app/1.0")
        .build()
        .unwrap();
    server.push(Reply::json(200, payment_json("p")));
    retrieve(&client, "p")
        .header("X-Override", "per-call")
        .header("X-Trace", "t1")
        .await
        .unwrap();
    let req = &server.requests()[0];
    assert_eq!(req.header("x-team"), Some("payments"));
    assert_eq!(req.header("x-override"), Some("per-call"));
    assert_eq!(req.header("x-trace"), Some("t1"));
    assert_eq!(req.header("user-agent"), Some("my-app/1.0"));

    let err = retrieve(&client, "p")
        .header("bad header", "v")
        .await
        .unwrap_err();
    assert!(err.is_invalid_request());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn with_response_exposes_status_headers_and_request_id() {
    let server = Server::start().await;
    let client = server.client();
    server.push(
        Reply::json(201, payment_json("p"))
            .header("x-request-id", "req_abc")
            .header("x-ratelimit-remaining", "99"),
    );
    let resp = retrieve(&client, "p").with_response().await.unwrap();
    assert_eq!(resp.status.as_u16(), 201);
    assert_eq!(resp.request_id.as_deref(), Some("req_abc"));
    assert_eq!(resp.headers.get("x-ratelimit-remaining").unwrap(), "99");
    assert_eq!(resp.value.payment_id, "p");
}

#[tokio::test]
async fn empty_2xx_for_unit_calls() {
    let server = Server::start().await;
    let client = server.client();
    server.push(Reply::status(200));
    server.push(Reply::status(204));
    server.push(Reply::json(200, serde_json::json!({"ignored": true})));
    for _ in 0..3 {
        let spec = RequestSpec::new(Method::DELETE, Ok("/products/pdt_1".into()));
        Call::empty(&client, spec).await.unwrap();
    }
    assert_eq!(server.requests().len(), 3);
    assert!(server.requests().iter().all(|r| r.method == "DELETE"));

    // JSON calls whose type accepts null also take an empty 2xx.
    server.push(Reply::status(200));
    client.delete::<()>("/webhooks/whk_1").await.unwrap();
    server.push(Reply::status(204));
    let v: Option<Payment> = client.delete("/discounts/dsc_1").await.unwrap();
    assert_eq!(v, None);
}

#[tokio::test]
async fn bytes_calls_send_accept_and_return_raw_body() {
    let server = Server::start().await;
    let client = server.client();
    let pdf = b"%PDF-1.7 \x00\x01 binary".to_vec();
    server.push(
        Reply::status(200)
            .header("content-type", "application/pdf")
            .body(pdf.clone()),
    );
    let spec = RequestSpec::new(Method::GET, Ok("/invoices/payments/pay_1".into()));
    let body = Call::bytes(&client, spec, "application/pdf").await.unwrap();
    assert_eq!(body.as_ref(), pdf.as_slice());
    assert_eq!(
        server.requests()[0].header("accept"),
        Some("application/pdf")
    );
}

#[tokio::test]
async fn escape_hatch_is_authenticated() {
    let server = Server::start().await;
    let client = server.client();
    server.push(Reply::json(200, serde_json::json!({"ok": true})));
    let v: serde_json::Value = client.get("/moderation/usage").await.unwrap();
    assert_eq!(v, serde_json::json!({"ok": true}));
    server.push(Reply::json(200, serde_json::json!({"id": 1})));
    let v: serde_json::Value = client
        .post("/new/endpoint", &serde_json::json!({"a": 1}))
        .await
        .unwrap();
    assert_eq!(v["id"], 1);
    let reqs = server.requests();
    assert_eq!(reqs[0].path, "/moderation/usage");
    assert_eq!(reqs[1].json(), serde_json::json!({"a": 1}));
    for r in &reqs {
        assert_eq!(
            r.header("authorization").unwrap(),
            format!("Bearer {API_KEY}")
        );
    }
    let err = client
        .get::<serde_json::Value>("no-slash")
        .await
        .unwrap_err();
    assert!(err.is_invalid_request());
}

#[tokio::test]
async fn base_url_with_path_prefix() {
    let server = Server::start().await;
    let client = server
        .builder()
        .clear_base_url()
        .base_url(format!("{}/proxy/", server.base_url))
        .build()
        .unwrap();
    server.push(Reply::json(200, payment_json("p")));
    retrieve(&client, "p").await.unwrap();
    assert_eq!(server.requests()[0].path, "/proxy/payments/p");
}
