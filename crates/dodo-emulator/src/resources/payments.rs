//! One-time payments: create (optionally with a payment link), retrieve, list, line items, and
//! settlement through the admin API.
//!
//! A new payment waits in `requires_payment_method` until a test settles it with
//! `POST /_emulator/payments/{id}/complete` (or it is created with a saved
//! `payment_method_id`, which settles it at once). `payment_link: true` answers a link on the
//! emulator (`{base_url}/pay/{payment_id}`). Prices come from the stored products, localized for the
//! `billing` country and `billing_currency` ([`localized_prices::resolve`]); tax is zero.
//! `discount_codes` (or the deprecated `discount_code`) are redeemed as a stack
//! ([`discounts::redeem_all`]) and applied in order, each on what the previous ones left
//! ([`discounts::apply`]); the payment records them in `discounts` (`DiscountDetailResponse`
//! with `position`; `cycles_remaining` on a subscription's payments) and the first in the
//! deprecated `discount_id`, and the create answer lists `discount_ids`. Line items (one per
//! cart product and addon, `items_id` = its id, each less its share of the discounts) are kept
//! beside the payment for refunds. A succeeded payment saves its card
//! ([`payment_methods`]); manual retries live in [`super::payment_retry`].

use std::collections::HashSet;

use dodo_types::models::{AttachAddonReq, CreateOneTimePaymentRequest};
use serde_json::{Value, json};

use super::addon_carts::{self, AddonLine};
use super::common::{self, kind};
use super::localized_prices::{self, PriceContext};
use super::{Ctx, Registry, blocklist, discounts, licenses, payment_methods, products};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record};

/// Store kind of payment line items (id = payment id).
pub use crate::schema::kind::PAYMENT_LINES as LINES;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("POST", "/payments", create);
    r.add("GET", "/payments/{payment_id}", retrieve);
    r.add("GET", "/payments", list);
    r.add("GET", "/payments/{payment_id}/line-items", line_items);
}

/// One priced cart line.
#[derive(Debug, Clone)]
pub struct Line {
    /// The stored product.
    pub product: Value,
    /// Quantity.
    pub quantity: i64,
    /// Price per unit in minor units.
    pub unit_amount: i64,
    /// Addons bought with a subscription product ([`addon_carts`]).
    pub addons: Vec<AddonLine>,
}

impl Line {
    /// A line of `quantity` units of `product` at `unit_amount` each, without addons.
    pub fn new(product: Value, quantity: i64, unit_amount: i64) -> Self {
        Self {
            product,
            quantity,
            unit_amount,
            addons: Vec::new(),
        }
    }

    /// Product id.
    pub fn product_id(&self) -> &str {
        self.product["product_id"].as_str().unwrap_or("")
    }

    /// `unit_amount × quantity`: the product alone.
    pub fn product_total(&self) -> i64 {
        self.unit_amount.saturating_mul(self.quantity)
    }

    /// The product and its addons.
    pub fn total(&self) -> i64 {
        self.product_total()
            .saturating_add(addon_carts::sum(&self.addons))
    }

    /// What the line charges, entry by entry: the product, then each addon, as
    /// `(item id, name, description, amount)`.
    fn entries(&self) -> Vec<(&str, &Value, &Value, i64)> {
        let mut out = vec![(
            self.product_id(),
            &self.product["name"],
            &self.product["description"],
            self.product_total(),
        )];
        for a in &self.addons {
            out.push((
                a.addon_id(),
                &a.addon["name"],
                &a.addon["description"],
                a.total(),
            ));
        }
        out
    }
}

pub use crate::money::MAX_AMOUNT;

/// A priced cart.
#[derive(Debug, Clone)]
pub struct Cart {
    /// Lines in request order.
    pub lines: Vec<Line>,
    /// The one currency every line is charged in.
    pub currency: Value,
}

impl Cart {
    /// Sum of the lines.
    pub fn subtotal(&self) -> i64 {
        // `price_cart` refused carts whose checked total overflows, so this never saturates.
        self.lines
            .iter()
            .map(Line::total)
            .fold(0_i64, i64::saturating_add)
    }

    /// The total of each entry, in order: each line's product, then its addons (what a
    /// discount is shared over, [`discounts::apply`]).
    pub fn entry_totals(&self) -> Vec<i64> {
        self.lines
            .iter()
            .flat_map(|l| {
                std::iter::once(l.product_total()).chain(l.addons.iter().map(AddonLine::total))
            })
            .collect()
    }

