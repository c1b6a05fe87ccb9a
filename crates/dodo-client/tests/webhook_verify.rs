//! `client.webhooks().verify_and_parse(...)`: verification with the client's webhook key, then typed
//! parsing; `parse_unverified` parses only.
#![cfg(feature = "unwrap")]

use std::time::{SystemTime, UNIX_EPOCH};

use dodo_client::{Client, UnwrapError};
use dodo_webhooks::{EventType, WebhookSecret};

const KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const BODY: &str = r#"{"business_id":"bus_1","type":"payment.succeeded","timestamp":"2025-08-04T05:30:31.152232Z","data":{"payload_type":"Payment","payment_id":"pay_1","business_id":"bus_1","brand_id":"bus_1","total_amount":1500,"currency":"USD","settlement_amount":1500,"settlement_currency":"USD","is_update_payment_method":false,"created_at":"2025-08-04T05:30:31.152232Z","disputes":[],"refunds":[],"customer":{"customer_id":"cus_1","email":"a@b.c","name":"A","metadata":{}},"metadata":{},"billing":{"country":"US","city":null,"state":null,"street":null,"zipcode":null},"digital_products_delivered":false,"retry_attempt":0,"payment_provider":"dodo","status":"succeeded"}}"#;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn client(webhook_key: Option<&str>) -> Client {
    let mut builder = Client::builder()
        .api_key("k")
        .base_url("http://127.0.0.1:9");
    if let Some(key) = webhook_key {
        builder = builder.webhook_key(key);
    }
    builder.build().expect("client")
}

fn headers(body: &[u8], key: &str) -> Vec<(&'static str, String)> {
    let secret = WebhookSecret::new(key).expect("secret");
    let ts = now();
    vec![
        ("webhook-id", "msg_1".to_owned()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", secret.sign("msg_1", ts, body)),
    ]
}

#[test]
fn unwrap_verifies_with_the_client_key_and_types_the_event() {
    let hs = headers(BODY.as_bytes(), KEY);
    let event = client(Some(KEY))
        .webhooks()
        .verify_and_parse(BODY.as_bytes(), &hs)
        .expect("verified and parsed");
    assert_eq!(event.event_type(), EventType::PaymentSucceeded);
    assert_eq!(event.business_id, "bus_1");
}

#[test]
fn unwrap_rejects_a_wrong_key_and_a_tampered_body() {
    let other = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let hs = headers(BODY.as_bytes(), other);
    let err = client(Some(KEY))
        .webhooks()
        .verify_and_parse(BODY.as_bytes(), &hs)
        .expect_err("wrong key");
    assert!(matches!(err, UnwrapError::Verify(_)), "{err:?}");

    let hs = headers(BODY.as_bytes(), KEY);
    let tampered = BODY.replace("1500", "1");
    let err = client(Some(KEY))
        .webhooks()
        .verify_and_parse(tampered.as_bytes(), &hs)
        .expect_err("tampered");
    assert!(matches!(err, UnwrapError::Verify(_)), "{err:?}");
}

#[test]
fn unwrap_verifies_pretty_printed_bodies_byte_for_byte() {
    let value: serde_json::Value = serde_json::from_str(BODY).expect("json");
    let pretty = serde_json::to_vec_pretty(&value).expect("pretty");
    let hs = headers(&pretty, KEY);
    let event = client(Some(KEY))
        .webhooks()
        .verify_and_parse(&pretty, &hs)
        .expect("pretty body verifies");
    assert_eq!(event.event_type(), EventType::PaymentSucceeded);
}

#[test]
fn verifying_without_a_key_is_a_clear_error_and_parse_unverified_parses_only() {
    let hs = headers(BODY.as_bytes(), KEY);
    let c = client(None);
    let err = c
        .webhooks()
        .verify_and_parse(BODY.as_bytes(), &hs)
        .expect_err("no key");
    assert!(matches!(err, UnwrapError::MissingKey));
    assert!(err.to_string().contains("DODO_PAYMENTS_WEBHOOK_KEY"));

    let event = c
        .webhooks()
        .parse_unverified(BODY.as_bytes())
        .expect("parsed without verification");
    assert_eq!(event.event_type(), EventType::PaymentSucceeded);

    let explicit = c
        .webhooks()
        .verify_and_parse_with_key(BODY.as_bytes(), &hs, KEY)
        .expect("explicit key");
    assert_eq!(explicit.business_id, "bus_1");
}
