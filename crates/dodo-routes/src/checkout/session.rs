//! The session checkout flow: `POST /checkouts` from a browser's checkout-session body.
//!
//! The body must be a JSON object that sets only what the [`BrowserPolicy`] allows (cart
//! product ids and quantities, new-customer details, billing address and currency, tax id,
//! discount codes, bounded metadata, `return_url`/`cancel_url` on the configured origin);
//! anything else is a 400 `field_not_allowed` naming it. It is then decoded into the typed
//! [`CreateCheckoutSessionRequest`] (a 400 names a bad field; the Express rules hold: a
//! non-empty cart, non-empty product ids, positive quantities), the configured return URL
//! fills a missing one, the merchant's hook may add server-only fields, and the typed
//! request is sent. The answer is `{"checkout_url", "session_id"}`; `checkout_url` is `null`
//! when the API paid the session at once (a hook that set `payment_method_id` + `confirm`),
//! with `payment_id` then included.
//!
//! [`BrowserPolicy`]: super::BrowserPolicy

use dodo_types::{CreateCheckoutSessionRequest, CreateSessionResponse};
use http::StatusCode;
use serde_json::{Map, Value, json};

use std::future::Future;

use super::{Checkout, CheckoutDraft, CheckoutFlow, FlowError};
use crate::body::{decode_json, json_error};
use crate::error::RouteError;

pub(super) async fn run<F, Fut, R>(
    checkout: &Checkout,
    bytes: &[u8],
    hook: F,
) -> Result<Value, FlowError<R>>
where
    F: FnOnce(CheckoutDraft) -> Fut,
    Fut: Future<Output = Result<CheckoutDraft, R>>,
{
    let object: Map<String, Value> = match decode_json::<Value>(bytes)? {
        Value::Object(map) => map,
        _ => {
            return Err(RouteError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the request body must be a JSON object",
            )
            .into());
        }
    };
    checkout
        .browser_policy()
        .check_body(CheckoutFlow::Session, &object)?;
    let mut request: CreateCheckoutSessionRequest =
        serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| json_error(&e))?;
    validate(&request)?;
    request.return_url = checkout.pick_url("return_url", request.return_url.as_deref())?;
    if let Some(cancel) = request.cancel_url.take() {
        request.cancel_url = checkout.pick_url("cancel_url", Some(&cancel))?;
    }
    let draft = CheckoutDraft::Session(Box::new(request));
    let CheckoutDraft::Session(request) = hook(draft).await.map_err(FlowError::Refused)? else {
        return Err(RouteError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "hook_changed_flow",
            "the checkout hook returned a different kind of request",
        )
        .into());
    };
    let created: CreateSessionResponse = checkout
        .client()
        .checkout_sessions()
        .create(&request)
        .await
        .map_err(|e| checkout.upstream(&e, None))?;
    let mut answer = Map::new();
    answer.insert("checkout_url".into(), json!(created.checkout_url));
    answer.insert("session_id".into(), json!(created.session_id));
    if let Some(payment_id) = created.payment_id {
        answer.insert("payment_id".into(), json!(payment_id));
    }
    Ok(Value::Object(answer))
}

/// The Express adaptor's session rules that the typed model does not enforce.
fn validate(req: &CreateCheckoutSessionRequest) -> Result<(), RouteError> {
    if req.product_cart.is_empty() {
        return Err(RouteError::invalid("product_cart", "must not be empty"));
    }
    for (i, item) in req.product_cart.iter().enumerate() {
        if item.product_id.is_empty() {
            return Err(RouteError::invalid(
                &format!("product_cart[{i}].product_id"),
                "must not be empty",
            ));
        }
        if item.quantity < 1 {
            return Err(RouteError::invalid(
                &format!("product_cart[{i}].quantity"),
                "must be a positive integer",
            ));
        }
        if item.amount.is_some_and(|a| a < 0) {
            return Err(RouteError::invalid(
                &format!("product_cart[{i}].amount"),
                "must be a non-negative integer",
            ));
        }
    }
    Ok(())
}
