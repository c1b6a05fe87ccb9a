//! Hosted checkout pages: the URLs payment links, checkout sessions and static links point at.
//!
//! | page | what it sells |
//! |---|---|
//! | `GET`/`POST /checkout/{session_id}` | a checkout session's `product_cart` (prefilled from its `customer` and `billing_address`, locked where its `feature_flags` say; asks its `custom_fields`; returns to its `return_url`) |
//! | `GET`/`POST /pay/{payment_id}` | an existing payment (payment links of payments and subscriptions; returns to the link's `return_url`, or a `redirect_url` query) |
//! | `GET`/`POST /buy/{product_id}?...` | a static payment link with every documented query parameter (below) |
//!
//! Query parameters of a static link (`/buy/{product_id}`), as Dodo documents them:
//!
//! | parameter | effect |
//! |---|---|
//! | `quantity` | whole number 1–1000 (default 1) |
//! | `email`, `fullName`, `firstName`, `lastName`, `country`, `addressLine`, `city`, `state`, `zipCode` | prefill the field (`firstName` + `lastName` make the full name) |
//! | `disableEmail`, `disableFullName`, `disableFirstName`, `disableLastName`, `disableCountry`, `disableAddressLine`, `disableCity`, `disableState`, `disableZipCode` | `true` locks the field: read-only, and a submission keeps the prefilled value whatever it sends |
//! | `paymentAmount` | pay-what-you-want products only: the amount in minor units (cents) to prefill; at least the product's minimum price (`price.price`); without it the field starts at `suggested_price` or the minimum. The buyer may change it (still bounded by the minimum) |
//! | `paymentCurrency` | an ISO 4217 code the buyer is billed in (sent as `billing_currency`): it selects a `by_currency` localized price, shown and charged. Without one the emulator has no exchange rates: amounts stay in the product's currency and the page says so |
//! | `showCurrencySelector` | `false` hides the currency selector (default shown: the product's currency and `paymentCurrency`) |
//! | `showDiscounts` | `false` hides the discount code field (default shown) |
//! | `metadata_*` | each `metadata_<key>=<value>` becomes `<key>: <value>` in the payment's (or subscription's) metadata |
//! | `redirect_url` | where the buyer returns after paying (303 with `payment_id`/`subscription_id` and `status`); must be an absolute `http` or `https` URL |
//!
//! A bad value (a `paymentAmount` below the minimum or on a fixed-price product, an unknown
//! currency, a `redirect_url` that is not http(s), a bad `quantity`) answers a 400 error page
//! naming the parameter, never a half-working form.
//!
//! Prices are the API's own ([`payments::price_cart`], localized by
//! [`localized_prices::resolve`]): for the billing country (the form's once submitted, else
//! the session's `billing_address` or the link's `country`, else `US`) and the chosen
//! currency. The form carries the prices it showed (`quote`, which includes the discount
//! codes shown); a submission whose country, currency or discount codes change them
//! re-renders the form with the new prices and deduction (422) instead of charging an amount
//! the buyer never saw.
//!
//! Discounts: a checkout session's page shows the deduction of the session's
//! `discount_codes` (or `discount_code`), stacked as the API charges them
//! ([`discounts::check_all`], [`discounts::apply`] over the same lines), or a notice saying
//! why a code cannot be applied; the discount field holds the codes comma-separated, in order
//! of application, and paying redeems them as `discount_codes`.
//!
//! Each page is a plain HTML form rendered from `templates/checkout.html` ([`crate::pages`]:
//! every user-controlled string is escaped, money is formatted by ISO 4217 minor units) with
//! a CSRF token ([`crate::csrf`]; a submission without it answers 403): labels on every
//! field, no JavaScript, the cart,
//! prices, discount, the customer and billing fields (prefilled; "disabled" fields are
//! read-only so they are still submitted), a discount code field, the card fields and the
//! table of test cards: `4242 4242 4242 4242` succeeds, `4000 0000 0000 0002` is declined,
//! `4000 0000 0000 3220` leaves the payment `processing` (it succeeds
//! [`crate::purchase::PROCESSING_DELAY`] later), `4000 0000 0000 0341` succeeds but makes later renewals of the
//! subscription fail. Submitting creates the payment or subscription through the API's own
//! operations in-process ([`crate::purchase`]: pricing, discount redemption, license keys,
//! events) and settles it, then redirects (303)
//! to the return URL with `payment_id` and `status` (one-time) or `subscription_id` and
//! `status` (subscriptions), or shows a result page when there is no return URL. Invalid
//! input re-renders the form with an error summary (422).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::csrf;
use crate::dispatch::AppState;
use crate::error::ApiError;
use crate::purchase::{self, Buyer, Purchase, TEST_CARDS, TestCard};
use crate::resources::Ctx;
use crate::resources::common::kind;
use crate::resources::localized_prices::{self, PriceContext};
use crate::resources::{custom_fields, discounts, payments, products, return_urls};

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
    /// The discount codes `discount` shows, in order of application.
    discount_codes: Vec<String>,
    /// Product ids of the priced lines (for the codes' `restricted_to`).
    product_ids: Vec<String>,
    total_override: Option<i64>,
    prefill: BTreeMap<&'static str, String>,
    readonly: Vec<&'static str>,
    show_discount_field: bool,
    /// A checkout session's `custom_fields`, each with the buyer's `value` so far.
    custom_fields: Vec<Value>,
    /// A paid trial whose price does not `trial_apply_discounts`: codes are taken (for the
    /// charges after the trial) but do not reduce what is due today.
    trial_not_discounted: bool,
    /// Pay what you want: the amount field (decimal text) and the minimum (minor units).
    amount_field: Option<(String, i64)>,
    /// Currencies offered by the selector (empty: no selector) and the chosen one.
    currency_choices: Vec<String>,
    chosen_currency: String,
    notices: Vec<String>,
    /// What the cart costs as priced for this page's country and currency (see [`Checkout::price_quote`]).
    quote: String,
    action: String,
    errors: Vec<String>,
    csrf_token: String,
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

