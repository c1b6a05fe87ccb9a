//! The dynamic checkout flow: a payment or subscription created with `payment_link: true`.
//!
//! The body is the Express adaptor's (`product_id` or `product_cart`, `quantity`, `billing`,
//! `customer`, `metadata`, `discount_code`, `return_url`, …), first checked against the
//! [`BrowserPolicy`](super::BrowserPolicy) (server-only fields such as `customer.customer_id`,
//! `on_demand`, `trial_period_days`, `addons` or a cart line's `amount` are a 400
//! `field_not_allowed` unless loosened; set them from the server in the checkout hook), then
//! decoded into [`DynamicCheckoutRequest`] so a 400 names the bad field. The product decides
//! the call: a recurring product → `POST /subscriptions`, a one-time product →
//! `POST /payments`. Differences from Express, all deliberate: `trial_period_days: 0` is
//! sent (not dropped); the declared `currency` is used as `billing_currency`; a cart works for
//! subscriptions too (its one item); options the API cannot honour for a one-time payment
//! (`addons`, `trial_period_days`, `on_demand`) are a 400 instead of being silently dropped;
//! `discount_id` (never used by Express, and not an API field) is a 400 pointing at
//! `discount_code`; `product_id` together with `product_cart`, or a top-level `quantity` next
//! to a cart, is a 400 (ambiguous; Express silently picks one); upstream failures are 502
//! with their status kept; the answer adds `payment_id` (and `subscription_id`).

use dodo_types::{
    AttachAddonReq, BillingAddress, CreateOneTimePaymentRequest, CreateOneTimePaymentResponse,
    CreateSubscriptionRequest, CreateSubscriptionResponse, Currency, CustomerRequest,
    OnDemandSubscriptionReq, OneTimeProductCartItemReq, PaymentMethodTypes,
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use std::future::Future;

use super::{Checkout, CheckoutDraft, CheckoutFlow, FlowError};
use crate::body::{decode_json, json_error};
use crate::error::RouteError;

/// One cart line of a dynamic checkout.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DynamicCartItem {
    /// The product.
    pub product_id: String,
    /// How many (a positive integer).
    pub quantity: i64,
    /// Pay-what-you-want amount in the smallest currency unit (one-time products).
    #[serde(default)]
    pub amount: Option<i64>,
    /// Add-ons of this line (subscriptions only).
    #[serde(default)]
    pub addons: Option<Vec<AttachAddonReq>>,
}

/// The body of a dynamic checkout request (the Express adaptor's shape). Unknown keys are
/// ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DynamicCheckoutRequest {
    /// The product (or use `product_cart`).
    #[serde(default)]
    pub product_id: Option<String>,
    /// Quantity for `product_id` (default 1).
    #[serde(default)]
    pub quantity: Option<i64>,
    /// Cart lines (one-time products: any number; subscriptions: exactly one).
    #[serde(default)]
    pub product_cart: Option<Vec<DynamicCartItem>>,
    /// Billing address (`country` required).
    pub billing: BillingAddress,
    /// Existing customer (`customer_id`) or new one (`email`, `name`, `phone_number`).
    pub customer: CustomerRequest,
    /// Subscription add-ons.
    #[serde(default)]
    pub addons: Option<Vec<AttachAddonReq>>,
    /// Metadata attached to the payment or subscription.
    #[serde(default)]
    pub metadata: Option<dodo_types::Metadata>,
    /// A discount code.
    #[serde(default)]
    pub discount_code: Option<String>,
    /// Several discount codes.
    #[serde(default)]
    pub discount_codes: Option<Vec<String>>,
    /// Not supported: the API takes discount codes, not ids (400 when set).
    #[serde(default)]
    pub discount_id: Option<String>,
    /// Billing currency (alias of `billing_currency`, declared by the Express adaptor).
    #[serde(default)]
    pub currency: Option<Currency>,
    /// Billing currency.
    #[serde(default)]
    pub billing_currency: Option<Currency>,
    /// Payment method types offered.
    #[serde(default)]
    pub allowed_payment_method_types: Option<Vec<PaymentMethodTypes>>,
    /// On-demand subscription settings.
    #[serde(default)]
    pub on_demand: Option<OnDemandSubscriptionReq>,
    /// Where the buyer lands after paying (falls back to the configured URL).
    #[serde(default)]
    pub return_url: Option<String>,
    /// Whether to offer saved payment methods.
    #[serde(default)]
    pub show_saved_payment_methods: Option<bool>,
    /// The buyer's tax id.
    #[serde(default)]
    pub tax_id: Option<String>,
    /// Trial length in days for subscriptions (0 is kept).
    #[serde(default)]
    pub trial_period_days: Option<i64>,
    /// Business name of the customer.
    #[serde(default)]
    pub customer_business_name: Option<String>,
    /// Force 3-D Secure.
    #[serde(default)]
    pub force_3ds: Option<bool>,
    /// Ask the API for a short link.
    #[serde(default)]
    pub short_link: Option<bool>,
    /// Redirect right after payment without the confirmation page.
    #[serde(default)]
    pub redirect_immediately: Option<bool>,
}

