//! The customer portal page at the link `POST /customers/{id}/customer-portal/session` returns
//! (`/portal/{customer_id}?session=cps_...`).
//!
//! A plain HTML page (no JavaScript) listing the customer's subscriptions, payments (with a
//! link to each invoice PDF) and license keys. Each live subscription has buttons to cancel
//! now, cancel at the end of the period (or undo that), and a plan change to another
//! subscription product of the same business (prorated immediately). Actions go through the
//! API itself, so they emit the same events (`subscription.cancelled`,
//! `subscription.updated`, `subscription.plan_changed`, ...), then redirect (303) back to the
//! page with a notice. The `session` token must be present and look like one (`cps_...`); the
//! emulator does not expire it.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use http::{StatusCode, header};
use rusqlite::types::Value as SqlValue;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::dispatch::{self, AppState};
use crate::error::ApiError;
use crate::resources::common::kind;
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The date part of a timestamp (`2025-08-04`).
fn day(t: &str) -> &str {
    t.get(..10)
        .filter(|d| d.as_bytes().get(4) == Some(&b'-'))
        .unwrap_or(t)
}

fn money(amount: i64, currency: &str) -> String {
    format!("{}.{:02} {currency}", amount / 100, (amount % 100).abs())
}

fn text(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{t}</title><main><h1>{t}</h1><p>{b}</p></main></html>",
            t = esc(title),
            b = esc(body)
        )),
    )
        .into_response()
}

fn check_session(q: &PortalQuery) -> Option<String> {
    q.session
        .as_deref()
        .filter(|s| s.starts_with("cps_"))
        .map(str::to_string)
}