impl Checkout {
    /// The currency and unit prices the page shows, sent back with the form: a submission
    /// whose prices differ (the buyer changed the billing country or currency) is shown the
    /// new prices instead of being charged them unseen.
    fn price_quote(&self) -> String {
        let units: Vec<String> = self
            .lines
            .iter()
            .map(|l| format!("{}x{}", l.unit, l.quantity))
            .collect();
        let quote = format!("{}:{}", self.currency, units.join(","));
        if self.discount_codes.is_empty() {
            quote
        } else {
            format!("{quote}|{}", self.discount_codes.join(","))
        }
    }

    fn subtotal(&self) -> i64 {
        self.lines
            .iter()
            .map(|l| l.unit.saturating_mul(l.quantity))
            .fold(0_i64, i64::saturating_add)
    }

    fn total(&self) -> i64 {
        self.total_override.unwrap_or_else(|| {
            self.subtotal()
                .saturating_sub(self.discount.as_ref().map_or(0, |d| d.1))
        })
    }

    /// The page as HTML, through the `checkout.html` template.
    fn render(&self, state: &AppState, status: StatusCode) -> Response {
        let lines: Vec<Value> = self
            .lines
            .iter()
            .map(|l| {
                json!({
                    "name": l.name, "quantity": l.quantity, "unit": l.unit,
                    "amount": l.unit.saturating_mul(l.quantity), "recurring": l.recurring,
                })
            })
            .collect();
        let fields: Vec<Value> = FIELDS
            .iter()
            .map(|(name, label, kind, autocomplete)| {
                json!({
                    "name": name, "label": label, "kind": kind, "autocomplete": autocomplete,
                    "value": self.prefill.get(name).map(String::as_str).unwrap_or(""),
                    "readonly": self.readonly.contains(name),
                    "required": matches!(*name, "full_name" | "email" | "country"),
                })
            })
            .collect();
        let context = json!({
            "title": self.title,
            "errors": self.errors,
            "lines": lines,
            "currency": self.currency,
            "subtotal": self.subtotal(),
            "discount": self.discount.as_ref().map(|(code, off)| json!({"code": code, "off": off})),
            "total": self.total(),
            "action": self.action,
            "csrf_token": self.csrf_token,
            "quote": if self.quote.is_empty() { self.price_quote() } else { self.quote.clone() },
            "fields": fields,
            "show_discount_field": self.show_discount_field,
            "custom_fields": self.custom_fields,
            "amount_field": self.amount_field.as_ref().map(|(value, min)| json!({"value": value, "minimum": min})),
            "currency_choices": self.currency_choices,
            "chosen_currency": self.chosen_currency,
            "notices": self.notices,
            "discount_value": self.prefill.get("discount_code").map(String::as_str).unwrap_or(""),
            "test_cards": TEST_CARDS,
        });
        state.pages.respond(status, "checkout.html", context)
    }
}