// The dynamic flow is the Express adaptor's: payment links made with `POST /payments` and
// `POST /subscriptions`, which the API marks deprecated in favour of checkout sessions (the
// session flow). Kept for parity; new integrations should use the session flow.
#[allow(deprecated)]
pub(super) async fn run<F, Fut, R>(
    checkout: &Checkout,
    bytes: &[u8],
    hook: F,
) -> Result<Value, FlowError<R>>
where
    F: FnOnce(CheckoutDraft) -> Fut,
    Fut: Future<Output = Result<CheckoutDraft, R>>,
{
    let Value::Object(object) = decode_json::<Value>(bytes)? else {
        return Err(RouteError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the request body must be a JSON object",
        )
        .into());
    };
    checkout
        .browser_policy()
        .check_body(CheckoutFlow::Dynamic, &object)?;
    let body: DynamicCheckoutRequest =
        serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| json_error(&e))?;
    let plan = Plan::from_request(&body)?;
    let return_url = checkout.pick_url("return_url", body.return_url.as_deref())?;
    let recurring = checkout
        .product_is_recurring(&plan.first_product, plan.product_field)
        .await?;
    let draft = if recurring {
        CheckoutDraft::Subscription(Box::new(subscription_request(body, &plan, return_url)?))
    } else {
        CheckoutDraft::Payment(Box::new(payment_request(body, plan, return_url)?))
    };
    let client = checkout.client();
    let answer = match hook(draft).await.map_err(FlowError::Refused)? {
        CheckoutDraft::Subscription(request) if recurring => {
            let created: CreateSubscriptionResponse = client
                .subscriptions()
                .create(&request)
                .await
                .map_err(|e| checkout.upstream(&e, None))?;
            answer(
                created.payment_link,
                [
                    ("payment_id", Some(created.payment_id)),
                    ("subscription_id", Some(created.subscription_id)),
                ],
            )?
        }
        CheckoutDraft::Payment(request) if !recurring => {
            let created: CreateOneTimePaymentResponse = client
                .payments()
                .create(&request)
                .await
                .map_err(|e| checkout.upstream(&e, None))?;
            answer(
                created.payment_link,
                [
                    ("payment_id", Some(created.payment_id)),
                    ("subscription_id", None),
                ],
            )?
        }
        _ => {
            return Err(RouteError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "hook_changed_flow",
                "the checkout hook returned a different kind of request",
            )
            .into());
        }
    };
    Ok(answer)
}

/// `{"checkout_url": link, ids...}`, or 502 when the API sent no link.
fn answer<const N: usize>(
    link: Option<String>,
    ids: [(&str, Option<String>); N],
) -> Result<Value, RouteError> {
    let link = link.filter(|l| !l.is_empty()).ok_or_else(|| {
        RouteError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_invalid_response",
            "the Dodo Payments API did not return a payment link",
        )
    })?;
    let mut map = Map::new();
    map.insert("checkout_url".into(), json!(link));
    for (k, v) in ids {
        if let Some(v) = v {
            map.insert(k.into(), json!(v));
        }
    }
    Ok(Value::Object(map))
}

/// The validated product selection.
struct Plan {
    first_product: String,
    /// Which field named the product, for a 404.
    product_field: &'static str,
    cart: Vec<DynamicCartItem>,
}

