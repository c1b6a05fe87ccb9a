//! The admin API under `/_emulator/...`: health, faults, reset, seed, and test controls.
//!
//! Every admin route except `GET /_emulator/health` requires `Authorization: Bearer <api key>`,
//! and state-changing ones take a JSON body or none ([`crate::auth`]); admin routes are never
//! subject to faults.
//!
//! | route | effect |
//! |---|---|
//! | `GET /_emulator/health` | `{"status": "ok", "operations": N}` |
//! | `POST /_emulator/faults` | add a [`FaultSpec`] rule → 201 rule |
//! | `GET /_emulator/faults` | `{"items": [rules]}` |
//! | `DELETE /_emulator/faults` | remove all rules → 204 |
//! | `POST /_emulator/reset` | delete all objects and idempotency records → 204 |
//! | `POST /_emulator/seed` | insert objects `{"objects": [{kind, id, data, parent?, state?, created_at?}]}` (or the bare array) in one transaction → `{"inserted": n}`; kinds are listed in [`kind`] |
//! | `POST /_emulator/checkout-sessions/{id}/pay` | pay a checkout session as its hosted page would, without a browser: `{"card_number"?, "name"?, "email"?, "country"?, "discount_code"?, "discount_codes"?, "custom_fields"?: {key: answer}}` (default card `4242 4242 4242 4242`, the session's customer and discount codes; answers checked as the page checks them, 422 `CUSTOM_FIELDS_INVALID`) → `{payment_id, subscription_id, status}` |
//! | `POST /_emulator/payments/{payment_id}/pay` | the same for a payment link (a payment awaiting its payment method) |
//! | `POST /_emulator/payments/{payment_id}/complete` | settle a payment (`{"status": "succeeded"}` default, or `"failed"`) and activate its subscription |
//! | `GET /_emulator/emails` | the email outbox, newest first: `{"items": [{email_log_id, customer_id, recipient, from, subject, text, html, link, email_type, category, status, created_at}]}` (`?customer_id=` filters; at most 1,000); nothing is ever sent ([`crate::resources::emails`]) |

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock;
use crate::dispatch::{AppState, error_response};
use crate::error::ApiError;
use crate::faults::FaultSpec;
use crate::purchase::{self, Buyer, Purchase, TestCard};
use crate::resources::common::kind;
use crate::resources::{Ctx, custom_fields, payments};
use crate::store::State as ObjState;

/// Routes of the admin API.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_emulator/health", get(health))
        .route(
            "/_emulator/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/seed", post(seed))
        .route(
            "/_emulator/payments/{payment_id}/complete",
            post(complete_payment),
        )
        .route(
            "/_emulator/checkout-sessions/{session_id}/pay",
            post(pay_session),
        )
        .route("/_emulator/payments/{payment_id}/pay", post(pay_link))
        .route("/_emulator/emails", get(list_emails))
}

fn reject(e: &ApiError) -> Response {
    error_response(e)
}

async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "status": "ok", "operations": state.table.operations().len() }))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        ApiError::invalid_field(&path, e.into_inner())
    })
}

async fn add_fault(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let added = parse::<FaultSpec>(&body).and_then(|spec| state.faults.add(spec));
    match added {
        Ok(rule) => (StatusCode::CREATED, Json(rule)).into_response(),
        Err(e) => reject(&e),
    }
}

#[derive(Debug, Deserialize)]
struct EmailQuery {
    customer_id: Option<String>,
}

async fn list_emails(
    State(state): State<Arc<AppState>>,
    axum::extract::Query(q): axum::extract::Query<EmailQuery>,
) -> Response {
    let out = state.store.read(|db| {
        crate::resources::emails::outbox(
            db,
            q.customer_id.as_deref().filter(|c| !c.is_empty()),
            1000,
        )
    });
    match out {
        Ok(items) => Json(json!({ "items": items })).into_response(),
        Err(e) => reject(&ApiError::from(e)),
    }
}

async fn list_faults(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "items": state.faults.list() }))
}

async fn clear_faults(State(state): State<Arc<AppState>>) -> StatusCode {
    state.faults.clear();
    StatusCode::NO_CONTENT
}