    /// Product ids of the lines.
    pub fn product_ids(&self) -> Vec<&str> {
        self.lines.iter().map(Line::product_id).collect()
    }

    /// The cart as its discounts see it (products, currency, subtotal).
    pub fn basket(&self) -> discounts::Basket<'_> {
        discounts::Basket {
            product_ids: self.product_ids(),
            currency: self.currency.as_str().unwrap_or_default(),
            subtotal: self.subtotal(),
        }
    }

    /// `[{product_id, quantity}]`.
    pub fn summary(&self) -> Value {
        Value::Array(
            self.lines
                .iter()
                .map(|l| json!({ "product_id": l.product_id(), "quantity": l.quantity }))
                .collect(),
        )
    }
}

/// One requested cart line: a product, its quantity and, for a pay-what-you-want product,
/// the amount the buyer chose.
#[derive(Debug, Clone, Copy)]
pub struct CartItem<'a> {
    /// The product.
    pub product_id: &'a str,
    /// How many.
    pub quantity: i64,
    /// Pay-what-you-want amount per unit.
    pub amount: Option<i64>,
    /// Addons for a subscription product (empty for none).
    pub addons: &'a [AttachAddonReq],
}

/// [`price_items`] over cart lines kept as JSON (`[{product_id, quantity, amount?, addons?}]`),
/// for callers pricing stored carts rather than a typed request.
pub fn price_cart(
    ctx: &Ctx<'_>,
    field: &str,
    items: &[Value],
    recurring: Option<bool>,
    buyer: PriceContext<'_>,
) -> Result<Cart, ApiError> {
    let addons = items
        .iter()
        .enumerate()
        .map(|(i, item)| addon_carts::parse(&format!("{field}[{i}].addons"), &item["addons"]))
        .collect::<Result<Vec<_>, _>>()?;
    let mut parsed = Vec::with_capacity(items.len());
    for (i, (item, addons)) in items.iter().zip(&addons).enumerate() {
        let at = |f: &str| format!("{field}[{i}].{f}");
        parsed.push(CartItem {
            product_id: item["product_id"]
                .as_str()
                .ok_or_else(|| ApiError::invalid_field(&at("product_id"), "is required"))?,
            quantity: item["quantity"]
                .as_i64()
                .ok_or_else(|| ApiError::invalid_field(&at("quantity"), "is required"))?,
            amount: item["amount"].as_i64(),
            addons,
        });
    }
    price_items(ctx, field, &parsed, recurring, buyer)
}

