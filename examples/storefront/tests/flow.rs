//! The whole storefront journey over real HTTP: the shop sends the buyer to the emulator's
//! hosted checkout, the buyer pays with a test card, the checkout returns to the shop, and
//! the emulator's signed webhook is stored by the inbox, processed, and mirrored.

use std::time::Duration;

use reqwest::redirect::Policy;
use storefront::{Config, Storefront};

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a redirect")
        .to_owned()
}

/// Buys the first one-time product with `card`; returns the query of the return URL.
async fn buy(shop: &Storefront, card: &str) -> String {
    let http = browser();
    let product = shop
        .shop
        .products()
        .iter()
        .find(|p| !p.recurring)
        .expect("a one-time product")
        .clone();
    let home = http
        .get(&shop.url)
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("html");
    assert!(
        home.contains(&product.name),
        "the shop lists {}",
        product.name
    );

    let to_checkout = http
        .get(format!("{}/buy/{}", shop.url, product.id))
        .send()
        .await
        .expect("buy");
    assert_eq!(to_checkout.status(), 303);
    let checkout_url = location(&to_checkout);
    assert!(
        checkout_url.starts_with(shop.emulator_url()),
        "{checkout_url}"
    );

    let page = http.get(&checkout_url).send().await.expect("checkout page");
    assert_eq!(page.status(), 200);
    // As a browser does: keep the page's CSRF cookie and send back the form's token.
    let cookie = page
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_owned();
    let html = page.text().await.expect("html");
    assert!(html.contains(&product.name));
    let token = html
        .split_once(r#"name="csrf_token" value=""#)
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();

    let paid = http
        .post(&checkout_url)
        .header("cookie", cookie)
        .form(&[
            ("full_name", "Ada Lovelace"),
            ("email", "ada@example.com"),
            ("country", "US"),
            ("card_number", card),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("pay");
    assert_eq!(paid.status(), 303, "the checkout redirects back");
    let back = location(&paid);
    let thanks_prefix = format!("{}/thanks?", shop.url);
    assert!(back.starts_with(&thanks_prefix), "{back}");
    let thanks = http.get(&back).send().await.expect("thanks");
    assert_eq!(thanks.status(), 200);
    back[thanks_prefix.len()..].to_owned()
}

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

/// Waits until the inbox has processed a delivery of `event_type`.
async fn processed(shop: &Storefront, event_type: &str) -> bool {
    for _ in 0..100 {
        let rows = shop
            .shop
            .inbox()
            .store()
            .list(&dodo_inbox::ListFilter::default())
            .await
            .expect("list deliveries");
        if rows.iter().any(|r| {
            r.event_type == event_type && r.status == dodo_inbox::DeliveryStatus::Processed
        }) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_reaches_the_inbox_and_the_mirror() {
    let shop = Storefront::start(Config::default()).await.expect("start");
    let query = buy(&shop, "4242 4242 4242 4242").await;
    assert_eq!(param(&query, "status"), Some("succeeded"), "{query}");
    let payment_id = param(&query, "payment_id").expect("payment id").to_owned();

    assert!(
        processed(&shop, "payment.succeeded").await,
        "payment.succeeded processed"
    );
    let mirrored = shop
        .shop
        .inbox()
        .mirror()
        .payment(&payment_id)
        .await
        .expect("mirror")
        .expect("payment mirrored");
    assert_eq!(mirrored.payment_id, payment_id);
    assert_eq!(mirrored.total_amount, 1900);

    let orders = browser()
        .get(format!("{}/orders", shop.url))
        .send()
        .await
        .expect("orders")
        .text()
        .await
        .expect("html");
    assert!(orders.contains("payment.succeeded"));
    shop.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_fails_the_payment_and_the_shop_hears_of_it() {
    let shop = Storefront::start(Config::default()).await.expect("start");
    let query = buy(&shop, "4000 0000 0000 0002").await;
    assert_eq!(param(&query, "status"), Some("failed"), "{query}");
    assert!(
        processed(&shop, "payment.failed").await,
        "payment.failed processed"
    );
    shop.stop().await;
}
