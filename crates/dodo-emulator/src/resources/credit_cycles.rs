//! Subscription credits per billing cycle, driven by the virtual clock.
//!
//! An `active` subscription carries credit entitlements in its `credit_entitlement_cart`, or,
//! when that is empty, through its product's `credit_entitlements` (each with a
//! `credits_amount`; a product mapping's expiry, rollover and overage settings override the
//! entitlement's). [`settle`] runs when its payment settles (so a new subscription has its
//! credits at once) and [`process`] after the clock's renewals: for each such entitlement
//! whose current period (`previous_billing_date`) has no credits yet it first closes the last
//! period — what the subscription's grants still hold rolls over into a new grant
//! (`rollover_percentage`, default 100 %, at most `max_rollover_count` times:
//! `credit.rolled_over`), the rest is forfeited (`credit.rollover_forfeited`) or, without
//! rollover, expires (`credit.expired`); overage is reset for `forgive_at_reset` and
//! `invoice_at_billing` (`credit.overage_reset`) and carried otherwise — then grants the
//! period's `credits_amount` (`source_type: subscription`, `credit.added`, the subscription's
//! metadata on the ledger row), which with `carry_deficit*` repays carried overage first. Periods
//! skipped within one clock move are settled as one.

use serde_json::{Value, json};

use super::Ctx;
use super::amounts::Fixed;
use super::common::kind;
use super::credit_entitlements::precision;
use super::credit_ledger::{
    Row, amount_at, balance_now, balance_record, credit_items, fits, grant_expired, grants,
    overflow, scope, write_row,
};
use super::credit_mappings::effective;
use crate::clock;
use crate::error::ApiError;
use crate::ids::new_id;
use crate::store::{Filter, Record, State};

/// The credit entitlements a subscription carries: `(credit_entitlement_id, credits_amount,
/// item)`.
fn carried(ctx: &Ctx<'_>, sub: &Value) -> Result<Vec<(String, String, Value)>, ApiError> {
    Ok(credit_items(ctx, sub)?
        .into_iter()
        .filter_map(|c| {
            Some((
                c["credit_entitlement_id"].as_str()?.to_string(),
                c["credits_amount"].as_str()?.to_string(),
                c,
            ))
        })
        .collect())
}

/// Grants credits for every active subscription's current period that has none yet; answers
/// the ids of the grants made.
pub fn process(ctx: &Ctx<'_>) -> Result<Vec<String>, ApiError> {
    let subs = ctx.db.list(
        kind::SUBSCRIPTION,
        &[Filter::Eq(
            "$.status",
            rusqlite::types::Value::Text("active".into()),
        )],
        u32::MAX,
        0,
    )?;
    let mut issued = Vec::new();
    for sub in subs {
        issued.extend(process_one(ctx, &sub.data)?);
    }
    Ok(issued)
}

/// Grants a subscription's credits at once when it is active and its current period has none
/// yet (called when its payment settles, so a new subscription has its credits immediately).
pub fn settle(ctx: &Ctx<'_>, subscription_id: &str) -> Result<(), ApiError> {
    if let Some(sub) = ctx.db.get(kind::SUBSCRIPTION, subscription_id)?
        && sub.data["status"] == "active"
    {
        process_one(ctx, &sub.data)?;
    }
    Ok(())
}

fn process_one(ctx: &Ctx<'_>, sub: &Value) -> Result<Vec<String>, ApiError> {
    let mut issued = Vec::new();
    let sub_id = sub["subscription_id"].as_str().unwrap_or_default();
    let Some(period) = sub["previous_billing_date"]
        .as_str()
        .and_then(clock::canonical)
    else {
        return Ok(issued);
    };
    for (cde, credits, item) in carried(ctx, sub)? {
        let Some(ent) = ctx
            .db
            .get(kind::CREDIT_ENTITLEMENT, &cde)?
            .filter(|e| e.state != State::Deleted)
        else {
            continue;
        };
        // The product mapping's own settings (expiry, rollover, overage) govern its grants.
        let ent = Record {
            data: effective(&ent.data, &item),
            ..ent
        };
        let cycle_id = format!("{sub_id}/{cde}");
        let cycle = ctx.db.get(kind::CREDIT_CYCLE, &cycle_id)?;
        if cycle
            .as_ref()
            .is_some_and(|c| c.data["period_start"] == period.as_str())
        {
            continue;
        }
        if cycle.is_some() {
            close_period(ctx, &ent.data, sub)?;
        }
        issued.push(open_period(ctx, &ent.data, sub, &credits)?);
        let now = ctx.now_string();
        let data = json!({"period_start": period});
        if cycle.is_some() {
            ctx.db.update(kind::CREDIT_CYCLE, &cycle_id, &data)?;
        } else {
            ctx.db
                .insert(kind::CREDIT_CYCLE, &cycle_id, Some(sub_id), &now, &data)?;
        }
    }
    Ok(issued)
}

