//! Subscriptions: create, retrieve, update (cancel, pause, resume), list, change plan (with
//! preview and scheduled changes), on-demand charges.
//!
//! A new subscription is `pending` with a first payment; settling that payment
//! (`POST /_emulator/payments/{id}/complete`) makes it `active` (or `failed`). A saved
//! `payment_method_id` settles at once. `PATCH` accepts `status: cancelled` (sets
//! `cancelled_at`; 422 `SUBSCRIPTION_INACTIVE` if already ended), `cancel_at_next_billing_date`,
//! and pause/resume either as `status: paused|active` or the older `pause: true|false`.
//! `change-plan` needs an `active` subscription; `effective_at: immediately` switches the plan
//! and bills per `proration_billing_mode` (a settled payment), `next_billing_date` stores a
//! `scheduled_change` (409 `PENDING_PLAN_CHANGE_EXISTS` while one exists), which the clock applies
//! on that date before billing it ([`apply_scheduled_change`]). A usage-based plan carries its
//! meters (`meters`, see [`usage`]); credit usage belongs to the credits group.
//!
//! Discounts: `discount_codes` (or the deprecated `discount_code`) are redeemed for the plan
//! (product and addons, in its currency) and kept on the subscription as `discounts`
//! (`DiscountDetailResponse` with `position` and `cycles_remaining`; the first also in the
//! deprecated `discount_id` / `discount_cycles_remaining`). A discount lasts its
//! `subscription_cycles` billing cycles (none: "applied indefinitely"): the first payment
//! uses one unless it is a free trial's, each renewal ([`crate::timewarp`]) one more, and a
//! discount with none left is dropped. A plan change given codes replaces the stack with them
//! (checked against the new plan; "Empty array removes all discounts") and discounts its
//! immediate charge, as its preview shows; without codes only the discounts with
//! `preserve_on_plan_change` stay, cycles intact. A scheduled change redeems its codes when
//! made and puts them on at the billing date.
//!
//! `update-payment-method` with `type: existing` switches the subscription to one of its
//! customer's saved methods (422 otherwise; emits `subscription.update_payment_method`); with
//! `type: new` it answers a payment link on the emulator for a zero-amount payment
//! (`is_update_payment_method: true`) whose success saves the new card and puts it on the
//! subscription.

use dodo_types::models::{
    AttachAddonReq, CreateSubscriptionChargeRequest, CreateSubscriptionRequest, EffectiveAt,
    OnPaymentFailure, PatchSubscriptionRequest, ProrationBillingMode, UpdateSubscriptionPlanReq,
};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::addon_carts::{self, AddonLine};
use super::common::{self, kind};
use super::localized_prices::{self, PriceContext, UnitPrice};
use super::payments::{self, Cart, Line, NewPayment};
use super::{Ctx, Registry, discounts, payment_methods, products, usage};
use crate::clock;
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::Record;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/subscriptions", create);
    r.add(
        "POST",
        "/subscriptions/{subscription_id}/update-payment-method",
        update_payment_method,
    );
    r.add("GET", "/subscriptions/{subscription_id}", retrieve);
    r.add("PATCH", "/subscriptions/{subscription_id}", update);
    r.add("GET", "/subscriptions", list);
    r.add(
        "POST",
        "/subscriptions/{subscription_id}/change-plan",
        change_plan,
    );
    r.add(
        "POST",
        "/subscriptions/{subscription_id}/change-plan/preview",
        preview,
    );
    r.add(
        "DELETE",
        "/subscriptions/{subscription_id}/change-plan/scheduled",
        cancel_scheduled,
    );
    r.add("POST", "/subscriptions/{subscription_id}/charge", charge);
}

const ENDED: &[&str] = &["cancelled", "expired", "failed"];

fn inactive(id: &str, status: &str) -> ApiError {
    ApiError::unprocessable(
        "SUBSCRIPTION_INACTIVE",
        format!("Subscription {id} is {status}"),
    )
}

fn recurring_product(
    ctx: &Ctx<'_>,
    product_id: &str,
    quantity: i64,
) -> Result<(Value, i64), ApiError> {
    if quantity < 1 {
        return Err(ApiError::invalid_field("quantity", "must be at least 1"));
    }
    let product = common::must_get(ctx, kind::PRODUCT, "Product", product_id)?.data;
    if !products::is_recurring(&product) {
        return Err(ApiError::invalid_field(
            "product_id",
            format!("product {product_id} is not a subscription product"),
        ));
    }
    Ok((product, quantity))
}

/// A plan as put on a subscription: the product's unit price charged and its addons, priced.
struct Plan {
    unit: UnitPrice,
    addons: Vec<AddonLine>,
}

/// Puts a plan on a subscription (product, quantity, addons, price, intervals and the plan's
/// meters); answers what it charges. The price is localized for the subscription's billing
/// country and the currency it is billed in so far (`currency`; the request's
/// `billing_currency` on create); the addons ([`addon_carts::price`], body field `addons`)
/// must be priced in that currency, and `recurring_pre_tax_amount` includes them.
fn apply_plan(
    ctx: &Ctx<'_>,
    sub: &mut Value,
    product: &Value,
    quantity: i64,
    addons: &[AttachAddonReq],
) -> Result<Plan, ApiError> {
    let price = &product["price"];
    let buyer = PriceContext {
        country: sub["billing"]["country"].as_str(),
        currency: sub["currency"].as_str(),
    };
    let unit = localized_prices::resolve(ctx, product, buyer)?;
    let addons = addon_carts::price(ctx, "addons", product, addons, &unit.currency)?;
    let amount = unit
        .amount
        .checked_mul(quantity)
        .and_then(|a| a.checked_add(addon_carts::sum(&addons)))
        .filter(|a| *a <= payments::MAX_AMOUNT)
        .ok_or_else(|| {
            ApiError::out_of_range("the plan's price times quantity, with its addons, is too large")
        })?;
    sub["meters"] = json!(usage::price_meters(ctx, price)?);
    sub["product_id"] = product["product_id"].clone();
    sub["quantity"] = json!(quantity);
    sub["addons"] = addon_carts::cart(&addons);
    sub["recurring_pre_tax_amount"] = json!(amount);
    sub["currency"] = json!(unit.currency);
    sub["tax_inclusive"] = json!(price["tax_inclusive"].as_bool().unwrap_or(false));
    for f in [
        "payment_frequency_count",
        "payment_frequency_interval",
        "subscription_period_count",
        "subscription_period_interval",
    ] {
        sub[f] = price[f].clone();
    }
    Ok(Plan { unit, addons })
}

