//! What an anonymous, hostile browser can do to the checkout and portal routes: nothing the
//! merchant's server did not decide. Each refused request must also leave the (fake) API
//! untouched: nothing created, no lookup spent.

mod support;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use dodo_axum::{BrowserPolicy, Checkout, CheckoutDraft, CheckoutFlow, CustomerPortal};
use serde_json::{Value, json};
use support::{FakeDodo, billing, fake_dodo, get_json, http, json, post_json, serve};

const RETURN: &str = "https://shop.example/thanks";

async fn app(fake: &FakeDodo, configure: impl FnOnce(Checkout) -> Checkout) -> String {
    let checkout = configure(Checkout::new(fake.client()));
    serve(
        Router::new()
            .route(
                "/api/checkout",
                get(checkout.handler(CheckoutFlow::Static))
                    .post(checkout.handler(CheckoutFlow::Session)),
            )
            .route("/api/checkout/dynamic", checkout.dynamic_route()),
    )
    .await
}

async fn shop(fake: &FakeDodo) -> String {
    app(fake, |c| c.return_url(RETURN).unwrap()).await
}

fn session_body() -> Value {
    json!({"product_cart": [{"product_id": "pdt_once", "quantity": 1}], "customer": {"email": "a@b.co"}})
}

fn dynamic_body(product: &str) -> Value {
    json!({"product_id": product, "billing": billing(), "customer": {"email": "a@b.co"}})
}

/// Sets `path` (dotted, `[0]` for the first cart line) in a JSON object.
fn set(mut body: Value, path: &str, value: Value) -> Value {
    let mut target = &mut body;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let (key, index) = match part.strip_suffix("[0]") {
            Some(key) => (key, Some(0)),
            None => (*part, None),
        };
        if i + 1 == parts.len() && index.is_none() {
            target[key] = value;
            return body;
        }
        target = &mut target[key];
        if let Some(index) = index {
            target = &mut target[index];
        }
    }
    body
}

async fn assert_refused(base: &str, route: &str, body: &Value, code: &str, field: &str) {
    let (status, _, answer) = post_json(&format!("{base}{route}"), body).await;
    assert_eq!(status, 400, "{field}: {answer}");
    assert_eq!(answer["error"]["code"], code, "{field}: {answer}");
    assert_eq!(answer["error"]["field"], field, "{answer}");
}

#[tokio::test]
async fn session_refuses_every_server_only_field_and_creates_nothing() {
    let fake = fake_dodo().await;
    let base = shop(&fake).await;
    let cases: &[(&str, Value, &str)] = &[
        (
            "customer",
            json!({"customer_id": "cus_victim"}),
            "customer.customer_id",
        ),
        ("payment_method_id", json!("pm_victim"), "payment_method_id"),
        ("confirm", json!(true), "confirm"),
        ("product_cart[0].amount", json!(1), "product_cart[0].amount"),
        (
            "subscription_data",
            json!({"trial_period_days": 3650}),
            "subscription_data",
        ),
        (
            "allowed_payment_method_types",
            json!(["credit"]),
            "allowed_payment_method_types",
        ),
        (
            "show_saved_payment_methods",
            json!(true),
            "show_saved_payment_methods",
        ),
        (
            "product_cart[0].addons",
            json!([]),
            "product_cart[0].addons",
        ),
        ("feature_flags", json!({}), "feature_flags"),
        ("a_field_nobody_knows", json!(1), "a_field_nobody_knows"),
    ];
    for (path, value, field) in cases {
        let body = set(session_body(), path, value.clone());
        assert_refused(&base, "/api/checkout", &body, "field_not_allowed", field).await;
    }
    assert!(fake.all().is_empty(), "nothing reached the API");
}

