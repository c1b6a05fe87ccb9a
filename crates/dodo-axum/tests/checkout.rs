//! Checkout flows over real HTTP: the app on 127.0.0.1:0 calling a scripted fake Dodo API.

mod support;

use axum::Router;
use axum::routing::get;
use dodo_axum::checkout::{LIVE_CHECKOUT_HOST, TEST_CHECKOUT_HOST};
use dodo_axum::{BrowserPolicy, Checkout, CheckoutDraft, CheckoutFlow, method_not_allowed};
use serde_json::{Value, json};
use support::{FakeDodo, billing, fake_dodo, get_json, http, json, post_json, serve};

async fn app(fake: &FakeDodo, configure: impl FnOnce(Checkout) -> Checkout) -> String {
    let checkout = configure(Checkout::new(fake.client()));
    let app = Router::new()
        .route(
            "/api/checkout",
            get(checkout.handler(CheckoutFlow::Static))
                .post(checkout.handler(CheckoutFlow::Session))
                .fallback(method_not_allowed),
        )
        .route("/api/checkout/dynamic", checkout.dynamic_route())
        .route("/api/checkout/session", checkout.session_route())
        .route("/api/checkout/static", checkout.static_route());
    serve(app).await
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

// ---------- static ----------

#[tokio::test]
async fn static_link_is_built_like_express() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| {
        c.checkout_host(TEST_CHECKOUT_HOST)
            .return_url("https://shop.example/thanks")
            .unwrap()
    })
    .await;
    let (status, _, body) = get_json(&format!(
        "{base}/api/checkout?productId=pdt_once&quantity=2&email=jane%2Bx%40example.com\
         &fullName=Jane%20Doe&disableEmail=true&disableCity=false&metadata_order=ord%201\
         &metadata_empty=&showCurrencySelector=true&ignored=1"
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"checkout_url": "https://test.checkout.dodopayments.com/buy/pdt_once?quantity=2\
            &redirect_url=https%3A%2F%2Fshop.example%2Fthanks&fullName=Jane+Doe\
            &email=jane%2Bx%40example.com&disableEmail=true&showCurrencySelector=true\
            &metadata_order=ord+1"})
    );
    let all = fake.all();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].path, "/products/pdt_once");
    assert_eq!(all[0].authorization.as_deref(), Some("Bearer sk_test_fake"));
}

#[tokio::test]
async fn static_link_defaults_to_the_emulator_host_and_encodes_the_id() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| c).await;
    let (status, _, body) = get_json(&format!("{base}/api/checkout?productId=pdt%20a%2Fb")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["checkout_url"],
        format!("{}/buy/pdt%20a%2Fb?quantity=1", fake.base_url)
    );
    assert_eq!(fake.all()[0].path, "/products/pdt%20a%2Fb");
}

#[tokio::test]
async fn static_live_host_and_per_request_return_url() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| {
        c.checkout_host(LIVE_CHECKOUT_HOST)
            .return_url("https://shop.example/default")
            .unwrap()
    })
    .await;
    let (status, _, body) = get_json(&format!(
        "{base}/api/checkout/static?productId=pdt_sub&returnUrl=https%3A%2F%2Fshop.example%2Fvip"
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["checkout_url"],
        "https://checkout.dodopayments.com/buy/pdt_sub?quantity=1&redirect_url=https%3A%2F%2Fshop.example%2Fvip"
    );
}

#[tokio::test]
async fn static_per_request_return_url_can_be_forbidden() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| c.allow_request_return_url(false)).await;
    let (status, _, body) = get_json(&format!(
        "{base}/api/checkout?productId=pdt_once&return_url=https%3A%2F%2Fevil.example"
    ))
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "returnUrl");
    assert!(fake.all().is_empty());
}

