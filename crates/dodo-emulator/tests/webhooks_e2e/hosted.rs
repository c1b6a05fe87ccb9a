use dodo_webhooks::EventType;
use reqwest::Method;
use serde_json::json;

use crate::delivery::register;
use crate::receiver::Receiver;
use crate::support::{Api, s};

fn no_redirect() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query_of(location: &str) -> std::collections::BTreeMap<String, String> {
    let q = location.split_once('?').unwrap().1;
    serde_urlencoded::from_str::<Vec<(String, String)>>(q)
        .unwrap()
        .into_iter()
        .collect()
}

#[tokio::test]
async fn static_link_page_prefills_and_pays_with_redirect() {
    let api = Api::start().await;
    let mut rx = Receiver::start(vec![]).await;
    let (_, secret) = register(&api, &rx.url, &["payment.succeeded"]).await;
    let product = api.one_time_product(1999).await;
    let pid = s(&product["product_id"]);
    let link = format!(
        "/buy/{pid}?quantity=2&redirect_url=https%3A%2F%2Fshop.example%2Fdone&fullName=Ada%20Lovelace&email=ada%40example.com&disableEmail=true&country=GB&metadata_order=42"
    );
    let page = api.http.get(api.url(&link)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<label for="email">Email</label>"#));
    assert!(html.contains(r#"value="ada@example.com" readonly"#));
    assert!(html.contains(r#"value="Ada Lovelace""#));
    assert!(html.contains("$39.98"), "total of 2 × $19.99");
    assert!(html.contains("4000 0000 0000 3220"));

    let http = no_redirect();
    let bad = http
        .post(api.url(&link))
        .form(&[
            ("full_name", "Ada"),
            ("email", "x@y.z"),
            ("country", "GB"),
            ("card_number", "1234"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("role=\"alert\""));

    let ok = http
        .post(api.url(&link))
        .form(&[
            ("full_name", "Ada Lovelace"),
            ("email", "mallory@example.com"),
            ("country", "GB"),
            ("card_number", "4242 4242 4242 4242"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let location = ok.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("https://shop.example/done?"));
    let q = query_of(&location);
    assert_eq!(q["status"], "succeeded");
    let payment = api
        .get(&format!("/payments/{}", q["payment_id"]))
        .await
        .expect(200)
        .body;
    assert_eq!(payment["status"], "succeeded");
    assert_eq!(payment["total_amount"], 3998);
    assert_eq!(
        payment["customer"]["email"], "ada@example.com",
        "read-only email kept"
    );
    assert_eq!(payment["metadata"]["order"], "42");
    let event = rx.next_of("payment.succeeded").await.verify(&secret);
    assert_eq!(event.event_type(), EventType::PaymentSucceeded);
}

#[tokio::test]
async fn checkout_session_with_discount_activates_a_subscription() {
    let api = Api::start().await;
    let plan = api.recurring_product(1000).await;
    let plan_id = s(&plan["product_id"]);
    let discount = api
        .post(
            "/discounts",
            json!({"type": "percentage", "amount": 1000, "code": "TENOFF"}),
        )
        .await
        .expect(200)
        .body;
    let session = api
        .post(
            "/checkouts",
            json!({"product_cart": [{"product_id": plan_id, "quantity": 1}],
                   "customer": {"email": "grace@example.com", "name": "Grace"},
                   "billing_address": {"country": "US"},
                   "discount_code": "TENOFF",
                   "return_url": "https://app.example/welcome?from=checkout"}),
        )
        .await
        .expect(200)
        .body;
    let url = s(&session["checkout_url"]).to_string();
    let html = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(html.contains("Discount (TENOFF)"));
    assert!(html.contains("$9.00"));
    assert!(html.contains("Billed every month"));
    let ok = no_redirect()
        .post(&url)
        .form(&[
            ("full_name", "Grace"),
            ("email", "grace@example.com"),
            ("country", "US"),
            ("discount_code", "TENOFF"),
            ("card_number", "4000000000000341"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let location = ok.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("https://app.example/welcome?from=checkout&"));
    let q = query_of(&location);
    assert_eq!(q["status"], "active");
    let sub = api
        .get(&format!("/subscriptions/{}", q["subscription_id"]))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["status"], "active");
    let d = api
        .get(&format!("/discounts/{}", s(&discount["discount_id"])))
        .await
        .expect(200)
        .body;
    assert_eq!(d["times_used"], 1);
    let status = api
        .get(&format!("/checkouts/{}", s(&session["session_id"])))
        .await
        .expect(200)
        .body;
    assert_eq!(status["payment_status"], "succeeded");
    let again = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(again.contains("Already paid"));
    let _ = Method::GET;
}

#[tokio::test]
async fn payment_link_page_settles_the_payment_and_returns_with_redirect_url() {
    let api = Api::start().await;
    let plan = api.recurring_product(1200).await;
    let created = api
        .post(
            "/subscriptions",
            json!({"product_id": s(&plan["product_id"]), "quantity": 1,
                   "customer": {"email": "link@example.com", "name": "Link"},
                   "billing": {"country": "US"}, "payment_link": true}),
        )
        .await
        .expect(200)
        .body;
    let link = format!(
        "{}?redirect_url=https%3A%2F%2Fapp.example%2Fdone",
        s(&created["payment_link"])
    );
    let html = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"action="/pay/pay_"#));
    assert!(html.contains("redirect_url=https%3A%2F%2Fapp.example%2Fdone"));
    assert!(html.contains("$12.00"));
    let ok = no_redirect()
        .post(&link)
        .form(&[
            ("full_name", "Link"),
            ("email", "link@example.com"),
            ("country", "US"),
            ("card_number", "4000 0000 0000 0002"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let q = query_of(ok.headers()["location"].to_str().unwrap());
    assert_eq!(q["subscription_id"], s(&created["subscription_id"]));
    assert_eq!(q["status"], "failed");
    let sub = api
        .get(&format!("/subscriptions/{}", q["subscription_id"]))
        .await
        .expect(200)
        .body;
    assert_eq!(sub["status"], "failed");
}

#[tokio::test]
async fn pages_call_the_domain_in_process_not_the_http_api() {
    let api = Api::start().await;
    let product = api.one_time_product(500).await;
    let pid = s(&product["product_id"]);
    // A fault on the HTTP API would break a page that called the API over loopback.
    api.admin(
        Method::POST,
        "/_emulator/faults",
        Some(json!({"path_prefix": "/payments", "status": 503, "count": 5})),
    )
    .await
    .expect(201);
    let link = format!("/buy/{pid}");
    let ok = no_redirect()
        .post(api.url(&link))
        .form(&[
            ("full_name", "Ada Lovelace"),
            ("email", "ada@example.com"),
            ("country", "GB"),
            ("card_number", "4242 4242 4242 4242"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        ok.status() == 200 || ok.status() == 303,
        "{}",
        ok.text().await.unwrap()
    );
    let log = api
        .admin(
            Method::GET,
            "/_emulator/requests?path_prefix=/payments",
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(log["items"], json!([]), "no loopback call reached the API");
    let faults = api
        .admin(Method::GET, "/_emulator/faults", None)
        .await
        .expect(200)
        .body;
    assert_eq!(
        faults["items"][0]["count"], 5,
        "the fault was never consumed"
    );
}
