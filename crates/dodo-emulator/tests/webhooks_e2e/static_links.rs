//! Static payment links (`/buy/{product_id}?...`): every documented query parameter, over
//! real HTTP, read back through the API.

use std::collections::BTreeMap;

use reqwest::header::COOKIE;
use serde_json::{Value, json};

use crate::form::{open, submit};
use crate::support::{Api, s};

async fn pwyw_product(api: &Api, minimum: i64, suggested: Option<i64>) -> Value {
    api.post(
        "/products",
        json!({
            "name": "Tip jar",
            "tax_category": "digital_products",
            "price": {"type": "one_time_price", "price": minimum, "currency": "USD",
                      "discount": 0, "purchasing_power_parity": false,
                      "pay_what_you_want": true, "suggested_price": suggested},
        }),
    )
    .await
    .expect(200)
    .body
}

/// The `value` of input `id` on a page, and whether it is read-only.
fn input(html: &str, id: &str) -> (String, bool) {
    let tag = html
        .split_once(&format!("<input id=\"{id}\""))
        .map(|(_, rest)| rest.split('>').next().unwrap_or(""))
        .unwrap_or_else(|| panic!("no input {id} in {html}"));
    let value = tag
        .split_once("value=\"")
        .and_then(|(_, v)| v.split('"').next())
        .unwrap_or("")
        .to_string();
    (value, tag.contains(" readonly"))
}

/// A local "shop" the buyer is redirected to: answers the query it was opened with.
async fn shop() -> String {
    async fn done(
        axum::extract::Query(q): axum::extract::Query<BTreeMap<String, String>>,
    ) -> String {
        serde_urlencoded::to_string(&q).unwrap()
    }
    let app = axum::Router::new().route("/done", axum::routing::get(done));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/done")
}