#[tokio::test]
async fn static_errors() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| c).await;
    let cases: &[(&str, u16, &str, Option<&str>)] = &[
        ("", 400, "missing_parameter", Some("productId")),
        ("productId=", 400, "missing_parameter", Some("productId")),
        (
            "productId=pdt_once&quantity=0",
            400,
            "invalid_parameter",
            Some("quantity"),
        ),
        (
            "productId=pdt_once&quantity=two",
            400,
            "invalid_parameter",
            Some("quantity"),
        ),
        (
            "productId=pdt_once&disableEmail=yes",
            400,
            "invalid_parameter",
            Some("disableEmail"),
        ),
        (
            "productId=pdt_once&paymentAmount=9.99",
            400,
            "invalid_parameter",
            Some("paymentAmount"),
        ),
        (
            "productId=a&productId=b",
            400,
            "invalid_parameter",
            Some("productId"),
        ),
        (
            "productId=pdt_nope",
            404,
            "product_not_found",
            Some("productId"),
        ),
        ("productId=pdt_boom", 502, "upstream_unavailable", None),
        ("productId=pdt_locked", 502, "upstream_rejected", None),
    ];
    for (query, status, code, field) in cases {
        let (got, headers, body) = get_json(&format!("{base}/api/checkout?{query}")).await;
        assert_eq!(got, *status, "{query}: {body}");
        assert_eq!(error_code(&body), *code, "{query}");
        assert_eq!(body["error"]["field"].as_str(), *field, "{query}");
        assert_eq!(headers["content-type"], "application/json", "{query}");
    }
    // The API's message, code and status stay in the logs, not in the browser's answer.
    for product in ["pdt_boom", "pdt_locked"] {
        let (_, _, body) = get_json(&format!("{base}/api/checkout?productId={product}")).await;
        assert!(body["error"].get("upstream").is_none(), "{body}");
        let text = body.to_string();
        for leak in ["boom", "bad key", "INTERNAL", "UNAUTHORIZED", "401", "500"] {
            assert!(!text.contains(leak), "{leak} leaked: {text}");
        }
    }
}

#[tokio::test]
async fn wrong_methods_get_json_405() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| c).await;
    let cases = [
        (reqwest::Method::DELETE, "/api/checkout", "GET,HEAD,POST"),
        (reqwest::Method::GET, "/api/checkout/dynamic", "POST"),
        (reqwest::Method::PUT, "/api/checkout/session", "POST"),
        (reqwest::Method::POST, "/api/checkout/static", "GET,HEAD"),
    ];
    for (method, path, allow) in cases {
        let resp = http()
            .request(method.clone(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        let (status, headers, body) = json(resp).await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(error_code(&body), "method_not_allowed");
        assert_eq!(headers["allow"], allow, "{method} {path}");
    }
}

// ---------- dynamic ----------

#[tokio::test]
async fn dynamic_one_time_payment_link() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| {
        c.return_url("https://shop.example/done").unwrap()
    })
    .await;
    let (status, _, body) = post_json(
        &format!("{base}/api/checkout/dynamic"),
        &json!({
            "product_id": "pdt_once",
            "quantity": 2,
            "billing": billing(),
            "customer": {"email": "jane@example.com", "name": "Jane"},
            "metadata": {"order": "42", "vip": true},
            "discount_code": "SAVE10",
            "currency": "EUR",
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"checkout_url": "https://test.checkout.dodopayments.com/pay_1", "payment_id": "pay_1"})
    );
    let writes = fake.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path, "/payments");
    let sent = &writes[0].body;
    assert_eq!(sent["payment_link"], true);
    assert_eq!(
        sent["product_cart"],
        json!([{"product_id": "pdt_once", "quantity": 2, "amount": null}])
    );
    assert_eq!(sent["metadata"], json!({"order": "42", "vip": true}));
    assert_eq!(sent["discount_code"], "SAVE10");
    assert_eq!(sent["billing_currency"], "EUR");
    assert_eq!(sent["return_url"], "https://shop.example/done");
    assert_eq!(sent["billing"]["country"], "US");
    assert_eq!(
        sent["customer"],
        json!({"email": "jane@example.com", "name": "Jane"})
    );
}

#[tokio::test]
async fn dynamic_subscription_with_a_loosened_policy_keeps_zero_trial_and_addons() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| {
        c.policy(
            BrowserPolicy::default()
                .allow("customer.customer_id")
                .allow("addons")
                .allow("trial_period_days")
                .allow("on_demand")
                .allow("on_demand.*"),
        )
        .return_url("https://shop.example/default")
        .unwrap()
    })
    .await;
    let (status, _, body) = post_json(
        &format!("{base}/api/checkout/dynamic"),
        &json!({
            "product_cart": [{"product_id": "pdt_sub", "quantity": 3}],
            "billing": {"country": "IN"},
            "customer": {"customer_id": "cus_1"},
            "addons": [{"addon_id": "adn_1", "quantity": 2}],
            "trial_period_days": 0,
            "return_url": "https://shop.example/sub",
            "on_demand": {"mandate_only": true},
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"checkout_url": "https://test.checkout.dodopayments.com/sub_1", "payment_id": "pay_2", "subscription_id": "sub_1"})
    );
    let writes = fake.writes();
    assert_eq!(writes[0].path, "/subscriptions");
    let sent = &writes[0].body;
    assert_eq!(sent["product_id"], "pdt_sub");
    assert_eq!(sent["quantity"], 3);
    assert_eq!(sent["trial_period_days"], 0);
    assert_eq!(
        sent["addons"],
        json!([{"addon_id": "adn_1", "quantity": 2}])
    );
    assert_eq!(sent["payment_link"], true);
    assert_eq!(sent["return_url"], "https://shop.example/sub");
    assert_eq!(sent["on_demand"]["mandate_only"], true);
    assert_eq!(sent["customer"], json!({"customer_id": "cus_1"}));
}