/// Prices `items` (`[{product_id, quantity, amount?, addons}]`, at body field `field`) from the
/// stored products, each unit at the price [`localized_prices::resolve`] picks for `buyer`, and
/// their addons ([`addon_carts::price`], in the line's currency).
/// `recurring` says whether subscription products are allowed (and required). A cart is paid
/// in one currency: lines whose prices resolve to different currencies answer 422
/// `CART_CURRENCY_MISMATCH` (the emulator has no exchange rates to convert them).
pub fn price_items(
    ctx: &Ctx<'_>,
    field: &str,
    items: &[CartItem<'_>],
    recurring: Option<bool>,
    buyer: PriceContext<'_>,
) -> Result<Cart, ApiError> {
    if items.is_empty() {
        return Err(ApiError::unprocessable(
            "PRODUCT_CART_EMTPY",
            format!("`{field}` must contain at least one product"),
        ));
    }
    let mut lines = Vec::with_capacity(items.len());
    let mut currency: Option<String> = None;
    for (i, item) in items.iter().enumerate() {
        let at = |f: &str| format!("{field}[{i}].{f}");
        let (id, quantity) = (item.product_id, item.quantity);
        if quantity < 1 {
            return Err(ApiError::invalid_field(
                &at("quantity"),
                "must be at least 1",
            ));
        }
        let product = common::must_get(ctx, kind::PRODUCT, "Product", id)?;
        if product.state != crate::store::State::Active {
            return Err(ApiError::unprocessable(
                "PRODUCT_ARCHIVED",
                format!("Product {id} is archived"),
            ));
        }
        let is_rec = products::is_recurring(&product.data);
        if let Some(want) = recurring
            && want != is_rec
        {
            return Err(ApiError::invalid_field(
                &at("product_id"),
                if want {
                    format!("product {id} is not a subscription product")
                } else {
                    format!("product {id} is a subscription product; use /subscriptions")
                },
            ));
        }
        let price = localized_prices::resolve(ctx, &product.data, buyer)?;
        match currency.as_deref() {
            None => currency = Some(price.currency.clone()),
            Some(first) if first != price.currency => {
                return Err(ApiError::unprocessable(
                    "CART_CURRENCY_MISMATCH",
                    format!(
                        "`{field}[{i}]`: product {id} is charged in {} but the cart's first \
                         product in {first}; a cart is paid in one currency",
                        price.currency
                    ),
                ));
            }
            Some(_) => {}
        }
        let mut unit = price.amount;
        if let Some(amount) = item.amount {
            if product.data["price"]["pay_what_you_want"] != json!(true) {
                return Err(ApiError::invalid_field(
                    &at("amount"),
                    "only pay-what-you-want products take an amount",
                ));
            }
            unit = amount;
        }
        let addons = addon_carts::price(
            ctx,
            &at("addons"),
            &product.data,
            item.addons,
            &price.currency,
        )?;
        lines.push(Line {
            product: product.data,
            quantity,
            unit_amount: unit,
            addons,
        });
    }
    let mut total = 0_i64;
    for (i, l) in lines.iter().enumerate() {
        total = l
            .unit_amount
            .checked_mul(l.quantity)
            .and_then(|t| t.checked_add(addon_carts::sum(&l.addons)))
            .and_then(|t| total.checked_add(t))
            .filter(|t| *t <= MAX_AMOUNT)
            .ok_or_else(|| {
                ApiError::out_of_range(format!(
                    "`{field}[{i}]`: the cart total exceeds {MAX_AMOUNT} minor units"
                ))
            })?;
    }
    Ok(Cart {
        lines,
        currency: json!(currency.unwrap_or_default()),
    })
}

/// What a new payment is for.
#[derive(Debug)]
pub struct NewPayment<'a> {
    /// The stored customer.
    pub customer: &'a Value,
    /// Billing address.
    pub billing: Value,
    /// Priced cart.
    pub cart: &'a Cart,
    /// Discounts to apply, in order of application ([`discounts::apply`]; empty for none).
    /// A subscription's carry their `cycles_remaining`.
    pub discounts: &'a [Value],
    /// Metadata.
    pub metadata: Value,
    /// Owning subscription.
    pub subscription_id: Option<&'a str>,
    /// Checkout session it came from.
    pub checkout_session_id: Option<&'a str>,
    /// Brand.
    pub brand_id: String,
    /// Saved payment method to charge at once.
    pub payment_method_id: Option<&'a str>,
    /// Whether to hand out a payment link.
    pub payment_link: bool,
    /// Override of the charged amount (e.g. a subscription charge).
    pub amount_override: Option<i64>,
}

/// Creates and stores a payment (and its line items); answers the stored `PaymentResponse`.
/// A payment with a saved `payment_method_id` (one of the customer's saved methods, 422
/// otherwise) is settled at once. A blocked customer cannot pay (422 `CUSTOMER_BLOCKED`).
pub fn create_payment(ctx: &Ctx<'_>, p: NewPayment<'_>) -> Result<Value, ApiError> {
    blocklist::refuse_if_blocked(ctx, p.customer)?;
    if let Some(pm) = p.payment_method_id {
        // Only a card this customer saved can be charged without them.
        let customer_id = p.customer["customer_id"].as_str().unwrap_or_default();
        if payment_methods::find(ctx, customer_id, pm)?.is_none() {
            return Err(ApiError::invalid_field(
                "payment_method_id",
                format!("{pm} is not a saved payment method of customer {customer_id}"),
            ));
        }
    }
    let id = new_id("pay_");
    let now = ctx.now_string();
    let items = stored_line_items(p.cart, p.discounts, p.amount_override);
    let total = items
        .iter()
        .filter_map(|i| i["amount"].as_i64())
        .fold(0_i64, i64::saturating_add);
    let applied: Vec<Value> = p
        .discounts
        .iter()
        .enumerate()
        .map(|(i, d)| discounts::detail(d, i, d["cycles_remaining"].as_i64()))
        .collect();
    let link = p
        .payment_link
        .then(|| format!("{}/pay/{id}", ctx.env.base_url));
    let data = json!({
        "payment_id": id,
        "business_id": ctx.env.business_id,
        "brand_id": p.brand_id,
        "total_amount": total,
        "currency": p.cart.currency,
        "settlement_amount": total,
        "settlement_currency": p.cart.currency,
        "settlement_tax": 0,
        "tax": 0,
        "status": "requires_payment_method",
        "customer": common::customer_limited(p.customer),
        "billing": p.billing,
        "metadata": p.metadata,
        "product_cart": p.cart.summary(),
        "discount_id": p.discounts.first().map(|d| d["discount_id"].clone()),
        "discounts": (!applied.is_empty()).then_some(applied),
        "disputes": [],
        "refunds": [],
        "refund_status": null,
        "digital_products_delivered": false,
        "is_update_payment_method": false,
        "retry_attempt": 0,
        "payment_provider": "dodo",
        "payment_link": link,
        "payment_method": null,
        "payment_method_id": p.payment_method_id,
        "payment_method_type": null,
        "card_holder_name": null,
        "card_issuing_country": null,
        "card_last_four": null,
        "card_network": null,
        "card_type": null,
        "checkout_session_id": p.checkout_session_id,
        "subscription_id": p.subscription_id,
        "custom_field_responses": null,
        "error_code": null,
        "error_message": null,
        "invoice_id": null,
        "invoice_url": null,
        "created_at": now,
        "updated_at": now,
    });
    ctx.db.insert(kind::PAYMENT, &id, None, &now, &data)?;
    ctx.db.insert(
        LINES,
        &id,
        Some(&id),
        &now,
        &json!({ "currency": p.cart.currency, "items": items }),
    )?;
    if p.payment_method_id.is_some() {
        return complete(ctx, &id, "succeeded");
    }
    Ok(data)
}

