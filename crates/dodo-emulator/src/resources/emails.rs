//! The email outbox: every email the emulator "sends" is recorded here, per emulator, and
//! nothing leaves the machine.
//!
//! [`record`] stores one email (recipient, subject, text and HTML bodies, the link it carries)
//! as a [`kind::EMAIL`] object in the same transaction as the change that sent it; today the
//! customer portal's magic link (`POST /customers/{id}/customer-portal/session?send_email=true`)
//! and every succeeded payment's receipt (`payment_successful`, category `payments`, sent
//! by [`send_payment_receipt`] when a payment settles, renewals included) are the senders.
//! The API reads the outbox like the live email log:
//! `GET /customers/{customer_id}/emails` lists a customer's emails newest first
//! (`ListCustomerEmailsResponse`, `page_size` default 10, at most 100) and
//! `GET /customers/{customer_id}/emails/{email_log_id}/body` answers an `EmailBody`. As the
//! live API documents, an authentication email (category `auth`, such as the portal link)
//! has no preview: its body answers `text` and `html` null, so the API never hands out a live
//! login token. As live, the log covers the last 180 days ([`RETENTION`], on the emulator's
//! clock): older emails leave the list and their bodies read as null. Tests read the full outbox, links included, through the admin route
//! `GET /_emulator/emails` ([`outbox`]) or `dodo_emulator::testing::Admin::emails`.
//! Bodies are rendered from templates with HTML auto-escaping ([`minijinja`]), so a customer
//! named `<script>` stays text.

use minijinja::Environment;
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::common::{self, kind, page_list};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};
use crate::store::{Db, Filter, Record};

/// The sender address of every emulated email.
pub const FROM: &str = "Dodo Payments emulator <no-reply@emulator.invalid>";

/// The category of emails that carry a live login token (no preview through the API).
pub const AUTH: &str = "auth";

/// How long the email log keeps an email (and its body), on the emulator's clock.
pub const RETENTION: time::Duration = time::Duration::days(180);

/// The oldest `created_at` still in the email log.
fn retained_since(ctx: &Ctx<'_>) -> String {
    let now = ctx.now();
    crate::clock::format(now.checked_sub(RETENTION).unwrap_or(now))
}

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("GET", "/customers/{customer_id}/emails", list);
    r.add(
        "GET",
        "/customers/{customer_id}/emails/{email_log_id}/body",
        body,
    );
}

/// The email templates (in `templates/`; `.html` ones auto-escape every value).
const TEMPLATES: [(&str, &str); 4] = [
    (
        "email_portal_link.html",
        include_str!("../../templates/email_portal_link.html"),
    ),
    (
        "email_portal_link.txt",
        include_str!("../../templates/email_portal_link.txt"),
    ),
    (
        "email_receipt.html",
        include_str!("../../templates/email_receipt.html"),
    ),
    (
        "email_receipt.txt",
        include_str!("../../templates/email_receipt.txt"),
    ),
];

/// Renders email template `name` (parsed per email: emails are rare, and nothing is kept
/// process-wide).
fn render(name: &str, context: &Value) -> Result<String, ApiError> {
    let mut env = Environment::new();
    for (n, source) in TEMPLATES {
        env.add_template(n, source)
            .map_err(|e| ApiError::internal(format!("email template {n} does not parse: {e}")))?;
    }
    env.get_template(name)
        .and_then(|t| t.render(context))
        .map_err(|e| ApiError::internal(format!("cannot render email {name}: {e}")))
}

/// One email to record.
#[derive(Debug, Clone)]
pub struct NewEmail<'a> {
    /// The customer it was sent to.
    pub customer_id: &'a str,
    /// The recipient address.
    pub recipient: &'a str,
    /// What kind of email (`customer_portal_link`, ...).
    pub email_type: &'a str,
    /// Its group (`auth`, `payments`, ...).
    pub category: &'a str,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// The link the email carries, if any.
    pub link: Option<&'a str>,
}

/// Stores `email` in the outbox; answers the stored record.
pub fn record(ctx: &Ctx<'_>, email: NewEmail<'_>) -> Result<Value, ApiError> {
    let id = crate::ids::new_id("eml_");
    let now = ctx.now_string();
    let data = json!({
        "email_log_id": id,
        "customer_id": email.customer_id,
        "recipient": email.recipient,
        "from": FROM,
        "subject": email.subject,
        "text": email.text,
        "html": email.html,
        "link": email.link,
        "email_type": email.email_type,
        "category": email.category,
        "status": "delivered",
        "created_at": now,
    });
    ctx.db
        .insert(kind::EMAIL, &id, Some(email.customer_id), &now, &data)?;
    Ok(data)
}

/// Sends (records) the customer portal's magic link to the customer `customer`.
pub fn send_portal_link(ctx: &Ctx<'_>, customer: &Value, link: &str) -> Result<Value, ApiError> {
    let customer_id = customer["customer_id"].as_str().unwrap_or_default();
    let recipient = customer["email"].as_str().unwrap_or_default();
    let name = customer["name"].as_str().unwrap_or("there");
    let context = json!({ "name": name, "link": link });
    record(
        ctx,
        NewEmail {
            customer_id,
            recipient,
            email_type: "customer_portal_link",
            category: AUTH,
            subject: "Your customer portal link".into(),
            text: render("email_portal_link.txt", &context)?,
            html: render("email_portal_link.html", &context)?,
            link: Some(link),
        },
    )
}