#[tokio::test]
async fn dynamic_errors() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| c.body_limit(4096)).await;
    let good =
        || json!({"product_id": "pdt_once", "billing": billing(), "customer": {"email": "a@b.co"}});
    let with = |key: &str, value: Value| {
        let mut v = good();
        v[key] = value;
        v
    };
    let without = |key: &str| {
        let mut v = good();
        v.as_object_mut().unwrap().remove(key);
        v
    };
    let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
        (without("billing"), 400, "invalid_body", Some("billing")),
        (
            without("product_id"),
            400,
            "missing_parameter",
            Some("product_id"),
        ),
        (
            with("billing", json!({"city": "x"})),
            400,
            "invalid_body",
            Some("billing.country"),
        ),
        (
            with("quantity", json!("2")),
            400,
            "invalid_body",
            Some("quantity"),
        ),
        (
            with("quantity", json!(0)),
            400,
            "invalid_parameter",
            Some("quantity"),
        ),
        (
            with("customer", json!({"name": "x"})),
            400,
            "invalid_parameter",
            Some("customer"),
        ),
        (
            with("addons", json!([{"addon_id": "a", "quantity": 1}])),
            400,
            "field_not_allowed",
            Some("addons"),
        ),
        (
            with("trial_period_days", json!(7)),
            400,
            "field_not_allowed",
            Some("trial_period_days"),
        ),
        (
            with("discount_id", json!("dsc_1")),
            400,
            "field_not_allowed",
            Some("discount_id"),
        ),
        (
            with("return_url", json!("not a url")),
            400,
            "invalid_parameter",
            Some("return_url"),
        ),
        (
            with("product_id", json!("pdt_nope")),
            404,
            "product_not_found",
            Some("product_id"),
        ),
        (
            with("discount_code", json!("BAD")),
            400,
            "upstream_invalid_request",
            None,
        ),
        (
            with("padding", json!("x".repeat(5000))),
            413,
            "payload_too_large",
            None,
        ),
    ];
    for (body, status, code, field) in cases {
        let (got, _, answer) = post_json(&format!("{base}/api/checkout/dynamic"), &body).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(error_code(&answer), code, "{body}");
        assert_eq!(answer["error"]["field"].as_str(), field, "{body}");
    }
    let (_, _, answer) = post_json(
        &format!("{base}/api/checkout/dynamic"),
        &with("discount_code", json!("BAD")),
    )
    .await;
    assert!(answer["error"].get("upstream").is_none(), "{answer}");
    assert!(!answer.to_string().contains("Discount code is invalid"));
    assert!(!answer.to_string().contains("INVALID_DISCOUNT"));

    let resp = http()
        .post(format!("{base}/api/checkout/dynamic"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, _, answer) = json(resp).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&answer), "invalid_json");
}

// ---------- session ----------

#[tokio::test]
async fn session_sends_the_buyer_fields_and_the_configured_return_url() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| {
        c.return_url("https://shop.example/done").unwrap()
    })
    .await;
    let request = json!({
        "product_cart": [{"product_id": "pdt_once", "quantity": 2}],
        "customer": {"email": "jane@example.com", "name": "Jane"},
        "billing_address": {"country": "DE", "city": "Berlin"},
        "billing_currency": "EUR",
        "cancel_url": "https://shop.example/cancel",
        "discount_codes": ["SAVE10"],
        "metadata": {"order": "42"},
    });
    // Pretty-printed on purpose: any JSON formatting is accepted.
    let resp = http()
        .post(format!("{base}/api/checkout"))
        .header("content-type", "application/json")
        .body(serde_json::to_string_pretty(&request).unwrap())
        .send()
        .await
        .unwrap();
    let (status, _, body) = json(resp).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"checkout_url": "https://test.checkout.dodopayments.com/session/cks_1", "session_id": "cks_1"})
    );
    let writes = fake.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path, "/checkouts");
    let sent = &writes[0].body;
    assert_eq!(sent["product_cart"][0]["product_id"], "pdt_once");
    assert_eq!(sent["product_cart"][0]["quantity"], 2);
    assert_eq!(
        sent["customer"],
        json!({"email": "jane@example.com", "name": "Jane"})
    );
    assert_eq!(sent["billing_address"]["country"], "DE");
    assert_eq!(sent["billing_currency"], "EUR");
    assert_eq!(sent["cancel_url"], "https://shop.example/cancel");
    assert_eq!(sent["discount_codes"], json!(["SAVE10"]));
    assert_eq!(sent["metadata"], json!({"order": "42"}));
    assert_eq!(sent["return_url"], "https://shop.example/done");
    // No product lookup: the session endpoint validates products itself.
    assert_eq!(fake.all().len(), 1);
}