fn api_error_page(state: &AppState, e: &ApiError) -> Response {
    state
        .pages
        .message(e.status, "Checkout unavailable", &e.message)
}

/// A checkout form page with a CSRF token (setting the cookie when the browser has none).
fn form_page(state: &AppState, headers: &HeaderMap, mut c: Checkout) -> Response {
    let (token, cookie) = csrf::issue(headers);
    c.csrf_token = token;
    let mut response = c.render(state, StatusCode::OK);
    if let Some((name, value)) = cookie {
        response.headers_mut().insert(name, value);
    }
    response
}

/// 403 for a submission without the browser's CSRF token.
fn forged(state: &AppState) -> Response {
    state.pages.message(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form is missing its security token or came from another site. Reload the page and try again.",
    )
}

fn recurring_note(product: &Value) -> Option<String> {
    let price = &product["price"];
    if price["type"] != "recurring_price" {
        return None;
    }
    let every = billed_every(price);
    let trial = price["trial_period_days"].as_i64().unwrap_or(0);
    Some(if trial > 0 {
        format!("Billed {every}; {trial}-day free trial")
    } else {
        format!("Billed {every}")
    })
}

/// `every month`, `every 3 months`, … for a recurring price.
fn billed_every(price: &Value) -> String {
    let count = price["payment_frequency_count"].as_i64().unwrap_or(1);
    let unit = price["payment_frequency_interval"]
        .as_str()
        .unwrap_or("Month")
        .to_ascii_lowercase();
    if count == 1 {
        format!("every {unit}")
    } else {
        format!("every {count} {unit}s")
    }
}

/// Prices `cart` (`[{product_id, quantity, amount?, addons?}]`) onto the page exactly as the
/// API will charge it ([`payments::price_cart`]: localized prices, one currency, a
/// subscription's addons as lines of their own), and says which
/// country the prices follow when a product is priced by country.
fn price_lines(
    ctx: &Ctx<'_>,
    c: &mut Checkout,
    cart: &Value,
    buyer: PriceContext<'_>,
    trial_override: Option<i64>,
) -> Result<bool, ApiError> {
    let items = cart.as_array().map(Vec::as_slice).unwrap_or_default();
    let priced = payments::price_cart(ctx, "product_cart", items, None, buyer)?;
    c.currency = priced.currency.as_str().unwrap_or("USD").to_string();
    let mut discountable = true;
    c.product_ids = priced
        .lines
        .iter()
        .map(|l| l.product_id().to_string())
        .collect();
    for l in &priced.lines {
        let mut line = line_of(&l.product, l.quantity);
        line.unit = l.unit_amount;
        // A trial charges its trial amount today (0 when free), and the plan from its end.
        let trial_days = trial_override
            .or_else(|| l.product["price"]["trial_period_days"].as_i64())
            .filter(|d| products::is_recurring(&l.product) && *d > 0);
        if let Some(days) = trial_days {
            let per_unit = products::trial_amount(&l.product).unwrap_or(0);
            if per_unit > 0 && !products::trial_applies_discounts(&l.product) {
                discountable = false;
            }
            line.recurring = Some(trial_note(
                &l.product,
                days,
                per_unit,
                l.unit_amount,
                &c.currency,
            ));
            line.unit = per_unit;
        }
        let recurring = line.recurring.clone();
        c.lines.push(line);
        // A subscription's addons are charged with it, so they are shown with it (from the
        // end of a trial: nothing today).
        for a in l.addons.iter().filter(|a| a.quantity > 0) {
            c.lines.push(ShownLine {
                name: format!("{} (add-on)", a.addon["name"].as_str().unwrap_or("Add-on")),
                quantity: a.quantity,
                unit: if trial_days.is_some() {
                    0
                } else {
                    a.unit_amount
                },
                recurring: recurring.clone(),
            });
        }
    }
    if let Some(country) = buyer.country
        && priced
            .lines
            .iter()
            .any(|l| l.product["pricing_mode"] == "by_country")
    {
        c.notices.push(format!(
            "Prices follow the billing country; shown for {country}."
        ));
    }
    Ok(discountable)
}

