//! Error classes against a real local server: status predicates, lenient body parsing,
//! request ids, non-JSON bodies and decode errors with JSON paths.

mod support;

use dodo_client::{Call, Error, Method, RequestSpec};
use serde::Deserialize;
use support::{Reply, Server};

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Payment {
    payment_id: String,
    total_amount: i64,
}

async fn call_with(reply: Reply) -> Error {
    let server = Server::start().await;
    server.push(reply);
    let client = server.builder().max_retries(0).build().unwrap();
    Call::<Payment>::json(
        &client,
        RequestSpec::new(Method::GET, Ok("/payments/pay_x".into())),
    )
    .await
    .unwrap_err()
}

fn api(status: u16) -> Reply {
    Reply::json(
        status,
        serde_json::json!({"code": format!("CODE_{status}"), "message": format!("message {status}")}),
    )
    .header("x-request-id", &format!("req_{status}"))
}

#[tokio::test]
async fn every_status_class_is_classified_with_code_message_and_request_id() {
    type Pred = fn(&Error) -> bool;
    let cases: [(u16, Pred); 9] = [
        (400, Error::is_bad_request),
        (401, Error::is_unauthorized),
        (403, Error::is_forbidden),
        (404, Error::is_not_found),
        (409, Error::is_conflict),
        (422, Error::is_unprocessable),
        (429, Error::is_rate_limited),
        (500, Error::is_server_error),
        (410, |e: &Error| e.status() == Some(410)),
    ];
    let all: [Pred; 8] = [
        Error::is_bad_request,
        Error::is_unauthorized,
        Error::is_forbidden,
        Error::is_not_found,
        Error::is_conflict,
        Error::is_unprocessable,
        Error::is_rate_limited,
        Error::is_server_error,
    ];
    for (status, pred) in cases {
        let err = call_with(api(status)).await;
        assert!(pred(&err), "{status}: {err}");
        let matching = all.iter().filter(|p| p(&err)).count();
        assert_eq!(matching, usize::from(status != 410), "{status}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.request_id(), Some(format!("req_{status}").as_str()));
        assert!(!err.is_timeout() && !err.is_connection() && !err.is_decode());
        let api = err.as_api_error().unwrap();
        assert_eq!(api.code.as_deref(), Some(format!("CODE_{status}").as_str()));
        assert_eq!(
            api.message.as_deref(),
            Some(format!("message {status}").as_str())
        );
        assert_eq!(api.path, "/payments/pay_x");
        assert_eq!(api.method, Method::GET);
        assert_eq!(err.is_retryable(), matches!(status, 429 | 500), "{status}");
        let expected = if matches!(status, 409 | 500) {
            dodo_client::Processing::MaybeProcessed
        } else {
            dodo_client::Processing::NotProcessed
        };
        assert_eq!(err.processing(), expected, "{status}");
    }
}

#[tokio::test]
async fn display_names_status_call_code_message_and_request_id() {
    let err = call_with(
        Reply::json(
            404,
            serde_json::json!({"code": "NOT_FOUND", "message": "Payment not found"}),
        )
        .header("x-request-id", "req_123"),
    )
    .await;
    assert_eq!(
        err.to_string(),
        "404 Not Found from GET /payments/pay_x: NOT_FOUND: Payment not found (request id req_123)"
    );
}

#[tokio::test]
async fn non_json_error_body_is_kept() {
    let html = "<html><body>502 Bad Gateway</body></html>";
    let err = call_with(
        Reply::status(502)
            .header("content-type", "text/html")
            .body(html),
    )
    .await;
    let api = err.as_api_error().unwrap();
    assert_eq!(api.status.as_u16(), 502);
    assert_eq!(api.code, None);
    assert_eq!(api.message, None);
    assert_eq!(api.body.as_ref(), html.as_bytes());
    assert_eq!(api.headers.get("content-type").unwrap(), "text/html");
    assert!(
        err.to_string()
            .contains("502 Bad Gateway from GET /payments/pay_x: <html>")
    );

    let err = call_with(Reply::status(401)).await;
    assert!(err.is_unauthorized());
    assert!(err.as_api_error().unwrap().body.is_empty());
    assert!(err.to_string().ends_with("(empty body)"), "{err}");
}

#[tokio::test]
async fn decode_error_names_the_json_path_and_keeps_the_body() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct List {
        items: Vec<Payment>,
    }
    let body = serde_json::json!({"items": [
        {"payment_id": "p1", "total_amount": 1},
        {"payment_id": "p2", "total_amount": "not a number"}
    ]});
    let server = Server::start().await;
    server.push(Reply::json(200, body.clone()).header("x-request-id", "req_dec"));
    let err = Call::<List>::json(
        &server.client(),
        RequestSpec::new(Method::GET, Ok("/payments".into())),
    )
    .await
    .unwrap_err();
    assert!(err.is_decode());
    assert!(!err.is_retryable());
    assert_eq!(err.status(), Some(200));
    assert_eq!(err.request_id(), Some("req_dec"));
    let decode = err.as_decode_error().unwrap();
    assert_eq!(decode.json_path, "items[1].total_amount");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&decode.body).unwrap(),
        body
    );
    let text = err.to_string();
    assert!(text.contains("items[1].total_amount"), "{text}");
    assert!(text.contains("GET /payments"), "{text}");
    assert_eq!(server.requests().len(), 1, "decode errors are not retried");

    // An empty 2xx where JSON is expected is a decode error too.
    let err = call_with(Reply::status(200)).await;
    assert!(err.is_decode(), "{err}");
}

#[tokio::test]
async fn decode_error_debug_shows_no_body_or_header_values() {
    let secret = "alice@example.com";
    let err = call_with(
        Reply::json(
            200,
            serde_json::json!({"payment_id": secret, "total_amount": secret}),
        )
        .header("set-cookie", "session=cookie-secret"),
    )
    .await;
    assert!(err.is_decode());
    assert_eq!(err.processing(), dodo_client::Processing::Processed);
    let debug = format!("{:?}", err.as_decode_error().unwrap());
    assert!(debug.contains("total_amount"), "{debug}");
    assert!(!debug.contains(secret), "{debug}");
    assert!(!debug.contains("cookie-secret"), "{debug}");
}

#[tokio::test]
async fn response_bodies_are_read_with_a_size_cap() {
    let server = Server::start().await;
    let big = "x".repeat(64 * 1024);
    server.push(Reply::json(200, serde_json::json!({ "payment_id": big })));
    let client = server
        .builder()
        .max_response_bytes(16 * 1024)
        .build()
        .unwrap();
    let err = Call::<Payment>::json(
        &client,
        RequestSpec::new(Method::GET, Ok("/payments/pay_x".into())),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::ResponseTooLarge { limit: 16384, .. }),
        "{err}"
    );
    assert_eq!(err.status(), Some(200));
    assert_eq!(
        server.requests().len(),
        1,
        "an oversized answer is not retried"
    );
}