#[tokio::test]
async fn session_hook_may_confirm_a_saved_card_and_paid_sessions_are_reported() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| {
        c.return_url("https://shop.example/done")
            .unwrap()
            .before_create(|_parts, mut draft| async move {
                // The server, not the browser, decides to charge the saved card.
                if let CheckoutDraft::Session(request) = &mut draft {
                    request.payment_method_id = Some("pm_1".into());
                    request.confirm = Some(true);
                }
                Ok::<_, axum::http::StatusCode>(draft)
            })
    })
    .await;
    let (status, _, body) = post_json(
        &format!("{base}/api/checkout/session"),
        &json!({
            "product_cart": [{"product_id": "pdt_once", "quantity": 1}],
            "return_url": "https://shop.example/mine",
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"checkout_url": null, "session_id": "cks_2", "payment_id": "pay_9"})
    );
    let sent = &fake.writes()[0].body;
    assert_eq!(sent["return_url"], "https://shop.example/mine");
    assert_eq!(sent["payment_method_id"], "pm_1");
    assert_eq!(sent["confirm"], true);
}

#[tokio::test]
async fn session_errors() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| c.body_limit(2048)).await;
    let cart = |item: Value| json!({"product_cart": [item]});
    let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
        (json!({}), 400, "invalid_body", Some("product_cart")),
        (
            json!({"product_cart": []}),
            400,
            "invalid_parameter",
            Some("product_cart"),
        ),
        (
            json!({"product_cart": "x"}),
            400,
            "invalid_body",
            Some("product_cart"),
        ),
        (
            cart(json!({"product_id": "", "quantity": 1})),
            400,
            "invalid_parameter",
            Some("product_cart[0].product_id"),
        ),
        (
            cart(json!({"product_id": "p", "quantity": 0})),
            400,
            "invalid_parameter",
            Some("product_cart[0].quantity"),
        ),
        (
            cart(json!({"product_id": "p", "quantity": 1.5})),
            400,
            "invalid_body",
            Some("product_cart[0].quantity"),
        ),
        (
            json!({"product_cart": [{"product_id": "p", "quantity": 1}], "confirm": "yes"}),
            400,
            "field_not_allowed",
            Some("confirm"),
        ),
        (
            json!({"product_cart": [{"product_id": "p", "quantity": 1}], "return_url": 5}),
            400,
            "invalid_body",
            Some("return_url"),
        ),
        (json!([1, 2]), 400, "invalid_body", None),
        (
            cart(json!({"product_id": "pdt_boom", "quantity": 1})),
            502,
            "upstream_unavailable",
            None,
        ),
        (
            json!({"product_cart": [{"product_id": "p", "quantity": 1}], "pad": "x".repeat(3000)}),
            413,
            "payload_too_large",
            None,
        ),
    ];
    for (body, status, code, field) in cases {
        let (got, _, answer) = post_json(&format!("{base}/api/checkout"), &body).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(error_code(&answer), code, "{body}");
        assert_eq!(answer["error"]["field"].as_str(), field, "{body}");
    }
    let (_, _, answer) = post_json(
        &format!("{base}/api/checkout"),
        &cart(json!({"product_id": "pdt_boom", "quantity": 1})),
    )
    .await;
    assert!(answer["error"].get("upstream").is_none(), "{answer}");
    assert!(!answer.to_string().contains("try later"));
}

#[tokio::test]
async fn unreachable_api_is_a_502() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let checkout = Checkout::new(
        dodo_client::Client::builder()
            .api_key("sk_test_fake")
            .base_url(&dead)
            .max_retries(0)
            .build()
            .unwrap(),
    );
    let base = serve(Router::new().route("/c", checkout.static_route())).await;
    let (status, _, body) = get_json(&format!("{base}/c?productId=pdt_once")).await;
    assert_eq!(status, 502);
    assert_eq!(error_code(&body), "upstream_unavailable");
}
