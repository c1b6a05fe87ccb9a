//! The customer portal page at the link `POST /customers/{id}/customer-portal/session` returns
//! (`/portal/{customer_id}?session=cps_...`).
//!
//! A plain HTML page (no JavaScript) listing the customer's subscriptions, payments (with a
//! link to each invoice PDF) and license keys. Each live subscription has buttons to cancel
//! now, cancel at the end of the period (or undo that), and a plan change to another
//! subscription product of the same business (prorated immediately). Actions go through the
//! API itself, so they emit the same events (`subscription.cancelled`,
//! `subscription.updated`, `subscription.plan_changed`, ...), then redirect (303) back to the
//! page with a notice. The page is rendered from `templates/portal.html` ([`crate::pages`]).
//!
//! The `session` token is a real one: `POST /customers/{id}/customer-portal/session` issues
//! `cps_` + 32 CSPRNG bytes, stored with its customer and an expiry
//! ([`customers::PORTAL_SESSION_LIFETIME`] on the emulator's clock). A page or action opens only with a stored,
//! unexpired token of that same customer; anything else answers 401. Action forms carry the
//! token in their body (not the URL) and a CSRF token ([`crate::csrf`]). A session issued
//! with `return_url` shows a "Return to the shop" link to it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode, header};
use rusqlite::types::Value as SqlValue;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::csrf;
use crate::dispatch::{self, AppState};
use crate::error::ApiError;
use crate::resources::common::kind;
use crate::resources::customers;
use crate::store::{Db, Filter};

/// Routes of the customer portal.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/portal/{customer_id}", get(show))
        .route(
            "/portal/{customer_id}/subscriptions/{subscription_id}/{action}",
            post(act),
        )
        .route("/portal/{customer_id}/invoices/{payment_id}", get(invoice))
}

#[derive(Debug, Deserialize)]
struct PortalQuery {
    session: Option<String>,
    notice: Option<String>,
}

/// The date part of a timestamp (`2025-08-04`).
fn day(t: &str) -> &str {
    t.get(..10)
        .filter(|d| d.as_bytes().get(4) == Some(&b'-'))
        .unwrap_or(t)
}

/// Whether `token` is a live session of customer `cid`.
fn session_valid(state: &AppState, cid: &str, token: Option<&str>) -> bool {
    let Some(token) = token.filter(|t| t.starts_with("cps_")) else {
        return false;
    };
    state
        .store
        .read(|db| customers::portal_session_customer(db, token))
        .is_some_and(|c| c == cid)
}

fn no_session(state: &AppState) -> Response {
    state.pages.message(
        StatusCode::UNAUTHORIZED,
        "Portal session required",
        "This portal link is invalid or has expired. Ask the shop for a new one.",
    )
}

fn text(state: &AppState, status: StatusCode, title: &str, body: &str) -> Response {
    state.pages.message(status, title, body)
}

fn by_customer(db: &Db<'_>, kind: &str, path: &'static str, cid: &str) -> Vec<Value> {
    db.list(
        kind,
        &[Filter::Eq(path, SqlValue::Text(cid.to_string()))],
        500,
        0,
    )
    .map(|rows| rows.into_iter().map(|r| r.data).collect())
    .unwrap_or_default()
}

fn product_name(db: &Db<'_>, id: &str) -> String {
    db.get(kind::PRODUCT, id)
        .ok()
        .flatten()
        .and_then(|r| r.data["name"].as_str().map(str::to_string))
        .unwrap_or_else(|| id.to_string())
}

