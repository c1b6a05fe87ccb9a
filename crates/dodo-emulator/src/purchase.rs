//! Buying with a test card: what a hosted checkout page, a payment link page and the admin
//! API's `.../pay` routes do when the buyer pays.
//!
//! [`pay`] creates the payment (or subscription) of a [`Purchase`] through the API's own
//! operations in-process ([`crate::dispatch::invoke`]: pricing, redemption of the buyer's
//! stacked `discount_codes`, license
//! keys, events), or takes the existing payment of a payment link, then settles it as the
//! [`TestCard`] says. Pages render forms and results around it; the admin routes and the test
//! harness ([`crate::testing`]) call it without a browser.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::dispatch::{self, AppState};
use crate::error::ApiError;
use crate::resources::common::kind;
use crate::resources::{Ctx, payments};
use crate::store::Db;
use crate::timewarp;

/// How long a `processing` test card payment waits before succeeding.
pub const PROCESSING_DELAY: Duration = Duration::from_millis(500);

/// What a test card does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TestCard {
    /// `4242 4242 4242 4242`: the payment succeeds.
    Succeeds,
    /// `4000 0000 0000 0002`: the card is declined; the payment fails.
    Declined,
    /// `4000 0000 0000 3220`: the payment stays `processing`, then succeeds.
    Processing,
    /// `4000 0000 0000 0341`: the payment succeeds; renewals of its subscription fail.
    FailsRenewals,
}

impl TestCard {
    /// The test card of a card number (spaces and dashes ignored).
    pub fn from_number(number: &str) -> Option<Self> {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        match digits.as_str() {
            "4242424242424242" => Some(Self::Succeeds),
            "4000000000000002" => Some(Self::Declined),
            "4000000000003220" => Some(Self::Processing),
            "4000000000000341" => Some(Self::FailsRenewals),
            _ => None,
        }
    }

    /// The card's number, grouped in fours.
    pub fn number(self) -> &'static str {
        match self {
            Self::Succeeds => "4242 4242 4242 4242",
            Self::Declined => "4000 0000 0000 0002",
            Self::Processing => "4000 0000 0000 3220",
            Self::FailsRenewals => "4000 0000 0000 0341",
        }
    }
}

/// The test cards with what each does, as the pages list them.
pub const TEST_CARDS: [(&str, &str); 4] = [
    ("4242 4242 4242 4242", "Payment succeeds"),
    ("4000 0000 0000 0002", "Card declined: payment fails"),
    (
        "4000 0000 0000 3220",
        "Payment stays processing, then succeeds",
    ),
    (
        "4000 0000 0000 0341",
        "Payment succeeds; later subscription renewals fail",
    ),
];

/// What is being bought.
#[derive(Debug, Clone, Default)]
pub struct Purchase {
    /// `[{product_id, quantity, amount?, addons?}]` to create (when `payment_id` is `None`);
    /// a subscription takes the first line and its `addons`.
    pub cart: Value,
    /// Metadata of the new payment or subscription.
    pub metadata: Value,
    /// The checkout session being paid, if any.
    pub session_id: Option<String>,
    /// An existing payment to settle (a payment link).
    pub payment_id: Option<String>,
    /// The request of the checkout session being paid (`null` for none): its
    /// `subscription_data` (`trial_period_days`, `on_demand`), `tax_id`,
    /// `customer_business_name` and `feature_flags.always_create_new_customer` shape what is
    /// created.
    pub session_request: Value,
    /// The buyer's answers to the session's custom fields (`[{key, value}]`, or `null`),
    /// recorded on the payment and the subscription.
    pub custom_field_responses: Value,
    /// The currency the buyer chose to be billed in (`billing_currency` of the new payment or
    /// subscription), if any.
    pub billing_currency: Option<String>,
}

impl Purchase {
    /// What paying checkout session `session_id` buys: its stored request's cart, metadata,
    /// billing currency and subscription data.
    pub fn of_session(session_id: &str, request: &Value) -> Self {
        Self {
            cart: request["product_cart"].clone(),
            metadata: request["metadata"].clone(),
            session_id: Some(session_id.to_string()),
            payment_id: None,
            session_request: request.clone(),
            custom_field_responses: Value::Null,
            billing_currency: request["billing_currency"].as_str().map(str::to_string),
        }
    }
}

