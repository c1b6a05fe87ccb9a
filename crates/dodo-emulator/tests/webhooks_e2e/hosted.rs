use dodo_webhooks::EventType;
use reqwest::Method;
use serde_json::json;

use dodo_emulator::faults::FaultSpec;

use crate::delivery::register;
use crate::form::{no_redirect, open, submit};
use crate::receiver::Receiver;
use crate::support::{Api, s};

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
    let page = open(&api.url(&link)).await;
    assert_eq!(page.status, 200);
    let html = page.html.clone();
    assert!(html.contains(r#"<label for="email">Email</label>"#));
    assert!(html.contains(r#"value="ada@example.com" readonly"#));
    assert!(html.contains(r#"value="Ada Lovelace""#));
    assert!(html.contains("$39.98"), "total of 2 × $19.99");
    assert!(html.contains("4000 0000 0000 3220"));

    let bad = submit(
        &api.url(&link),
        &page,
        &[
            ("full_name", "Ada"),
            ("email", "x@y.z"),
            ("country", "GB"),
            ("card_number", "1234"),
        ],
    )
    .await;
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("role=\"alert\""));

    let ok = submit(
        &api.url(&link),
        &page,
        &[
            ("full_name", "Ada Lovelace"),
            ("email", "mallory@example.com"),
            ("country", "GB"),
            ("card_number", "4242 4242 4242 4242"),
        ],
    )
    .await;
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
    let page = open(&url).await;
    let html = page.html.clone();
    assert!(html.contains("Discount (TENOFF)"));
    assert!(html.contains("$9.00"));
    assert!(html.contains("Billed every month"));
    let ok = submit(
        &url,
        &page,
        &[
            ("full_name", "Grace"),
            ("email", "grace@example.com"),
            ("country", "US"),
            ("discount_code", "TENOFF"),
            ("card_number", "4000000000000341"),
        ],
    )
    .await;
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
    let page = open(&link).await;
    let html = page.html.clone();
    assert!(html.contains(r#"action="&#x2f;pay&#x2f;pay_"#), "{html}");
    assert!(html.contains("redirect_url=https%3A%2F%2Fapp.example%2Fdone"));
    assert!(html.contains("$12.00"));
    let ok = submit(
        &link,
        &page,
        &[
            ("full_name", "Link"),
            ("email", "link@example.com"),
            ("country", "US"),
            ("card_number", "4000 0000 0000 0002"),
        ],
    )
    .await;
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
async fn a_payment_links_return_url_is_where_its_page_returns() {
    let api = Api::start().await;
    let book = api.one_time_product(700).await;
    let body = |return_url: &str| {
        json!({"product_cart": [{"product_id": s(&book["product_id"]), "quantity": 1}],
               "customer": {"email": "ret@example.com", "name": "Ret"},
               "billing": {"country": "US"}, "payment_link": true, "return_url": return_url})
    };
    // Not a URL a browser should be sent to: refused, nothing stored.
    for bad in ["javascript:alert(1)", "/relative", "https://"] {
        let r = api.post("/payments", body(bad)).await.expect(422);
        assert!(s(&r.body["message"]).contains("return_url"), "{}", r.body);
    }
    assert_eq!(api.get("/payments").await.body["items"], json!([]));
    let created = api
        .post("/payments", body("https://shop.example/thanks?order=7"))
        .await
        .expect(200)
        .body;
    let link = s(&created["payment_link"]).to_string();
    let page = open(&link).await;
    let done = submit(
        &link,
        &page,
        &[
            ("full_name", "Ret"),
            ("email", "ret@example.com"),
            ("country", "US"),
            ("card_number", "4242 4242 4242 4242"),
        ],
    )
    .await;
    assert_eq!(done.status(), 303);
    let location = done.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://shop.example/thanks?order=7&"),
        "{location}"
    );
    let q = query_of(location);
    assert_eq!(q["payment_id"], s(&created["payment_id"]));
    assert_eq!(q["status"], "succeeded");

    // Sessions refuse such URLs too.
    let r = api
        .post(
            "/checkouts",
            json!({"product_cart": [{"product_id": s(&book["product_id"]), "quantity": 1}],
                   "cancel_url": "javascript:history.back()"}),
        )
        .await
        .expect(422);
    assert!(s(&r.body["message"]).contains("cancel_url"), "{}", r.body);
}

#[tokio::test]
async fn a_sessions_custom_fields_are_asked_checked_and_recorded() {
    let api = Api::start().await;
    let book = api.one_time_product(700).await;
    let fields = json!([
        {"key": "company", "label": "Company", "field_type": "text", "required": true},
        {"key": "seats", "label": "Seats", "field_type": "number"},
        {"key": "terms", "label": "I accept the terms", "field_type": "boolean", "required": true},
    ]);
    let session_with = |custom: serde_json::Value| {
        json!({"product_cart": [{"product_id": s(&book["product_id"]), "quantity": 1}],
               "customer": {"email": "cf@example.com", "name": "CF"},
               "custom_fields": custom})
    };
    // Definitions a buyer could not answer are refused.
    let six: Vec<_> = (0..6)
        .map(|i| json!({"key": format!("k{i}"), "label": "L", "field_type": "text"}))
        .collect();
    api.post("/checkouts", session_with(json!(six)))
        .await
        .expect(422);
    let r = api
        .post(
            "/checkouts",
            session_with(json!([{"key": "plan", "label": "Plan", "field_type": "dropdown"}])),
        )
        .await
        .expect(422);
    assert!(
        s(&r.body["message"]).contains("custom_fields[0].options"),
        "{}",
        r.body
    );

    let session = api
        .post("/checkouts", session_with(fields))
        .await
        .expect(200)
        .body;
    let url = s(&session["checkout_url"]).to_string();
    let page = open(&url).await;
    assert!(
        page.html.contains("Additional information"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(r#"name="custom_company""#),
        "{}",
        page.html
    );
    let buyer = [
        ("full_name", "CF"),
        ("email", "cf@example.com"),
        ("country", "US"),
        ("card_number", "4242 4242 4242 4242"),
    ];
    let mut wrong = buyer.to_vec();
    wrong.push(("custom_seats", "a dozen"));
    let refused = submit(&url, &page, &wrong).await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    for says in [
        "Company is required.",
        "Seats must be a number.",
        "I accept the terms must be ticked.",
    ] {
        assert!(html.contains(says), "{says}: {html}");
    }
    assert!(
        html.contains(r#"value="a dozen""#),
        "the answer is kept: {html}"
    );
    assert_eq!(api.get("/payments").await.body["items"], json!([]));

    let mut right = buyer.to_vec();
    right.extend([
        ("custom_company", "Acme"),
        ("custom_seats", "12"),
        ("custom_terms", "true"),
    ]);
    let done = submit(&url, &page, &right).await;
    assert!(
        done.status() == 200 || done.status() == 303,
        "{}",
        done.status()
    );
    let payments = api.get("/payments").await.body;
    let pid = s(&payments["items"][0]["payment_id"]).to_string();
    let payment = api.get(&format!("/payments/{pid}")).await.body;
    assert_eq!(
        payment["custom_field_responses"],
        json!([{"key": "company", "value": "Acme"}, {"key": "seats", "value": "12"},
               {"key": "terms", "value": "true"}])
    );
}

#[tokio::test]
async fn a_session_can_lock_the_address_it_gives() {
    let api = Api::start().await;
    let book = api.one_time_product(700).await;
    let session = api
        .post(
            "/checkouts",
            json!({"product_cart": [{"product_id": s(&book["product_id"]), "quantity": 1}],
                   "billing_address": {"country": "DE", "city": "Berlin"},
                   "feature_flags": {"allow_customer_editing_country": false,
                                     "allow_customer_editing_city": false}}),
        )
        .await
        .expect(200)
        .body;
    let url = s(&session["checkout_url"]).to_string();
    let page = open(&url).await;
    for id in ["country", "city"] {
        let tag = page
            .html
            .split(&format!(r#"<input id="{id}""#))
            .nth(1)
            .unwrap();
        let tag = tag.split('>').next().unwrap();
        assert!(tag.contains("readonly"), "{id}: {tag}");
    }
    let tag = page
        .html
        .split(r#"<input id="address_line""#)
        .nth(1)
        .unwrap();
    assert!(!tag.split('>').next().unwrap().contains("readonly"));
    let done = submit(
        &url,
        &page,
        &[
            ("full_name", "Lock"),
            ("email", "lock@example.com"),
            ("country", "US"),
            ("city", "Paris"),
            ("address_line", "Unter den Linden 1"),
            ("card_number", "4242 4242 4242 4242"),
        ],
    )
    .await;
    assert!(
        done.status() == 200 || done.status() == 303,
        "{}",
        done.status()
    );
    let payments = api.get("/payments").await.body;
    let pid = s(&payments["items"][0]["payment_id"]).to_string();
    let payment = api.get(&format!("/payments/{pid}")).await.body;
    let billing = &payment["billing"];
    assert_eq!(
        (
            billing["country"].clone(),
            billing["city"].clone(),
            billing["street"].clone()
        ),
        (json!("DE"), json!("Berlin"), json!("Unter den Linden 1"))
    );
}

#[tokio::test]
async fn short_links_of_payments_and_sessions_redirect_to_their_pages() {
    let api = Api::start().await;
    let book = api.one_time_product(700).await;
    let created = api
        .post(
            "/payments",
            json!({"product_cart": [{"product_id": s(&book["product_id"]), "quantity": 1}],
                   "customer": {"email": "short@example.com", "name": "Short"},
                   "billing": {"country": "US"}, "payment_link": true, "short_link": true}),
        )
        .await
        .expect(200)
        .body;
    let pid = s(&created["payment_id"]).to_string();
    let short = s(&created["payment_link"]).to_string();
    assert!(short.starts_with(&api.url("/s/")), "{short}");
    assert_eq!(
        api.get(&format!("/payments/{pid}")).await.body["payment_link"],
        short.as_str()
    );
    let hop = no_redirect().get(&short).send().await.unwrap();
    assert_eq!(hop.status(), 302);
    assert_eq!(
        hop.headers()["location"],
        api.url(&format!("/pay/{pid}")).as_str()
    );

    let session = api
        .post(
            "/checkouts",
            json!({"product_cart": [{"product_id": s(&book["product_id"]), "quantity": 1}],
                   "short_link": true}),
        )
        .await
        .expect(200)
        .body;
    let hop = no_redirect()
        .get(s(&session["checkout_url"]))
        .send()
        .await
        .unwrap();
    assert_eq!(hop.status(), 302);
    assert_eq!(
        hop.headers()["location"],
        api.url(&format!("/checkout/{}", s(&session["session_id"])))
            .as_str()
    );
    // They are not product short links.
    assert_eq!(
        api.get("/products/short_links").await.body["items"],
        json!([])
    );
}

#[tokio::test]
async fn pages_call_the_domain_in_process_not_the_http_api() {
    let api = Api::start().await;
    let product = api.one_time_product(500).await;
    let pid = s(&product["product_id"]);
    // A fault on the HTTP API would break a page that called the API over loopback.
    api.harness()
        .add_fault(&FaultSpec::status(503).times(5).path_prefix("/payments"))
        .await
        .unwrap();
    let link = api.url(&format!("/buy/{pid}"));
    let page = open(&link).await;
    let ok = submit(
        &link,
        &page,
        &[
            ("full_name", "Ada Lovelace"),
            ("email", "ada@example.com"),
            ("country", "GB"),
            ("card_number", "4242 4242 4242 4242"),
        ],
    )
    .await;
    assert!(
        ok.status() == 200 || ok.status() == 303,
        "{}",
        ok.text().await.unwrap()
    );
    let log = api
        .admin_http(
            Method::GET,
            "/_emulator/requests?path_prefix=/payments",
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(log["items"], json!([]), "no loopback call reached the API");
    let faults = api.harness().faults().await.unwrap();
    assert_eq!(faults[0].remaining, 5, "the fault was never consumed");
}

#[tokio::test]
async fn forms_without_the_browsers_csrf_token_are_refused() {
    let api = Api::start().await;
    let product = api.one_time_product(500).await;
    let link = api.url(&format!("/buy/{}", s(&product["product_id"])));
    let page = open(&link).await;
    assert!(
        page.cookie
            .as_deref()
            .is_some_and(|c| c.starts_with("dodo_emu_csrf="))
    );
    let fields = [
        ("full_name", "Eve"),
        ("email", "eve@example.com"),
        ("country", "US"),
        ("card_number", "4242 4242 4242 4242"),
    ];
    // A cross-site form: no cookie, no token.
    let r = no_redirect()
        .post(&link)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A token the attacker made up, with the victim's cookie.
    let forged = crate::form::Page {
        status: 200,
        html: String::new(),
        cookie: page.cookie.clone(),
        token: Some("A".repeat(43)),
    };
    assert_eq!(submit(&link, &forged, &fields).await.status(), 403);
    // The attacker's own cookie and token do not match the victim's.
    let other = open(&link).await;
    let mixed = crate::form::Page {
        status: 200,
        html: String::new(),
        cookie: page.cookie.clone(),
        token: other.token.clone(),
    };
    assert_eq!(submit(&link, &mixed, &fields).await.status(), 403);
    let payments = api.get("/payments").await.expect(200).body;
    assert_eq!(payments["items"], json!([]), "nothing was bought");
    assert_eq!(submit(&link, &page, &fields).await.status(), 200);
}

#[tokio::test]
async fn user_strings_render_inert_on_the_pages() {
    let api = Api::start().await;
    let product = api
        .post(
            "/products",
            json!({"name": "<script>alert(1)</script>", "tax_category": "e_book",
                   "price": {"type": "one_time_price", "price": 99, "currency": "JPY",
                             "discount": 0, "purchasing_power_parity": false}}),
        )
        .await
        .expect(200)
        .body;
    let link = format!(
        "/buy/{}?fullName=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E&metadata_note=%22quoted%27",
        s(&product["product_id"])
    );
    let page = open(&api.url(&link)).await;
    assert_eq!(page.status, 200);
    assert!(!page.html.contains("<script>alert(1)"), "{}", page.html);
    assert!(page.html.contains("&lt;script&gt;alert(1)"));
    assert!(!page.html.contains("\"><img"), "{}", page.html);
    assert!(page.html.contains("&quot;&gt;&lt;img"));
    assert!(page.html.contains("¥99"), "JPY has no minor unit");
    assert!(!page.html.contains("0.99"));
}