/// With `short`, replaces the payment's `payment_link` (stored and answered) by a short URL
/// that redirects to it (`short_link: true` on payments and subscriptions).
pub fn shorten_link(ctx: &Ctx<'_>, mut payment: Value, short: bool) -> Result<Value, ApiError> {
    let Some(link) = payment["payment_link"].as_str().filter(|_| short) else {
        return Ok(payment);
    };
    let short_url = super::short_links::shorten(ctx, link)?;
    payment["payment_link"] = json!(short_url);
    let id = payment["payment_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(mut stored) = ctx.db.get(kind::PAYMENT, &id)? {
        stored.data["payment_link"] = json!(short_url);
        ctx.db.update(kind::PAYMENT, &id, &stored.data)?;
    }
    Ok(payment)
}

/// The stored line items of a payment of `cart`: one per product and per addon, each less its
/// share of the `discounts` ([`discounts::apply`]). An `amount_override` other than what the
/// lines come to (a trial, a proration, a renewal at the subscription's stored amount) is
/// discounted as one amount and carried by the first item, the others 0. The items always
/// add up to the payment's total.
fn stored_line_items(cart: &Cart, stack: &[Value], amount_override: Option<i64>) -> Vec<Value> {
    let currency = cart.currency.as_str().unwrap_or_default();
    let entries: Vec<_> = cart.lines.iter().flat_map(Line::entries).collect();
    let totals = cart.entry_totals();
    let listed = totals.iter().fold(0_i64, |a, t| a.saturating_add(*t));
    let whole = amount_override
        .filter(|a| *a != listed)
        .map(|a| a - discounts::apply(stack, currency, &[a]).total());
    let offs = discounts::apply(stack, currency, &totals).per_entry;
    entries
        .into_iter()
        .zip(offs)
        .enumerate()
        .map(|(i, ((id, name, description, total), off))| {
            let amount = match whole {
                Some(a) if i == 0 => a,
                Some(_) => 0,
                None => total - off,
            };
            json!({
                "items_id": id,
                "name": name,
                "description": description,
                "amount": amount,
                "tax": 0,
                "refundable_amount": amount,
            })
        })
        .collect()
}

