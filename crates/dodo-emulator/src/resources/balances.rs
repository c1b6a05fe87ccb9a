//! The business's balance ledger (`GET /balances/ledger`), computed from state.
//!
//! Entries in time order: each succeeded payment (`payment`, credit), its fee
//! (`payment_fees`, debit, see [`payouts::payment_fee`]), each succeeded refund (`refund`,
//! debit), each dispute (`dispute`, debit; `dispute_reversal`, credit, once won) and each
//! payout that has not failed (`payout`, debit of its net amount). Every entry
//! carries the running balance of its currency before and after it. Filters:
//! `reference_object_id`, `event_type`, `currency`, `created_at_gte/lte`; `limit` caps the
//! entries before paging; pages are newest first like every list.

use serde_json::{Value, json};

use super::common::kind;
use super::{Ctx, Registry, payouts};
use crate::error::ApiError;
use crate::request::{ApiRequest, Reply};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("GET", "/balances/ledger", ledger);
}

/// Every ledger entry, oldest first, with running balances.
pub fn entries(ctx: &Ctx<'_>) -> Result<Vec<Value>, ApiError> {
    let mut rows: Vec<(String, String, String, i64, Value, String)> = payouts::settled_rows(ctx)?
        .into_iter()
        .map(|r| {
            (
                r["created_at"].as_str().unwrap_or_default().to_string(),
                r["id"].as_str().unwrap_or_default().to_string(),
                r["event_type"].as_str().unwrap_or_default().to_string(),
                r["original_amount"].as_i64().unwrap_or(0),
                r["original_currency"].clone(),
                r["reference_object_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    for p in ctx.db.list(kind::PAYOUT, &[], u32::MAX, 0)? {
        if p.data["status"] == "failed" {
            continue;
        }
        let id = p.data["payout_id"].as_str().unwrap_or_default().to_string();
        rows.push((
            p.created_at.clone(),
            format!("{id}_payout"),
            "payout".into(),
            -p.data["amount"].as_i64().unwrap_or(0),
            p.data["currency"].clone(),
            id,
        ));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut balances: Vec<(Value, i64)> = Vec::new();
    let mut out = Vec::with_capacity(rows.len());
    for (at, id, event, amount, currency, reference) in rows {
        let slot = match balances.iter().position(|(c, _)| *c == currency) {
            Some(i) => i,
            None => {
                balances.push((currency.clone(), 0));
                balances.len() - 1
            }
        };
        let before = balances[slot].1;
        let after = before.saturating_add(amount);
        balances[slot].1 = after;
        out.push(json!({
            "id": format!("bal_{id}"), "business_id": ctx.env.business_id,
            "event_type": event, "amount": amount.saturating_abs(), "currency": currency,
            "is_credit": amount >= 0, "created_at": at, "usd_equivalent_amount": amount.saturating_abs(),
            "before_balance": before, "after_balance": after, "reference_object_id": reference,
        }));
    }
    Ok(out)
}

fn ledger(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let page = req.page()?;
    let gte = req.query_time("created_at_gte")?;
    let lte = req.query_time("created_at_lte")?;
    let limit = req.query_u64("limit")?;
    let want = |e: &Value, field: &str, param: &str| {
        req.query(param)
            .filter(|v| !v.is_empty())
            .is_none_or(|v| e[field].as_str() == Some(v))
    };
    let mut items: Vec<Value> = entries(ctx)?
        .into_iter()
        .filter(|e| want(e, "reference_object_id", "reference_object_id"))
        .filter(|e| want(e, "event_type", "event_type"))
        .filter(|e| want(e, "currency", "currency"))
        .filter(|e| {
            let at = e["created_at"].as_str().unwrap_or_default();
            gte.as_deref().is_none_or(|g| at >= g) && lte.as_deref().is_none_or(|l| at <= l)
        })
        .collect();
    items.reverse();
    if let Some(l) = limit {
        items.truncate(usize::try_from(l).unwrap_or(usize::MAX));
    }
    let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    Ok(Reply::items(
        items
            .into_iter()
            .skip(skip)
            .take(page.size as usize)
            .collect(),
    ))
}