#[tokio::test]
async fn dynamic_refuses_every_server_only_field_and_creates_nothing() {
    let fake = fake_dodo().await;
    let base = shop(&fake).await;
    let cases: &[(&str, Value, &str)] = &[
        (
            "customer",
            json!({"customer_id": "cus_victim"}),
            "customer.customer_id",
        ),
        ("on_demand", json!({"mandate_only": true}), "on_demand"),
        ("trial_period_days", json!(3650), "trial_period_days"),
        (
            "allowed_payment_method_types",
            json!(["credit"]),
            "allowed_payment_method_types",
        ),
        (
            "show_saved_payment_methods",
            json!(true),
            "show_saved_payment_methods",
        ),
        (
            "addons",
            json!([{"addon_id": "adn_1", "quantity": 1}]),
            "addons",
        ),
        ("force_3ds", json!(false), "force_3ds"),
        ("unknown_extra", json!(1), "unknown_extra"),
    ];
    for (path, value, field) in cases {
        let body = set(dynamic_body("pdt_once"), path, value.clone());
        assert_refused(
            &base,
            "/api/checkout/dynamic",
            &body,
            "field_not_allowed",
            field,
        )
        .await;
    }
    let amount = json!({
        "product_cart": [{"product_id": "pdt_once", "quantity": 1, "amount": 1}],
        "billing": billing(), "customer": {"email": "a@b.co"},
    });
    assert_refused(
        &base,
        "/api/checkout/dynamic",
        &amount,
        "field_not_allowed",
        "product_cart[0].amount",
    )
    .await;
    assert!(fake.all().is_empty(), "nothing reached the API");
}

