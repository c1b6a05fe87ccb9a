//! Checkout sessions: create, preview (price calculation), retrieve status.
//!
//! A session prices its `product_cart` from the stored products (one-time and subscription
//! products alike), checks its `discount_codes` (or the deprecated `discount_code`) without
//! using them ([`discounts::check_all`]; they are used when the session is paid), and answers
//! `{session_id, checkout_url}` with a URL on the emulator (`{base_url}/checkout/{session_id}`;
//! the hosted page itself is a later addition). With a saved `payment_method_id` the session
//! is paid at once: `checkout_url` is null and `payment_id` is set. `GET /checkouts/{id}`
//! reports the payment's status once there is one. Tax is zero. The preview applies the
//! stacked codes as the payment will ([`discounts::apply`] over the same entries), lists a usage-based line's meters, and honours a free trial (the product's
//! `trial_period_days`, or `subscription_data.trial_period_days`): the subscription lines are
//! then not due today (`current_breakup`) but from `next_billing_date` = now + the trial
//! (`recurring_breakup`). Each line's `credit_entitlements` overrides the `credits_amount` of
//! credit entitlements already attached to its product (422 otherwise; see
//! [`credit_mappings`]); the preview lists the credits each line grants, and the subscription
//! or payment the session creates grants the overridden amounts.
//!
//! Prices are localized ([`super::localized_prices::resolve`]) for the session's billing country
//! (`billing_address.country`, `US` when the session has none — the country the preview
//! reports) and its `billing_currency`; the preview's lines, totals and `currency` and the
//! payment a confirmed session creates use the same prices. A cart whose lines resolve to
//! different currencies answers 422 `CART_CURRENCY_MISMATCH`.
//!
//! A subscription line's `addons` are checked and priced as [`super::addon_carts`] says; the
//! preview lists them under the line (`single_quantity_price` per unit, `og_price` and
//! `discounted_price` for the quantity), counts them in the totals, and the subscription the
//! session creates carries them. A line's `discount_amount` is a single percentage code's rate
//! in basis points, null for a flat code, a stack of codes or none; the deduction itself is in
//! `discounted_price` and the breakups.

use dodo_types::models::CreateCheckoutSessionRequest;
use serde_json::{Value, json};

use super::common::{self, kind};
use super::localized_prices::PriceContext;
use super::payments::{self, Cart, CartItem, NewPayment};
use super::{Ctx, Registry, blocklist, credit_mappings, discounts, products, usage};
use crate::clock;
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/checkouts", create);
    r.add("POST", "/checkouts/preview", preview);
    r.add("GET", "/checkouts/{id}", retrieve);
}

/// The billing country a session prices for: its `billing_address.country`, else `US` (what
/// the preview reports as `billing_country`).
fn billing_country(input: &CreateCheckoutSessionRequest) -> &str {
    input
        .billing_address
        .as_ref()
        .map_or("US", |b| b.country.as_str())
}