/// Who pays, and with which card.
#[derive(Debug, Clone)]
pub struct Buyer {
    /// Full name (also the card holder).
    pub name: String,
    /// Email address.
    pub email: String,
    /// Billing address (`{country, street, city, state, zipcode}`).
    pub billing: Value,
    /// Discount codes to redeem, in order of application (empty for none).
    pub discount_codes: Vec<String>,
    /// The card number as typed.
    pub card_number: String,
}

/// The outcome of [`pay`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paid {
    /// The payment.
    pub payment_id: String,
    /// The subscription it started, if any.
    pub subscription_id: Option<String>,
    /// The payment's status right after paying (`succeeded`, `failed` or `processing`).
    pub status: &'static str,
}

fn get_obj(db: &Db<'_>, kind: &str, what: &str, id: &str) -> Result<Value, ApiError> {
    db.get(kind, id)?
        .map(|r| r.data)
        .ok_or_else(|| ApiError::not_found(what, id))
}

/// Creates (or takes) the payment of `purchase` and settles it with `card`; a `processing`
/// card succeeds [`PROCESSING_DELAY`] later. Answers the message to show on failure.
pub fn pay(
    state: &Arc<AppState>,
    purchase: &Purchase,
    buyer: &Buyer,
    card: TestCard,
) -> Result<Paid, String> {
    let (payment_id, subscription_id) = match &purchase.payment_id {
        Some(pid) => (pid.clone(), None),
        None => create(
            state,
            purchase,
            &buyer.name,
            &buyer.email,
            &buyer.billing,
            &buyer.discount_codes,
        )?,
    };
    let subscription_id = subscription_id.or_else(|| {
        state
            .store
            .read(|db| get_obj(db, kind::PAYMENT, "Payment", &payment_id))
            .ok()
            .and_then(|p| p["subscription_id"].as_str().map(str::to_string))
    });
    let last4: String = buyer
        .card_number
        .chars()
        .filter(char::is_ascii_digit)
        .skip(12)
        .collect();
    let status = match card {
        TestCard::Succeeds | TestCard::FailsRenewals => "succeeded",
        TestCard::Declined => "failed",
        TestCard::Processing => "processing",
    };
    let settled = state.store.write(|db| {
        let ctx = Ctx {
            db,
            env: &state.env,
        };
        let mut p = get_obj(db, kind::PAYMENT, "Payment", &payment_id)?;
        p["card_last_four"] = json!(last4);
        p["card_holder_name"] = json!(buyer.name);
        p["card_network"] = json!("VISA");
        p["billing"] = buyer.billing.clone();
        if purchase.custom_field_responses.is_array() {
            p["custom_field_responses"] = purchase.custom_field_responses.clone();
            if let Some(sid) = &subscription_id
                && let Some(mut sub) = db.get(kind::SUBSCRIPTION, sid)?
            {
                sub.data["custom_field_responses"] = purchase.custom_field_responses.clone();
                db.update(kind::SUBSCRIPTION, sid, &sub.data)?;
            }
        }
        if let Some(sid) = &purchase.session_id {
            p["checkout_session_id"] = json!(sid);
            if let Some(mut s) = db.get(kind::CHECKOUT_SESSION, sid)? {
                s.data["payment_id"] = json!(payment_id);
                // The status prefers the payment's customer to the session's.
                s.data["customer_email"] = p["customer"]["email"].clone();
                s.data["customer_name"] = p["customer"]["name"].clone();
                db.update(kind::CHECKOUT_SESSION, sid, &s.data)?;
            }
        }
        db.update(kind::PAYMENT, &payment_id, &p)?;
        payments::complete(&ctx, &payment_id, status)?;
        if card == TestCard::FailsRenewals
            && let Some(sub) = &subscription_id
        {
            timewarp::set_fail_renewals(db, sub, true)?;
        }
        Ok::<_, ApiError>(())
    });
    settled.map_err(|e| e.message)?;
    if card == TestCard::Processing {
        let state = state.clone();
        let pid = payment_id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(PROCESSING_DELAY).await;
            let out = state.store.write(|db| {
                let ctx = Ctx {
                    db,
                    env: &state.env,
                };
                payments::complete(&ctx, &pid, "succeeded")
            });
            if let Err(e) = out {
                tracing::warn!(payment = %pid, error = %e.message, "processing payment did not settle");
            }
        });
    }
    Ok(Paid {
        payment_id,
        subscription_id,
        status,
    })
}