#[tokio::test]
async fn bounds_on_quantity_lines_metadata_body_and_products() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| {
        c.return_url(RETURN)
            .unwrap()
            .body_limit(8 * 1024)
            .policy(BrowserPolicy::default().allowed_products(["pdt_once", "pdt_sub"]))
    })
    .await;
    let dynamic = "/api/checkout/dynamic";
    let invalid = "invalid_parameter";
    let body = set(dynamic_body("pdt_once"), "quantity", json!(101));
    assert_refused(&base, dynamic, &body, invalid, "quantity").await;
    let body = set(session_body(), "product_cart[0].quantity", json!(101));
    assert_refused(
        &base,
        "/api/checkout",
        &body,
        invalid,
        "product_cart[0].quantity",
    )
    .await;
    let lines: Vec<Value> = (0..21)
        .map(|_| json!({"product_id": "pdt_once", "quantity": 1}))
        .collect();
    let body = set(session_body(), "product_cart", json!(lines));
    assert_refused(&base, "/api/checkout", &body, invalid, "product_cart").await;
    let keys: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let body = set(dynamic_body("pdt_once"), "metadata", json!(keys));
    assert_refused(&base, dynamic, &body, invalid, "metadata").await;
    let body = set(
        dynamic_body("pdt_once"),
        "metadata",
        json!({"note": "x".repeat(501)}),
    );
    assert_refused(&base, dynamic, &body, invalid, "metadata.note").await;
    let body = set(dynamic_body("pdt_elsewhere"), "quantity", json!(1));
    assert_refused(&base, dynamic, &body, "product_not_allowed", "product_id").await;

    let (status, _, answer) = post_json(
        &format!("{base}{dynamic}"),
        &set(
            dynamic_body("pdt_once"),
            "metadata",
            json!({"pad": "x".repeat(9000)}),
        ),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    let static_cases = vec![
        ("productId=pdt_once&quantity=101".to_owned(), "quantity"),
        ("productId=pdt_elsewhere".to_owned(), "productId"),
        (
            format!("productId=pdt_once&metadata_note={}", "x".repeat(501)),
            "metadata.note",
        ),
    ];
    for (query, field) in static_cases {
        let (status, _, answer) = get_json(&format!("{base}/api/checkout?{query}")).await;
        assert_eq!(status, 400, "{query}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    assert!(fake.all().is_empty(), "nothing reached the API");
}

#[tokio::test]
async fn return_and_cancel_urls_stay_on_the_shop() {
    let fake = fake_dodo().await;
    let base = shop(&fake).await;
    let evil = "https://evil.example/phish";
    let invalid = "invalid_parameter";
    let body = set(session_body(), "cancel_url", json!(evil));
    assert_refused(&base, "/api/checkout", &body, invalid, "cancel_url").await;
    let body = set(session_body(), "return_url", json!(evil));
    assert_refused(&base, "/api/checkout", &body, invalid, "return_url").await;
    let body = set(dynamic_body("pdt_once"), "return_url", json!(evil));
    assert_refused(&base, "/api/checkout/dynamic", &body, invalid, "return_url").await;
    let (status, _, answer) = get_json(&format!(
        "{base}/api/checkout?productId=pdt_once&returnUrl=https%3A%2F%2Fevil.example%2F"
    ))
    .await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["field"], "returnUrl");
    // Look-alikes of the shop's origin are other origins.
    for url in [
        "https://shop.example.evil.example/",
        "https://shop.example@evil.example/",
        "http://shop.example/thanks",
        "https://shop.example:8443/",
    ] {
        let body = set(session_body(), "return_url", json!(url));
        assert_refused(&base, "/api/checkout", &body, invalid, "return_url").await;
    }
    assert!(fake.all().is_empty());

    // The shop's own origin is fine.
    let body = set(
        session_body(),
        "cancel_url",
        json!("https://shop.example/cart"),
    );
    let (status, _, answer) = post_json(&format!("{base}/api/checkout"), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        fake.writes()[0].body["cancel_url"],
        "https://shop.example/cart"
    );

    // Without a configured return URL, a request cannot name one at all.
    let fake = fake_dodo().await;
    let base = app(&fake, |c| c).await;
    let body = set(
        session_body(),
        "return_url",
        json!("https://shop.example/x"),
    );
    assert_refused(&base, "/api/checkout", &body, invalid, "return_url").await;
}

#[tokio::test]
async fn the_hook_binds_the_signed_in_customer_and_a_server_trial() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| {
        c.return_url(RETURN)
            .unwrap()
            .before_create(|parts, mut draft| async move {
                let user = parts
                    .headers
                    .get("x-signed-in-customer")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or((StatusCode::UNAUTHORIZED, "sign in first"))?;
                draft.set_customer_id(user);
                draft.set_trial_period_days(14);
                draft.metadata_mut().insert(
                    "source".into(),
                    dodo_types::MetadataValue::String("web".into()),
                );
                Ok::<_, (StatusCode, &'static str)>(draft)
            })
    })
    .await;

    // Subscription product: customer and trial from the server.
    let resp = http()
        .post(format!("{base}/api/checkout/dynamic"))
        .header("x-signed-in-customer", "cus_jane")
        .json(&dynamic_body("pdt_sub"))
        .send()
        .await
        .unwrap();
    let (status, _, body) = json(resp).await;
    assert_eq!(status, 200, "{body}");
    let sent = &fake.writes()[0].body;
    assert_eq!(sent["customer"], json!({"customer_id": "cus_jane"}));
    assert_eq!(sent["trial_period_days"], 14);
    assert_eq!(sent["metadata"]["source"], "web");

    // Session flow: the trial lands in subscription_data.
    let resp = http()
        .post(format!("{base}/api/checkout"))
        .header("x-signed-in-customer", "cus_jane")
        .json(&session_body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sent = &fake.writes()[1].body;
    assert_eq!(sent["customer"], json!({"customer_id": "cus_jane"}));
    assert_eq!(sent["subscription_data"]["trial_period_days"], 14);

    // Not signed in: the hook's own refusal, and nothing created.
    let resp = http()
        .post(format!("{base}/api/checkout"))
        .json(&session_body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.text().await.unwrap(), "sign in first");
    assert_eq!(fake.writes().len(), 2);
}

#[tokio::test]
async fn a_hook_that_changes_the_kind_of_request_is_a_500() {
    let fake = fake_dodo().await;
    let base = app(&fake, |c| {
        c.before_create(|_, draft| async move {
            match draft {
                CheckoutDraft::Payment(p) => {
                    let _ = p;
                    let session = dodo_types::CreateCheckoutSessionRequest::new(vec![]);
                    Ok::<_, StatusCode>(CheckoutDraft::Session(Box::new(session)))
                }
                other => Ok(other),
            }
        })
    })
    .await;
    let (status, _, body) = post_json(
        &format!("{base}/api/checkout/dynamic"),
        &dynamic_body("pdt_once"),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(body["error"]["code"], "hook_changed_flow");
    assert!(fake.writes().is_empty());
}

#[tokio::test]
async fn api_failures_reach_the_browser_without_the_apis_words() {
    let fake = fake_dodo().await;
    let base = shop(&fake).await;
    for (query, status, code) in [
        ("productId=pdt_locked", 502, "upstream_rejected"),
        ("productId=pdt_boom", 502, "upstream_unavailable"),
    ] {
        let (got, _, body) = get_json(&format!("{base}/api/checkout?{query}")).await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)));
        assert!(body["error"].get("upstream").is_none(), "{body}");
        let text = body.to_string();
        assert!(
            !text.contains("bad key") && !text.contains("boom"),
            "{text}"
        );
    }

    // The debug option shows the upstream status and code, never the message.
    let fake = fake_dodo().await;
    let base = app(&fake, |c| c.expose_upstream_errors(true)).await;
    let (_, _, body) = get_json(&format!("{base}/api/checkout?productId=pdt_locked")).await;
    assert_eq!(
        body["error"]["upstream"],
        json!({"status": 401, "code": "UNAUTHORIZED"})
    );
    assert!(!body.to_string().contains("bad key"));
}