/// The session's cart priced, with its discount codes (`discount_code` or `discount_codes`)
/// checked without using them: the codes and the discounts, in order of application.
fn priced(
    ctx: &Ctx<'_>,
    input: &CreateCheckoutSessionRequest,
) -> Result<(Cart, Vec<String>, Vec<Value>), ApiError> {
    let items: Vec<CartItem<'_>> = input
        .product_cart
        .iter()
        .map(|l| CartItem {
            product_id: &l.product_id,
            quantity: l.quantity,
            amount: l.amount,
            addons: l.addons.as_deref().unwrap_or_default(),
        })
        .collect();
    let buyer = PriceContext {
        country: Some(billing_country(input)),
        currency: input.billing_currency.as_ref().map(|c| c.as_str()),
    };
    let cart = payments::price_items(ctx, "product_cart", &items, None, buyer)?;
    for (i, (line, asked)) in cart.lines.iter().zip(&input.product_cart).enumerate() {
        if let Some(overrides) = asked.credit_entitlements.as_deref() {
            credit_mappings::check_overrides(
                ctx,
                &format!("product_cart[{i}]"),
                &line.product,
                overrides,
            )?;
        }
    }
    let codes = discounts::requested(
        input.discount_code.as_deref(),
        input.discount_codes.as_deref(),
    )?
    .unwrap_or_default();
    let stack = discounts::check_all(ctx, &codes, &cart.basket())?
        .into_iter()
        .map(|r| r.data)
        .collect();
    Ok((cart, codes, stack))
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateCheckoutSessionRequest = req.input()?;
    let (cart, codes, _) = priced(ctx, &input)?;
    let customer = match input.customer.as_ref() {
        Some(c) => Some(common::customer_of(ctx, "customer", c)?),
        None => None,
    };
    if let Some(c) = &customer {
        blocklist::refuse_if_blocked(ctx, c)?;
    }
    let id = new_id("cks_");
    let now = ctx.now_string();
    let mut session = json!({
        "id": id,
        "created_at": now,
        "customer_email": customer.as_ref().map(|c| c["email"].clone()),
        "customer_name": customer.as_ref().map(|c| c["name"].clone()),
        "payment_id": null,
        "payment_status": null,
    });
    ctx.db
        .insert(kind::CHECKOUT_SESSION, &id, None, &now, &session)?;
    // The request, for the hosted checkout page (`crate::hosted`).
    ctx.db.insert(
        kind::CHECKOUT_SESSION_REQUEST,
        &id,
        Some(&id),
        &now,
        &req.body,
    )?;
    let method = input.payment_method_id.as_deref();
    let (checkout_url, payment_id) = match (method, &customer) {
        (Some(pm), Some(c)) => {
            let used =
                discounts::redeem_all(ctx, &codes, &cart.basket(), c["customer_id"].as_str())?;
            let brand_id = match cart.lines[0].product["brand_id"].as_str() {
                Some(b) => b.to_string(),
                None => crate::resources::brands::default_brand_id(ctx)?,
            };
            let billing = input
                .billing_address
                .as_ref()
                .map_or_else(|| Ok(json!({"country": "US"})), common::to_json)?;
            let payment = payments::create_payment(
                ctx,
                NewPayment {
                    customer: c,
                    billing,
                    cart: &cart,
                    discounts: &used,
                    metadata: common::metadata_json(input.metadata.as_ref())?,
                    subscription_id: None,
                    checkout_session_id: Some(&id),
                    brand_id,
                    payment_method_id: Some(pm),
                    payment_link: false,
                    amount_override: None,
                },
            )?;
            (Value::Null, payment["payment_id"].clone())
        }
        (Some(_), None) => {
            return Err(ApiError::invalid_field(
                "customer",
                "is required with payment_method_id",
            ));
        }
        (None, _) => (
            json!(format!("{}/checkout/{id}", ctx.env.base_url)),
            Value::Null,
        ),
    };
    if !payment_id.is_null() {
        // Re-read: settling the payment updated the session.
        if let Some(r) = ctx.db.get(kind::CHECKOUT_SESSION, &id)? {
            session = r.data;
        }
        session["payment_id"] = payment_id.clone();
        ctx.db.update(kind::CHECKOUT_SESSION, &id, &session)?;
    }
    Ok(Reply::json(json!({
        "session_id": id,
        "checkout_url": checkout_url,
        "payment_id": payment_id,
        "client_secret": null,
        "publishable_key": null,
    })))
}