fn no_session() -> Response {
    text(
        StatusCode::UNAUTHORIZED,
        "Portal session required",
        "Open the link from POST /customers/{id}/customer-portal/session.",
    )
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
) -> Response {
    let Some(session) = check_session(&q) else {
        return no_session();
    };
    let page = state.store.read(|db| -> Result<String, ApiError> {
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
        let mut m = String::new();
        let _ = write!(
            m,
            "<h1>Your account</h1><p>{} &lt;{}&gt;</p>",
            esc(customer["name"].as_str().unwrap_or("")),
            esc(customer["email"].as_str().unwrap_or(""))
        );
        if let Some(n) = &q.notice {
            let _ = write!(m, r#"<p role="status" class="notice">{}</p>"#, esc(n));
        }
        let sq = format!("?session={}", esc(&session));
        m.push_str(r#"<h2 id="subscriptions">Subscriptions</h2>"#);
        if subs.is_empty() {
            m.push_str("<p>No subscriptions.</p>");
        }
        for s in &subs {
            let sid = s["subscription_id"].as_str().unwrap_or_default();
            let pid = s["product_id"].as_str().unwrap_or_default();
            let status = s["status"].as_str().unwrap_or_default();
            let _ = write!(
                m,
                r#"<section aria-labelledby="h-{sid}"><h3 id="h-{sid}">{}</h3><dl><dt>Status</dt><dd class="status">{}</dd><dt>Amount</dt><dd>{}</dd><dt>Next billing date</dt><dd>{}</dd><dt>Cancels at period end</dt><dd>{}</dd><dt>ID</dt><dd><code>{sid}</code></dd></dl>"#,
                esc(&product_name(db, pid)),
                esc(status),
                money(
                    s["recurring_pre_tax_amount"].as_i64().unwrap_or(0),
                    s["currency"].as_str().unwrap_or("USD")
                ),
                esc(day(s["next_billing_date"].as_str().unwrap_or(""))),
                if s["cancel_at_next_billing_date"] == true { "yes" } else { "no" },
            );
            if matches!(status, "active" | "on_hold" | "paused" | "past_due") {
                let base = format!("/portal/{cid}/subscriptions/{sid}");
                let _ = write!(
                    m,
                    r#"<form method="post" action="{base}/cancel{sq}"><button type="submit">Cancel now</button></form>"#
                );
                let (label, action) = if s["cancel_at_next_billing_date"] == true {
                    ("Keep subscription (undo cancel at period end)", "resume")
                } else {
                    ("Cancel at end of period", "cancel-at-period-end")
                };
                let _ = write!(
                    m,
                    r#"<form method="post" action="{base}/{action}{sq}"><button type="submit">{label}</button></form>"#
                );
                let others: Vec<&(String, String)> =
                    plans.iter().filter(|(id, _)| id != pid).collect();
                if status == "active" && !others.is_empty() {
                    let _ = write!(
                        m,
                        r#"<form method="post" action="{base}/change-plan{sq}"><label for="plan-{sid}">Change plan to</label><select id="plan-{sid}" name="product_id">"#
                    );
                    for (id, name) in others {
                        let _ = write!(m, r#"<option value="{}">{}</option>"#, esc(id), esc(name));
                    }
                    m.push_str(r#"</select><button type="submit">Change plan</button></form>"#);
                }
            }
            m.push_str("</section>");
        }
        m.push_str(r#"<h2 id="payments">Payments and invoices</h2>"#);
        if pays.is_empty() {
            m.push_str("<p>No payments.</p>");
        } else {
            m.push_str(r#"<table><thead><tr><th scope="col">Date</th><th scope="col">Amount</th><th scope="col">Status</th><th scope="col">Invoice</th></tr></thead><tbody>"#);
            for p in &pays {
                let id = p["payment_id"].as_str().unwrap_or_default();
                let invoice = if p["status"] == "succeeded" {
                    format!(
                        r#"<a href="/portal/{cid}/invoices/{id}{sq}">Invoice {id}</a>"#
                    )
                } else {
                    "—".to_string()
                };
                let _ = write!(
                    m,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{invoice}</td></tr>",
                    esc(day(p["created_at"].as_str().unwrap_or(""))),
                    money(
                        p["total_amount"].as_i64().unwrap_or(0),
                        p["currency"].as_str().unwrap_or("USD")
                    ),
                    esc(p["status"].as_str().unwrap_or(""))
                );
            }
            m.push_str("</tbody></table>");
        }
        m.push_str(r#"<h2 id="license-keys">License keys</h2>"#);
        if keys.is_empty() {
            m.push_str("<p>No license keys.</p>");
        } else {
            m.push_str(r#"<table><thead><tr><th scope="col">Key</th><th scope="col">Product</th><th scope="col">Status</th><th scope="col">Activations</th><th scope="col">Expires</th></tr></thead><tbody>"#);
            for k in &keys {
                let limit = k["activations_limit"]
                    .as_i64()
                    .map_or("unlimited".to_string(), |l| l.to_string());
                let _ = write!(
                    m,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{} of {limit}</td><td>{}</td></tr>",
                    esc(k["key"].as_str().unwrap_or("")),
                    esc(&product_name(db, k["product_id"].as_str().unwrap_or(""))),
                    esc(k["status"].as_str().unwrap_or("")),
                    k["instances_count"].as_i64().unwrap_or(0),
                    esc(day(k["expires_at"].as_str().unwrap_or("never"))),
                );
            }
            m.push_str("</tbody></table>");
        }
        Ok(format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Customer portal · Dodo Payments emulator</title><style>body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}table{{border-collapse:collapse;width:100%}}th,td{{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd}}section{{border:1px solid #ccc;border-radius:.4rem;padding:.5rem 1rem;margin:1rem 0}}dl{{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}}dd{{margin:0}}form{{display:inline-block;margin:.3rem .5rem .3rem 0}}label{{margin-right:.4rem}}select{{margin-right:.4rem;padding:.3rem}}button{{padding:.4rem .9rem}}.notice{{background:#e6f4ea;padding:.5rem}}</style></head><body><main><p><strong>TEST MODE</strong>: local Dodo Payments emulator.</p>{m}</main></body></html>"#
        ))
    });
    match page {
        Ok(p) => Html(p).into_response(),
        Err(e) => text(e.status, "Portal unavailable", &e.message),
    }
}

async fn act(
    State(state): State<Arc<AppState>>,
    Path((cid, sid, action)): Path<(String, String, String)>,
    Query(q): Query<PortalQuery>,
    body: axum::body::Bytes,
) -> Response {
    let Some(session) = check_session(&q) else {
        return no_session();
    };
    let owner = state.store.read(|db| {
        db.get(kind::SUBSCRIPTION, &sid)
            .ok()
            .flatten()
            .map(|r| r.data["customer"]["customer_id"] == json!(cid))
    });
    if owner != Some(true) {
        return text(
            StatusCode::NOT_FOUND,
            "Subscription not found",
            "This subscription does not belong to this customer.",
        );
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
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
        _ => return text(StatusCode::NOT_FOUND, "Unknown action", &action),
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
    if check_session(&q).is_none() {
        return no_session();
    }
    let owner = state.store.read(|db| {
        db.get(kind::PAYMENT, &pid)
            .ok()
            .flatten()
            .map(|r| r.data["customer"]["customer_id"] == json!(cid))
    });
    if owner != Some(true) {
        return text(StatusCode::NOT_FOUND, "Invoice not found", &pid);
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
        Err(e) => text(StatusCode::BAD_GATEWAY, "Invoice unavailable", &e.message),
    }
}