/// What a new subscription's trial charges now.
struct Trial {
    /// Per unit for the plan's line: `None` without a trial, `Some(0)` for a free trial, the
    /// price's `trial_amount` for a paid one.
    charge: Option<i64>,
    /// Whether a paid trial's charge is discounted (its price's `trial_apply_discounts`).
    discounted: bool,
    /// The subscription's `trial_amount`: a paid trial's per-unit amount after discounts.
    amount_after_discount: Option<i64>,
}

impl Trial {
    /// A paid trial's amount is in the price's own currency: a plan charged in another one
    /// (a localized price) cannot take it, having no exchange rate (422 `CURRENCY_MISMATCH`).
    fn of(product: &Value, days: i64, unit: &UnitPrice, stack: &[Value]) -> Result<Self, ApiError> {
        if days <= 0 {
            return Ok(Self {
                charge: None,
                discounted: true,
                amount_after_discount: None,
            });
        }
        let Some(amount) = products::trial_amount(product) else {
            return Ok(Self {
                charge: Some(0),
                discounted: true,
                amount_after_discount: None,
            });
        };
        if products::currency(product) != unit.currency.as_str() {
            return Err(ApiError::unprocessable(
                "CURRENCY_MISMATCH",
                format!(
                    "the paid trial is priced in {} but the plan is charged in {}; \
                     there are no exchange rates",
                    products::currency(product),
                    unit.currency
                ),
            ));
        }
        let discounted = products::trial_applies_discounts(product);
        let off = discounts::off_trial(product, stack, &unit.currency, amount);
        Ok(Self {
            charge: Some(amount),
            discounted,
            amount_after_discount: Some(amount - off),
        })
    }
}

/// The cart of a new subscription's first payment: the plan's line, then the one-time
/// products of `one_time_product_cart` (priced as a payment's cart, in the same currency:
/// 422 `CART_CURRENCY_MISMATCH` otherwise). A trial charges its `trial` amount per unit for
/// the plan now (0 for a free trial; without the addons), and an on-demand subscription with
/// `mandate_only` nothing (the card is only authorised); an on-demand subscription otherwise charges its
/// `product_price` per unit in its `product_currency` (defaults: the plan's price and
/// currency; another currency needs a `product_price`, as there are no exchange rates) with
/// its `product_description`.
fn first_payment_cart(
    ctx: &Ctx<'_>,
    input: &CreateSubscriptionRequest,
    billing: &Value,
    mut plan: Line,
    unit: &UnitPrice,
    trial: Option<i64>,
) -> Result<Cart, ApiError> {
    let mut currency = unit.currency.clone();
    let on_demand = input.on_demand.as_ref();
    let mandate_only = on_demand.is_some_and(|o| o.mandate_only);
    if mandate_only
        && input
            .one_time_product_cart
            .as_ref()
            .is_some_and(|c| !c.is_empty())
    {
        return Err(ApiError::invalid_field(
            "one_time_product_cart",
            "cannot be charged with `on_demand.mandate_only`, which performs no charge",
        ));
    }
    if mandate_only {
        plan.unit_amount = 0;
        plan.addons.clear();
    } else if let Some(per_unit) = trial {
        plan.unit_amount = per_unit;
        plan.addons.clear();
    } else if let Some(o) = on_demand {
        if let Some(c) = &o.product_currency {
            if o.product_price.is_none() && c.as_str() != currency {
                return Err(ApiError::unprocessable(
                    "CURRENCY_MISMATCH",
                    format!(
                        "`on_demand.product_currency` {} differs from the plan's {currency}; \
                         give `on_demand.product_price` in it (there are no exchange rates)",
                        c.as_str()
                    ),
                ));
            }
            currency = c.as_str().to_string();
        }
        if let Some(price) = o.product_price {
            if price < 0 {
                return Err(ApiError::invalid_field(
                    "on_demand.product_price",
                    "must not be negative",
                ));
            }
            plan.unit_amount = price;
            price
                .checked_mul(plan.quantity)
                .filter(|a| *a <= payments::MAX_AMOUNT)
                .ok_or_else(|| {
                    ApiError::out_of_range("`on_demand.product_price` times quantity is too large")
                })?;
        }
        if let Some(d) = &o.product_description {
            plan.product["description"] = json!(d);
        }
    }
    let mut lines = vec![plan];
    if let Some(items) = input
        .one_time_product_cart
        .as_deref()
        .filter(|c| !c.is_empty())
    {
        let items: Vec<payments::CartItem<'_>> = items
            .iter()
            .map(|l| payments::CartItem {
                product_id: &l.product_id,
                quantity: l.quantity,
                amount: l.amount,
                addons: &[],
            })
            .collect();
        let buyer = PriceContext {
            country: billing["country"].as_str(),
            currency: Some(&currency),
        };
        let extra =
            payments::price_items(ctx, "one_time_product_cart", &items, Some(false), buyer)?;
        if extra.currency != currency.as_str() {
            return Err(ApiError::unprocessable(
                "CART_CURRENCY_MISMATCH",
                format!(
                    "`one_time_product_cart` is charged in {} but the subscription in {currency}; \
                     a payment is made in one currency",
                    extra.currency
                ),
            ));
        }
        let total = lines[0]
            .total()
            .checked_add(extra.subtotal())
            .filter(|t| *t <= payments::MAX_AMOUNT);
        if total.is_none() {
            return Err(ApiError::out_of_range(format!(
                "the first payment exceeds {} minor units",
                payments::MAX_AMOUNT
            )));
        }
        lines.extend(extra.lines);
    }
    Ok(Cart {
        lines,
        currency: json!(currency),
    })
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    Ok(Reply::json(start(ctx, req.input()?)?))
}

