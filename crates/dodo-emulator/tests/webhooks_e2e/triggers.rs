use dodo_webhooks::EventType;
use reqwest::Method;
use serde_json::Value;

use crate::delivery::register;
use crate::receiver::Receiver;
use crate::support::Api;

#[tokio::test]
async fn every_event_type_has_a_trigger_whose_delivery_verifies_and_parses() {
    let api = Api::start().await;
    let mut rx = Receiver::start(vec![]).await;
    let (_, secret) = register(&api, &rx.url, &[]).await;
    assert_eq!(EventType::ALL.len(), 48);
    for ty in EventType::ALL {
        let name = ty.as_str();
        let out = api.harness().trigger(name).await.unwrap();
        let emitted: Vec<&str> = out.events.iter().map(|e| e.event_type.as_str()).collect();
        assert!(emitted.contains(&name), "{name}: emitted {emitted:?}");
        let got = rx.next_of(name).await;
        let event = got.verify(&secret);
        assert_eq!(&event.event_type(), ty, "{name}");
        assert!(
            !matches!(event.payload, dodo_webhooks::EventPayload::Unknown { .. }),
            "{name} parsed as Unknown"
        );
        let raw: Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(
            raw["data"]["payload_type"].as_str(),
            ty.payload_type(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn unknown_trigger_type_is_404() {
    let api = Api::start().await;
    let r = api
        .admin_http(Method::POST, "/_emulator/trigger/payment.teleported", None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["code"], "UNKNOWN_EVENT_TYPE");
}
