//! The hosted pages show and charge localized prices: static links (`paymentCurrency`,
//! the billing country) and checkout sessions (`billing_currency`), over real HTTP.

use serde_json::{Value, json};

use crate::form::{Page, open, submit};
use crate::support::{Api, s};

/// A $20 one-time product with one localized rule under `mode`.
async fn localized_product(api: &Api, mode: &str, rule: Value) -> String {
    let product = api.one_time_product(2000).await;
    let pid = s(&product["product_id"]).to_string();
    api.patch(&format!("/products/{pid}"), json!({"pricing_mode": mode}))
        .await
        .expect(200);
    api.post(&format!("/products/{pid}/localized-prices"), rule)
        .await
        .expect(200);
    pid
}

/// The hidden `quote` the form carries (the prices it showed).
fn quote(html: &str) -> String {
    html.split_once(r#"name="quote" value=""#)
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or_else(|| panic!("no quote in {html}"))
        .to_string()
}

fn total(html: &str) -> &str {
    html.split_once(r#"id="total">"#)
        .and_then(|(_, rest)| rest.split('<').next())
        .unwrap_or_else(|| panic!("no total in {html}"))
}

/// The payment a result page names.
async fn paid_payment(api: &Api, html: &str) -> Value {
    let id = html
        .split_once("payment_id: <code>")
        .and_then(|(_, r)| r.split('<').next())
        .unwrap_or_else(|| panic!("{html}"));
    api.get(&format!("/payments/{id}")).await.expect(200).body
}

/// The same form, re-rendered in answer to a submission.
fn again(page: &Page, html: String) -> Page {
    Page {
        status: 422,
        html,
        cookie: page.cookie.clone(),
        token: page.token.clone(),
    }
}

#[tokio::test]
async fn a_static_link_in_the_rules_currency_shows_and_charges_it() {
    let api = Api::start().await;
    let pid = localized_product(
        &api,
        "by_currency",
        json!({"currency": "EUR", "amount": 999}),
    )
    .await;
    let link = api.url(&format!("/buy/{pid}?paymentCurrency=EUR&quantity=2"));
    let page = open(&link).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert_eq!(total(&page.html), "€19.98");
    assert!(page.html.contains("Pay €19.98"), "{}", page.html);

    let buyer = |currency: &'static str, quote: String| {
        vec![
            ("full_name", "Eu Buyer".to_string()),
            ("email", "eu@example.com".to_string()),
            ("country", "DE".to_string()),
            ("card_number", "4242 4242 4242 4242".to_string()),
            ("currency", currency.to_string()),
            ("quote", quote),
        ]
    };
    let fields = buyer("EUR", quote(&page.html));
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = submit(&link, &page, &form).await;
    assert_eq!(r.status(), 200);
    let payment = paid_payment(&api, &r.text().await.unwrap()).await;
    assert_eq!(payment["currency"], "EUR");
    assert_eq!(payment["total_amount"], 1998);
    assert_eq!(payment["status"], "succeeded");

    // Switching the selector to USD on the EUR page is shown the dollar price before paying.
    let fields = buyer("USD", quote(&page.html));
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = submit(&link, &page, &form).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("Prices changed"), "{html}");
    assert_eq!(total(&html), "$40.00");
    let shown = again(&page, html);
    let fields = buyer("USD", quote(&shown.html));
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = submit(&link, &shown, &form).await;
    assert_eq!(r.status(), 200);
    let payment = paid_payment(&api, &r.text().await.unwrap()).await;
    assert_eq!(
        (payment["total_amount"].clone(), payment["currency"].clone()),
        (json!(4000), json!("USD"))
    );
}

#[tokio::test]
async fn a_static_link_prices_by_the_billing_country_the_buyer_submits() {
    let api = Api::start().await;
    let pid = localized_product(
        &api,
        "by_country",
        json!({"currency": "INR", "amount": 99900, "country_code": "IN"}),
    )
    .await;
    // A link prefilled for India shows India's price.
    let link = api.url(&format!("/buy/{pid}?country=IN&paymentCurrency=INR"));
    let page = open(&link).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert_eq!(total(&page.html), "₹999.00");
    assert!(page.html.contains("shown for IN"), "{}", page.html);

    // A buyer billed in the US cannot take India's price with them: the form answers with
    // the US price first, and charges it once the buyer has seen it.
    let us = |quote: &str| {
        vec![
            ("full_name", "Mallory".to_string()),
            ("email", "m@example.com".to_string()),
            ("country", "US".to_string()),
            ("card_number", "4242 4242 4242 4242".to_string()),
            ("currency", "INR".to_string()),
            ("quote", quote.to_string()),
        ]
    };
    let fields = us(&quote(&page.html));
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = submit(&link, &page, &form).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert_eq!(total(&html), "$20.00");
    let shown = again(&page, html);
    let fields = us(&quote(&shown.html));
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = submit(&link, &shown, &form).await;
    assert_eq!(r.status(), 200);
    let payment = paid_payment(&api, &r.text().await.unwrap()).await;
    assert_eq!(
        (payment["total_amount"].clone(), payment["currency"].clone()),
        (json!(2000), json!("USD"))
    );
    // Even a form without the quote is charged the server's price, never the page's.
    let r = submit(
        &link,
        &page,
        &[
            ("full_name", "Mallory"),
            ("email", "m@example.com"),
            ("country", "US"),
            ("card_number", "4242 4242 4242 4242"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let payment = paid_payment(&api, &r.text().await.unwrap()).await;
    assert_eq!(payment["currency"], "USD");

    // An Indian buyer pays India's price.
    let fields = [
        ("full_name", "Asha"),
        ("email", "asha@example.com"),
        ("country", "IN"),
        ("card_number", "4242 4242 4242 4242"),
    ];
    let q = quote(&page.html);
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    form.push(("quote", &q));
    let r = submit(&link, &page, &form).await;
    assert_eq!(r.status(), 200);
    let payment = paid_payment(&api, &r.text().await.unwrap()).await;
    assert_eq!(
        (payment["total_amount"].clone(), payment["currency"].clone()),
        (json!(99900), json!("INR"))
    );
}

#[tokio::test]
async fn a_checkout_session_page_shows_and_charges_its_billing_currency_price() {
    let api = Api::start().await;
    let pid = localized_product(
        &api,
        "by_currency",
        json!({"currency": "EUR", "amount": 999}),
    )
    .await;
    let session = api
        .post(
            "/checkouts",
            json!({"product_cart": [{"product_id": pid, "quantity": 1}],
                   "billing_currency": "EUR",
                   "billing_address": {"country": "FR"},
                   "customer": {"email": "fr@example.com", "name": "FR"}}),
        )
        .await
        .expect(200)
        .body;
    let url = s(&session["checkout_url"]).to_string();
    let page = open(&url).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert_eq!(total(&page.html), "€9.99");
    let q = quote(&page.html);
    let r = submit(
        &url,
        &page,
        &[
            ("full_name", "FR"),
            ("email", "fr@example.com"),
            ("country", "FR"),
            ("card_number", "4242 4242 4242 4242"),
            ("quote", &q),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let payment = paid_payment(&api, &r.text().await.unwrap()).await;
    assert_eq!(
        (payment["total_amount"].clone(), payment["currency"].clone()),
        (json!(999), json!("EUR"))
    );
    assert_eq!(payment["checkout_session_id"], session["session_id"]);
}