struct Account<'a> {
    ent: &'a Value,
    cde: &'a str,
    customer_id: &'a str,
    scale: u32,
    metadata: Value,
}

impl Account<'_> {
    fn scope(&self) -> String {
        scope(self.cde, self.customer_id)
    }

    /// Writes one ledger row that moves the balance by `delta` and the overage to `overage`.
    fn row(
        &self,
        ctx: &Ctx<'_>,
        transaction_type: &'static str,
        amount: Fixed,
        balance: (Fixed, Fixed),
        overage: (Fixed, Fixed),
        grant_id: Option<&str>,
    ) -> Result<(), ApiError> {
        write_row(
            ctx,
            self.cde,
            self.customer_id,
            &Row {
                transaction_type,
                is_credit: matches!(transaction_type, "credit_added" | "credit_rolled_over"),
                amount,
                balance,
                overage,
                grant_id,
                description: None,
                metadata: Some(&self.metadata),
            },
        )?;
        Ok(())
    }
}

fn account<'a>(ent: &'a Value, sub: &'a Value) -> Account<'a> {
    Account {
        ent,
        cde: ent["id"].as_str().unwrap_or_default(),
        customer_id: sub["customer"]["customer_id"].as_str().unwrap_or_default(),
        scale: precision(ent),
        metadata: match &sub["metadata"] {
            m @ Value::Object(_) => m.clone(),
            _ => json!({}),
        },
    }
}

/// Rolls over, forfeits or expires what the subscription's grants still hold; resets overage.
fn close_period(ctx: &Ctx<'_>, ent: &Value, sub: &Value) -> Result<(), ApiError> {
    let acc = account(ent, sub);
    let sc = acc.scope();
    let now = ctx.now_string();
    let sub_id = sub["subscription_id"].as_str().unwrap_or_default();
    let mut bal = balance_record(ctx, acc.cde, acc.customer_id)?;
    let overage = amount_at(&bal.data["overage"], acc.scale);
    for mut g in grants(ctx, &sc)? {
        let from_sub = g.data["source_id"] == sub_id
            && matches!(
                g.data["source_type"].as_str(),
                Some("subscription" | "rollover")
            );
        let remaining = amount_at(&g.data["remaining_amount"], acc.scale);
        // A grant past its own `expires_at` expires (swept next), it does not roll over.
        if !from_sub || grant_expired(&g.data, &now) || remaining.is_zero() {
            continue;
        }
        let before = balance_now(ctx, &sc, acc.scale)?;
        let count = g.data["rollover_count"].as_i64().unwrap_or(0);
        let may_roll = ent["rollover_enabled"] == true
            && ent["max_rollover_count"]
                .as_i64()
                .is_none_or(|max| count < max);
        let kept = if may_roll {
            let pct = ent["rollover_percentage"]
                .as_i64()
                .unwrap_or(100)
                .clamp(0, 100);
            Fixed {
                units: remaining
                    .units
                    .checked_mul(i128::from(pct))
                    .ok_or_else(|| overflow("rollover"))?
                    / 100,
                scale: acc.scale,
            }
        } else {
            Fixed::zero(acc.scale)
        };
        let lost = remaining
            .checked_sub(kept)
            .map_err(|_| overflow("rollover"))?;
        g.data["remaining_amount"] = json!("0");
        g.data["is_rolled_over"] = json!(!kept.is_zero());
        g.data["is_expired"] = json!(kept.is_zero());
        g.data["updated_at"] = json!(now);
        ctx.db.update(kind::CREDIT_GRANT, &g.id, &g.data)?;
        let after_loss = before.checked_sub(lost).map_err(|_| overflow("balance"))?;
        if !lost.is_zero() {
            let ty = if ent["rollover_enabled"] == true {
                "rollover_forfeited"
            } else {
                "credit_expired"
            };
            acc.row(
                ctx,
                ty,
                lost,
                (before, after_loss),
                (overage, overage),
                Some(&g.id),
            )?;
        }
        if !kept.is_zero() {
            let expires_at = match ent["expires_after_days"].as_i64() {
                Some(days) => Some(clock::format(
                    clock::add_interval(ctx.now(), "Day", days).ok_or_else(|| {
                        ApiError::out_of_range("`expires_after_days` is too large")
                    })?,
                )),
                None => None,
            };
            let id = new_id("cgr_");
            let grant = json!({
                "id": id, "credit_entitlement_id": acc.cde, "customer_id": acc.customer_id,
                "source_type": "rollover", "source_id": sub_id, "parent_grant_id": g.id,
                "initial_amount": kept.to_plain(), "remaining_amount": kept.to_plain(),
                "rollover_count": count.saturating_add(1), "is_expired": false,
                "is_rolled_over": false, "expires_at": expires_at,
                "metadata": g.data["metadata"], "created_at": now, "updated_at": now,
            });
            ctx.db
                .insert(kind::CREDIT_GRANT, &id, Some(&sc), &now, &grant)?;
            acc.row(
                ctx,
                "credit_rolled_over",
                kept,
                (after_loss, after_loss),
                (overage, overage),
                Some(&id),
            )?;
        }
    }
    let behavior = ent["overage_behavior"]
        .as_str()
        .unwrap_or("forgive_at_reset");
    if !overage.is_zero() && matches!(behavior, "forgive_at_reset" | "invoice_at_billing") {
        let balance = balance_now(ctx, &sc, acc.scale)?;
        let zero = Fixed::zero(acc.scale);
        acc.row(
            ctx,
            "overage_reset",
            overage,
            (balance, balance),
            (overage, zero),
            None,
        )?;
        bal.data["overage"] = json!("0");
    }
    bal.data["balance"] = json!(balance_now(ctx, &sc, acc.scale)?.to_plain());
    bal.data["updated_at"] = json!(now);
    bal.data["last_transaction_at"] = json!(now);
    ctx.db.update(kind::CREDIT_BALANCE, &bal.id, &bal.data)?;
    Ok(())
}

