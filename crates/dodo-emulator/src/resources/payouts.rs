//! Payouts: what the platform pays the business, computed from its settled money.
//!
//! [`make_payout`] is how the platform makes one: off-cycle ([`create_payout`], what the
//! `payout.*` triggers call) it settles every succeeded payment and refund not yet in a
//! payout; on the schedule ([`super::payout_cycles`], as the clock moves) those of one billing
//! [`Period`] and the ones carried forward before it. Each payment adds its
//! `total_amount` and costs a fee of 4 % + 40 minor units (the emulator's fixed rule), each
//! succeeded refund subtracts its amount, each dispute its amount (`dispute`, given back by a
//! `dispute_reversal` once won); `amount` is the net, `fee` the fees. The rows are kept
//! beside the payout ([`kind::PAYOUT_ROWS`]) and answer the breakup routes: totals by event type
//! (`/breakup`), one row per event (`/breakup/details`, paged, and its CSV). The emulator has no
//! exchange rates: amounts in another currency count at par, so `usd_equivalent_amount` and
//! `payout_currency_amount` equal the original amount. A payout's invoice
//! (`GET /invoices/payouts/{id}`) is a one-page PDF once the payout is `success` (404 before).

use std::collections::HashSet;

use serde_json::{Value, json};
use time::Date;

use super::common::{self, kind};
use super::{Ctx, Registry, invoices};
use crate::clock;
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply, ReplyBody};
use crate::store::{Filter, Record};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("GET", "/payouts", list);
    r.add("GET", "/payouts/{payout_id}/breakup", breakup);
    r.add("GET", "/payouts/{payout_id}/breakup/details", details);
    r.add(
        "GET",
        "/payouts/{payout_id}/breakup/details/csv",
        details_csv,
    );
    r.add("GET", "/invoices/payouts/{payout_id}", invoice);
}

/// The fee the emulator charges on a payment of `amount` minor units: 4 % + 40.
pub fn payment_fee(amount: i64) -> i64 {
    amount.saturating_mul(4) / 100 + 40
}

fn all(ctx: &Ctx<'_>, kind: &str, filters: &[Filter]) -> Result<Vec<Record>, ApiError> {
    let mut out = ctx.db.list(kind, filters, u32::MAX, 0)?;
    out.reverse();
    Ok(out)
}

/// One settled event: `(event_type, id, amount (signed), currency, created_at, reference)`.
pub fn settled_rows(ctx: &Ctx<'_>) -> Result<Vec<Value>, ApiError> {
    let mut rows = Vec::new();
    let succeeded = [Filter::Eq(
        "$.status",
        rusqlite::types::Value::Text("succeeded".into()),
    )];
    for p in all(ctx, kind::PAYMENT, &succeeded)? {
        let d = &p.data;
        let amount = d["total_amount"].as_i64().unwrap_or(0);
        let id = d["payment_id"].as_str().unwrap_or_default();
        let at = d["updated_at"].as_str().unwrap_or(&p.created_at);
        rows.push(row("payment", &format!("{id}_payment"), amount, d, at, id));
        rows.push(row(
            "payment_fees",
            &format!("{id}_fee"),
            -payment_fee(amount),
            d,
            at,
            id,
        ));
    }
    for r in all(ctx, kind::REFUND, &succeeded)? {
        let d = &r.data;
        let id = d["refund_id"].as_str().unwrap_or_default();
        let amount = d["amount"].as_i64().unwrap_or(0);
        rows.push(row(
            "refund",
            &format!("{id}_refund"),
            -amount,
            d,
            &r.created_at,
            id,
        ));
    }
    for r in all(ctx, kind::DISPUTE, &[])? {
        let d = &r.data;
        let id = d["dispute_id"].as_str().unwrap_or_default();
        let amount: i64 = d["amount"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        rows.push(row(
            "dispute",
            &format!("{id}_dispute"),
            -amount,
            d,
            &r.created_at,
            id,
        ));
        if d["dispute_status"] == "dispute_won" {
            rows.push(row(
                "dispute_reversal",
                &format!("{id}_reversal"),
                amount,
                d,
                &r.created_at,
                id,
            ));
        }
    }
    rows.sort_by(|a, b| a["created_at"].as_str().cmp(&b["created_at"].as_str()));
    Ok(rows)
}

fn row(event: &str, id: &str, amount: i64, obj: &Value, at: &str, reference: &str) -> Value {
    json!({
        "id": id, "event_type": event, "original_amount": amount,
        "original_currency": obj["currency"], "created_at": at,
        "usd_equivalent_amount": amount, "payout_currency_amount": amount,
        "reference_object_id": reference,
    })
}

/// The billing period a scheduled payout pays (see [`super::payout_cycles`]): the money
/// settled from `start` (inclusive) to `end` (exclusive, the first day of the next period),
/// plus what earlier periods carried forward, paid out on `payout_date`. All days are UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The cycle's name (`bi_monthly`, `weekly`, `monthly`).
    pub cycle: &'static str,
    /// The first day of the period.
    pub start: Date,
    /// The day after the period's last day: when the period closes and its payout is made.
    pub end: Date,
    /// The documented payout (initiation) date.
    pub payout_date: Date,
}

