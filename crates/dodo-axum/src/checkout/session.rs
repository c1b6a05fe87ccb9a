//! The session checkout flow: `POST /checkouts` with the caller's body passed through whole.
//!
//! The body must be a JSON object. It is checked against the typed
//! [`CreateCheckoutSessionRequest`] (so a 400 names the bad field, and the Express rules
//! hold: a non-empty cart, non-empty product ids, positive quantities), but what is sent is
//! the **original JSON object**, with only `return_url` added when absent and configured, so
//! API fields newer than this crate (and the ones Express strips: `custom_fields`,
//! `discount_codes`, `cancel_url`, `short_link`, `payment_method_id`, …) reach the API. The
//! answer is `{"checkout_url", "session_id"}`; `checkout_url` is `null` when the API paid the
//! session at once (`payment_method_id` + `confirm`), with `payment_id` then included.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use dodo_types::{CreateCheckoutSessionRequest, CreateSessionResponse};
use serde_json::{Map, Value, json};

use super::Checkout;
use crate::body::{decode_json, json_error, read_limited};
use crate::error::RouteError;

pub(super) async fn run(checkout: &Checkout, req: Request) -> Result<Response, RouteError> {
    let bytes = read_limited(req.into_body(), checkout.body_limit_bytes()).await?;
    let mut object: Map<String, Value> = match decode_json::<Value>(&bytes)? {
        Value::Object(map) => map,
        _ => {
            return Err(RouteError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_body",
                "the request body must be a JSON object",
            ));
        }
    };
    let typed: CreateCheckoutSessionRequest =
        serde_path_to_error::deserialize(Value::Object(object.clone()))
            .map_err(|e| json_error(&e))?;
    validate(&typed)?;
    let requested = match object.get("return_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(RouteError::invalid("return_url", "must be a string")),
    };
    match checkout.pick_return_url(requested)? {
        Some(url) => {
            object.insert("return_url".into(), Value::String(url));
        }
        None => {
            object.remove("return_url");
        }
    }
    let created: CreateSessionResponse = checkout
        .client()
        .post("/checkouts", &object)
        .await
        .map_err(|e| RouteError::from_client(&e, None))?;
    let mut answer = Map::new();
    answer.insert("checkout_url".into(), json!(created.checkout_url));
    answer.insert("session_id".into(), json!(created.session_id));
    if let Some(payment_id) = created.payment_id {
        answer.insert("payment_id".into(), json!(payment_id));
    }
    Ok(axum::Json(Value::Object(answer)).into_response())
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
