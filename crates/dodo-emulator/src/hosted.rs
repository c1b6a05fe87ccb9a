//! Hosted checkout pages: the URLs payment links, checkout sessions and static links point at.
//!
//! | page | what it sells |
//! |---|---|
//! | `GET`/`POST /checkout/{session_id}` | a checkout session's `product_cart` (prefilled from its `customer` and `billing_address`; returns to its `return_url`) |
//! | `GET`/`POST /pay/{payment_id}` | an existing payment (payment links of payments and subscriptions) |
//! | `GET`/`POST /buy/{product_id}?...` | a static link with the real checkout's query parameters: `quantity`, `redirect_url`, `email`, `fullName`, `firstName`, `lastName`, `country`, `addressLine`, `city`, `state`, `zipCode`, `disableFullName`, `disableFirstName`, `disableLastName`, `disableEmail`, `disableCountry`, `disableAddressLine`, `disableCity`, `disableState`, `disableZipCode`, `showDiscounts` (default true), `metadata_*` |
//!
//! Each page is a plain HTML form (labels on every field, no JavaScript) with the cart,
//! prices, discount, the customer and billing fields (prefilled; "disabled" fields are
//! read-only so they are still submitted), a discount code field, the card fields and the
//! table of test cards: `4242 4242 4242 4242` succeeds, `4000 0000 0000 0002` is declined,
//! `4000 0000 0000 3220` leaves the payment `processing` (it succeeds
//! [`crate::purchase::PROCESSING_DELAY`] later), `4000 0000 0000 0341` succeeds but makes later renewals of the
//! subscription fail. Submitting creates the payment or subscription through the API itself
//! (pricing, discount redemption, license keys, events) and settles it, then redirects (303)
//! to the return URL with `payment_id` and `status` (one-time) or `subscription_id` and
//! `status` (subscriptions), or shows a result page when there is no return URL. Invalid
//! input re-renders the form with an error summary (422).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};
use serde_json::{Map, Value, json};

use crate::dispatch::AppState;
use crate::error::ApiError;
use crate::purchase::{self, Buyer, Purchase, TEST_CARDS, TestCard};
use crate::resources::Ctx;
use crate::resources::common::kind;

/// Store kind of checkout session requests (id = session id), kept for the hosted page.
pub const SESSION_REQUEST: &str = kind::CHECKOUT_SESSION_REQUEST;

/// Routes of the hosted checkout pages.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        // An API path under the same prefix stays with the API.
        .route(
            "/checkout/supported_countries",
            axum::routing::any(crate::dispatch::api),
        )
        .route(
            "/checkout/{session_id}",
            get(show_session).post(pay_session),
        )
        .route("/pay/{payment_id}", get(show_payment).post(pay_payment))
        .route("/buy/{product_id}", get(show_static).post(pay_static))
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn money(amount: i64, currency: &str) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let a = amount.unsigned_abs();
    let body = format!("{}.{:02}", a / 100, a % 100);
    match currency {
        "USD" => format!("{sign}${body}"),
        "EUR" => format!("{sign}€{body}"),
        "GBP" => format!("{sign}£{body}"),
        "INR" => format!("{sign}₹{body}"),
        c => format!("{sign}{body} {c}"),
    }
}

/// One cart line as shown.
#[derive(Debug, Clone)]
struct ShownLine {
    name: String,
    quantity: i64,
    unit: i64,
    recurring: Option<String>,
}

/// Everything a checkout page shows.
#[derive(Debug, Clone, Default)]
struct Checkout {
    title: String,
    lines: Vec<ShownLine>,
    currency: String,
    discount: Option<(String, i64)>,
    total_override: Option<i64>,
    prefill: BTreeMap<&'static str, String>,
    readonly: Vec<&'static str>,
    show_discount_field: bool,
    action: String,
    errors: Vec<String>,
}