/// Creates a subscription and its first payment as `POST /subscriptions` does (also for a
/// checkout session confirmed with a saved card); answers the `CreateSubscriptionResponse`.
pub fn start(ctx: &Ctx<'_>, input: CreateSubscriptionRequest) -> Result<Value, ApiError> {
    if let Some(url) = &input.return_url {
        super::return_urls::check("return_url", url)?;
    }
    let billing = json!(&input.billing);
    if !billing["country"].is_string() {
        return Err(ApiError::invalid_field("billing.country", "is required"));
    }
    let (product, quantity) = recurring_product(ctx, &input.product_id, input.quantity)?;
    let customer = common::customer_of(ctx, "customer", &input.customer)?;
    let codes = discounts::requested(
        input.discount_code.as_deref(),
        input.discount_codes.as_deref(),
    )?
    .unwrap_or_default();
    let trial_days = match input.trial_period_days {
        Some(d) if d < 0 => {
            return Err(ApiError::invalid_field(
                "trial_period_days",
                "must not be negative",
            ));
        }
        Some(d) => d,
        None => product["price"]["trial_period_days"].as_i64().unwrap_or(0),
    };
    let brand_id = match product["brand_id"].as_str() {
        Some(b) => b.to_string(),
        None => crate::resources::brands::default_brand_id(ctx)?,
    };
    let id = new_id("sub_");
    let now_t = ctx.now();
    let now = clock::format(now_t);
    let price = &product["price"];
    let next = if trial_days > 0 {
        clock::add_interval(now_t, "Day", trial_days)
            .ok_or_else(|| ApiError::out_of_range("`trial_period_days` is too large"))?
    } else {
        clock::add_interval(
            now_t,
            price["payment_frequency_interval"]
                .as_str()
                .unwrap_or("Month"),
            price["payment_frequency_count"].as_i64().unwrap_or(1),
        )
        .ok_or_else(|| ApiError::out_of_range("the product's billing interval is too large"))?
    };
    let mut sub = json!({
        "subscription_id": id,
        "brand_id": brand_id,
        "status": "pending",
        "customer": common::customer_limited(&customer),
        "billing": billing,
        "metadata": input.metadata.clone().unwrap_or_default(),
        "addons": [],
        "meters": [],
        "credit_entitlement_cart": [],
        "meter_credit_entitlement_cart": [],
        "cancel_at_next_billing_date": false,
        "cancellation_comment": null,
        "cancellation_feedback": null,
        "cancelled_at": null,
        "paused_at": null,
        "expires_at": null,
        "custom_field_responses": null,
        "customer_business_name": input.customer_business_name,
        "tax_id": input.tax_id,
        "discount_id": null,
        "discount_cycles_remaining": null,
        "discounts": null,
        "on_demand": input.on_demand.is_some(),
        "payment_method_id": &input.payment_method_id,
        "scheduled_change": null,
        "trial_period_days": trial_days,
        "trial_amount": null,
        "next_billing_date": clock::format(next),
        "previous_billing_date": now,
        "created_at": now,
        // The currency asked for, which `apply_plan` replaces with the one charged.
        "currency": input.billing_currency.as_ref().map(|c| c.as_str()),
    });
    let Plan { unit, addons } = apply_plan(
        ctx,
        &mut sub,
        &product,
        quantity,
        input.addons.as_deref().unwrap_or_default(),
    )?;
    // It lasts its price's subscription period from today (the clock expires it then).
    if let (Some(interval), Some(count)) = (
        sub["subscription_period_interval"].as_str(),
        sub["subscription_period_count"].as_i64(),
    ) {
        let end = clock::add_interval(now_t, interval, count).ok_or_else(|| {
            ApiError::out_of_range("the product's subscription period is too long")
        })?;
        sub["expires_at"] = json!(clock::format(end));
    }
    // The codes apply to the plan as charged (product and addons, in its currency); a trial's
    // first payment is not a discounted billing cycle.
    let redeemed = discounts::redeem_all(
        ctx,
        &codes,
        &discounts::Basket {
            product_ids: vec![product["product_id"].as_str().unwrap_or_default()],
            currency: &unit.currency,
            subtotal: sub["recurring_pre_tax_amount"].as_i64().unwrap_or(0),
        },
        customer["customer_id"].as_str(),
    )?;
    let charged = trial_days == 0;
    discounts::set_on_subscription(&mut sub, discounts::for_subscription(&redeemed, charged));
    let trial = Trial::of(&product, trial_days, &unit, &redeemed)?;
    sub["trial_amount"] = json!(trial.amount_after_discount);
    // The first payment carries every code (with the cycles each has left after it); a paid
    // trial's carries them only with `trial_apply_discounts`, and uses no cycle.
    let first_stack: Vec<Value> = redeemed
        .iter()
        .enumerate()
        .filter(|_| charged || trial.discounted)
        .map(|(i, d)| {
            let cycles = d["subscription_cycles"].as_i64();
            let left = if charged {
                cycles.map(|n| (n - 1).max(0))
            } else {
                cycles
            };
            discounts::detail(d, i, left)
        })
        .collect();
    ctx.db.insert(kind::SUBSCRIPTION, &id, None, &now, &sub)?;
    let plan_line = Line {
        product: product.clone(),
        quantity,
        unit_amount: unit.amount,
        addons,
    };
    let cart = first_payment_cart(ctx, &input, &billing, plan_line, &unit, trial.charge)?;
    let payment = payments::create_payment(
        ctx,
        NewPayment {
            customer: &customer,
            billing: sub["billing"].clone(),
            cart: &cart,
            discounts: &first_stack,
            metadata: sub["metadata"].clone(),
            subscription_id: Some(&id),
            checkout_session_id: None,
            brand_id: sub["brand_id"].as_str().unwrap_or_default().to_string(),
            payment_method_id: input.payment_method_id.as_deref(),
            payment_link: input.payment_link.unwrap_or(false),
            amount_override: None,
        },
    )?;
    let payment = payments::shorten_link(ctx, payment, input.short_link == Some(true))?;
    let payment_id = payment["payment_id"].as_str().unwrap_or_default();
    if let Some(url) = &input.return_url {
        super::return_urls::remember(ctx, payment_id, url)?;
    }
    Ok(json!({
        "subscription_id": id,
        "payment_id": payment_id,
        "recurring_pre_tax_amount": sub["recurring_pre_tax_amount"],
        "customer": sub["customer"],
        "metadata": sub["metadata"],
        "addons": sub["addons"],
        "payment_link": payment["payment_link"],
        "client_secret": format!("{payment_id}_secret_{}", crate::ids::upper_code(16)),
        "discount_id": redeemed.first().map(|d| d["discount_id"].clone()),
        "discount_ids": (!redeemed.is_empty())
            .then(|| json!(redeemed.iter().map(|d| &d["discount_id"]).collect::<Vec<_>>())),
        "expires_on": null,
        "one_time_product_cart": (cart.lines.len() > 1).then(|| json!(cart.lines[1..]
            .iter()
            .map(|l| json!({"product_id": l.product_id(), "quantity": l.quantity}))
            .collect::<Vec<_>>())),
        "trial_amount": sub["trial_amount"],
    }))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let sub = common::must_get(
        ctx,
        kind::SUBSCRIPTION,
        "Subscription",
        req.param("subscription_id"),
    )?;
    Ok(Reply::json(super::subscription_carts::render(
        ctx, sub.data,
    )?))
}

