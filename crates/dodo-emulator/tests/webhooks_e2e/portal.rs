use reqwest::Method;
use serde_json::json;

use crate::form::{open, submit};
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
    let page = open(&link).await;
    let html = page.html.clone();
    assert!(html.contains(&sid));
    assert!(html.contains("Cancel at end of period"));
    assert!(html.contains("Pro plan"), "other plan offered");
    assert!(html.contains("&#x2f;invoices&#x2f;pay_"), "{html}");
    let no_session = http
        .get(link.split('?').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(no_session.status(), 401);

    let session = link.split_once("session=").unwrap().1.to_string();
    let base = format!("{}/portal/{cid}/subscriptions/{sid}", api.emu.base_url());
    let r = submit(
        &format!("{base}/cancel-at-period-end"),
        &page,
        &[("session", &session)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["cancel_at_next_billing_date"], true);

    let r = submit(
        &format!("{base}/change-plan"),
        &page,
        &[
            ("session", &session),
            ("product_id", s(&other["product_id"])),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["product_id"], other["product_id"]);

    let r = submit(&format!("{base}/cancel"), &page, &[("session", &session)]).await;
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

#[tokio::test]
async fn forged_or_expired_portal_sessions_are_refused() {
    let api = Api::start().await;
    let out = api
        .admin(Method::POST, "/_emulator/trigger/subscription.active", None)
        .await
        .expect(200)
        .body;
    let cid = s(&out["objects"]["customer_id"]).to_string();
    let sid = s(&out["objects"]["subscription_id"]).to_string();
    let victim = api.customer("victim@example.com").await;
    let victim_id = s(&victim["customer_id"]).to_string();
    let link = api
        .post(
            &format!("/customers/{cid}/customer-portal/session"),
            json!({}),
        )
        .await
        .expect(200)
        .body;
    let link = s(&link["link"]).to_string();
    let session = link.split_once("session=").unwrap().1.to_string();
    assert!(session.len() > 40, "a real token: {session}");
    let base = api.emu.base_url().to_string();
    // Any `cps_` string used to open any page.
    let forged = open(&format!("{base}/portal/{cid}?session=cps_forged")).await;
    assert_eq!(forged.status, 401);
    // A real token opens only its own customer's page.
    let other = open(&format!("{base}/portal/{victim_id}?session={session}")).await;
    assert_eq!(other.status, 401);
    let page = open(&link).await;
    assert_eq!(page.status, 200);
    let r = submit(
        &format!("{base}/portal/{cid}/subscriptions/{sid}/cancel"),
        &page,
        &[("session", "cps_forged")],
    )
    .await;
    assert_eq!(r.status(), 401);
    // Sessions expire on the emulator's clock.
    api.admin(
        Method::POST,
        "/_emulator/clock/advance",
        Some(json!({"by": "2h"})),
    )
    .await
    .expect(200);
    assert_eq!(open(&link).await.status, 401);
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["status"], "active", "nothing was cancelled");
}
