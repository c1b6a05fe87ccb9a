//! Checkout sessions: create, preview (price calculation), retrieve status.
//!
//! A session prices its `product_cart` from the stored products (one-time and subscription
//! products alike), checks its `discount_codes` (or the deprecated `discount_code`) without
//! using them ([`discounts::check_all`]; they are used when the session is paid), and answers
//! `{session_id, checkout_url}` with a URL on the emulator (`{base_url}/checkout/{session_id}`;
//! the hosted page itself is a later addition). With a saved `payment_method_id` (only with
//! `confirm: true` and an existing customer, as the spec says) the session is paid at once —
//! a subscription product starts its subscription — `checkout_url` is null and `payment_id`
//! is set. `GET /checkouts/{id}`
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
use super::{Ctx, Registry, blocklist, credit_mappings, discounts, products, subscriptions, usage};
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

/// `subscription_data.trial_period_days`, which overrides the products' trials: 0..=10000.
fn trial_override(input: &CreateCheckoutSessionRequest) -> Result<Option<i64>, ApiError> {
    let days = input
        .subscription_data
        .as_ref()
        .and_then(|d| d.trial_period_days);
    if days.is_some_and(|d| !(0..=10_000).contains(&d)) {
        return Err(ApiError::invalid_field(
            "subscription_data.trial_period_days",
            "must be between 0 and 10000 days",
        ));
    }
    Ok(days)
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

/// The spec's rules for finalising a session at create: `payment_method_id` "only allowed
/// when `confirm` is true" and needs an existing customer (`{customer_id}`); `confirm` needs
/// the customer and the billing address (the details it finalises).
fn check_confirm(input: &CreateCheckoutSessionRequest) -> Result<(), ApiError> {
    let confirm = input.confirm == Some(true);
    if input.payment_method_id.is_some() {
        if !confirm {
            return Err(ApiError::invalid_field(
                "payment_method_id",
                "is only allowed when `confirm` is true",
            ));
        }
        let existing = input
            .customer
            .as_ref()
            .map(common::to_json)
            .transpose()?
            .is_some_and(|c| c["customer_id"].is_string());
        if !existing {
            return Err(ApiError::invalid_field(
                "customer",
                "must be an existing customer (`{customer_id}`) with `payment_method_id`",
            ));
        }
    }
    if confirm && input.customer.is_none() {
        return Err(ApiError::invalid_field(
            "customer",
            "is required when `confirm` is true",
        ));
    }
    if confirm && input.billing_address.is_none() {
        return Err(ApiError::invalid_field(
            "billing_address",
            "is required when `confirm` is true",
        ));
    }
    Ok(())
}

/// Pays a confirmed session with the customer's saved card at once; answers the payment id.
/// A cart whose first line is a subscription product starts that subscription (its addons,
/// the session's `subscription_data`, the other lines as `one_time_product_cart`) through
/// [`subscriptions::start`], as paying the hosted page would; otherwise it is one payment.
fn pay_with_saved_card(
    ctx: &Ctx<'_>,
    input: &CreateCheckoutSessionRequest,
    cart: &Cart,
    codes: &[String],
    customer: &Value,
    payment_method_id: &str,
    session_id: &str,
) -> Result<Value, ApiError> {
    let billing = input
        .billing_address
        .as_ref()
        .map_or_else(|| Ok(json!({"country": "US"})), common::to_json)?;
    if products::is_recurring(&cart.lines[0].product) {
        let first = &input.product_cart[0];
        let rest = &input.product_cart[1..];
        if let Some(i) = cart.lines[1..]
            .iter()
            .position(|l| products::is_recurring(&l.product))
        {
            return Err(ApiError::invalid_field(
                &format!("product_cart[{}]", i + 1),
                "a session starts one subscription: only its first line may be a subscription product",
            ));
        }
        let mut body = json!({
            "product_id": first.product_id, "quantity": first.quantity, "addons": first.addons,
            "customer": {"customer_id": customer["customer_id"]}, "billing": billing,
            "payment_method_id": payment_method_id,
            "discount_codes": (!codes.is_empty()).then_some(codes),
            "metadata": common::metadata_json(input.metadata.as_ref())?,
            "billing_currency": input.billing_currency,
            "one_time_product_cart": (!rest.is_empty()).then(|| rest.iter().map(|l| json!({
                "product_id": l.product_id, "quantity": l.quantity, "amount": l.amount,
            })).collect::<Vec<_>>()),
        });
        if let Some(data) = &input.subscription_data {
            body["trial_period_days"] = json!(data.trial_period_days);
            body["on_demand"] = common::to_json(&data.on_demand)?;
        }
        let request = serde_json::from_value(body).map_err(ApiError::internal)?;
        let started = subscriptions::start(ctx, request)?;
        let payment_id = started["payment_id"].clone();
        let pid = payment_id.as_str().unwrap_or_default();
        if let Some(mut p) = ctx.db.get(kind::PAYMENT, pid)? {
            p.data["checkout_session_id"] = json!(session_id);
            ctx.db.update(kind::PAYMENT, pid, &p.data)?;
            if let Some(mut sess) = ctx.db.get(kind::CHECKOUT_SESSION, session_id)? {
                sess.data["payment_status"] = p.data["status"].clone();
                ctx.db
                    .update(kind::CHECKOUT_SESSION, session_id, &sess.data)?;
            }
        }
        return Ok(payment_id);
    }
    let used = discounts::redeem_all(ctx, codes, &cart.basket(), customer["customer_id"].as_str())?;
    let brand_id = match cart.lines[0].product["brand_id"].as_str() {
        Some(b) => b.to_string(),
        None => crate::resources::brands::default_brand_id(ctx)?,
    };
    let payment = payments::create_payment(
        ctx,
        NewPayment {
            customer,
            billing,
            cart,
            discounts: &used,
            metadata: common::metadata_json(input.metadata.as_ref())?,
            subscription_id: None,
            checkout_session_id: Some(session_id),
            brand_id,
            payment_method_id: Some(payment_method_id),
            payment_link: false,
            amount_override: None,
        },
    )?;
    Ok(payment["payment_id"].clone())
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateCheckoutSessionRequest = req.input()?;
    check_confirm(&input)?;
    super::custom_fields::check_definitions(&common::to_json(&input.custom_fields)?)?;
    for (field, url) in [
        ("return_url", &input.return_url),
        ("cancel_url", &input.cancel_url),
    ] {
        if let Some(url) = url {
            super::return_urls::check(field, url)?;
        }
    }
    let (cart, codes, _) = priced(ctx, &input)?;
    trial_override(&input)?;
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
    let (checkout_url, payment_id) = match (input.payment_method_id.as_deref(), &customer) {
        (Some(pm), Some(c)) => (
            Value::Null,
            pay_with_saved_card(ctx, &input, &cart, &codes, c, pm, &id)?,
        ),
        _ => {
            let url = format!("{}/checkout/{id}", ctx.env.base_url);
            let url = if input.short_link == Some(true) {
                super::short_links::shorten(ctx, &url)?
            } else {
                url
            };
            (json!(url), Value::Null)
        }
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
    let totals = cart.entry_totals();
    let applied = discounts::apply(&stack, cart.currency.as_str().unwrap_or_default(), &totals);
    let off = applied.total();
    let mut shares = applied.per_entry.into_iter();
    let mut items = Vec::with_capacity(cart.lines.len());
    // (due now, recurring subtotal, recurring discount)
    let (mut due_sub, mut due_off, mut rec_sub, mut rec_off) = (0_i64, 0_i64, 0_i64, 0_i64);
    let trial_override = trial_override(&input)?;
    let mut trial_days: Option<i64> = None;
    let mut trial_amount: Option<i64> = None;
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
        // A trial defers the subscription lines' first charge; a paid trial charges its
        // `trial_amount` per unit now (discounted only with `trial_apply_discounts`).
        if !(recurring && trial_days.is_some()) {
            due_sub = due_sub.saturating_add(l.total());
            due_off = due_off.saturating_add(line_off);
        } else if let Some(per_unit) = products::trial_amount(p) {
            let charge = per_unit.saturating_mul(l.quantity);
            let currency = cart.currency.as_str().unwrap_or_default();
            let off = |amount: i64| discounts::off_trial(p, &stack, currency, amount);
            due_sub = due_sub.saturating_add(charge);
            due_off = due_off.saturating_add(off(charge));
            trial_amount.get_or_insert(per_unit - off(per_unit));
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
        "trial_amount": trial_amount,
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