/// Grants the period's credits (repaying carried overage first); answers the grant id.
fn open_period(ctx: &Ctx<'_>, ent: &Value, sub: &Value, credits: &str) -> Result<String, ApiError> {
    let acc = account(ent, sub);
    let sc = acc.scope();
    let now_t = ctx.now();
    let now = clock::format(now_t);
    let amount = Fixed::parse(credits, acc.scale).map_err(|e| {
        ApiError::out_of_range(format!("the subscription's credits_amount `{credits}` {e}"))
    })?;
    fits(amount, "credits amount")?;
    let mut bal = balance_record(ctx, acc.cde, acc.customer_id)?;
    let overage = amount_at(&bal.data["overage"], acc.scale);
    let repay = if acc.ent["overage_behavior"]
        .as_str()
        .is_some_and(|b| b.starts_with("carry_deficit"))
    {
        overage.min(amount)
    } else {
        Fixed::zero(acc.scale)
    };
    let kept = amount.checked_sub(repay).map_err(|_| overflow("grant"))?;
    let before = balance_now(ctx, &sc, acc.scale)?;
    let after = before.checked_add(kept).map_err(|_| overflow("balance"))?;
    let overage_after = overage
        .checked_sub(repay)
        .map_err(|_| overflow("overage"))?;
    fits(after, "balance")?;
    let expires_at = match ent["expires_after_days"].as_i64() {
        Some(days) => Some(clock::format(
            clock::add_interval(now_t, "Day", days)
                .ok_or_else(|| ApiError::out_of_range("`expires_after_days` is too large"))?,
        )),
        None => None,
    };
    let id = new_id("cgr_");
    let grant = json!({
        "id": id, "credit_entitlement_id": acc.cde, "customer_id": acc.customer_id,
        "source_type": "subscription", "source_id": sub["subscription_id"],
        "parent_grant_id": null, "initial_amount": amount.to_plain(),
        "remaining_amount": kept.to_plain(), "rollover_count": 0, "is_expired": false,
        "is_rolled_over": false, "expires_at": expires_at, "metadata": sub["metadata"],
        "created_at": now, "updated_at": now,
    });
    ctx.db
        .insert(kind::CREDIT_GRANT, &id, Some(&sc), &now, &grant)?;
    acc.row(
        ctx,
        "credit_added",
        amount,
        (before, after),
        (overage, overage_after),
        Some(&id),
    )?;
    bal.data["balance"] = json!(after.to_plain());
    bal.data["overage"] = json!(overage_after.to_plain());
    bal.data["updated_at"] = json!(now);
    bal.data["last_transaction_at"] = json!(now);
    ctx.db.update(kind::CREDIT_BALANCE, &bal.id, &bal.data)?;
    Ok(id)
}