/// Every settled row not yet in a payout, oldest first.
pub fn unpaid_rows(ctx: &Ctx<'_>) -> Result<Vec<Value>, ApiError> {
    let paid: HashSet<String> = all(ctx, kind::PAYOUT_ROWS, &[])?
        .iter()
        .flat_map(|r| r.data["items"].as_array().cloned().unwrap_or_default())
        .filter_map(|row| row["id"].as_str().map(str::to_string))
        .collect();
    Ok(settled_rows(ctx)?
        .into_iter()
        .filter(|r| !paid.contains(r["id"].as_str().unwrap_or_default()))
        .collect())
}

/// The net of settled rows (what a payout of them would pay), saturating.
pub fn net_of(rows: &[Value]) -> i64 {
    rows.iter()
        .map(|r| r["payout_currency_amount"].as_i64().unwrap_or(0))
        .fold(0_i64, i64::saturating_add)
}

/// Makes an off-cycle payout of everything settled since the last payout (status
/// `not_initiated`, `payout.created`): what the `payout.*` triggers do.
pub fn create_payout(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let rows = unpaid_rows(ctx)?;
    make_payout(ctx, rows, None)
}

/// Makes a payout (status `not_initiated`, `payout.created`) settling `rows` (taken from
/// [`unpaid_rows`]): off-cycle and dated now when `period` is `None`, else the scheduled
/// payout of that billing period, dated when the period closed. Both the triggers and the
/// schedule make payouts only through here, so a row is never settled twice.
pub fn make_payout(
    ctx: &Ctx<'_>,
    rows: Vec<Value>,
    period: Option<&Period>,
) -> Result<Value, ApiError> {
    let sum = |pred: &dyn Fn(&str) -> bool| -> i64 {
        rows.iter()
            .filter(|r| pred(r["event_type"].as_str().unwrap_or_default()))
            .map(|r| r["payout_currency_amount"].as_i64().unwrap_or(0))
            .fold(0_i64, i64::saturating_add)
    };
    let net = net_of(&rows);
    let fee = sum(&|t| t == "payment_fees").saturating_neg();
    let refunds = sum(&|t| t == "refund").saturating_neg();
    let chargebacks = sum(&|t| t.starts_with("dispute")).saturating_neg();
    let id = new_id("pyt_");
    let (at, name, schedule) = match period {
        None => (ctx.now_string(), "Emulated payout".to_string(), Value::Null),
        Some(p) => {
            let last_day = p.end.previous_day().unwrap_or(p.end);
            (
                clock::format(p.end.midnight().assume_utc()),
                format!("Payout for {} to {last_day}", p.start),
                json!({
                    "cycle": p.cycle, "period_start": p.start.to_string(),
                    "period_end": last_day.to_string(),
                    "payout_date": clock::format(p.payout_date.midnight().assume_utc()),
                }),
            )
        }
    };
    let data = json!({
        "payout_id": id, "business_id": ctx.env.business_id, "amount": net, "fee": fee,
        "additional_docs": [], "currency": "USD", "payment_method": "bank_transfer",
        "status": "not_initiated", "tax": 0, "refunds": refunds, "chargebacks": chargebacks,
        "name": name, "payout_document_url": null, "remarks": null,
        "created_at": at, "updated_at": at,
    });
    ctx.db.insert(
        kind::PAYOUT_ROWS,
        &id,
        Some(&id),
        &at,
        &json!({ "items": rows, "schedule": schedule }),
    )?;
    ctx.db.insert(kind::PAYOUT, &id, None, &at, &data)?;
    Ok(data)
}