/// Sends (records) the receipt of a succeeded payment (the stored `PaymentResponse`) to its
/// customer; a payment without a customer email sends nothing.
pub fn send_payment_receipt(ctx: &Ctx<'_>, payment: &Value) -> Result<(), ApiError> {
    let customer = &payment["customer"];
    let (Some(customer_id), Some(recipient)) = (
        customer["customer_id"].as_str(),
        customer["email"].as_str().filter(|e| !e.is_empty()),
    ) else {
        return Ok(());
    };
    let currency = payment["currency"].as_str().unwrap_or("USD");
    let amount = crate::money::format(payment["total_amount"].as_i64().unwrap_or(0), currency);
    let context = json!({
        "name": customer["name"].as_str().unwrap_or("there"),
        "amount": amount,
        "payment_id": payment["payment_id"],
        "date": payment["updated_at"].as_str().or_else(|| payment["created_at"].as_str()),
    });
    record(
        ctx,
        NewEmail {
            customer_id,
            recipient,
            email_type: "payment_successful",
            category: "payments",
            subject: format!("Your receipt for {amount}"),
            text: render("email_receipt.txt", &context)?,
            html: render("email_receipt.html", &context)?,
            link: None,
        },
    )?;
    Ok(())
}

/// Every email of the outbox, newest first (at most `limit`), optionally of one customer:
/// the admin view, links and bodies included.
pub fn outbox(db: &Db<'_>, customer_id: Option<&str>, limit: u32) -> rusqlite::Result<Vec<Value>> {
    let filters: Vec<Filter> = customer_id
        .map(|c| Filter::Eq("$.customer_id", SqlValue::Text(c.to_string())))
        .into_iter()
        .collect();
    Ok(db
        .list(kind::EMAIL, &filters, limit, 0)?
        .into_iter()
        .map(|r| r.data)
        .collect())
}

/// The `EmailLogItem` of a stored email.
fn log_item(r: &Record) -> Value {
    let e = &r.data;
    let auth = e["category"] == AUTH;
    json!({
        "email_log_id": e["email_log_id"],
        "category": e["category"],
        "created_at": e["created_at"],
        "email_type": e["email_type"],
        "failure_code": null,
        "failure_reason": null,
        "from": e["from"],
        "has_preview": !auth,
        "policies": {
            "requires_different_address": false,
            // A login link is not resent: the merchant issues a new portal session.
            "resend_allowed": !auth,
            "resends_remaining": if auth { 0 } else { 3 },
            "retry_allowed": false,
            "superseded": false,
        },
        "recipient": e["recipient"],
        "status": e["status"],
        "subject": e["subject"],
    })
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let cid = req.param("customer_id");
    common::must_get(ctx, kind::CUSTOMER, "Customer", cid)?;
    let filters = [
        Filter::Eq("$.customer_id", SqlValue::Text(cid.to_string())),
        Filter::Sql(
            "json_extract(data, '$.created_at') >= ?",
            vec![SqlValue::Text(retained_since(ctx))],
        ),
    ];
    page_list(ctx, req, kind::EMAIL, &filters, log_item)
}

fn body(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let cid = req.param("customer_id");
    let eid = req.param("email_log_id");
    common::must_get(ctx, kind::CUSTOMER, "Customer", cid)?;
    let email = ctx
        .db
        .get(kind::EMAIL, eid)?
        .filter(|r| r.data["customer_id"] == cid)
        .ok_or_else(|| ApiError::not_found("Email", eid))?
        .data;
    // Login links are never shown; every body is gone after the retention period.
    let expired = email["created_at"].as_str().unwrap_or("") < retained_since(ctx).as_str();
    let hidden = email["category"] == AUTH || expired;
    let shown = |field: &str| {
        if hidden {
            Value::Null
        } else {
            email[field].clone()
        }
    };
    Ok(Reply::json(json!({
        "merchant_authored": false,
        "failure_code": null,
        "failure_reason": null,
        "html": shown("html"),
        "text": shown("text"),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_email_escapes_the_name_and_carries_the_link() {
        let ctx = json!({"name": "<script>x</script>", "link": "http://127.0.0.1:1/portal/c?session=cps_a&b"});
        let html = render("email_portal_link.html", &ctx).unwrap();
        assert!(
            html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(
            html.contains(
                "href=\"http:&#x2f;&#x2f;127.0.0.1:1&#x2f;portal&#x2f;c?session=cps_a&amp;b\""
            ),
            "{html}"
        );
        let text = render("email_portal_link.txt", &ctx).unwrap();
        assert!(
            text.contains("\nhttp://127.0.0.1:1/portal/c?session=cps_a&b\n"),
            "{text}"
        );
        assert!(text.starts_with("Hello <script>x</script>,"), "{text}");
    }
}