fn update(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("subscription_id");
    let input: PatchSubscriptionRequest = req.input()?;
    let mut record = common::must_get(ctx, kind::SUBSCRIPTION, "Subscription", id)?;
    let now = ctx.now_string();
    let current = record.data["status"].as_str().unwrap_or("").to_string();
    let ended = ENDED.contains(&current.as_str());
    if let Some(updates) = input.credit_entitlement_cart.as_deref() {
        let items = super::credit_ledger::credit_items(ctx, &record.data)?;
        record.data["credit_entitlement_cart"] =
            json!(super::credit_mappings::update_cart(ctx, items, updates)?);
    }
    let d = &mut record.data;

    let mut target = input.status.as_ref().map(|s| s.as_str().to_string());
    if let Some(pause) = input.pause {
        target = Some(if pause { "paused" } else { "active" }.to_string());
    }
    if let Some(t) = target.as_deref()
        && t != current
    {
        match t {
            "cancelled" if ended => return Err(inactive(id, &current)),
            "cancelled" => {
                d["status"] = json!("cancelled");
                d["cancelled_at"] = json!(now);
            }
            "paused" if current == "active" => {
                d["status"] = json!("paused");
                d["paused_at"] = json!(now);
            }
            "active" if current == "paused" => {
                d["status"] = json!("active");
                d["paused_at"] = Value::Null;
            }
            "paused" | "active" => return Err(inactive(id, &current)),
            other => {
                return Err(ApiError::invalid_field(
                    "status",
                    format!("cannot change a subscription to `{other}`"),
                ));
            }
        }
    }
    if let Some(cancel) = input.cancel_at_next_billing_date {
        if ended {
            return Err(inactive(id, &current));
        }
        d["cancel_at_next_billing_date"] = json!(cancel);
    }
    if let Some(t) = input.next_billing_date {
        d["next_billing_date"] = json!(clock::format(t));
    }
    if input.subscription_period_count.is_some() || input.subscription_period_interval.is_some() {
        extend_period(
            d,
            input.subscription_period_count,
            input
                .subscription_period_interval
                .as_ref()
                .map(|i| i.as_str()),
        )?;
    }
    if let Some(off) = &input.disable_on_demand {
        if ended {
            return Err(inactive(id, &current));
        }
        d["on_demand"] = json!(false);
        d["next_billing_date"] = json!(clock::format(off.next_billing_date));
    }
    if let Some(name) = &input.customer_name {
        d["customer"]["name"] = json!(name);
    }
    // A `null` field leaves the stored value as it is, like an absent one.
    common::set_some(d, "billing", input.billing.as_ref())?;
    common::set_some(d, "metadata", input.metadata.as_ref())?;
    common::set_some(d, "tax_id", input.tax_id.as_ref())?;
    common::set_some(
        d,
        "customer_business_name",
        input.customer_business_name.as_ref(),
    )?;
    common::set_some(
        d,
        "cancellation_comment",
        input.cancellation_comment.as_ref(),
    )?;
    common::set_some(
        d,
        "cancellation_feedback",
        input.cancellation_feedback.as_ref(),
    )?;
    ctx.db.update(kind::SUBSCRIPTION, id, &record.data)?;
    if record.data["status"] == "cancelled" && current != "cancelled" {
        super::entitlements::subscription_ended(ctx, id, "cancelled")?;
    }
    Ok(Reply::json(super::subscription_carts::render(
        ctx,
        record.data,
    )?))
}