#[tokio::test]
async fn prefills_and_locks_every_documented_field() {
    let api = Api::start().await;
    let product = api.one_time_product(1000).await;
    let pid = s(&product["product_id"]);
    let q = serde_urlencoded::to_string([
        ("email", "ada@example.com"),
        ("firstName", "Ada"),
        ("lastName", "Lovelace"),
        ("country", "GB"),
        ("addressLine", "12 St James's Square"),
        ("city", "London"),
        ("state", "Greater London"),
        ("zipCode", "SW1Y 4JH"),
        ("disableEmail", "true"),
        ("disableFirstName", "true"),
        ("disableCountry", "true"),
        ("disableAddressLine", "true"),
        ("disableCity", "true"),
        ("disableState", "true"),
        ("disableZipCode", "true"),
        ("showDiscounts", "false"),
    ])
    .unwrap();
    let link = api.url(&format!("/buy/{pid}?{q}"));
    let page = open(&link).await;
    assert_eq!(page.status, 200, "{}", page.html);
    for (id, want) in [
        ("email", "ada@example.com"),
        ("full_name", "Ada Lovelace"),
        ("country", "GB"),
        ("address_line", "12 St James&#x27;s Square"),
        ("city", "London"),
        ("state", "Greater London"),
        ("zip_code", "SW1Y 4JH"),
    ] {
        assert_eq!(input(&page.html, id), (want.to_string(), true), "{id}");
    }
    assert!(
        !page.html.contains("id=\"discount_code\""),
        "showDiscounts=false"
    );
    assert!(
        !page.html.contains("id=\"amount\""),
        "a fixed price has no amount field"
    );

    // Without the flags the same fields are prefilled but editable, and discounts show.
    let open_link = api.url(&format!("/buy/{pid}?email=ada%40example.com&fullName=Ada"));
    let editable = open(&open_link).await;
    assert_eq!(
        input(&editable.html, "email"),
        ("ada@example.com".into(), false)
    );
    assert_eq!(input(&editable.html, "full_name"), ("Ada".into(), false));
    assert!(editable.html.contains("id=\"discount_code\""));

    // A buyer who edits locked fields anyway pays with the link's values.
    let paid = submit(
        &link,
        &page,
        &[
            ("email", "mallory@example.com"),
            ("full_name", "Mallory"),
            ("country", "US"),
            ("address_line", "1 Evil Way"),
            ("city", "Nowhere"),
            ("state", "NV"),
            ("zip_code", "00000"),
            ("card_number", "4242 4242 4242 4242"),
        ],
    )
    .await;
    assert_eq!(paid.status(), 200);
    let html = paid.text().await.unwrap();
    let payment_id = html
        .split_once("payment_id: <code>")
        .and_then(|(_, r)| r.split('<').next())
        .unwrap_or_else(|| panic!("{html}"));
    let payment = api
        .get(&format!("/payments/{payment_id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(payment["customer"]["email"], "ada@example.com");
    assert_eq!(payment["customer"]["name"], "Ada Lovelace");
    assert_eq!(
        payment["billing"],
        json!({"country": "GB", "street": "12 St James's Square", "city": "London",
               "state": "Greater London", "zipcode": "SW1Y 4JH"})
    );
}

#[tokio::test]
async fn pay_what_you_want_amount_is_charged_with_metadata_and_redirect() {
    let api = Api::start().await;
    let product = pwyw_product(&api, 500, Some(1500)).await;
    let pid = s(&product["product_id"]);

    // Without paymentAmount the field starts at the suggested price.
    let plain = open(&api.url(&format!("/buy/{pid}"))).await;
    assert_eq!(input(&plain.html, "amount"), ("15.00".into(), false));
    assert!(plain.html.contains("at least $5.00"), "{}", plain.html);

    let shop = shop().await;
    let q = serde_urlencoded::to_string([
        ("paymentAmount", "2500"),
        ("metadata_campaign", "spring"),
        ("metadata_ref", "a&b=c"),
        ("redirect_url", shop.as_str()),
        ("email", "tipper@example.com"),
    ])
    .unwrap();
    let link = api.url(&format!("/buy/{pid}?{q}"));
    let page = open(&link).await;
    assert_eq!(page.status, 200);
    assert_eq!(input(&page.html, "amount"), ("25.00".into(), false));
    assert!(
        page.html
            .contains(r#"<td class="num" id="total">$25.00</td>"#),
        "{}",
        page.html
    );
    assert!(page.html.contains(">Pay the amount above</button>"));

    let fields = |amount: &'static str| {
        vec![
            ("amount", amount),
            ("full_name", "Tipper"),
            ("email", "tipper@example.com"),
            ("country", "US"),
            ("card_number", "4242 4242 4242 4242"),
        ]
    };
    // Below the minimum (or not an amount) re-renders the form with the reason.
    for bad in ["4.99", "ten", "-30", "25.001"] {
        let r = submit(&link, &page, &fields(bad)).await;
        assert_eq!(r.status(), 422, "{bad}");
        let html = r.text().await.unwrap();
        assert!(html.contains("The amount you pay"), "{bad}: {html}");
    }

    // The buyer raises the amount; the browser follows the redirect to the shop.
    let mut form = fields("30.50");
    form.push(("csrf_token", page.token.as_deref().unwrap()));
    let landed = reqwest::Client::new()
        .post(&link)
        .header(COOKIE, page.cookie.as_deref().unwrap())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(landed.status(), 200);
    assert!(landed.url().as_str().starts_with(&shop), "{}", landed.url());
    let back: BTreeMap<String, String> =
        serde_urlencoded::from_str(&landed.text().await.unwrap()).unwrap();
    assert_eq!(back["status"], "succeeded");

    let payment = api
        .get(&format!("/payments/{}", back["payment_id"]))
        .await
        .expect(200)
        .body;
    assert_eq!(payment["status"], "succeeded");
    assert_eq!(payment["total_amount"], 3050);
    assert_eq!(payment["currency"], "USD");
    assert_eq!(
        payment["metadata"],
        json!({"campaign": "spring", "ref": "a&b=c"})
    );
    assert_eq!(payment["customer"]["email"], "tipper@example.com");
}

#[tokio::test]
async fn bad_parameters_answer_a_clear_error_page() {
    let api = Api::start().await;
    let tip = pwyw_product(&api, 500, None).await;
    let tip = s(&tip["product_id"]).to_string();
    let fixed = api.one_time_product(1000).await;
    let fixed = s(&fixed["product_id"]).to_string();
    let cases: [(&str, String, &str); 9] = [
        (
            "below minimum",
            format!("/buy/{tip}?paymentAmount=499"),
            "minimum price of $5.00",
        ),
        (
            "not a number",
            format!("/buy/{tip}?paymentAmount=12.50"),
            "whole number of minor units",
        ),
        (
            "negative",
            format!("/buy/{tip}?paymentAmount=-600"),
            "whole number of minor units",
        ),
        (
            "overflow",
            format!("/buy/{tip}?paymentAmount=99999999999999999999"),
            "whole number of minor units",
        ),
        (
            "too large",
            format!("/buy/{tip}?paymentAmount=9000000000000000000"),
            "larger than any payment",
        ),
        (
            "fixed price",
            format!("/buy/{fixed}?paymentAmount=2000"),
            "only to pay-what-you-want",
        ),
        (
            "currency",
            format!("/buy/{fixed}?paymentCurrency=XYZ"),
            "ISO 4217",
        ),
        (
            "javascript",
            format!("/buy/{fixed}?redirect_url=javascript%3Aalert(1)"),
            "http:&#x2f;&#x2f; or https:&#x2f;&#x2f;",
        ),
        (
            "no host",
            format!("/buy/{fixed}?redirect_url=https%3A%2F%2F%2Fpath"),
            "redirect_url",
        ),
    ];
    for (what, path, says) in cases {
        let page = open(&api.url(&path)).await;
        assert_eq!(page.status, 400, "{what}: {}", page.html);
        assert!(page.html.contains(says), "{what}: {}", page.html);
        assert!(
            !page.html.contains("<form"),
            "{what}: no form on an error page"
        );
    }
    // A payment link's redirect_url is checked the same way.
    let created = api
        .post(
            "/payments",
            json!({"product_cart": [{"product_id": fixed, "quantity": 1}],
                   "customer": {"email": "p@example.com", "name": "P"},
                   "billing": {"country": "US"}, "payment_link": true}),
        )
        .await
        .expect(200)
        .body;
    let pay = open(&api.url(&format!(
        "/pay/{}?redirect_url=ftp%3A%2F%2Fexample.com",
        s(&created["payment_id"])
    )))
    .await;
    assert_eq!(pay.status, 400, "{}", pay.html);
}

#[tokio::test]
async fn payment_currency_and_the_currency_selector() {
    let api = Api::start().await;
    let product = api.one_time_product(1000).await;
    let pid = s(&product["product_id"]);
    let page = open(&api.url(&format!("/buy/{pid}?paymentCurrency=eur"))).await;
    assert_eq!(page.status, 200);
    assert!(
        page.html
            .contains("<select id=\"currency\" name=\"currency\">"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("<option value=\"USD\">USD</option>"),
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains("<option value=\"EUR\" selected>EUR</option>"),
        "{}",
        page.html
    );
    assert!(page.html.contains("no exchange rates"), "{}", page.html);

    let hidden = open(&api.url(&format!(
        "/buy/{pid}?paymentCurrency=USD&showCurrencySelector=false"
    )))
    .await;
    assert!(!hidden.html.contains("<select"), "{}", hidden.html);
    assert!(!hidden.html.contains("no exchange rates"));
    let default = open(&api.url(&format!("/buy/{pid}"))).await;
    assert!(
        default
            .html
            .contains("<option value=\"USD\" selected>USD</option>")
    );

    // A currency the link did not offer is refused; an offered one pays.
    let link = api.url(&format!("/buy/{pid}?paymentCurrency=EUR"));
    let base = [
        ("full_name", "Eu Buyer"),
        ("email", "eu@example.com"),
        ("country", "DE"),
        ("card_number", "4242 4242 4242 4242"),
    ];
    let mut wrong = base.to_vec();
    wrong.push(("currency", "GBP"));
    let r = submit(&link, &page, &wrong).await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Choose one of the offered currencies")
    );
    let mut right = base.to_vec();
    right.push(("currency", "EUR"));
    let r = submit(&link, &page, &right).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("succeeded"), "{html}");
}