impl Plan {
    fn from_request(body: &DynamicCheckoutRequest) -> Result<Self, RouteError> {
        if body.discount_id.is_some() {
            return Err(RouteError::invalid(
                "discount_id",
                "is not supported by the API; send the code as `discount_code`",
            ));
        }
        if let (Some(a), Some(b)) = (&body.currency, &body.billing_currency)
            && a != b
        {
            return Err(RouteError::invalid(
                "currency",
                "conflicts with `billing_currency`",
            ));
        }
        match &body.customer {
            CustomerRequest::Other(_) => {
                return Err(RouteError::invalid(
                    "customer",
                    "must have a `customer_id` or an `email`",
                ));
            }
            CustomerRequest::AttachExistingCustomer(c) if c.customer_id.is_empty() => {
                return Err(RouteError::invalid(
                    "customer.customer_id",
                    "must not be empty",
                ));
            }
            _ => {}
        }
        let cart = match (&body.product_id, &body.product_cart) {
            (Some(_), Some(_)) => {
                return Err(RouteError::invalid(
                    "product_cart",
                    "must not be given together with `product_id`",
                ));
            }
            (Some(id), None) => {
                let quantity = body.quantity.unwrap_or(1);
                vec![DynamicCartItem {
                    product_id: id.clone(),
                    quantity,
                    amount: None,
                    addons: None,
                }]
            }
            (None, Some(cart)) => {
                if body.quantity.is_some() {
                    return Err(RouteError::invalid(
                        "quantity",
                        "goes on each `product_cart` item, not next to the cart",
                    ));
                }
                cart.clone()
            }
            (None, None) => return Err(RouteError::missing("product_id")),
        };
        if cart.is_empty() {
            return Err(RouteError::invalid("product_cart", "must not be empty"));
        }
        for (i, item) in cart.iter().enumerate() {
            let base = if body.product_id.is_some() {
                String::new()
            } else {
                format!("product_cart[{i}].")
            };
            if item.product_id.is_empty() {
                return Err(RouteError::invalid(
                    &format!("{base}product_id"),
                    "must not be empty",
                ));
            }
            if item.quantity < 1 {
                return Err(RouteError::invalid(
                    &format!("{base}quantity"),
                    "must be a positive integer",
                ));
            }
            if item.amount.is_some_and(|a| a < 0) {
                return Err(RouteError::invalid(
                    &format!("{base}amount"),
                    "must be a non-negative integer",
                ));
            }
        }
        if body.trial_period_days.is_some_and(|d| d < 0) {
            return Err(RouteError::invalid(
                "trial_period_days",
                "must be a non-negative integer",
            ));
        }
        let product_field = if body.product_id.is_some() {
            "product_id"
        } else {
            "product_cart[0].product_id"
        };
        Ok(Plan {
            first_product: cart[0].product_id.clone(),
            product_field,
            cart,
        })
    }
}

fn subscription_request(
    body: DynamicCheckoutRequest,
    plan: &Plan,
    return_url: Option<String>,
) -> Result<CreateSubscriptionRequest, RouteError> {
    if plan.cart.len() > 1 {
        return Err(RouteError::invalid(
            "product_cart",
            "must hold exactly one item for a subscription product",
        ));
    }
    let item = &plan.cart[0];
    if item.amount.is_some() {
        return Err(RouteError::invalid(
            "product_cart[0].amount",
            "applies only to one-time products",
        ));
    }
    let addons = match (body.addons, item.addons.clone()) {
        (Some(_), Some(_)) => {
            return Err(RouteError::invalid(
                "addons",
                "must not be given both at the top level and on the cart item",
            ));
        }
        (a, b) => a.or(b),
    };
    let mut request = CreateSubscriptionRequest::new(
        body.billing,
        body.customer,
        item.product_id.clone(),
        item.quantity,
    );
    request.addons = addons;
    request.metadata = body.metadata;
    request.discount_code = body.discount_code;
    request.discount_codes = body.discount_codes;
    request.billing_currency = body.billing_currency.or(body.currency);
    request.allowed_payment_method_types = body.allowed_payment_method_types;
    request.on_demand = body.on_demand;
    request.return_url = return_url;
    request.show_saved_payment_methods = body.show_saved_payment_methods;
    request.tax_id = body.tax_id;
    request.trial_period_days = body.trial_period_days;
    request.customer_business_name = body.customer_business_name;
    request.force_3ds = body.force_3ds;
    request.short_link = body.short_link;
    request.redirect_immediately = body.redirect_immediately;
    request.payment_link = Some(true);
    Ok(request)
}

fn payment_request(
    body: DynamicCheckoutRequest,
    plan: Plan,
    return_url: Option<String>,
) -> Result<CreateOneTimePaymentRequest, RouteError> {
    let one_time_only =
        "applies only to subscription products; the API has no such option for one-time payments";
    if body.addons.is_some() {
        return Err(RouteError::invalid("addons", one_time_only));
    }
    if let Some(i) = plan.cart.iter().position(|item| item.addons.is_some()) {
        return Err(RouteError::invalid(
            &format!("product_cart[{i}].addons"),
            one_time_only,
        ));
    }
    if body.trial_period_days.is_some() {
        return Err(RouteError::invalid("trial_period_days", one_time_only));
    }
    if body.on_demand.is_some() {
        return Err(RouteError::invalid("on_demand", one_time_only));
    }
    let cart = plan
        .cart
        .into_iter()
        .map(|item| {
            let mut line = OneTimeProductCartItemReq::new(item.product_id, item.quantity);
            line.amount = item.amount;
            line
        })
        .collect();
    let mut request = CreateOneTimePaymentRequest::new(body.billing, body.customer, cart);
    request.metadata = body.metadata;
    request.discount_code = body.discount_code;
    request.discount_codes = body.discount_codes;
    request.billing_currency = body.billing_currency.or(body.currency);
    request.allowed_payment_method_types = body.allowed_payment_method_types;
    request.return_url = return_url;
    request.show_saved_payment_methods = body.show_saved_payment_methods;
    request.tax_id = body.tax_id;
    request.customer_business_name = body.customer_business_name;
    request.force_3ds = body.force_3ds;
    request.short_link = body.short_link;
    request.redirect_immediately = body.redirect_immediately;
    request.payment_link = Some(true);
    Ok(request)
}