/// Extends a subscription's period (`PATCH` `subscription_period_count` / `_interval`; an
/// omitted one keeps its value): "this endpoint only extends", so a period that would end
/// before the current one, counted from the subscription's start, is refused (422).
fn extend_period(
    sub: &mut Value,
    count: Option<i64>,
    interval: Option<&str>,
) -> Result<(), ApiError> {
    let old_count = sub["subscription_period_count"].as_i64().unwrap_or(1);
    let old_interval = sub["subscription_period_interval"]
        .as_str()
        .unwrap_or("Year")
        .to_string();
    let new_count = count.unwrap_or(old_count);
    let new_interval = interval.unwrap_or(&old_interval).to_string();
    if new_count < 1 {
        return Err(ApiError::invalid_field(
            "subscription_period_count",
            "must be at least 1",
        ));
    }
    let start = sub["created_at"]
        .as_str()
        .and_then(clock::parse)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let end = |interval: &str, count: i64| {
        clock::add_interval(start, interval, count)
            .ok_or_else(|| ApiError::out_of_range("the subscription period is too long"))
    };
    if end(&new_interval, new_count)? < end(&old_interval, old_count)? {
        return Err(ApiError::invalid_field(
            "subscription_period_count",
            format!(
                "{new_count} {new_interval} is shorter than the current period of {old_count} \
                 {old_interval}; the period can only be extended"
            ),
        ));
    }
    sub["subscription_period_count"] = json!(new_count);
    sub["subscription_period_interval"] = json!(new_interval);
    sub["expires_at"] = json!(clock::format(end(&new_interval, new_count)?));
    Ok(())
}

fn list_item(ctx: &Ctx<'_>, r: &Record) -> Result<Value, ApiError> {
    let s = &r.data;
    let mut item = json!({});
    for f in [
        "subscription_id",
        "recurring_pre_tax_amount",
        "tax_inclusive",
        "currency",
        "status",
        "created_at",
        "product_id",
        "quantity",
        "trial_period_days",
        "subscription_period_interval",
        "payment_frequency_interval",
        "subscription_period_count",
        "payment_frequency_count",
        "next_billing_date",
        "previous_billing_date",
        "customer",
        "metadata",
        "cancel_at_next_billing_date",
        "billing",
        "on_demand",
        "brand_id",
        "cancelled_at",
        "customer_business_name",
        "discount_cycles_remaining",
        "discount_id",
        "paused_at",
        "payment_method_id",
        "scheduled_change",
        "tax_id",
        "trial_amount",
    ] {
        item[f] = s[f].clone();
    }
    item["discounts"] = json!(
        s["discounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| json!({
                "discount_id": d["discount_id"],
                "discount_cycles_remaining": d["cycles_remaining"],
            }))
            .collect::<Vec<_>>()
    );
    item["product_name"] = match s["product_id"].as_str() {
        Some(pid) => ctx
            .db
            .get(kind::PRODUCT, pid)?
            .map_or(Value::Null, |p| p.data["name"].clone()),
        None => Value::Null,
    };
    Ok(item)
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = Vec::new();
    common::eq_filter(req, "status", "$.status", &mut filters);
    common::eq_filter(req, "customer_id", "$.customer.customer_id", &mut filters);
    common::eq_filter(req, "brand_id", "$.brand_id", &mut filters);
    common::eq_filter(req, "product_id", "$.product_id", &mut filters);
    common::bool_filter(
        req,
        "cancel_at_next_billing_date",
        "$.cancel_at_next_billing_date",
        &mut filters,
    )?;
    common::created_filters(req, &mut filters)?;
    common::page_list_with(ctx, req, kind::SUBSCRIPTION, &filters, |r| {
        list_item(ctx, r)
    })
}

/// A validated plan change: the subscription, the new product and quantity, and the request.
struct PlanChange {
    sub: Record,
    product: Value,
    quantity: i64,
    input: UpdateSubscriptionPlanReq,
}