async fn show(
    State(state): State<Arc<AppState>>,
    Path(cid): Path<String>,
    Query(q): Query<PortalQuery>,
    headers: HeaderMap,
) -> Response {
    if !session_valid(&state, &cid, q.session.as_deref()) {
        return no_session(&state);
    }
    let session = q.session.clone().unwrap_or_default();
    let (csrf_token, cookie) = csrf::issue(&headers);
    let context = state.store.read(|db| -> Result<Value, ApiError> {
        let customer = db
            .get(kind::CUSTOMER, &cid)?
            .ok_or_else(|| ApiError::not_found("Customer", &cid))?
            .data;
        let subs = by_customer(db, kind::SUBSCRIPTION, "$.customer.customer_id", &cid);
        let pays = by_customer(db, kind::PAYMENT, "$.customer.customer_id", &cid);
        let keys = by_customer(db, kind::LICENSE_KEY, "$.customer_id", &cid);
        let plans: Vec<(String, String)> = db
            .list(kind::PRODUCT, &[], 500, 0)?
            .into_iter()
            .filter(|r| r.data["is_recurring"] == true)
            .map(|r| {
                (
                    r.id,
                    r.data["name"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let session_q =
            serde_urlencoded::to_string([("session", session.as_str())]).unwrap_or_default();
        let subscriptions: Vec<Value> = subs
            .iter()
            .map(|s| {
                let sid = s["subscription_id"].as_str().unwrap_or_default();
                let pid = s["product_id"].as_str().unwrap_or_default();
                let status = s["status"].as_str().unwrap_or_default();
                let others: Vec<Value> = if status == "active" {
                    plans
                        .iter()
                        .filter(|(id, _)| id != pid)
                        .map(|(id, name)| json!({"id": id, "name": name}))
                        .collect()
                } else {
                    Vec::new()
                };
                json!({
                    "id": sid,
                    "product": product_name(db, pid),
                    "status": status,
                    "amount": s["recurring_pre_tax_amount"].as_i64().unwrap_or(0),
                    "currency": s["currency"].as_str().unwrap_or("USD"),
                    "next_billing": day(s["next_billing_date"].as_str().unwrap_or("")),
                    "cancel_at_period_end": s["cancel_at_next_billing_date"] == true,
                    "live": matches!(status, "active" | "on_hold" | "paused" | "past_due"),
                    "base": format!("/portal/{cid}/subscriptions/{sid}"),
                    "plans": others,
                })
            })
            .collect();
        let payments: Vec<Value> = pays
            .iter()
            .map(|p| {
                let id = p["payment_id"].as_str().unwrap_or_default();
                json!({
                    "id": id,
                    "day": day(p["created_at"].as_str().unwrap_or("")),
                    "amount": p["total_amount"].as_i64().unwrap_or(0),
                    "currency": p["currency"].as_str().unwrap_or("USD"),
                    "status": p["status"],
                    "invoice": (p["status"] == "succeeded")
                        .then(|| format!("/portal/{cid}/invoices/{id}?{session_q}")),
                })
            })
            .collect();
        let license_keys: Vec<Value> = keys
            .iter()
            .map(|k| {
                json!({
                    "key": k["key"],
                    "product": product_name(db, k["product_id"].as_str().unwrap_or("")),
                    "status": k["status"],
                    "used": k["instances_count"].as_i64().unwrap_or(0),
                    "limit": k["activations_limit"]
                        .as_i64()
                        .map_or("unlimited".to_string(), |l| l.to_string()),
                    "expires": day(k["expires_at"].as_str().unwrap_or("never")),
                })
            })
            .collect();
        Ok(json!({
            "title": "Customer portal",
            "return_url": customers::portal_session_return_url(db, &session),
            "customer": {"name": customer["name"], "email": customer["email"]},
            "notice": q.notice,
            "session": session,
            "csrf_token": csrf_token,
            "subscriptions": subscriptions,
            "payments": payments,
            "license_keys": license_keys,
        }))
    });
    let mut response = match context {
        Ok(c) => state.pages.respond(StatusCode::OK, "portal.html", c),
        Err(e) => text(&state, e.status, "Portal unavailable", &e.message),
    };
    if let Some((name, value)) = cookie {
        response.headers_mut().insert(name, value);
    }
    response
}

async fn act(
    State(state): State<Arc<AppState>>,
    Path((cid, sid, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let session = get("session").unwrap_or_default();
    if !session_valid(&state, &cid, Some(&session)) {
        return no_session(&state);
    }
    if !csrf::check(&headers, get(csrf::FIELD).as_deref()) {
        return text(
            &state,
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form is missing its security token or came from another site. Reload the page and try again.",
        );
    }
    let owner = state.store.read(|db| {
        db.get(kind::SUBSCRIPTION, &sid)
            .ok()
            .flatten()
            .map(|r| r.data["customer"]["customer_id"] == json!(cid))
    });
    if owner != Some(true) {
        return text(
            &state,
            StatusCode::NOT_FOUND,
            "Subscription not found",
            "This subscription does not belong to this customer.",
        );
    }
    let path = format!("/subscriptions/{sid}");
    let (method, path, payload, notice) = match action.as_str() {
        "cancel" => (
            "PATCH",
            path,
            json!({"status": "cancelled"}),
            "Subscription cancelled.",
        ),
        "cancel-at-period-end" => (
            "PATCH",
            path,
            json!({"cancel_at_next_billing_date": true}),
            "Subscription will cancel at the end of the period.",
        ),
        "resume" => (
            "PATCH",
            path,
            json!({"cancel_at_next_billing_date": false}),
            "Subscription will continue.",
        ),
        "change-plan" => {
            let Some((_, product)) = form.iter().find(|(k, _)| k == "product_id") else {
                return text(
                    &state,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Choose a plan",
                    "No plan was chosen.",
                );
            };
            (
                "POST",
                format!("{path}/change-plan"),
                json!({"product_id": product, "quantity": 1, "proration_billing_mode": "prorated_immediately"}),
                "Plan changed.",
            )
        }
        _ => return text(&state, StatusCode::NOT_FOUND, "Unknown action", &action),
    };
    let notice = match dispatch::invoke(&state, method, &path, &payload) {
        Ok(_) => notice.to_string(),
        Err(e) => format!("Could not complete the action: {}", e.message),
    };
    let query =
        serde_urlencoded::to_string([("session", session.as_str()), ("notice", notice.as_str())])
            .unwrap_or_default();
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("/portal/{cid}?{query}"))],
    )
        .into_response()
}

async fn invoice(
    State(state): State<Arc<AppState>>,
    Path((cid, pid)): Path<(String, String)>,
    Query(q): Query<PortalQuery>,
) -> Response {
    if !session_valid(&state, &cid, q.session.as_deref()) {
        return no_session(&state);
    }
    let owner = state.store.read(|db| {
        db.get(kind::PAYMENT, &pid)
            .ok()
            .flatten()
            .map(|r| r.data["customer"]["customer_id"] == json!(cid))
    });
    if owner != Some(true) {
        return text(&state, StatusCode::NOT_FOUND, "Invoice not found", &pid);
    }
    match dispatch::invoke(
        &state,
        "GET",
        &format!("/invoices/payments/{pid}"),
        &Value::Null,
    ) {
        Ok(r) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, r.content_type)],
            r.body,
        )
            .into_response(),
        Err(e) => text(
            &state,
            StatusCode::BAD_GATEWAY,
            "Invoice unavailable",
            &e.message,
        ),
    }
}