async fn reset(State(state): State<Arc<AppState>>) -> Response {
    let secret = state.webhook_secret.clone();
    let out = state.store.write(|db| {
        db.clear()?;
        db.meta_set(crate::store::WEBHOOK_SECRET_META, &secret)?;
        db.meta_set(crate::store::ORIGIN_META, &state.env.base_url)
    });
    state.faults.clear();
    match out {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => reject(&ApiError::from(e)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedObject {
    kind: String,
    id: String,
    data: Value,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedBody {
    objects: Vec<SeedObject>,
}

async fn seed(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let bare = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let parsed = if bare {
        parse::<Vec<SeedObject>>(&body)
    } else {
        parse::<SeedBody>(&body).map(|b| b.objects)
    };
    let objects = match parsed {
        Ok(objects) => objects,
        Err(e) => return reject(&e),
    };
    // Seeded objects are state, not changes: they emit no webhook events.
    let out = state.store.write_quiet(|db| {
        for (i, o) in objects.iter().enumerate() {
            let created = match &o.created_at {
                Some(t) => clock::canonical(t).ok_or_else(|| {
                    ApiError::invalid_field(&format!("objects[{i}].created_at"), "not RFC 3339")
                })?,
                None => db.now_string(),
            };
            let st = match o.state.as_deref() {
                None | Some("active") => ObjState::Active,
                Some("archived") => ObjState::Archived,
                Some("deleted") => ObjState::Deleted,
                Some(other) => {
                    return Err(ApiError::invalid_field(
                        &format!("objects[{i}].state"),
                        format!("unknown state `{other}`"),
                    ));
                }
            };
            db.insert(&o.kind, &o.id, o.parent.as_deref(), &created, &o.data)
                .map_err(|e| {
                    ApiError::conflict(
                        "SEED_CONFLICT",
                        format!("cannot insert {} {}: {e}", o.kind, o.id),
                    )
                })?;
            if st != ObjState::Active {
                db.set_state(&o.kind, &o.id, st)?;
            }
        }
        Ok(objects.len())
    });
    match out {
        Ok(n) => Json(json!({ "inserted": n })).into_response(),
        Err(e) => reject(&e),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    #[serde(default)]
    status: Option<String>,
}

async fn complete_payment(
    State(state): State<Arc<AppState>>,
    Path(payment_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let parsed = if body.is_empty() {
        Ok(CompleteBody::default())
    } else {
        parse::<CompleteBody>(&body)
    };
    let status = match parsed {
        Ok(b) => b.status.unwrap_or_else(|| "succeeded".to_string()),
        Err(e) => return reject(&e),
    };
    let out = state.store.write(|db| {
        let ctx = Ctx {
            db,
            env: &state.env,
        };
        payments::complete(&ctx, &payment_id, &status)
    });
    match out {
        Ok(v) => Json(v).into_response(),
        Err(e) => reject(&e),
    }
}

/// Body of the `.../pay` routes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PayBody {
    card_number: Option<String>,
    name: Option<String>,
    email: Option<String>,
    country: Option<String>,
    discount_code: Option<String>,
    discount_codes: Option<Vec<String>>,
    /// Answers to the session's custom fields, by key.
    custom_fields: Option<std::collections::BTreeMap<String, String>>,
}

fn parse_pay(body: &[u8]) -> Result<(PayBody, TestCard), ApiError> {
    let b = if body.iter().all(u8::is_ascii_whitespace) {
        PayBody::default()
    } else {
        parse::<PayBody>(body)?
    };
    let number = b
        .card_number
        .clone()
        .unwrap_or_else(|| TestCard::Succeeds.number().to_string());
    let card = TestCard::from_number(&number).ok_or_else(|| {
        ApiError::invalid_field(
            "card_number",
            "not a test card (4242 4242 4242 4242, 4000 0000 0000 0002, 4000 0000 0000 3220, 4000 0000 0000 0341)",
        )
    })?;
    Ok((b, card))
}

fn buyer(b: PayBody, customer: &Value, country: Option<&str>, card: TestCard) -> Buyer {
    Buyer {
        name: b
            .name
            .or_else(|| customer["name"].as_str().map(str::to_string))
            .unwrap_or_else(|| "Test Buyer".into()),
        email: b
            .email
            .or_else(|| customer["email"].as_str().map(str::to_string))
            .unwrap_or_else(|| "buyer@example.com".into()),
        billing: json!({
            "country": b.country.as_deref().or(country).unwrap_or("US").to_ascii_uppercase(),
        }),
        discount_codes: b
            .discount_codes
            .or_else(|| b.discount_code.map(|c| vec![c]))
            .unwrap_or_default(),
        card_number: card.number().to_string(),
    }
}

fn paid(out: Result<purchase::Paid, String>) -> Response {
    match out {
        Ok(p) => Json(json!({
            "payment_id": p.payment_id,
            "subscription_id": p.subscription_id,
            "status": p.status,
        }))
        .into_response(),
        Err(message) => reject(&ApiError::unprocessable("PAYMENT_NOT_CREATED", message)),
    }
}

async fn pay_session(
    State(state): State<Arc<AppState>>,
    Path(sid): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (mut b, card) = match parse_pay(&body) {
        Ok(x) => x,
        Err(e) => return reject(&e),
    };
    let found = state.store.read(|db| {
        let session = db
            .get(kind::CHECKOUT_SESSION, &sid)?
            .ok_or_else(|| ApiError::not_found("Checkout session", &sid))?;
        let req = db
            .get(kind::CHECKOUT_SESSION_REQUEST, &sid)?
            .ok_or_else(|| ApiError::not_found("Checkout session", &sid))?
            .data;
        let customer = match req["customer"]["customer_id"].as_str() {
            Some(id) => db
                .get(kind::CUSTOMER, id)?
                .map(|r| r.data)
                .unwrap_or(Value::Null),
            None => req["customer"].clone(),
        };
        Ok::<_, ApiError>((session.data, req, customer))
    });
    let (session, req, customer) = match found {
        Ok(x) => x,
        Err(e) => return reject(&e),
    };
    if !session["payment_id"].is_null() {
        return reject(&ApiError::conflict(
            "ALREADY_PAID",
            format!("checkout session {sid} was already paid"),
        ));
    }
    // The hosted page fills its discount field with the session's codes; so does this.
    if b.discount_code.is_some() && b.discount_codes.is_some() {
        return reject(&ApiError::invalid_field(
            "discount_codes",
            "cannot be used together with discount_code",
        ));
    }
    if b.discount_code.is_none() && b.discount_codes.is_none() {
        b.discount_codes = Some(crate::hosted::session_codes(&req));
    }
    let mut purchase = Purchase::of_session(&sid, &req);
    if req["custom_fields"].is_array() {
        let given = b.custom_fields.clone().unwrap_or_default();
        match custom_fields::answers(&req["custom_fields"], &|k| given.get(k).cloned()) {
            Ok(responses) => purchase.custom_field_responses = responses,
            Err(problems) => {
                return reject(&ApiError::unprocessable(
                    "CUSTOM_FIELDS_INVALID",
                    problems.join(" "),
                ));
            }
        }
    }
    let who = buyer(
        b,
        &customer,
        req["billing_address"]["country"].as_str(),
        card,
    );
    paid(purchase::pay(&state, &purchase, &who, card))
}

async fn pay_link(
    State(state): State<Arc<AppState>>,
    Path(pid): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (b, card) = match parse_pay(&body) {
        Ok(x) => x,
        Err(e) => return reject(&e),
    };
    let payment = state.store.read(|db| {
        db.get(kind::PAYMENT, &pid)?
            .map(|r| r.data)
            .ok_or_else(|| ApiError::not_found("Payment", &pid))
    });
    let payment = match payment {
        Ok(p) => p,
        Err(e) => return reject(&e),
    };
    if payment["status"] != "requires_payment_method" {
        return reject(&ApiError::conflict(
            "ALREADY_PAID",
            format!("payment {pid} is already settled"),
        ));
    }
    let purchase = Purchase {
        payment_id: Some(pid),
        billing_currency: None,
        ..Purchase::default()
    };
    let who = buyer(
        b,
        &payment["customer"],
        payment["billing"]["country"].as_str(),
        card,
    );
    paid(purchase::pay(&state, &purchase, &who, card))
}
