use std::time::Duration;

use serde_json::{Value, json};

use crate::form::{open, submit};
use crate::support::{Api, s};

#[tokio::test]
async fn portal_lists_and_manages_subscriptions() {
    let api = Api::start().await;
    let out = api.harness().trigger("subscription.active").await.unwrap();
    let cid = s(&out.objects["customer_id"]).to_string();
    let sid = s(&out.objects["subscription_id"]).to_string();
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
    let events = api.harness().events(None, 1000).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
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
    let out = api.harness().trigger("subscription.active").await.unwrap();
    let cid = s(&out.objects["customer_id"]).to_string();
    let sid = s(&out.objects["subscription_id"]).to_string();
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
    api.harness()
        .advance_clock(Duration::from_secs(2 * 3_600))
        .await
        .unwrap();
    assert_eq!(open(&link).await.status, 401);
    let sub = api
        .get(&format!("/subscriptions/{sid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["status"], "active", "nothing was cancelled");
}

#[tokio::test]
async fn portal_send_email_lands_in_the_outbox_and_its_link_opens_that_customer_only() {
    let api = Api::start().await;
    let emu = &api.emu;
    let alice = api.customer("alice@example.com").await;
    let alice_id = s(&alice["customer_id"]).to_string();
    let bob = api.customer("bob@example.com").await;
    let bob_id = s(&bob["customer_id"]).to_string();

    // Without send_email nothing is mailed; a non-boolean is refused.
    api.post(
        &format!("/customers/{alice_id}/customer-portal/session"),
        json!({}),
    )
    .await
    .expect(200);
    assert!(emu.admin().emails().await.unwrap().is_empty());
    let bad = api
        .post(
            &format!("/customers/{alice_id}/customer-portal/session?send_email=yes"),
            json!({}),
        )
        .await
        .expect(422);
    assert_eq!(bad.body["code"], "INVALID_REQUEST", "{}", bad.body);

    let answer = api
        .post(
            &format!("/customers/{alice_id}/customer-portal/session?send_email=true"),
            json!({}),
        )
        .await
        .expect(200)
        .body;
    let link = s(&answer["link"]).to_string();

    let emails = emu.admin().emails().await.unwrap();
    assert_eq!(emails.len(), 1, "{emails:?}");
    let email = &emails[0];
    assert_eq!(email.customer_id, alice_id);
    assert_eq!(email.recipient, "alice@example.com");
    assert_eq!(email.subject, "Your customer portal link");
    assert_eq!(email.email_type, "customer_portal_link");
    assert_eq!(email.category, "auth");
    assert_eq!(email.link.as_deref(), Some(link.as_str()));
    assert!(email.text.contains(&link), "{}", email.text);
    assert!(
        email.text.starts_with("Hello Test Customer,"),
        "{}",
        email.text
    );
    assert!(
        email.html.contains("Open your customer portal"),
        "{}",
        email.html
    );
    assert_eq!(emu.admin().emails_to(&alice_id).await.unwrap(), emails);
    assert!(emu.admin().emails_to(&bob_id).await.unwrap().is_empty());

    // The link from the email opens Alice's portal, and nobody else's.
    let page = open(email.link.as_deref().unwrap()).await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains("alice@example.com"), "{}", page.html);
    let session = link.split_once("session=").unwrap().1;
    let other = open(&format!(
        "{}/portal/{bob_id}?session={session}",
        emu.base_url()
    ))
    .await;
    assert_eq!(other.status, 401);

    // The API's email log lists it; an auth email shows no body (it carries a login token).
    let log = api
        .get(&format!("/customers/{alice_id}/emails"))
        .await
        .expect(200)
        .body;
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{log}");
    let item = &items[0];
    assert_eq!(item["email_log_id"], email.email_log_id.as_str());
    assert_eq!(item["recipient"], "alice@example.com");
    assert_eq!(item["subject"], "Your customer portal link");
    assert_eq!(item["category"], "auth");
    assert_eq!(item["status"], "delivered");
    assert_eq!(item["has_preview"], false);
    assert_eq!(item["policies"]["resend_allowed"], false);
    assert_eq!(item["created_at"], email.created_at.as_str());
    let body = api
        .get(&format!(
            "/customers/{alice_id}/emails/{}/body",
            email.email_log_id
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(
        body,
        json!({"merchant_authored": false, "failure_code": null, "failure_reason": null,
               "html": null, "text": null})
    );
    // Bob's log is empty and cannot read Alice's email; unknown ids are 404.
    let bob_log = api
        .get(&format!("/customers/{bob_id}/emails"))
        .await
        .expect(200)
        .body;
    assert_eq!(bob_log, json!({"items": []}));
    api.get(&format!(
        "/customers/{bob_id}/emails/{}/body",
        email.email_log_id
    ))
    .await
    .expect(404);
    api.get("/customers/cus_nope/emails").await.expect(404);
    // The admin route needs the API key like every admin route.
    let anonymous = reqwest::get(format!("{}/_emulator/emails", emu.base_url()))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn a_succeeded_payment_mails_a_receipt_the_email_log_can_show() {
    let api = Api::start().await;
    let product = api.one_time_product(1500).await;
    let paid = api.paid_payment(s(&product["product_id"]), 2).await;
    let cid = s(&paid["customer"]["customer_id"]).to_string();
    let pay_id = s(&paid["payment_id"]).to_string();

    let outbox = api.harness().emails_to(&cid).await.unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    let receipt = &outbox[0];
    assert_eq!(receipt.recipient, "payer@example.com");
    assert_eq!(receipt.subject, "Your receipt for $30.00");
    assert_eq!(receipt.email_type, "payment_successful");
    assert_eq!(receipt.category, "payments");
    assert_eq!(receipt.link, None);
    assert!(
        receipt.text.contains(&format!("Payment: {pay_id}\n")),
        "{}",
        receipt.text
    );
    assert!(
        receipt.html.contains("<strong>$30.00</strong>"),
        "{}",
        receipt.html
    );

    let log = api
        .get(&format!("/customers/{cid}/emails"))
        .await
        .expect(200)
        .body;
    let item = &log["items"][0];
    assert_eq!(item["email_type"], "payment_successful");
    assert_eq!(item["has_preview"], true);
    assert_eq!(item["policies"]["resend_allowed"], true);
    let body = api
        .get(&format!(
            "/customers/{cid}/emails/{}/body",
            receipt.email_log_id
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(body["text"], receipt.text.as_str());
    assert_eq!(body["html"], receipt.html.as_str());
    assert_eq!(body["merchant_authored"], false);

    // A failed payment sends nothing.
    let created = api
        .post(
            "/payments",
            json!({"product_cart": [{"product_id": s(&product["product_id"]), "quantity": 1}],
                   "customer": {"customer_id": cid}, "billing": {"country": "US"}}),
        )
        .await
        .expect(200)
        .body;
    api.harness()
        .complete_payment(s(&created["payment_id"]), "failed")
        .await
        .unwrap();
    assert_eq!(api.harness().emails_to(&cid).await.unwrap().len(), 1);
    // After 180 days (emulator clock) the log forgets the email and its body.
    api.harness()
        .advance_clock(Duration::from_secs(181 * 86_400))
        .await
        .unwrap();
    let later = api
        .get(&format!("/customers/{cid}/emails"))
        .await
        .expect(200)
        .body;
    assert_eq!(later, json!({"items": []}));
    let gone = api
        .get(&format!(
            "/customers/{cid}/emails/{}/body",
            receipt.email_log_id
        ))
        .await
        .expect(200)
        .body;
    assert_eq!((&gone["text"], &gone["html"]), (&Value::Null, &Value::Null));
    // Page sizes follow the list conventions.
    let empty = api
        .get(&format!("/customers/{cid}/emails?page_size=0"))
        .await
        .expect(200)
        .body;
    assert_eq!(empty, json!({"items": []}));
    api.get(&format!("/customers/{cid}/emails?page_size=101"))
        .await
        .expect(422);
}

#[tokio::test]
async fn a_portal_session_return_url_becomes_the_back_link() {
    let api = Api::start().await;
    let customer = api.customer("back@example.com").await;
    let cid = s(&customer["customer_id"]).to_string();
    let session = |q: &'static str| {
        let path = format!("/customers/{cid}/customer-portal/session{q}");
        let api = &api;
        async move { api.post(&path, json!({})).await }
    };
    let with = session("?return_url=https%3A%2F%2Fshop.example%2Faccount%3Ftab%3D1")
        .await
        .expect(200)
        .body;
    let page = open(s(&with["link"])).await;
    assert_eq!(page.status, 200);
    assert!(
        page.html.contains(
            r#"<a id="return" href="https:&#x2f;&#x2f;shop.example&#x2f;account?tab=1">Return to the shop</a>"#
        ),
        "{}",
        page.html
    );
    let without = session("").await.expect(200).body;
    let page = open(s(&without["link"])).await;
    assert!(!page.html.contains("id=\"return\""), "{}", page.html);
    for bad in [
        "?return_url=javascript%3Aalert(1)",
        "?return_url=%2F%2Fevil.example",
    ] {
        let r = session(bad).await.expect(422);
        assert_eq!(r.body["code"], "INVALID_REQUEST", "{}", r.body);
    }
}