fn preview(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateCheckoutSessionRequest = req.input()?;
    let (cart, _, stack) = priced(ctx, &input)?;
    let subtotal = cart.subtotal();
    // Each entry's share of the discount: the lines' products and addons, in order.
    let totals: Vec<i64> = cart
        .lines
        .iter()
        .flat_map(|l| std::iter::once(l.product_total()).chain(l.addons.iter().map(|a| a.total())))
        .collect();
    let applied = discounts::apply(&stack, cart.currency.as_str().unwrap_or_default(), &totals);
    let off = applied.total();
    let mut shares = applied.per_entry.into_iter();
    let mut items = Vec::with_capacity(cart.lines.len());
    // (due now, recurring subtotal, recurring discount)
    let (mut due_sub, mut due_off, mut rec_sub, mut rec_off) = (0_i64, 0_i64, 0_i64, 0_i64);
    let trial_override = input
        .subscription_data
        .as_ref()
        .and_then(|d| d.trial_period_days);
    if trial_override.is_some_and(|d| !(0..=10_000).contains(&d)) {
        return Err(ApiError::invalid_field(
            "subscription_data.trial_period_days",
            "must be between 0 and 10000 days",
        ));
    }
    let mut trial_days: Option<i64> = None;
    // `discount_amount`: a single percentage code's rate in basis points; null for a flat
    // code, a stack of several codes (whose deduction is `og_price - discounted_price`) and
    // without a code.
    let rate = match stack.as_slice() {
        [d] if d["type"] == "percentage" => d["amount"].clone(),
        _ => Value::Null,
    };
    for (i, l) in cart.lines.iter().enumerate() {
        let overrides = input
            .product_cart
            .get(i)
            .and_then(|asked| asked.credit_entitlements.as_deref())
            .unwrap_or_default();
        let product_off = shares.next().unwrap_or(0);
        let mut line_off = product_off;
        let mut addons = Vec::with_capacity(l.addons.len());
        for a in &l.addons {
            let off = shares.next().unwrap_or(0);
            line_off += off;
            addons.push(json!({
                "addon_id": a.addon_id(),
                "quantity": a.quantity,
                "name": a.addon["name"],
                "description": a.addon["description"],
                "single_quantity_price": a.unit_amount,
                "og_price": a.total(),
                "discounted_price": a.total() - off,
                "discount_amount": rate,
                "currency": cart.currency,
                "og_currency": a.addon["currency"],
                "tax": 0,
                "tax_rate": 0,
                "tax_category": a.addon["tax_category"],
                "tax_inclusive": false,
            }));
        }
        let p = &l.product;
        let recurring = products::is_recurring(p);
        if recurring {
            rec_sub = rec_sub.saturating_add(l.total());
            rec_off = rec_off.saturating_add(line_off);
            let days = trial_override
                .or_else(|| p["price"]["trial_period_days"].as_i64())
                .unwrap_or(0);
            if trial_days.is_none() && days > 0 {
                trial_days = Some(days);
            }
        }
        // A free trial defers the subscription lines' first charge.
        if !(recurring && trial_days.is_some()) {
            due_sub = due_sub.saturating_add(l.total());
            due_off = due_off.saturating_add(line_off);
        }
        let usage = p["price"]["type"] == "usage_based_price";
        items.push(json!({
            "product_id": l.product_id(),
            "quantity": l.quantity,
            "name": p["name"],
            "description": p["description"],
            // `og_price`/`og_currency`: the product's own price, before localization.
            "og_price": if cart.currency == products::currency(p) {
                l.unit_amount
            } else {
                products::unit_amount(p)
            },
            "discounted_price": l.product_total() - product_off,
            "discount_amount": rate,
            "discount_cycle": stack.first().and_then(|d| d["subscription_cycles"].as_i64()),
            "currency": cart.currency,
            "og_currency": products::currency(p),
            "tax": 0,
            "tax_rate": 0,
            "tax_category": p["tax_category"],
            "tax_inclusive": p["price"]["tax_inclusive"].as_bool().unwrap_or(false),
            "is_subscription": recurring,
            "is_usage_based": usage,
            "meters": usage::meter_details(ctx, &p["price"])?,
            "credit_entitlements": credit_mappings::checkout_items(p, overrides),
            "addons": recurring.then_some(addons),
        }));
    }
    let country = billing_country(&input);
    let next_billing = cart
        .lines
        .iter()
        .find(|l| products::is_recurring(&l.product))
        .map(|l| {
            let price = &l.product["price"];
            let (interval, count) = match trial_days {
                Some(d) => ("Day", d),
                None => (
                    price["payment_frequency_interval"]
                        .as_str()
                        .unwrap_or("Month"),
                    price["payment_frequency_count"].as_i64().unwrap_or(1),
                ),
            };
            clock::add_interval(ctx.now(), interval, count)
                .map(clock::format)
                .ok_or_else(|| ApiError::out_of_range("the billing interval is too large"))
        })
        .transpose()?;
    let has_recurring = next_billing.is_some();
    Ok(Reply::json(json!({
        "total_price": subtotal - off,
        "total_tax": 0,
        "currency": cart.currency,
        "product_cart": items,
        "current_breakup": {
            "subtotal": due_sub,
            "discount": due_off,
            "tax": 0,
            "total_amount": due_sub - due_off,
        },
        "billing_country": country,
        "is_byop": false,
        "next_billing_date": next_billing,
        "recurring_breakup": has_recurring.then(|| json!({
            "subtotal": rec_sub, "discount": rec_off, "tax": 0, "total_amount": rec_sub - rec_off,
        })),
        "trial_amount": null,
        "trial_period_days": trial_days,
        "tax_id_business_name": null,
        "tax_id_err_msg": null,
        "tax_id_format_name": null,
    })))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(
        ctx,
        kind::CHECKOUT_SESSION,
        "Checkout session",
        req.param("id"),
    )
}