const FIELDS: [(&str, &str, &str, &str); 7] = [
    ("full_name", "Full name", "text", "name"),
    ("email", "Email", "email", "email"),
    ("country", "Country (ISO code)", "text", "country"),
    ("address_line", "Address", "text", "street-address"),
    ("city", "City", "text", "address-level2"),
    ("state", "State / region", "text", "address-level1"),
    ("zip_code", "ZIP / postal code", "text", "postal-code"),
];

fn page(title: &str, main: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Dodo Payments emulator</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; line-height: 1.5; }}
h1 {{ font-size: 1.5rem; }}
table {{ border-collapse: collapse; width: 100%; margin: 1rem 0; }}
th, td {{ text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #ddd; }}
td.num, th.num {{ text-align: right; }}
tfoot th, tfoot td {{ font-weight: bold; }}
fieldset {{ border: 1px solid #ccc; border-radius: .4rem; margin: 1rem 0; padding: .5rem 1rem 1rem; }}
label {{ display: block; margin-top: .6rem; font-weight: 600; }}
input {{ width: 100%; box-sizing: border-box; padding: .45rem; font-size: 1rem; border: 1px solid #888; border-radius: .3rem; }}
input[readonly] {{ background: #eee; }}
button {{ margin-top: 1rem; padding: .7rem 1.4rem; font-size: 1.05rem; background: #0b57d0; color: #fff; border: 0; border-radius: .4rem; cursor: pointer; }}
.errors {{ border: 2px solid #b3261e; padding: .5rem 1rem; border-radius: .4rem; color: #b3261e; }}
.note {{ color: #555; font-size: .9rem; }}
.badge {{ display: inline-block; background: #fdd835; color: #000; padding: 0 .4rem; border-radius: .3rem; font-size: .8rem; }}
</style>
</head>
<body>
<main>
<p><span class="badge">TEST MODE</span> Local Dodo Payments emulator: no real money moves.</p>
{main}
</main>
</body>
</html>
"#,
        title = esc(title)
    )
}

impl Checkout {
    fn subtotal(&self) -> i64 {
        self.lines.iter().map(|l| l.unit * l.quantity).sum()
    }

    fn total(&self) -> i64 {
        self.total_override
            .unwrap_or_else(|| self.subtotal() - self.discount.as_ref().map_or(0, |d| d.1))
    }

    fn render(&self) -> String {
        let mut m = String::new();
        let _ = write!(m, "<h1>{}</h1>", esc(&self.title));
        if !self.errors.is_empty() {
            m.push_str(r#"<div class="errors" role="alert" id="errors"><h2>Payment not completed</h2><ul>"#);
            for e in &self.errors {
                let _ = write!(m, "<li>{}</li>", esc(e));
            }
            m.push_str("</ul></div>");
        }
        m.push_str(r#"<table><caption>Order summary</caption><thead><tr><th scope="col">Item</th><th scope="col" class="num">Qty</th><th scope="col" class="num">Price</th><th scope="col" class="num">Amount</th></tr></thead><tbody>"#);
        for l in &self.lines {
            let rec = l
                .recurring
                .as_ref()
                .map(|r| format!(r#"<br><span class="note">{}</span>"#, esc(r)))
                .unwrap_or_default();
            let _ = write!(
                m,
                r#"<tr><td>{}{rec}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                esc(&l.name),
                l.quantity,
                money(l.unit, &self.currency),
                money(l.unit * l.quantity, &self.currency)
            );
        }
        m.push_str("</tbody><tfoot>");
        let _ = write!(
            m,
            r#"<tr><th scope="row" colspan="3">Subtotal</th><td class="num" id="subtotal">{}</td></tr>"#,
            money(self.subtotal(), &self.currency)
        );
        if let Some((code, off)) = &self.discount {
            let _ = write!(
                m,
                r#"<tr><th scope="row" colspan="3">Discount ({})</th><td class="num" id="discount">{}</td></tr>"#,
                esc(code),
                money(-off, &self.currency)
            );
        }
        let _ = write!(
            m,
            r#"<tr><th scope="row" colspan="3">Tax</th><td class="num">{}</td></tr><tr><th scope="row" colspan="3">Total due today</th><td class="num" id="total">{}</td></tr></tfoot></table>"#,
            money(0, &self.currency),
            money(self.total(), &self.currency)
        );
        let _ = write!(m, r#"<form method="post" action="{}">"#, esc(&self.action));
        m.push_str("<fieldset><legend>Contact and billing</legend>");
        for (name, label, ty, auto) in FIELDS {
            let value = self.prefill.get(name).map(String::as_str).unwrap_or("");
            let ro = if self.readonly.contains(&name) {
                r#" readonly aria-readonly="true""#
            } else {
                ""
            };
            let required = if matches!(name, "full_name" | "email" | "country") {
                " required"
            } else {
                ""
            };
            let _ = write!(
                m,
                r#"<label for="{name}">{label}</label><input id="{name}" name="{name}" type="{ty}" autocomplete="{auto}" value="{}"{ro}{required}>"#,
                esc(value)
            );
        }
        m.push_str("</fieldset>");
        if self.show_discount_field {
            let value = self
                .prefill
                .get("discount_code")
                .map(String::as_str)
                .unwrap_or("");
            let _ = write!(
                m,
                r#"<fieldset><legend>Discount</legend><label for="discount_code">Discount code (optional)</label><input id="discount_code" name="discount_code" type="text" value="{}"></fieldset>"#,
                esc(value)
            );
        }
        m.push_str(r#"<fieldset><legend>Card</legend>
<label for="card_number">Card number</label><input id="card_number" name="card_number" type="text" inputmode="numeric" autocomplete="cc-number" required aria-describedby="test-cards">
<label for="card_expiry">Expiry (MM/YY)</label><input id="card_expiry" name="card_expiry" type="text" autocomplete="cc-exp" value="12/34">
<label for="card_cvc">CVC</label><input id="card_cvc" name="card_cvc" type="text" inputmode="numeric" autocomplete="cc-csc" value="123">
</fieldset>"#);
        let _ = write!(
            m,
            r#"<button type="submit" id="pay">Pay {}</button></form>"#,
            money(self.total(), &self.currency)
        );
        m.push_str(r#"<table id="test-cards"><caption>Test cards (any future expiry, any CVC)</caption><thead><tr><th scope="col">Number</th><th scope="col">Outcome</th></tr></thead><tbody>"#);
        for (n, what) in TEST_CARDS {
            let _ = write!(m, "<tr><td><code>{n}</code></td><td>{what}</td></tr>");
        }
        m.push_str("</tbody></table>");
        page(&self.title, &m)
    }
}

fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

fn message_page(status: StatusCode, title: &str, text: &str) -> Response {
    html(
        status,
        page(
            title,
            &format!("<h1>{}</h1><p>{}</p>", esc(title), esc(text)),
        ),
    )
}

fn api_error_page(e: &ApiError) -> Response {
    message_page(e.status, "Checkout unavailable", &e.message)
}

fn recurring_note(product: &Value) -> Option<String> {
    let price = &product["price"];
    if price["type"] != "recurring_price" {
        return None;
    }
    let count = price["payment_frequency_count"].as_i64().unwrap_or(1);
    let unit = price["payment_frequency_interval"]
        .as_str()
        .unwrap_or("Month")
        .to_ascii_lowercase();
    let every = if count == 1 {
        format!("every {unit}")
    } else {
        format!("every {count} {unit}s")
    };
    let trial = price["trial_period_days"].as_i64().unwrap_or(0);
    Some(if trial > 0 {
        format!("Billed {every}; {trial}-day free trial")
    } else {
        format!("Billed {every}")
    })
}

fn line_of(product: &Value, quantity: i64) -> ShownLine {
    ShownLine {
        name: product["name"].as_str().unwrap_or("Product").to_string(),
        quantity,
        unit: product["price"]["price"]
            .as_i64()
            .or_else(|| product["price"]["fixed_price"].as_i64())
            .unwrap_or(0),
        recurring: recurring_note(product),
    }
}

fn read<R>(
    state: &AppState,
    f: impl FnOnce(&Ctx<'_>) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    state.store.read(|db| {
        f(&Ctx {
            db,
            env: &state.env,
        })
    })
}

fn get_obj(ctx: &Ctx<'_>, kind: &str, what: &str, id: &str) -> Result<Value, ApiError> {
    ctx.db
        .get(kind, id)?
        .map(|r| r.data)
        .ok_or_else(|| ApiError::not_found(what, id))
}

fn discount_preview(ctx: &Ctx<'_>, code: &str, subtotal: i64) -> Option<(String, i64)> {
    let d = ctx
        .db
        .find_one(
            kind::DISCOUNT,
            &[crate::store::Filter::Eq(
                "$.code",
                rusqlite::types::Value::Text(code.to_string()),
            )],
        )
        .ok()
        .flatten()?;
    Some((
        code.to_string(),
        crate::resources::discounts::discount_amount(&d.data, subtotal),
    ))
}

// ---------- checkout sessions ----------

fn session_checkout(ctx: &Ctx<'_>, sid: &str) -> Result<(Checkout, Value), ApiError> {
    let req = get_obj(ctx, SESSION_REQUEST, "Checkout session", sid)?;
    let mut c = Checkout {
        title: "Checkout".into(),
        action: format!("/checkout/{sid}"),
        ..Checkout::default()
    };
    for item in req["product_cart"].as_array().into_iter().flatten() {
        let pid = item["product_id"].as_str().unwrap_or_default();
        let product = get_obj(ctx, kind::PRODUCT, "Product", pid)?;
        if c.currency.is_empty() {
            c.currency = product["price"]["currency"]
                .as_str()
                .unwrap_or("USD")
                .into();
        }
        let mut line = line_of(&product, item["quantity"].as_i64().unwrap_or(1));
        if let Some(a) = item["amount"].as_i64() {
            line.unit = a;
        }
        c.lines.push(line);
    }
    if let Some(code) = req["discount_code"].as_str() {
        c.discount = discount_preview(ctx, code, c.subtotal());
        c.prefill.insert("discount_code", code.to_string());
    }
    let customer = match req["customer"]["customer_id"].as_str() {
        Some(id) => get_obj(ctx, kind::CUSTOMER, "Customer", id).unwrap_or(Value::Null),
        None => req["customer"].clone(),
    };
    if let Some(n) = customer["name"].as_str() {
        c.prefill.insert("full_name", n.into());
    }
    if let Some(e) = customer["email"].as_str() {
        c.prefill.insert("email", e.into());
    }
    let b = &req["billing_address"];
    for (field, key) in [
        ("country", "country"),
        ("address_line", "street"),
        ("city", "city"),
        ("state", "state"),
        ("zip_code", "zipcode"),
    ] {
        if let Some(v) = b[key].as_str() {
            c.prefill.insert(field, v.into());
        }
    }
    let flags = &req["feature_flags"];
    c.show_discount_field = flags["allow_discount_code"].as_bool().unwrap_or(true);
    if flags["allow_customer_editing_email"] == false {
        c.readonly.push("email");
    }
    if flags["allow_customer_editing_name"] == false {
        c.readonly.push("full_name");
    }
    Ok((c, req))
}

async fn show_session(State(state): State<Arc<AppState>>, Path(sid): Path<String>) -> Response {
    match read(&state, |ctx| {
        let session = get_obj(ctx, kind::CHECKOUT_SESSION, "Checkout session", &sid)?;
        Ok((session_checkout(ctx, &sid)?, session))
    }) {
        Ok((_, session)) if !session["payment_id"].is_null() => message_page(
            StatusCode::OK,
            "Already paid",
            &format!(
                "This checkout session was paid: payment {} is {}.",
                session["payment_id"].as_str().unwrap_or(""),
                session["payment_status"].as_str().unwrap_or("pending")
            ),
        ),
        Ok(((c, _), _)) => html(StatusCode::OK, c.render()),
        Err(e) => api_error_page(&e),
    }
}

async fn pay_session(
    State(state): State<Arc<AppState>>,
    Path(sid): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let form = parse_form(&body);
    let (mut c, req) = match read(&state, |ctx| session_checkout(ctx, &sid)) {
        Ok(x) => x,
        Err(e) => return api_error_page(&e),
    };
    let order = Order {
        purchase: Purchase {
            cart: req["product_cart"].clone(),
            metadata: req["metadata"].clone(),
            session_id: Some(sid.clone()),
            payment_id: None,
        },
        return_url: req["return_url"].as_str().map(str::to_string),
    };
    submit(&state, &mut c, &form, order)
}

// ---------- payment links ----------

fn payment_checkout(ctx: &Ctx<'_>, pid: &str) -> Result<(Checkout, Value), ApiError> {
    let payment = get_obj(ctx, kind::PAYMENT, "Payment", pid)?;
    let mut c = Checkout {
        title: "Pay".into(),
        action: format!("/pay/{pid}"),
        currency: payment["currency"].as_str().unwrap_or("USD").into(),
        total_override: payment["total_amount"].as_i64(),
        show_discount_field: false,
        ..Checkout::default()
    };
    for item in payment["product_cart"].as_array().into_iter().flatten() {
        let id = item["product_id"].as_str().unwrap_or_default();
        let product = get_obj(ctx, kind::PRODUCT, "Product", id)?;
        c.lines
            .push(line_of(&product, item["quantity"].as_i64().unwrap_or(1)));
    }
    let subtotal = c.subtotal();
    if let Some(total) = c.total_override
        && total < subtotal
    {
        c.discount = Some(("applied".into(), subtotal - total));
    }
    let cust = &payment["customer"];
    if let Some(n) = cust["name"].as_str() {
        c.prefill.insert("full_name", n.into());
    }
    if let Some(e) = cust["email"].as_str() {
        c.prefill.insert("email", e.into());
    }
    if let Some(v) = payment["billing"]["country"].as_str() {
        c.prefill.insert("country", v.into());
    }
    c.readonly.push("email");
    Ok((c, payment))
}

async fn show_payment(
    State(state): State<Arc<AppState>>,
    Path(pid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let checkout = read(&state, |ctx| payment_checkout(ctx, &pid)).map(|(mut c, p)| {
        // Keep `?redirect_url=...` for the submission.
        if let Some(rq) = raw.as_deref().filter(|q| !q.is_empty()) {
            c.action = format!("/pay/{pid}?{rq}");
        }
        (c, p)
    });
    match checkout {
        Ok((_, p)) if p["status"] != "requires_payment_method" => message_page(
            StatusCode::OK,
            "Nothing to pay",
            &format!(
                "Payment {pid} is {}.",
                p["status"].as_str().unwrap_or("settled")
            ),
        ),
        Ok((c, _)) => html(StatusCode::OK, c.render()),
        Err(e) => api_error_page(&e),
    }
}

async fn pay_payment(
    State(state): State<Arc<AppState>>,
    Path(pid): Path<String>,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    let form = parse_form(&body);
    let (mut c, payment) = match read(&state, |ctx| payment_checkout(ctx, &pid)) {
        Ok(x) => x,
        Err(e) => return api_error_page(&e),
    };
    if payment["status"] != "requires_payment_method" {
        return message_page(
            StatusCode::CONFLICT,
            "Nothing to pay",
            &format!("Payment {pid} is already settled."),
        );
    }
    let q = parse_query(query.as_deref());
    let order = Order {
        purchase: Purchase {
            cart: Value::Null,
            metadata: Value::Null,
            session_id: None,
            payment_id: Some(pid),
        },
        return_url: q.get("redirect_url").cloned(),
    };
    submit(&state, &mut c, &form, order)
}

// ---------- static links ----------

fn parse_query(q: Option<&str>) -> BTreeMap<String, String> {
    q.and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn parse_form(body: &[u8]) -> BTreeMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|v| matches!(v.as_str(), "true" | "1" | "yes"))
}

fn static_checkout(
    ctx: &Ctx<'_>,
    product_id: &str,
    q: &BTreeMap<String, String>,
    raw_query: Option<&str>,
) -> Result<(Checkout, Value), ApiError> {
    let product = get_obj(ctx, kind::PRODUCT, "Product", product_id)?;
    let quantity = match q.get("quantity") {
        None => 1,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_field("quantity", "must be a whole number from 1 to 1000")
            })?,
    };
    let mut c = Checkout {
        title: format!("Buy {}", product["name"].as_str().unwrap_or("product")),
        action: match raw_query {
            Some(rq) if !rq.is_empty() => format!("/buy/{product_id}?{rq}"),
            _ => format!("/buy/{product_id}"),
        },
        currency: product["price"]["currency"]
            .as_str()
            .unwrap_or("USD")
            .into(),
        show_discount_field: q.get("showDiscounts").is_none_or(|v| v != "false"),
        ..Checkout::default()
    };
    c.lines.push(line_of(&product, quantity));
    let name = q.get("fullName").cloned().or_else(|| {
        let parts: Vec<&str> = [q.get("firstName"), q.get("lastName")]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    if let Some(n) = name {
        c.prefill.insert("full_name", n);
    }
    for (field, param) in [
        ("email", "email"),
        ("country", "country"),
        ("address_line", "addressLine"),
        ("city", "city"),
        ("state", "state"),
        ("zip_code", "zipCode"),
    ] {
        if let Some(v) = q.get(param) {
            c.prefill.insert(field, v.clone());
        }
    }
    for (field, params) in [
        (
            "full_name",
            &["disableFullName", "disableFirstName", "disableLastName"][..],
        ),
        ("email", &["disableEmail"][..]),
        ("country", &["disableCountry"][..]),
        ("address_line", &["disableAddressLine"][..]),
        ("city", &["disableCity"][..]),
        ("state", &["disableState"][..]),
        ("zip_code", &["disableZipCode"][..]),
    ] {
        if params.iter().any(|p| truthy(q.get(*p))) {
            c.readonly.push(field);
        }
    }
    let metadata: Map<String, Value> = q
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata_")
                .map(|k| (k.to_string(), json!(v)))
        })
        .collect();
    let order = json!({
        "cart": [{"product_id": product_id, "quantity": quantity}],
        "metadata": metadata,
    });
    Ok((c, order))
}

async fn show_static(
    State(state): State<Arc<AppState>>,
    Path(product_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = parse_query(raw.as_deref());
    match read(&state, |ctx| {
        static_checkout(ctx, &product_id, &q, raw.as_deref())
    }) {
        Ok((c, _)) => html(StatusCode::OK, c.render()),
        Err(e) => api_error_page(&e),
    }
}

async fn pay_static(
    State(state): State<Arc<AppState>>,
    Path(product_id): Path<String>,
    RawQuery(raw): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    let q = parse_query(raw.as_deref());
    let form = parse_form(&body);
    let (mut c, order) = match read(&state, |ctx| {
        static_checkout(ctx, &product_id, &q, raw.as_deref())
    }) {
        Ok(x) => x,
        Err(e) => return api_error_page(&e),
    };
    let order = Order {
        purchase: Purchase {
            cart: order["cart"].clone(),
            metadata: order["metadata"].clone(),
            session_id: None,
            payment_id: None,
        },
        return_url: q.get("redirect_url").cloned(),
    };
    submit(&state, &mut c, &form, order)
}

// ---------- submission ----------

/// What a submitted form pays for.
fn field<'a>(form: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    form.get(name).map(|s| s.trim()).unwrap_or("")
}

/// What a page submission buys and where the buyer returns.
struct Order {
    purchase: Purchase,
    return_url: Option<String>,
}

fn submit(
    state: &Arc<AppState>,
    c: &mut Checkout,
    form: &BTreeMap<String, String>,
    order: Order,
) -> Response {
    for (name, ..) in FIELDS {
        let v = field(form, name);
        if !v.is_empty() && !c.readonly.contains(&name) {
            c.prefill.insert(name, v.to_string());
        }
    }
    // Read-only fields keep the prefilled value whatever the browser sent.
    let value = |name: &'static str| -> String {
        if c.readonly.contains(&name) {
            c.prefill.get(name).cloned().unwrap_or_default()
        } else {
            field(form, name).to_string()
        }
    };
    let (name, email, country) = (value("full_name"), value("email"), value("country"));
    let billing = json!({
        "country": country.to_ascii_uppercase(),
        "street": value("address_line"),
        "city": value("city"),
        "state": value("state"),
        "zipcode": value("zip_code"),
    });
    let code = field(form, "discount_code").to_string();
    if !code.is_empty() {
        c.prefill.insert("discount_code", code.clone());
    }
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push("Enter your full name.".to_string());
    }
    if !email.contains('@') {
        errors.push("Enter a valid email address.".to_string());
    }
    if country.len() != 2 {
        errors.push("Enter a two-letter country code (for example US).".to_string());
    }
    let card = TestCard::from_number(field(form, "card_number"));
    if card.is_none() {
        errors.push(
            "Use one of the test cards listed below (this emulator takes no real cards)."
                .to_string(),
        );
    }
    let Some(card) = card.filter(|_| errors.is_empty()) else {
        c.errors = errors;
        return html(StatusCode::UNPROCESSABLE_ENTITY, c.render());
    };
    let buyer = Buyer {
        name,
        email,
        billing,
        discount_code: code,
        card_number: field(form, "card_number").to_string(),
    };
    let paid = match purchase::pay(state, &order.purchase, &buyer, card) {
        Ok(p) => p,
        Err(message) => {
            c.errors = vec![message];
            return html(StatusCode::UNPROCESSABLE_ENTITY, c.render());
        }
    };
    let (payment_id, subscription_id, status) =
        (paid.payment_id, paid.subscription_id, paid.status);
    let params: Vec<(&str, String)> = match &subscription_id {
        Some(sub) => {
            let sub_status = match status {
                "succeeded" => "active",
                "failed" => "failed",
                _ => "pending",
            };
            vec![
                ("subscription_id", sub.clone()),
                ("status", sub_status.into()),
            ]
        }
        None => vec![
            ("payment_id", payment_id.clone()),
            ("status", status.into()),
        ],
    };
    let query = serde_urlencoded::to_string(&params).unwrap_or_default();
    match order.return_url {
        Some(url) if !url.is_empty() => {
            let sep = if url.contains('?') { '&' } else { '?' };
            let location = format!("{url}{sep}{query}");
            (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
        }
        _ => {
            let text = match status {
                "succeeded" => format!("Payment {payment_id} succeeded. Thank you!"),
                "failed" => format!("Payment {payment_id} failed: the card was declined."),
                _ => format!("Payment {payment_id} is processing; it will complete shortly."),
            };
            let mut body = format!(
                "<h1>Payment {status}</h1><p id=\"result\">{}</p><ul>",
                esc(&text)
            );
            for (k, v) in &params {
                let _ = write!(body, "<li>{k}: <code>{}</code></li>", esc(v));
            }
            body.push_str("</ul>");
            html(StatusCode::OK, page(&format!("Payment {status}"), &body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_and_money() {
        assert_eq!(money(1500, "USD"), "$15.00");
        assert_eq!(money(-205, "EUR"), "-€2.05");
        assert_eq!(money(99, "JPY"), "0.99 JPY");
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