/// The URL of a payout's document, the PDF `GET /invoices/payouts/{id}` serves once the payout
/// is `success` (its `payout_document_url` from then on).
pub fn document_url(ctx: &Ctx<'_>, payout_id: &str) -> String {
    format!("{}/invoices/payouts/{payout_id}", ctx.env.base_url)
}

/// The schedule a payout was made on (`{cycle, period_start, period_end, payout_date}`), or
/// `None` for an off-cycle payout.
pub fn schedule_of(ctx: &Ctx<'_>, payout_id: &str) -> Result<Option<Value>, ApiError> {
    Ok(ctx
        .db
        .get(kind::PAYOUT_ROWS, payout_id)?
        .map(|r| r.data["schedule"].clone())
        .filter(|s| s.is_object()))
}

fn list(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let mut filters = Vec::new();
    common::created_filters(req, &mut filters)?;
    common::page_list(ctx, req, kind::PAYOUT, &filters, common::as_is)
}

fn rows_of(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Vec<Value>, ApiError> {
    let id = req.param("payout_id");
    common::must_get(ctx, kind::PAYOUT, "Payout", id)?;
    Ok(ctx
        .db
        .get(kind::PAYOUT_ROWS, id)?
        .and_then(|r| r.data["items"].as_array().cloned())
        .unwrap_or_default())
}

fn breakup(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let rows = rows_of(ctx, req)?;
    let mut totals: Vec<(String, i64)> = Vec::new();
    for r in &rows {
        let t = r["event_type"].as_str().unwrap_or_default();
        let a = r["payout_currency_amount"].as_i64().unwrap_or(0);
        match totals.iter_mut().find(|(k, _)| k == t) {
            Some((_, total)) => *total = total.saturating_add(a),
            None => totals.push((t.to_string(), a)),
        }
    }
    Ok(Reply::json(Value::Array(
        totals
            .into_iter()
            .map(|(t, total)| json!({"event_type": t, "total": total}))
            .collect(),
    )))
}

fn details(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let rows = rows_of(ctx, req)?;
    let page = req.page()?;
    let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let items: Vec<Value> = rows
        .into_iter()
        .skip(skip)
        .take(page.size as usize)
        .collect();
    Ok(Reply::items(items))
}

fn details_csv(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let rows = rows_of(ctx, req)?;
    let mut csv = String::from(
        "id,event_type,original_amount,original_currency,usd_equivalent_amount,payout_currency_amount,reference_object_id,created_at\n",
    );
    for r in rows {
        let f = |k: &str| match &r[k] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            f("id"),
            f("event_type"),
            f("original_amount"),
            f("original_currency"),
            f("usd_equivalent_amount"),
            f("payout_currency_amount"),
            f("reference_object_id"),
            f("created_at"),
        ));
    }
    Ok(Reply {
        status: None,
        body: ReplyBody::Bytes("text/csv", csv.into_bytes()),
    })
}

fn invoice(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let id = req.param("payout_id");
    let payout = common::must_get(ctx, kind::PAYOUT, "Payout", id)?.data;
    if payout["status"] != "success" {
        return Err(ApiError::not_found("Payout invoice", id));
    }
    Ok(Reply {
        status: None,
        body: ReplyBody::Bytes(
            invoices::PDF,
            invoices::minimal_pdf(&format!(
                "Payout {id}: {} {} (fee {})",
                payout["amount"], payout["currency"], payout["fee"]
            )),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::payment_fee;

    #[test]
    fn the_fee_is_four_percent_plus_forty() {
        assert_eq!(payment_fee(0), 40);
        assert_eq!(payment_fee(2500), 140);
        assert_eq!(payment_fee(99), 43);
        assert!(payment_fee(i64::MAX) > 0);
    }
}