/// The note under a subscription line in its trial: what today costs and what follows.
fn trial_note(product: &Value, days: i64, today: i64, full: i64, currency: &str) -> String {
    let kind = if today > 0 { "paid" } else { "free" };
    format!(
        "{days}-day {kind} trial; then {} each, billed {}",
        crate::money::format(full, currency),
        billed_every(&product["price"])
    )
}

/// The billing country a submitted form names, if any.
fn form_country(form: Option<&BTreeMap<String, String>>) -> Option<String> {
    form.map(|f| field(f, "country").to_ascii_uppercase())
        .filter(|c| c.len() == 2)
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

/// The codes typed in a discount field: comma-separated, in order of application.
fn parse_codes(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// Shows stacked `codes` on the page: the deduction the API will charge for the page's lines
/// ([`discounts::check_all`], [`discounts::apply`] over the same entries, in the page's
/// currency), or a notice saying why a code cannot be applied.
fn show_discounts(ctx: &Ctx<'_>, c: &mut Checkout, codes: Vec<String>) {
    c.discount = None;
    if !codes.is_empty() && c.trial_not_discounted {
        c.notices.push(
            "Discount codes apply from the first full charge: this trial's charge is not discounted."
                .to_string(),
        );
        c.prefill.insert("discount_code", codes.join(", "));
    } else if !codes.is_empty() {
        let totals: Vec<i64> = c
            .lines
            .iter()
            .map(|l| l.unit.saturating_mul(l.quantity))
            .collect();
        let basket = discounts::Basket {
            product_ids: c.product_ids.iter().map(String::as_str).collect(),
            currency: &c.currency,
            subtotal: c.subtotal(),
        };
        match discounts::check_all(ctx, &codes, &basket) {
            Ok(records) => {
                let stack: Vec<Value> = records.into_iter().map(|r| r.data).collect();
                let off = discounts::apply(&stack, &c.currency, &totals).total();
                c.discount = Some((codes.join(", "), off));
            }
            Err(e) => c
                .notices
                .push(format!("Discount not applied: {}", e.message)),
        }
        c.prefill.insert("discount_code", codes.join(", "));
    }
    c.discount_codes = codes;
}

// ---------- checkout sessions ----------

/// The discount codes a checkout session was created with (`discount_codes`, or the
/// deprecated `discount_code`), in order of application.
pub fn session_codes(req: &Value) -> Vec<String> {
    match req["discount_codes"].as_array() {
        Some(codes) => codes
            .iter()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect(),
        None => req["discount_code"]
            .as_str()
            .map(|c| vec![c.to_string()])
            .unwrap_or_default(),
    }
}

/// A checkout session's page, priced for the billing country of the submitted `form` (when
/// there is one), else the session's `billing_address`, else `US` (as the API's preview), in
/// the session's `billing_currency`.
fn session_checkout(
    ctx: &Ctx<'_>,
    sid: &str,
    form: Option<&BTreeMap<String, String>>,
) -> Result<(Checkout, Value), ApiError> {
    let req = get_obj(ctx, SESSION_REQUEST, "Checkout session", sid)?;
    let mut c = Checkout {
        title: "Checkout".into(),
        action: format!("/checkout/{sid}"),
        ..Checkout::default()
    };
    // A country the session fixed (`allow_customer_editing_country: false`) prices the page
    // whatever the form sends.
    let locked_country = req["feature_flags"]["allow_customer_editing_country"] == false
        && req["billing_address"]["country"].is_string();
    let country = form_country(form.filter(|_| !locked_country))
        .or_else(|| {
            req["billing_address"]["country"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "US".to_string());
    let buyer = PriceContext {
        country: Some(&country),
        currency: req["billing_currency"].as_str(),
    };
    let trial_override = req["subscription_data"]["trial_period_days"].as_i64();
    c.trial_not_discounted =
        !price_lines(ctx, &mut c, &req["product_cart"], buyer, trial_override)?;
    show_discounts(ctx, &mut c, session_codes(&req));
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
    c.custom_fields = req["custom_fields"].as_array().cloned().unwrap_or_default();
    let flags = &req["feature_flags"];
    c.show_discount_field = flags["allow_discount_code"].as_bool().unwrap_or(true);
    if flags["allow_customer_editing_email"] == false {
        c.readonly.push("email");
    }
    if flags["allow_customer_editing_name"] == false {
        c.readonly.push("full_name");
    }
    // Address fields the session gave and does not let the buyer edit are locked.
    for (flag, field) in [
        ("allow_customer_editing_country", "country"),
        ("allow_customer_editing_street", "address_line"),
        ("allow_customer_editing_city", "city"),
        ("allow_customer_editing_state", "state"),
        ("allow_customer_editing_zipcode", "zip_code"),
    ] {
        if flags[flag] == false && c.prefill.contains_key(field) {
            c.readonly.push(field);
        }
    }
    Ok((c, req))
}

async fn show_session(
    State(state): State<Arc<AppState>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
) -> Response {
    match read(&state, |ctx| {
        let session = get_obj(ctx, kind::CHECKOUT_SESSION, "Checkout session", &sid)?;
        Ok((session_checkout(ctx, &sid, None)?, session))
    }) {
        Ok((_, session)) if !session["payment_id"].is_null() => state.pages.message(
            StatusCode::OK,
            "Already paid",
            &format!(
                "This checkout session was paid: payment {} is {}.",
                session["payment_id"].as_str().unwrap_or(""),
                session["payment_status"].as_str().unwrap_or("pending")
            ),
        ),
        Ok(((c, _), _)) => form_page(&state, &headers, c),
        Err(e) => api_error_page(&state, &e),
    }
}

async fn pay_session(
    State(state): State<Arc<AppState>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = parse_form(&body);
    if !csrf::check(&headers, form.get(csrf::FIELD).map(String::as_str)) {
        return forged(&state);
    }
    let (mut c, req) = match read(&state, |ctx| session_checkout(ctx, &sid, Some(&form))) {
        Ok(x) => x,
        Err(e) => return api_error_page(&state, &e),
    };
    let order = Order {
        purchase: Purchase::of_session(&sid, &req),
        return_url: req["return_url"].as_str().map(str::to_string),
        pwyw: None,
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
    let buyer = PriceContext {
        country: payment["billing"]["country"].as_str(),
        currency: payment["currency"].as_str(),
    };
    for item in payment["product_cart"].as_array().into_iter().flatten() {
        let id = item["product_id"].as_str().unwrap_or_default();
        let product = get_obj(ctx, kind::PRODUCT, "Product", id)?;
        let mut line = line_of(&product, item["quantity"].as_i64().unwrap_or(1));
        // The unit price the payment was created at (localized like the API priced it).
        let unit = localized_prices::resolve(ctx, &product, buyer)?;
        if unit.currency == c.currency {
            line.unit = unit.amount;
        }
        c.lines.push(line);
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
    headers: HeaderMap,
) -> Response {
    let q = parse_query(raw.as_deref());
    if let Some(Err(e)) = q.get("redirect_url").map(|u| check_redirect(u)) {
        return api_error_page(&state, &e);
    }
    let checkout = read(&state, |ctx| payment_checkout(ctx, &pid)).map(|(mut c, p)| {
        // Keep `?redirect_url=...` for the submission.
        if let Some(rq) = raw.as_deref().filter(|q| !q.is_empty()) {
            c.action = format!("/pay/{pid}?{rq}");
        }
        (c, p)
    });
    match checkout {
        Ok((_, p)) if p["status"] != "requires_payment_method" => state.pages.message(
            StatusCode::OK,
            "Nothing to pay",
            &format!(
                "Payment {pid} is {}.",
                p["status"].as_str().unwrap_or("settled")
            ),
        ),
        Ok((c, _)) => form_page(&state, &headers, c),
        Err(e) => api_error_page(&state, &e),
    }
}

async fn pay_payment(
    State(state): State<Arc<AppState>>,
    Path(pid): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = parse_form(&body);
    if !csrf::check(&headers, form.get(csrf::FIELD).map(String::as_str)) {
        return forged(&state);
    }
    let (mut c, payment) = match read(&state, |ctx| payment_checkout(ctx, &pid)) {
        Ok(x) => x,
        Err(e) => return api_error_page(&state, &e),
    };
    if payment["status"] != "requires_payment_method" {
        return state.pages.message(
            StatusCode::CONFLICT,
            "Nothing to pay",
            &format!("Payment {pid} is already settled."),
        );
    }
    let q = parse_query(query.as_deref());
    if let Some(Err(e)) = q.get("redirect_url").map(|u| check_redirect(u)) {
        return api_error_page(&state, &e);
    }
    // A `redirect_url` on the page's URL wins over the link's own `return_url`.
    let return_url = q.get("redirect_url").cloned().or_else(|| {
        state
            .store
            .read(|db| Ok::<_, ApiError>(return_urls::of(db, &pid)))
            .ok()
            .flatten()
    });
    let order = Order {
        purchase: Purchase {
            cart: Value::Null,
            metadata: Value::Null,
            session_id: None,
            payment_id: Some(pid),
            billing_currency: None,
            session_request: Value::Null,
            custom_field_responses: Value::Null,
        },
        return_url,
        pwyw: None,
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

/// A 400 naming a bad query parameter of a page link.
fn bad_param(name: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY_PARAMETER",
        format!("The link's `{name}` parameter {problem}."),
    )
}

/// Checks a `redirect_url`: an absolute `http`/`https` URL with a host and no whitespace
/// or control characters.
fn check_redirect(url: &str) -> Result<(), ApiError> {
    return_urls::check("redirect_url", url).map_err(|_| {
        bad_param(
            "redirect_url",
            "must be an absolute http:// or https:// URL",
        )
    })
}

/// The pay-what-you-want bound of a static link's line: the product's minimum price in minor
/// units (the most is [`crate::resources::payments::MAX_AMOUNT`]).
#[derive(Debug, Clone, Copy)]
struct Pwyw {
    minimum: i64,
}

impl Pwyw {
    fn check(self, amount: i64, currency: &str) -> Result<i64, String> {
        if amount < self.minimum {
            return Err(format!(
                "is below this product's minimum price of {}",
                crate::money::format(self.minimum, currency)
            ));
        }
        if amount > crate::resources::payments::MAX_AMOUNT {
            return Err("is larger than any payment can be".into());
        }
        Ok(amount)
    }
}

/// A static link's page. Prices are localized for the billing country (the submitted `form`'s
/// unless the link locks it, else the link's `country`, else `US`) and the currency chosen
/// (the form's selector when it offers that currency, else `paymentCurrency`, else the
/// product's).
fn static_checkout(
    ctx: &Ctx<'_>,
    product_id: &str,
    q: &BTreeMap<String, String>,
    raw_query: Option<&str>,
    form: Option<&BTreeMap<String, String>>,
) -> Result<(Checkout, Value), ApiError> {
    let product = get_obj(ctx, kind::PRODUCT, "Product", product_id)?;
    let quantity = match q.get("quantity") {
        None => 1,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| bad_param("quantity", "must be a whole number from 1 to 1000"))?,
    };
    if let Some(url) = q.get("redirect_url") {
        check_redirect(url)?;
    }
    let price = &product["price"];
    let currency = price["currency"].as_str().unwrap_or("USD").to_string();
    let pwyw = (price["pay_what_you_want"] == true).then(|| Pwyw {
        minimum: price["price"].as_i64().unwrap_or(0),
    });
    let amount = match (q.get("paymentAmount"), pwyw) {
        (Some(_), None) => {
            return Err(bad_param(
                "paymentAmount",
                "applies only to pay-what-you-want products; this product has a fixed price",
            ));
        }
        (Some(text), Some(p)) => {
            let minor = text
                .parse::<i64>()
                .ok()
                .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    bad_param(
                        "paymentAmount",
                        "must be a whole number of minor units (cents), for example 1500 for 15.00",
                    )
                })?;
            Some(
                p.check(minor, &currency)
                    .map_err(|m| bad_param("paymentAmount", m))?,
            )
        }
        (None, Some(p)) => Some(
            price["suggested_price"]
                .as_i64()
                .filter(|s| *s >= p.minimum)
                .unwrap_or(p.minimum),
        ),
        (None, None) => None,
    };
    let chosen = match q.get("paymentCurrency").filter(|c| !c.is_empty()) {
        Some(c) => {
            let code = c.to_ascii_uppercase();
            if !dodo_types::models::Currency::KNOWN.contains(&code.as_str()) {
                return Err(bad_param(
                    "paymentCurrency",
                    "is not a supported ISO 4217 currency code",
                ));
            }
            Some(code)
        }
        None => None,
    };
    let mut c = Checkout {
        title: format!("Buy {}", product["name"].as_str().unwrap_or("product")),
        action: match raw_query {
            Some(rq) if !rq.is_empty() => format!("/buy/{product_id}?{rq}"),
            _ => format!("/buy/{product_id}"),
        },
        show_discount_field: q.get("showDiscounts").is_none_or(|v| v != "false"),
        ..Checkout::default()
    };
    c.chosen_currency = chosen.clone().unwrap_or_else(|| currency.clone());
    if q.get("showCurrencySelector").is_none_or(|v| v != "false") {
        c.currency_choices.push(currency.clone());
        if let Some(code) = chosen.as_ref().filter(|code| **code != currency) {
            c.currency_choices.push(code.clone());
        }
    }
    // A submitted selector choice among the offered currencies prices the page (anything
    // else is refused when the form is submitted).
    if let Some(picked) = form
        .map(|f| field(f, "currency").to_ascii_uppercase())
        .filter(|p| c.currency_choices.contains(p))
    {
        c.chosen_currency = picked;
    }
    let locked_country = truthy(q.get("disableCountry"));
    let country = form_country(form.filter(|_| !locked_country))
        .or_else(|| q.get("country").map(|v| v.to_ascii_uppercase()))
        .unwrap_or_else(|| "US".to_string());
    let mut item = json!({"product_id": product_id, "quantity": quantity});
    if let Some(a) = amount {
        item["amount"] = json!(a);
    }
    let cart = json!([item]);
    let chosen_currency = c.chosen_currency.clone();
    let buyer = PriceContext {
        country: Some(&country),
        currency: Some(&chosen_currency),
    };
    c.trial_not_discounted = !price_lines(ctx, &mut c, &cart, buyer, None)?;
    if let (Some(a), Some(p)) = (amount, pwyw) {
        c.amount_field = Some((crate::money::decimal(a, &currency), p.minimum));
    }
    if chosen_currency != c.currency || c.currency_choices.len() > 1 {
        c.notices.push(format!(
            "The emulator has no exchange rates: a currency without a localized price is \
             charged in the product's currency; this cart is charged in {}.",
            c.currency
        ));
    }
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
                .filter(|k| !k.is_empty())
                .map(|k| (k.to_string(), json!(v)))
        })
        .collect();
    let order = json!({
        "cart": cart,
        "metadata": metadata,
        "pwyw_minimum": pwyw.map(|p| p.minimum),
    });
    Ok((c, order))
}

async fn show_static(
    State(state): State<Arc<AppState>>,
    Path(product_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = parse_query(raw.as_deref());
    match read(&state, |ctx| {
        static_checkout(ctx, &product_id, &q, raw.as_deref(), None)
    }) {
        Ok((c, _)) => form_page(&state, &headers, c),
        Err(e) => api_error_page(&state, &e),
    }
}

async fn pay_static(
    State(state): State<Arc<AppState>>,
    Path(product_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let q = parse_query(raw.as_deref());
    let form = parse_form(&body);
    if !csrf::check(&headers, form.get(csrf::FIELD).map(String::as_str)) {
        return forged(&state);
    }
    let (mut c, order) = match read(&state, |ctx| {
        static_checkout(ctx, &product_id, &q, raw.as_deref(), Some(&form))
    }) {
        Ok(x) => x,
        Err(e) => return api_error_page(&state, &e),
    };
    let order = Order {
        purchase: Purchase {
            cart: order["cart"].clone(),
            metadata: order["metadata"].clone(),
            session_id: None,
            payment_id: None,
            billing_currency: None,
            session_request: Value::Null,
            custom_field_responses: Value::Null,
        },
        return_url: q.get("redirect_url").cloned(),
        pwyw: order["pwyw_minimum"]
            .as_i64()
            .map(|minimum| Pwyw { minimum }),
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
    /// Pay what you want: the submitted `amount` replaces the cart line's, at least this.
    pwyw: Option<Pwyw>,
}

fn submit(
    state: &Arc<AppState>,
    c: &mut Checkout,
    form: &BTreeMap<String, String>,
    order: Order,
) -> Response {
    // A re-rendered form keeps the token that was just checked.
    c.csrf_token = form.get(csrf::FIELD).cloned().unwrap_or_default();
    // The codes typed now: a change from the ones shown is priced and shown (through the
    // quote below) before anything is charged. A page without the field keeps its own codes.
    let codes = if c.show_discount_field {
        parse_codes(field(form, "discount_code"))
    } else {
        c.discount_codes.clone()
    };
    if codes != c.discount_codes {
        let shown = read(state, |ctx| {
            show_discounts(ctx, c, codes.clone());
            Ok(())
        });
        if let Err(e) = shown {
            c.notices.push(e.message);
        }
    }
    // The prices of the billing country and currency just submitted, before the buyer's own
    // pay-what-you-want amount: the form must have shown these.
    c.quote = c.price_quote();
    let quote_changed = form
        .get("quote")
        .is_some_and(|shown| !shown.is_empty() && *shown != c.quote);
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
    let mut errors = Vec::new();
    if quote_changed {
        errors.push(format!(
            "Prices changed for the billing country or currency you chose: the total is now {}. \
             Check it and pay again.",
            crate::money::format(c.total(), &c.currency)
        ));
    }
    if name.is_empty() {
        errors.push("Enter your full name.".to_string());
    }
    if !email.contains('@') {
        errors.push("Enter a valid email address.".to_string());
    }
    if country.len() != 2 {
        errors.push("Enter a two-letter country code (for example US).".to_string());
    }
    let mut order = order;
    if let Some(p) = order.pwyw {
        let text = field(form, "amount");
        if let Some((value, _)) = c.amount_field.as_mut() {
            *value = text.to_string();
        }
        match crate::money::parse(text, &c.currency)
            .ok_or_else(|| "is not an amount".to_string())
            .and_then(|a| p.check(a, &c.currency))
        {
            Ok(a) => {
                if let Some(item) = order.purchase.cart.get_mut(0) {
                    item["amount"] = json!(a);
                }
                if let Some(line) = c.lines.first_mut() {
                    line.unit = a;
                }
            }
            Err(m) => errors.push(format!("The amount you pay {m}.")),
        }
    }
    // The selector's choice (a form without one keeps the link's `paymentCurrency`).
    let picked = field(form, "currency").to_ascii_uppercase();
    if !c.currency_choices.is_empty() && !picked.is_empty() {
        if c.currency_choices.contains(&picked) {
            c.chosen_currency = picked;
        } else {
            errors.push("Choose one of the offered currencies.".to_string());
        }
    }
    // The currency chosen on the page selects a `by_currency` localized price.
    if !c.chosen_currency.is_empty() {
        order.purchase.billing_currency = Some(c.chosen_currency.clone());
    }
    // The session's custom fields, answered on the form as `custom_<key>`.
    for f in &mut c.custom_fields {
        let key = f["key"].as_str().unwrap_or_default();
        f["value"] = json!(field(form, &format!("custom_{key}")));
    }
    if !c.custom_fields.is_empty() {
        let defs = Value::Array(c.custom_fields.clone());
        match custom_fields::answers(&defs, &|key| {
            Some(field(form, &format!("custom_{key}")).to_string())
        }) {
            Ok(responses) => order.purchase.custom_field_responses = responses,
            Err(problems) => errors.extend(problems),
        }
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
        return c.render(state, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let buyer = Buyer {
        name,
        email,
        billing,
        discount_codes: codes,
        card_number: field(form, "card_number").to_string(),
    };
    let paid = match purchase::pay(state, &order.purchase, &buyer, card) {
        Ok(p) => p,
        Err(message) => {
            c.errors = vec![message];
            return c.render(state, StatusCode::UNPROCESSABLE_ENTITY);
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
            state.pages.respond(
                StatusCode::OK,
                "message.html",
                json!({ "title": format!("Payment {status}"), "text": text, "params": params }),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls_must_be_absolute_http_or_https() {
        for ok in [
            "http://shop.example",
            "https://shop.example/done?x=1",
            "HTTPS://Shop.Example/#frag",
            "http://127.0.0.1:3000/return",
        ] {
            assert!(check_redirect(ok).is_ok(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "//evil.example",
            "https://",
            "https:///path",
            "http:/shop.example",
            "ftp://shop.example",
            "https://shop.example/a b",
            "https://shop.example/\nSet-Cookie:x",
            "",
        ] {
            let e = check_redirect(bad).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(e.message.contains("redirect_url"), "{bad}");
        }
    }

    #[test]
    fn pay_what_you_want_amounts_are_bounded() {
        let p = Pwyw { minimum: 500 };
        assert_eq!(p.check(500, "USD"), Ok(500));
        assert!(p.check(499, "USD").unwrap_err().contains("$5.00"));
        assert!(
            p.check(crate::resources::payments::MAX_AMOUNT + 1, "USD")
                .is_err()
        );
    }

    #[test]
    fn fields_are_the_documented_ones() {
        assert_eq!(FIELDS.len(), 7);
        assert!(FIELDS.iter().any(|f| f.0 == "email"));
    }
}