#[tokio::test]
async fn product_lookups_are_cached_for_anonymous_traffic() {
    let fake = fake_dodo().await;
    let base = shop(&fake).await;
    for _ in 0..5 {
        let (status, _, _) = get_json(&format!("{base}/api/checkout?productId=pdt_once")).await;
        assert_eq!(status, 200);
        let (status, _, _) = get_json(&format!("{base}/api/checkout?productId=pdt_nope")).await;
        assert_eq!(status, 404);
    }
    let lookups: Vec<String> = fake.all().into_iter().map(|r| r.path).collect();
    assert_eq!(lookups, vec!["/products/pdt_once", "/products/pdt_nope"]);

    // With the cache off, every request looks the product up again.
    let fake = fake_dodo().await;
    let base = app(&fake, |c| c.product_cache(std::time::Duration::ZERO, 0)).await;
    for _ in 0..3 {
        get_json(&format!("{base}/api/checkout?productId=pdt_once")).await;
    }
    assert_eq!(fake.all().len(), 3);
}

#[tokio::test]
async fn portal_head_creates_no_session_and_request_return_urls_need_a_configured_origin() {
    let fake = fake_dodo().await;
    let portal = CustomerPortal::<()>::new(fake.client(), |_parts, _: ()| async {
        Ok::<_, StatusCode>("cus_1".to_owned())
    });
    let base = serve(Router::new().route("/p", portal.route())).await;
    let resp = http()
        .head(format!("{base}/p?send_email=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        fake.all().is_empty(),
        "HEAD created no session and sent no email"
    );

    let (status, _, body) = get_json(&format!(
        "{base}/p?return_url=https%3A%2F%2Fevil.example%2F"
    ))
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "return_url");
    assert!(fake.all().is_empty());

    // The query's customer_id is ignored: the resolver decides.
    let resp = http()
        .get(format!("{base}/p?customer_id=cus_victim"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(
        fake.writes()[0].path,
        "/customers/cus_1/customer-portal/session"
    );
}