fn create(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateOneTimePaymentRequest = req.input()?;
    if let Some(url) = &input.return_url {
        super::return_urls::check("return_url", url)?;
    }
    let billing = common::to_json(&input.billing)?;
    let items: Vec<CartItem<'_>> = input
        .product_cart
        .iter()
        .map(|l| CartItem {
            product_id: &l.product_id,
            quantity: l.quantity,
            amount: l.amount,
            addons: &[],
        })
        .collect();
    let buyer = PriceContext {
        country: Some(input.billing.country.as_str()),
        currency: input.billing_currency.as_ref().map(|c| c.as_str()),
    };
    let cart = price_items(ctx, "product_cart", &items, Some(false), buyer)?;
    let customer = common::customer_of(ctx, "customer", &input.customer)?;
    let codes = discounts::requested(
        input.discount_code.as_deref(),
        input.discount_codes.as_deref(),
    )?
    .unwrap_or_default();
    let applied = discounts::redeem_all(
        ctx,
        &codes,
        &cart.basket(),
        customer["customer_id"].as_str(),
    )?;
    let brand_id = match cart.lines[0].product["brand_id"].as_str() {
        Some(b) => b.to_string(),
        None => crate::resources::brands::default_brand_id(ctx)?,
    };
    let payment = create_payment(
        ctx,
        NewPayment {
            customer: &customer,
            billing,
            cart: &cart,
            discounts: &applied,
            metadata: common::metadata_json(input.metadata.as_ref())?,
            subscription_id: None,
            checkout_session_id: None,
            brand_id,
            payment_method_id: input.payment_method_id.as_deref(),
            payment_link: input.payment_link.unwrap_or(false),
            amount_override: None,
        },
    )?;
    let id = payment["payment_id"].as_str().unwrap_or_default();
    if let Some(url) = &input.return_url {
        super::return_urls::remember(ctx, id, url)?;
    }
    let payment = shorten_link(ctx, payment.clone(), input.short_link == Some(true))?;
    Ok(Reply::json(json!({
        "payment_id": id,
        "total_amount": payment["total_amount"],
        "client_secret": format!("{id}_secret_{}", crate::ids::upper_code(16)),
        "customer": payment["customer"],
        "metadata": payment["metadata"],
        "payment_link": payment["payment_link"],
        "product_cart": payment["product_cart"],
        "discount_id": payment["discount_id"],
        "discount_ids": (!applied.is_empty())
            .then(|| json!(applied.iter().map(|d| &d["discount_id"]).collect::<Vec<_>>())),
        "expires_on": null,
    })))
}

fn retrieve(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    common::retrieve_raw(ctx, kind::PAYMENT, "Payment", req.param("payment_id"))
}

/// The `GetPaymentsListResponseItem` of a payment.
fn list_item(r: &Record, keyed: &HashSet<String>) -> Value {
    let p = &r.data;
    let has_license_key = keyed.contains(&r.id);
    json!({
        "payment_id": p["payment_id"],
        "brand_id": p["brand_id"],
        "total_amount": p["total_amount"],
        "currency": p["currency"],
        "customer": p["customer"],
        "created_at": p["created_at"],
        "digital_products_delivered": p["digital_products_delivered"],
        "has_license_key": has_license_key,
        "metadata": p["metadata"],
        "payment_provider": p["payment_provider"],
        "payment_method": p["payment_method"],
        "payment_method_type": p["payment_method_type"],
        "card_last_four": p["card_last_four"],
        "card_network": p["card_network"],
        "invoice_id": p["invoice_id"],
        "invoice_url": p["invoice_url"],
        "refund_status": p["refund_status"],
        "dispute_status": p["disputes"]
            .as_array()
            .and_then(|d| d.last())
            .map(|d| d["dispute_status"].clone()),
        "status": p["status"],
        "subscription_id": p["subscription_id"],
    })
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = Vec::new();
    common::eq_filter(req, "status", "$.status", &mut filters);
    common::eq_filter(req, "customer_id", "$.customer.customer_id", &mut filters);
    common::eq_filter(req, "subscription_id", "$.subscription_id", &mut filters);
    common::eq_filter(req, "brand_id", "$.brand_id", &mut filters);
    common::eq_filter(req, "currency", "$.currency", &mut filters);
    if let Some(p) = req.query("product_id").filter(|p| !p.is_empty()) {
        filters.push(Filter::ArrayContains {
            array: "$.product_cart",
            field: "$.product_id",
            value: p.to_string(),
        });
    }
    common::created_filters(req, &mut filters)?;
    // The payments that issued a license key, read once for the page.
    let keyed: HashSet<String> = ctx
        .db
        .list(kind::LICENSE_KEY, &[], u32::MAX, 0)?
        .into_iter()
        .filter_map(|k| k.data["payment_id"].as_str().map(str::to_string))
        .collect();
    common::page_list(ctx, req, kind::PAYMENT, &filters, |r| list_item(r, &keyed))
}

fn line_items(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("payment_id");
    common::must_get(ctx, kind::PAYMENT, "Payment", id)?;
    common::retrieve_raw(ctx, LINES, "Payment", id)
}

const SETTLED: &[&str] = &["succeeded", "failed", "cancelled"];

