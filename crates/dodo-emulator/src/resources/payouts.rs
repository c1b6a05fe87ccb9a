//! Payouts: what the platform pays the business, computed from its settled money.
//!
//! [`create_payout`] is how the platform makes one (the `payout.*` triggers call it): it
//! settles every succeeded payment and refund not yet in a payout. Each payment adds its
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

use super::common::{self, kind};
use super::{Ctx, Registry, invoices};
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

/// Makes a payout of everything settled since the last one (status `not_initiated`).
pub fn create_payout(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let paid: HashSet<String> = all(ctx, kind::PAYOUT_ROWS, &[])?
        .iter()
        .flat_map(|r| r.data["items"].as_array().cloned().unwrap_or_default())
        .filter_map(|row| row["id"].as_str().map(str::to_string))
        .collect();
    let rows: Vec<Value> = settled_rows(ctx)?
        .into_iter()
        .filter(|r| !paid.contains(r["id"].as_str().unwrap_or_default()))
        .collect();
    let sum = |pred: &dyn Fn(&str) -> bool| -> i64 {
        rows.iter()
            .filter(|r| pred(r["event_type"].as_str().unwrap_or_default()))
            .map(|r| r["payout_currency_amount"].as_i64().unwrap_or(0))
            .fold(0_i64, i64::saturating_add)
    };
    let net = sum(&|_| true);
    let fee = -sum(&|t| t == "payment_fees");
    let refunds = -sum(&|t| t == "refund");
    let chargebacks = -sum(&|t| t.starts_with("dispute"));
    let id = new_id("pyt_");
    let now = ctx.now_string();
    let data = json!({
        "payout_id": id, "business_id": ctx.env.business_id, "amount": net, "fee": fee,
        "additional_docs": [], "currency": "USD", "payment_method": "bank_transfer",
        "status": "not_initiated", "tax": 0, "refunds": refunds, "chargebacks": chargebacks,
        "name": "Emulated payout", "payout_document_url": null, "remarks": null,
        "created_at": now, "updated_at": now,
    });
    ctx.db.insert(
        kind::PAYOUT_ROWS,
        &id,
        Some(&id),
        &now,
        &json!({ "items": rows }),
    )?;
    ctx.db.insert(kind::PAYOUT, &id, None, &now, &data)?;
    Ok(data)
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
