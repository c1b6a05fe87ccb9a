use reqwest::Method;
use serde_json::json;

use crate::support::{Api, s};

#[tokio::test]
async fn portal_lists_and_manages_subscriptions() {
    let api = Api::start().await;
    let out = api
        .admin(Method::POST, "/_emulator/trigger/subscription.active", None)
        .await
        .expect(200)
        .body;
    let cid = s(&out["objects"]["customer_id"]).to_string();
    let sid = s(&out["objects"]["subscription_id"]).to_string();
    let other = api.recurring_product(3000).await;
    let link = api
        .post(
            &format!("/customers/{cid}/customer-portal/session"),
            json!({}),
        )
        .await
        .expect(200)
        .body;
    let link = s(&link["link"]).to_string();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = http.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(&sid));
    assert!(html.contains("Cancel at end of period"));
    assert!(html.contains("Pro plan"), "other plan offered");
    assert!(html.contains("/invoices/pay_"));
    let no_session = http
        .get(link.split('?').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(no_session.status(), 401);

    let session = link.split_once("session=").unwrap().1.to_string();
    let base = format!("{}/portal/{cid}/subscriptions/{sid}", api.emu.base_url());
    let r = http
        .post(format!("{base}/cancel-at-period-end?session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["cancel_at_next_billing_date"], true);

    let r = http
        .post(format!("{base}/change-plan?session={session}"))
        .form(&[("product_id", s(&other["product_id"]))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["product_id"], other["product_id"]);

    let r = http
        .post(format!("{base}/cancel?session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["status"], "cancelled");
    let events = api
        .admin(Method::GET, "/_emulator/events", None)
        .await
        .expect(200)
        .body;
    let types: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for t in [
        "subscription.updated",
        "subscription.plan_changed",
        "subscription.cancelled",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }

    let pays = api
        .get(&format!("/payments?subscription_id={sid}&status=succeeded"))
        .await
        .expect(200)
        .body;
    let pay = s(&pays["items"][0]["payment_id"]).to_string();
    let pdf = http
        .get(format!(
            "{}/portal/{cid}/invoices/{pay}?session={session}",
            api.emu.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
}