/// Validates a plan change.
fn plan_change(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<PlanChange, ApiError> {
    let input: UpdateSubscriptionPlanReq = req.input()?;
    let id = req.param("subscription_id");
    let sub = common::must_get(ctx, kind::SUBSCRIPTION, "Subscription", id)?;
    let status = sub.data["status"].as_str().unwrap_or("");
    if status != "active" {
        return Err(inactive(id, status));
    }
    if let ProrationBillingMode::Unknown(mode) = &input.proration_billing_mode {
        return Err(ApiError::invalid_field(
            "proration_billing_mode",
            format!("unknown variant `{mode}`"),
        ));
    }
    if let Some(EffectiveAt::Unknown(e)) = &input.effective_at {
        return Err(ApiError::invalid_field(
            "effective_at",
            format!("unknown variant `{e}`"),
        ));
    }
    let (product, quantity) = recurring_product(ctx, &input.product_id, input.quantity)?;
    Ok(PlanChange {
        sub,
        product,
        quantity,
        input,
    })
}

/// Whether the change waits for the next billing date.
fn at_next_billing_date(input: &UpdateSubscriptionPlanReq) -> bool {
    input.effective_at == Some(EffectiveAt::NextBillingDate)
}

/// Refuses a change billed as a difference between plans charged in different currencies
/// (a localized plan to one without that localization): the emulator has no exchange rates
/// to subtract them. `full_immediately` and `do_not_bill` need no difference.
fn check_currency(
    input: &UpdateSubscriptionPlanReq,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    let needs_difference = !matches!(
        input.proration_billing_mode,
        ProrationBillingMode::FullImmediately | ProrationBillingMode::DoNotBill
    );
    if needs_difference && !at_next_billing_date(input) && old != new {
        return Err(ApiError::unprocessable(
            "CURRENCY_MISMATCH",
            format!(
                "the new plan is charged in {new} but the subscription in {old}; \
                 use full_immediately or do_not_bill"
            ),
        ));
    }
    Ok(())
}

/// What the change bills now, going from `old` to `new` per `proration_billing_mode`.
fn immediate_amount(input: &UpdateSubscriptionPlanReq, old: i64, new: i64) -> i64 {
    match input.proration_billing_mode {
        ProrationBillingMode::FullImmediately => new,
        ProrationBillingMode::DoNotBill => 0,
        _ => (new - old).max(0),
    }
}

/// The discounts a plan change leaves on the subscription (`new_plan`: the subscription with
/// the new plan applied). `discount_codes` (or `discount_code`) "replaces any existing discount
/// codes. Empty array removes all discounts": the codes are checked for the new plan (its
/// product, currency and recurring amount) and, when `redeem`, redeemed; their cycles count
/// from the next renewal (the change's immediate charge is not a billing cycle). Without
/// either field only the discounts with `preserve_on_plan_change` stay, with the cycles they
/// had.
fn plan_discounts(
    ctx: &Ctx<'_>,
    input: &UpdateSubscriptionPlanReq,
    new_plan: &Value,
    redeem: bool,
) -> Result<Vec<Value>, ApiError> {
    let codes = discounts::requested(
        input.discount_code.as_deref(),
        input.discount_codes.as_deref(),
    )?;
    let Some(codes) = codes else {
        return discounts::preserved(ctx, new_plan);
    };
    let basket = discounts::Basket {
        product_ids: vec![new_plan["product_id"].as_str().unwrap_or_default()],
        currency: new_plan["currency"].as_str().unwrap_or_default(),
        subtotal: new_plan["recurring_pre_tax_amount"].as_i64().unwrap_or(0),
    };
    let customer = new_plan["customer"]["customer_id"].as_str();
    let stack = if redeem {
        discounts::redeem_all(ctx, &codes, &basket, customer)?
    } else {
        let records = discounts::check_all(ctx, &codes, &basket)?;
        discounts::check_customer(ctx, &records, customer)?;
        records.into_iter().map(|r| r.data).collect()
    };
    Ok(discounts::for_subscription(&stack, false))
}

fn change_plan(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let PlanChange {
        mut sub,
        product,
        quantity,
        input,
    } = plan_change(ctx, req)?;
    let id = sub.id.clone();
    if !sub.data["scheduled_change"].is_null() {
        return Err(ApiError::conflict(
            "PENDING_PLAN_CHANGE_EXISTS",
            format!("Subscription {id} already has a scheduled plan change"),
        ));
    }
    let now = ctx.now_string();
    let addons = input.addons.as_deref().unwrap_or_default();
    if at_next_billing_date(&input) {
        // Priced now on a copy, so a change that cannot be applied is refused now.
        let mut priced = sub.data.clone();
        let Plan { addons, .. } = apply_plan(ctx, &mut priced, &product, quantity, addons)?;
        let stack = plan_discounts(ctx, &input, &priced, true)?;
        let replace = input.discount_code.is_some() || input.discount_codes.is_some();
        // A leftover of a change that was cleared some other way is replaced.
        ctx.db.delete(kind::SCHEDULED_DISCOUNTS, &id)?;
        ctx.db.insert(
            kind::SCHEDULED_DISCOUNTS,
            &id,
            Some(&id),
            &now,
            &json!({"replace": replace, "stack": stack}),
        )?;
        sub.data["scheduled_change"] = json!({
            "id": new_id("spc_"),
            "product_id": product["product_id"],
            "product_name": product["name"],
            "product_description": product["description"],
            "quantity": quantity,
            "effective_at": sub.data["next_billing_date"],
            "created_at": now,
            "addons": addon_carts::scheduled(&addons),
        });
        ctx.db.update(kind::SUBSCRIPTION, &id, &sub.data)?;
        return Ok(Reply::empty());
    }
    let old = sub.data["recurring_pre_tax_amount"].as_i64().unwrap_or(0);
    let old_currency = sub.data["currency"].clone();
    apply_plan(ctx, &mut sub.data, &product, quantity, addons)?;
    check_currency(&input, &old_currency, &sub.data["currency"])?;
    if let Some(m) = &input.metadata {
        sub.data["metadata"] = json!(m);
    }
    let new = sub.data["recurring_pre_tax_amount"].as_i64().unwrap_or(0);
    let stack = plan_discounts(ctx, &input, &sub.data, true)?;
    discounts::set_on_subscription(&mut sub.data, stack.clone());
    let amount = immediate_amount(&input, old, new);
    // The change is charged first: with `on_payment_failure: prevent_change` a declined
    // charge keeps the current plan; otherwise (`apply_change`, the default) it applies anyway.
    let declined =
        amount > 0 && charge_now(ctx, &sub.data, amount, product, &stack)?["status"] == "failed";
    if !(declined && input.on_payment_failure == Some(OnPaymentFailure::PreventChange)) {
        ctx.db.update(kind::SUBSCRIPTION, &id, &sub.data)?;
    }
    Ok(Reply::empty())
}

/// Applies subscription `id`'s scheduled plan change when its `effective_at` is at or before
/// `due` (the clock calls this before billing the period that starts at `due`): the new
/// product and quantity take over at their price (localized as on create), the change is
/// cleared, and `subscription.plan_changed` (or `.updated` for a quantity change) follows. A
/// change whose product is gone or no longer recurring is dropped and logged; the plan stays.
/// Answers whether a change was applied.
pub fn apply_scheduled_change(ctx: &Ctx<'_>, id: &str, due: &str) -> Result<bool, ApiError> {
    let Some(mut sub) = ctx.db.get(kind::SUBSCRIPTION, id)? else {
        return Ok(false);
    };
    let change = sub.data["scheduled_change"].clone();
    let Some(effective) = change["effective_at"].as_str().and_then(clock::canonical) else {
        return Ok(false);
    };
    if clock::canonical(due).is_none_or(|due| effective > due) {
        return Ok(false);
    }
    sub.data["scheduled_change"] = Value::Null;
    let product_id = change["product_id"].as_str().unwrap_or_default();
    let quantity = change["quantity"].as_i64().unwrap_or(1);
    let addons = addon_carts::requests(&change["addons"]);
    let mut next = sub.data.clone();
    let scheduled = ctx.db.get(kind::SCHEDULED_DISCOUNTS, id)?;
    if scheduled.is_some() {
        ctx.db.delete(kind::SCHEDULED_DISCOUNTS, id)?;
    }
    match recurring_product(ctx, product_id, quantity)
        .and_then(|(product, quantity)| apply_plan(ctx, &mut next, &product, quantity, &addons))
    {
        Ok(_) => {
            // The codes the change named (redeemed when it was scheduled), else the
            // discounts preserved on plan changes.
            let stack = match scheduled {
                Some(s) if s.data["replace"] == true => {
                    s.data["stack"].as_array().cloned().unwrap_or_default()
                }
                _ => discounts::preserved(ctx, &next)?,
            };
            discounts::set_on_subscription(&mut next, stack);
            sub.data = next;
        }
        Err(e) => {
            tracing::warn!(subscription = id, product = product_id, error = %e.message, "scheduled plan change dropped: its product or addons can no longer be subscribed to");
        }
    }
    ctx.db.update(kind::SUBSCRIPTION, id, &sub.data)?;
    Ok(true)
}

/// Creates a settled payment of `amount`, less `stack` ([`discounts::apply`]), for the
/// subscription (charged on its mandate).
fn charge_now(
    ctx: &Ctx<'_>,
    sub: &Value,
    amount: i64,
    product: Value,
    stack: &[Value],
) -> Result<Value, ApiError> {
    let customer_id = sub["customer"]["customer_id"].as_str().unwrap_or_default();
    let customer = common::must_get(ctx, kind::CUSTOMER, "Customer", customer_id)?.data;
    let currency = sub["currency"].clone();
    let cart = Cart {
        lines: vec![Line::new(product, 1, amount)],
        currency,
    };
    let payment = payments::create_payment(
        ctx,
        NewPayment {
            customer: &customer,
            billing: sub["billing"].clone(),
            cart: &cart,
            discounts: stack,
            metadata: sub["metadata"].clone(),
            subscription_id: sub["subscription_id"].as_str(),
            checkout_session_id: None,
            brand_id: sub["brand_id"].as_str().unwrap_or_default().to_string(),
            payment_method_id: None,
            payment_link: false,
            amount_override: Some(amount),
        },
    )?;
    let id = payment["payment_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let declined = match sub["subscription_id"].as_str() {
        Some(sid) => card_fails(ctx.db, sid)?,
        None => false,
    };
    payments::complete(ctx, &id, if declined { "failed" } else { "succeeded" })
}

/// Whether subscription `sub_id`'s card is flagged to fail its charges (a checkout paid with
/// `4000 0000 0000 0341`, or `POST /_emulator/subscriptions/{id}/card`): renewals, plan-change
/// and on-demand charges are then declined.
pub fn card_fails(db: &crate::store::Db<'_>, sub_id: &str) -> rusqlite::Result<bool> {
    Ok(db
        .get(kind::CARD, sub_id)?
        .is_some_and(|r| r.data["fail_renewals"] == true))
}

fn preview(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let PlanChange {
        sub,
        product,
        quantity,
        input,
    } = plan_change(ctx, req)?;
    let old = sub.data["recurring_pre_tax_amount"].as_i64().unwrap_or(0);
    let mut new_plan = sub.data.clone();
    let Plan { unit, addons } = apply_plan(
        ctx,
        &mut new_plan,
        &product,
        quantity,
        input.addons.as_deref().unwrap_or_default(),
    )?;
    check_currency(&input, &sub.data["currency"], &new_plan["currency"])?;
    let new = new_plan["recurring_pre_tax_amount"].as_i64().unwrap_or(0);
    let stack = plan_discounts(ctx, &input, &new_plan, false)?;
    let currency = new_plan["currency"].clone();
    // What `change-plan` charges now: the billed amount less the new plan's discounts.
    let billed = immediate_amount(&input, old, new);
    let amount =
        billed - discounts::apply(&stack, currency.as_str().unwrap_or_default(), &[billed]).total();
    discounts::set_on_subscription(&mut new_plan, stack);
    let effective_at = if at_next_billing_date(&input) {
        new_plan = sub.data.clone();
        sub.data["next_billing_date"].clone()
    } else {
        json!(ctx.now_string())
    };
    let proration = if old > 0 && billed > 0 {
        (billed as f64) / (new.max(1) as f64)
    } else {
        0.0
    };
    let mut line_items = vec![json!({
        "type": "subscription",
        "id": sub.id,
        "product_id": product["product_id"],
        "name": product["name"],
        "description": product["description"],
        "quantity": quantity,
        "unit_price": unit.amount,
        "currency": currency,
        "tax_inclusive": false,
        "tax": 0,
        "tax_rate": 0.0,
        "proration_factor": proration,
    })];
    line_items.extend(addons.iter().map(|a| {
        json!({
            "type": "addon",
            "id": a.addon_id(),
            "name": a.addon["name"],
            "description": a.addon["description"],
            "tax_category": a.addon["tax_category"],
            "quantity": a.quantity,
            "unit_price": a.unit_amount,
            "currency": currency,
            "tax_inclusive": false,
            "tax": 0,
            "tax_rate": 0.0,
            "proration_factor": proration,
        })
    }));
    Ok(Reply::json(json!({
        "new_plan": new_plan,
        "immediate_charge": {
            "effective_at": effective_at,
            "line_items": line_items,
            "summary": {
                "total_amount": amount,
                "currency": currency,
                "settlement_amount": amount,
                "settlement_currency": currency,
                "customer_credits": 0,
                "tax": 0,
                "settlement_tax": 0,
            },
        },
    })))
}

fn cancel_scheduled(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("subscription_id");
    let mut sub = common::must_get(ctx, kind::SUBSCRIPTION, "Subscription", id)?;
    if sub.data["scheduled_change"].is_null() {
        return Err(ApiError::not_found(
            "Scheduled plan change of subscription",
            id,
        ));
    }
    sub.data["scheduled_change"] = Value::Null;
    ctx.db.update(kind::SUBSCRIPTION, id, &sub.data)?;
    ctx.db.delete(kind::SCHEDULED_DISCOUNTS, id)?;
    Ok(Reply::empty())
}

fn charge(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateSubscriptionChargeRequest = req.input()?;
    let id = req.param("subscription_id");
    let sub = common::must_get(ctx, kind::SUBSCRIPTION, "Subscription", id)?;
    let status = sub.data["status"].as_str().unwrap_or("");
    if status != "active" {
        return Err(inactive(id, status));
    }
    let amount = input.product_price;
    if amount <= 0 {
        return Err(ApiError::invalid_field("product_price", "must be positive"));
    }
    let product_id = sub.data["product_id"].as_str().unwrap_or_default();
    let mut product = common::must_get(ctx, kind::PRODUCT, "Product", product_id)?.data;
    if let Some(desc) = &input.product_description {
        product["description"] = json!(desc);
    }
    let mut sub_data = sub.data.clone();
    if let Some(c) = &input.product_currency {
        sub_data["currency"] = json!(c);
    }
    if let Some(m) = &input.metadata {
        sub_data["metadata"] = json!(m);
    }
    // The customer's credit balance in the charge's currency settles what it can first.
    let uses_credits = input
        .customer_balance_config
        .as_ref()
        .and_then(|c| c.allow_customer_credits_usage)
        == Some(true);
    let customer_id = sub_data["customer"]["customer_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let currency = sub_data["currency"].as_str().unwrap_or("USD").to_string();
    let from_credits = if uses_credits {
        super::wallets::available(ctx, &customer_id, &currency, amount)?
    } else {
        0
    };
    let payment = charge_now(ctx, &sub_data, amount - from_credits, product, &[])?;
    let payment_id = payment["payment_id"].as_str().unwrap_or_default();
    super::wallets::spend(ctx, &customer_id, &currency, from_credits, payment_id)?;
    Ok(Reply::json(json!({ "payment_id": payment_id })))
}

fn update_payment_method(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    use dodo_types::models::UpdatePaymentMethodReq;
    let id = req.param("subscription_id");
    let mut sub = common::must_get(ctx, kind::SUBSCRIPTION, "Subscription", id)?;
    let customer_id = sub.data["customer"]["customer_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if matches!(
        sub.data["status"].as_str(),
        Some("cancelled" | "expired" | "failed")
    ) {
        return Err(ApiError::unprocessable(
            "SUBSCRIPTION_INACTIVE",
            format!("Subscription {id} has ended"),
        ));
    }
    match req.input::<UpdatePaymentMethodReq>()? {
        UpdatePaymentMethodReq::Existing(e) => {
            if payment_methods::find(ctx, &customer_id, &e.payment_method_id)?.is_none() {
                return Err(ApiError::invalid_field(
                    "payment_method_id",
                    format!(
                        "{} is not a saved payment method of customer {customer_id}",
                        e.payment_method_id
                    ),
                ));
            }
            sub.data["payment_method_id"] = json!(e.payment_method_id);
            ctx.db.update(kind::SUBSCRIPTION, id, &sub.data)?;
            Ok(Reply::json(json!({
                "client_secret": null, "expires_on": null, "payment_id": null, "payment_link": null,
            })))
        }
        UpdatePaymentMethodReq::New(new) => {
            if let Some(url) = &new.return_url {
                super::return_urls::check("return_url", url)?;
            }
            let payment = mandate_payment(ctx, &sub.data, &customer_id)?;
            let pid = payment["payment_id"].as_str().unwrap_or_default();
            if let Some(url) = &new.return_url {
                super::return_urls::remember(ctx, pid, url)?;
            }
            Ok(Reply::json(json!({
                "client_secret": format!("{pid}_secret_{}", crate::ids::upper_code(16)),
                "expires_on": null,
                "payment_id": pid,
                "payment_link": payment["payment_link"],
            })))
        }
        other => Err(ApiError::invalid_field(
            "type",
            format!("expected `new` or `existing`, got {other:?}"),
        )),
    }
}

/// A zero-amount payment that collects a new card for the subscription.
fn mandate_payment(ctx: &Ctx<'_>, sub: &Value, customer_id: &str) -> Result<Value, ApiError> {
    let customer = common::must_get(ctx, kind::CUSTOMER, "Customer", customer_id)?.data;
    let product_id = sub["product_id"].as_str().unwrap_or_default();
    let product = common::must_get(ctx, kind::PRODUCT, "Product", product_id)?.data;
    let cart = Cart {
        lines: vec![Line::new(product, 1, 0)],
        currency: sub["currency"].clone(),
    };
    let payment = payments::create_payment(
        ctx,
        NewPayment {
            customer: &customer,
            billing: sub["billing"].clone(),
            cart: &cart,
            discounts: &[],
            metadata: json!({}),
            subscription_id: sub["subscription_id"].as_str(),
            checkout_session_id: None,
            brand_id: sub["brand_id"].as_str().unwrap_or_default().to_string(),
            payment_method_id: None,
            payment_link: true,
            amount_override: Some(0),
        },
    )?;
    let pid = payment["payment_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut record = common::must_get(ctx, kind::PAYMENT, "Payment", &pid)?;
    record.data["is_update_payment_method"] = json!(true);
    ctx.db.update(kind::PAYMENT, &pid, &record.data)?;
    Ok(record.data)
}