/// Settles a payment (`succeeded`, `failed`, `cancelled` or `processing`), activating (or
/// failing) its subscription and issuing license keys for license-enabled products.
pub fn complete(ctx: &Ctx<'_>, id: &str, status: &str) -> Result<Value, ApiError> {
    if !matches!(status, "succeeded" | "failed" | "cancelled" | "processing") {
        return Err(ApiError::invalid_field(
            "status",
            "expected succeeded, failed, cancelled or processing",
        ));
    }
    let mut record = common::must_get(ctx, kind::PAYMENT, "Payment", id)?;
    let current = record.data["status"].as_str().unwrap_or("");
    if SETTLED.contains(&current) {
        return Err(ApiError::conflict(
            "PAYMENT_ALREADY_SETTLED",
            format!("Payment {id} is already {current}"),
        ));
    }
    let d = &mut record.data;
    d["status"] = json!(status);
    d["updated_at"] = json!(ctx.now_string());
    if status == "succeeded" {
        d["payment_method"] = json!("card");
        d["payment_method_type"] = json!("credit");
        // The card a page paid with keeps its details; a payment settled otherwise gets the
        // default test card's.
        for (field, default) in [
            ("card_last_four", "4242"),
            ("card_network", "VISA"),
            ("card_type", "CREDIT"),
            ("card_issuing_country", "US"),
        ] {
            if d[field].is_null() {
                d[field] = json!(default);
            }
        }
        d["digital_products_delivered"] = json!(true);
        // Its invoice is the one `GET /invoices/payments/{id}` serves.
        d["invoice_id"] = json!(id);
        d["invoice_url"] = json!(format!("{}/invoices/payments/{id}", ctx.env.base_url));
    } else if status == "failed" {
        d["error_code"] = json!("CARD_DECLINED");
        d["error_message"] = json!("The card was declined (emulated).");
    }
    let saved = if status == "succeeded" {
        payment_methods::save_from_payment(ctx, &record.data)?
    } else {
        None
    };
    if let Some(pm) = &saved
        && record.data["payment_method_id"].is_null()
    {
        record.data["payment_method_id"] = json!(pm);
    }
    ctx.db.update(kind::PAYMENT, id, &record.data)?;
    if let (Some(pm), Some(sub_id)) = (&saved, record.data["subscription_id"].as_str())
        && record.data["is_update_payment_method"] == true
        && let Some(mut sub) = ctx.db.get(kind::SUBSCRIPTION, sub_id)?
    {
        // A card collected to update the subscription's payment method becomes its method.
        sub.data["payment_method_id"] = json!(pm);
        ctx.db.update(kind::SUBSCRIPTION, sub_id, &sub.data)?;
    }
    // Checkout session credit overrides and one-time credit grants.
    super::credit_purchases::settle(ctx, &record.data, status)?;
    if let Some(sub_id) = record.data["subscription_id"].as_str() {
        settle_subscription(ctx, sub_id, status, saved.as_deref())?;
        super::credit_cycles::settle(ctx, sub_id)?;
    }
    if status == "succeeded" {
        licenses::issue_for_payment(ctx, &record.data)?;
        super::entitlements::grant_for_payment(ctx, &record.data)?;
        super::emails::send_payment_receipt(ctx, &record.data)?;
    }
    if let Some(cks) = record.data["checkout_session_id"].as_str() {
        settle_checkout_session(ctx, cks, status)?;
    }
    Ok(record.data)
}

/// Reacts to the settlement of one of the subscription's payments: the first payment
/// activates (or fails) a pending subscription.
fn settle_subscription(
    ctx: &Ctx<'_>,
    id: &str,
    status: &str,
    saved_card: Option<&str>,
) -> Result<(), ApiError> {
    let Some(mut record) = ctx.db.get(kind::SUBSCRIPTION, id)? else {
        return Ok(());
    };
    if record.data["status"] != "pending" {
        return Ok(());
    }
    let next = match status {
        "succeeded" => "active",
        "failed" | "cancelled" => "failed",
        _ => return Ok(()),
    };
    record.data["status"] = json!(next);
    // The card its first payment saved is the one its renewals are charged on.
    if let Some(pm) = saved_card
        && record.data["payment_method_id"].is_null()
    {
        record.data["payment_method_id"] = json!(pm);
    }
    ctx.db.update(kind::SUBSCRIPTION, id, &record.data)?;
    Ok(())
}

/// Records the status of the session's payment.
fn settle_checkout_session(ctx: &Ctx<'_>, id: &str, status: &str) -> Result<(), ApiError> {
    if let Some(mut r) = ctx.db.get(kind::CHECKOUT_SESSION, id)? {
        r.data["payment_status"] = json!(status);
        ctx.db.update(kind::CHECKOUT_SESSION, id, &r.data)?;
    }
    Ok(())
}