/// Creates the payment (or subscription) of an order through the API; answers
/// `(payment_id, subscription_id)` or the message to show.
fn create(
    state: &AppState,
    order: &Purchase,
    name: &str,
    email: &str,
    billing: &Value,
    codes: &[String],
) -> Result<(String, Option<String>), String> {
    let cart = order.cart.as_array().cloned().unwrap_or_default();
    let first = cart.first().cloned().unwrap_or(Value::Null);
    let recurring = state
        .store
        .read(|db| {
            let pid = first["product_id"].as_str().unwrap_or_default();
            Ok::<_, ApiError>(get_obj(db, kind::PRODUCT, "Product", pid)?["is_recurring"] == true)
        })
        .map_err(|e| e.message)?;
    let session = &order.session_request;
    // A session that asks for a new customer object gets one even when the email is known.
    let customer = if session["feature_flags"]["always_create_new_customer"] == true
        && session["customer"]["customer_id"].is_null()
    {
        let created = dispatch::invoke(
            state,
            "POST",
            "/customers",
            &json!({"email": email, "name": name}),
        )
        .map_err(|e| e.message)?
        .json();
        json!({"customer_id": created["customer_id"]})
    } else {
        json!({"email": email, "name": name})
    };
    let mut body = if recurring {
        json!({"product_id": first["product_id"], "quantity": first["quantity"].as_i64().unwrap_or(1),
               "customer": customer, "billing": billing})
    } else {
        json!({"product_cart": cart, "customer": customer, "billing": billing})
    };
    if recurring {
        if first["addons"].is_array() {
            body["addons"] = first["addons"].clone();
        }
        // A checkout session's `subscription_data` shapes the subscription it starts.
        for field in ["trial_period_days", "on_demand"] {
            let value = &order.session_request["subscription_data"][field];
            if !value.is_null() {
                body[field] = value.clone();
            }
        }
    }
    for field in ["tax_id", "customer_business_name"] {
        if session[field].is_string() {
            body[field] = session[field].clone();
        }
    }
    if !codes.is_empty() {
        body["discount_codes"] = json!(codes);
    }
    if let Some(c) = &order.billing_currency {
        body["billing_currency"] = json!(c);
    }
    if order.metadata.as_object().is_some_and(|m| !m.is_empty()) {
        body["metadata"] = order.metadata.clone();
    }
    let path = if recurring {
        "/subscriptions"
    } else {
        "/payments"
    };
    let v = dispatch::invoke(state, "POST", path, &body)
        .map_err(|e| e.message)?
        .json();
    let pid = v["payment_id"].as_str().unwrap_or_default().to_string();
    if pid.is_empty() {
        return Err("the order could not be created".into());
    }
    Ok((pid, v["subscription_id"].as_str().map(str::to_string)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_by_number() {
        assert_eq!(
            TestCard::from_number("4242 4242 4242 4242"),
            Some(TestCard::Succeeds)
        );
        assert_eq!(
            TestCard::from_number("4000-0000-0000-0002"),
            Some(TestCard::Declined)
        );
        assert_eq!(
            TestCard::from_number("4000000000003220"),
            Some(TestCard::Processing)
        );
        assert_eq!(TestCard::from_number("5555 5555 5555 4444"), None);
        for card in [
            TestCard::Succeeds,
            TestCard::Declined,
            TestCard::Processing,
            TestCard::FailsRenewals,
        ] {
            assert_eq!(TestCard::from_number(card.number()), Some(card));
        }
    }
}
