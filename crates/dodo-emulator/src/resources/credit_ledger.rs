//! Postings to the credit ledger of one customer under one credit entitlement: grants, debits,
//! expiry, low-balance notices (the read routes are in [`super::credit_balances`]).
//!
//! `POST …/balances/{customer_id}/ledger-entries` is the API's writer. A `credit` creates a grant
//! (`source_type: api`; it expires at the request's `expires_at`, else after the entitlement's
//! `expires_after_days`, else never) and a `credit_added` ledger row; a `debit` takes credits
//! from the live grants oldest first and writes a `credit_deducted` row. A debit beyond the
//! balance is 400 `INSUFFICIENT_BALANCE`, unless the entitlement allows overage: then the
//! shortfall becomes overage (up to `overage_limit`) and an extra `overage_charged` row records
//! it; with `overage_behavior: carry_deficit_auto_repay` a later credit repays overage first.
//! A body `idempotency_key` may be used once per business: a reuse answers 409
//! `IDEMPOTENCY_KEY_EXISTS` and changes nothing. Amounts are exact decimals with the
//! entitlement's `precision`; an amount, balance or overage of 10 integer digits or more (the
//! live API stores `NUMERIC(38,28)`) is 400 `OUT_OF_RANGE` and changes nothing.
//!
//! A balance is computed from the grants (the sum of what remains of those not expired at the
//! virtual clock's now); the overage is stored with the balance. Grants past their
//! `expires_at` are swept by [`expire_due`] (on every ledger write of that customer, and by the
//! clock's advance), which writes a `credit_expired` row for what they still held. Every ledger
//! row is stored under [`kind::CREDIT_LEDGER_ENTRY`], so the outbox announces it as
//! `credit.added`, `credit.deducted`, `credit.overage_charged` or `credit.expired` (see
//! [`crate::emit`]) in the same transaction, with the row as the `CreditLedgerEntry` payload.
//! A debit that takes the balance below a subscription's `low_balance_threshold_percent` of its
//! `credits_amount` (its cart, or its product's credit entitlements) records `credit.balance_low`. Subscription
//! grants, rollover and overage reset per billing cycle live in [`super::credit_cycles`].

use dodo_types::models::CreateLedgerEntryRequest;
use http::StatusCode;
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::amounts::{AmountError, Fixed};
use super::common::{self, kind};
use super::credit_entitlements::{must_get_live, precision};
use super::{Ctx, Registry};
use crate::clock;
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::{Filter, Record, State};

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add(
        "POST",
        "/credit-entitlements/{credit_entitlement_id}/balances/{customer_id}/ledger-entries",
        create_entry,
    );
}

/// The store scope (`parent` of grants and ledger rows, id of the balance) of one customer
/// under one entitlement.
pub fn scope(credit_entitlement_id: &str, customer_id: &str) -> String {
    format!("{credit_entitlement_id}/{customer_id}")
}

fn bad(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

fn amount_error(field: &str, e: AmountError) -> ApiError {
    match e {
        AmountError::Overflow => ApiError::out_of_range(format!("`{field}` {e}")),
        _ => bad("INVALID_REQUEST", format!("invalid field `{field}`: {e}")),
    }
}

pub(super) fn overflow(what: &str) -> ApiError {
    ApiError::out_of_range(format!(
        "the {what} would be too large to compute with; nothing was changed"
    ))
}

pub use super::credit_entitlements::MAX_INTEGER_DIGITS;

/// Checks that an amount, balance or overage fits the live API's numbers (`|v| < 10^10`).
pub(super) fn fits(v: Fixed, what: &str) -> Result<(), ApiError> {
    let limit =
        Fixed::from_int(10i128.pow(MAX_INTEGER_DIGITS), v.scale).map_err(|_| overflow(what))?;
    if v.units.unsigned_abs() >= limit.units.unsigned_abs() {
        return Err(ApiError::out_of_range(format!(
            "the {what} would be {}, beyond the {MAX_INTEGER_DIGITS} integer digits credit amounts \
             carry; nothing was changed",
            v.to_plain()
        )));
    }
    Ok(())
}

pub(super) fn amount_at(v: &Value, scale: u32) -> Fixed {
    v.as_str()
        .and_then(|s| Fixed::parse(s, scale).ok())
        .unwrap_or(Fixed::zero(scale))
}

/// Whether a stored grant counts as expired at `now` (swept or past its `expires_at`).
pub(super) fn grant_expired(grant: &Value, now: &str) -> bool {
    grant["is_expired"] == true
        || grant["expires_at"]
            .as_str()
            .and_then(clock::canonical)
            .is_some_and(|e| e.as_str() <= now)
}

/// Grants of a scope, oldest first.
pub(super) fn grants(ctx: &Ctx<'_>, scope: &str) -> Result<Vec<Record>, ApiError> {
    let mut all = ctx.db.list(
        kind::CREDIT_GRANT,
        &[Filter::Parent(scope.to_string())],
        u32::MAX,
        0,
    )?;
    all.reverse();
    Ok(all)
}

/// The balance at the virtual clock's now: what remains of the grants not expired.
pub(super) fn balance_now(ctx: &Ctx<'_>, scope: &str, scale: u32) -> Result<Fixed, ApiError> {
    let now = ctx.now_string();
    let mut sum = Fixed::zero(scale);
    for g in grants(ctx, scope)? {
        if !grant_expired(&g.data, &now) {
            sum = sum
                .checked_add(amount_at(&g.data["remaining_amount"], scale))
                .map_err(|_| overflow("balance"))?;
        }
    }
    Ok(sum)
}

/// What one ledger row records.
pub(super) struct Row<'a> {
    pub(super) transaction_type: &'static str,
    pub(super) is_credit: bool,
    pub(super) amount: Fixed,
    pub(super) balance: (Fixed, Fixed),
    pub(super) overage: (Fixed, Fixed),
    pub(super) grant_id: Option<&'a str>,
    pub(super) description: Option<&'a str>,
    /// The grant source's metadata (a subscription's or payment's); `{}` for API grants.
    pub(super) metadata: Option<&'a Value>,
}

/// Appends a ledger row (the outbox announces it as `credit.*`); answers it.
pub(super) fn write_row(
    ctx: &Ctx<'_>,
    cde: &str,
    customer_id: &str,
    row: &Row<'_>,
) -> Result<Value, ApiError> {
    let id = new_id("cle_");
    let now = ctx.now_string();
    let data = json!({
        "id": id,
        "business_id": ctx.env.business_id,
        "brand_id": super::brands::default_brand_id(ctx)?,
        "customer_id": customer_id,
        "credit_entitlement_id": cde,
        "transaction_type": row.transaction_type,
        "amount": row.amount.to_plain(),
        "is_credit": row.is_credit,
        "balance_before": row.balance.0.to_plain(),
        "balance_after": row.balance.1.to_plain(),
        "overage_before": row.overage.0.to_plain(),
        "overage_after": row.overage.1.to_plain(),
        "grant_id": row.grant_id,
        "reference_id": null,
        "reference_type": null,
        "description": row.description,
        // Resolved from the grant's source (subscription or payment) on the live API; grants
        // made through this API have none, so it is empty, as documented.
        "metadata": row.metadata.cloned().unwrap_or_else(|| json!({})),
        "created_at": now,
    });
    ctx.db.insert(
        kind::CREDIT_LEDGER_ENTRY,
        &id,
        Some(&scope(cde, customer_id)),
        &now,
        &data,
    )?;
    Ok(data)
}

/// The stored balance of a scope, created (zero) when missing.
pub(super) fn balance_record(
    ctx: &Ctx<'_>,
    cde: &str,
    customer_id: &str,
) -> Result<Record, ApiError> {
    let sc = scope(cde, customer_id);
    if let Some(r) = ctx.db.get(kind::CREDIT_BALANCE, &sc)? {
        return Ok(r);
    }
    let now = ctx.now_string();
    let data = json!({
        "id": new_id("cbal_"),
        "customer_id": customer_id,
        "credit_entitlement_id": cde,
        "balance": "0",
        "overage": "0",
        "last_transaction_at": null,
        "created_at": now,
        "updated_at": now,
    });
    let seq = ctx
        .db
        .insert(kind::CREDIT_BALANCE, &sc, None, &now, &data)?;
    Ok(Record {
        seq,
        id: sc,
        state: State::Active,
        created_at: now,
        data,
    })
}

/// Expires the grants past their `expires_at` (all of them, or one scope's): each still holding
/// credits gets a `credit_expired` ledger row (`credit.expired`). Answers the expired grant ids.
pub fn expire_due(ctx: &Ctx<'_>, only_scope: Option<&str>) -> Result<Vec<String>, ApiError> {
    let now = ctx.now_string();
    let filters: Vec<Filter> = only_scope
        .map(|s| vec![Filter::Parent(s.to_string())])
        .unwrap_or_default();
    let mut due: Vec<Record> = ctx
        .db
        .list(kind::CREDIT_GRANT, &filters, u32::MAX, 0)?
        .into_iter()
        .filter(|g| g.data["is_expired"] != true && grant_expired(&g.data, &now))
        .collect();
    due.sort_by(|a, b| {
        (a.data["expires_at"].as_str(), a.seq).cmp(&(b.data["expires_at"].as_str(), b.seq))
    });
    let mut out = Vec::new();
    for g in due {
        let cde = g.data["credit_entitlement_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let cus = g.data["customer_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let scale = match ctx.db.get(kind::CREDIT_ENTITLEMENT, &cde)? {
            Some(e) => precision(&e.data),
            None => 0,
        };
        let remaining = amount_at(&g.data["remaining_amount"], scale);
        // The balance before: every grant of the scope not yet swept (this one included).
        let mut before = Fixed::zero(scale);
        for other in grants(ctx, &scope(&cde, &cus))? {
            if other.data["is_expired"] != true {
                before = before
                    .checked_add(amount_at(&other.data["remaining_amount"], scale))
                    .map_err(|_| overflow("balance"))?;
            }
        }
        let mut data = g.data.clone();
        data["is_expired"] = json!(true);
        data["remaining_amount"] = json!("0");
        data["updated_at"] = json!(now);
        ctx.db.update(kind::CREDIT_GRANT, &g.id, &data)?;
        if !remaining.is_zero() {
            let after = before
                .checked_sub(remaining)
                .map_err(|_| overflow("balance"))?;
            let mut bal = balance_record(ctx, &cde, &cus)?;
            let overage = amount_at(&bal.data["overage"], scale);
            write_row(
                ctx,
                &cde,
                &cus,
                &Row {
                    transaction_type: "credit_expired",
                    is_credit: false,
                    amount: remaining,
                    balance: (before, after),
                    overage: (overage, overage),
                    grant_id: Some(&g.id),
                    description: Some("Credits expired"),
                    metadata: None,
                },
            )?;
            bal.data["balance"] = json!(after.to_plain());
            bal.data["updated_at"] = json!(now);
            bal.data["last_transaction_at"] = json!(now);
            ctx.db.update(kind::CREDIT_BALANCE, &bal.id, &bal.data)?;
        }
        out.push(g.id);
    }
    Ok(out)
}

/// The credit entitlements a subscription carries: its `credit_entitlement_cart`, or, when that
/// is empty, its product's `credit_entitlements` with the `credits_amount` overrides of the
/// checkout session that created it ([`super::credit_mappings::credit_items`]; items with
/// `credit_entitlement_id`, `credits_amount` and `low_balance_threshold_percent`).
pub fn credit_items(ctx: &Ctx<'_>, sub: &Value) -> Result<Vec<Value>, ApiError> {
    if let Some(own) = sub["credit_entitlement_cart"]
        .as_array()
        .filter(|c| !c.is_empty())
    {
        return Ok(own.clone());
    }
    let (Some(pid), Some(sub_id)) = (sub["product_id"].as_str(), sub["subscription_id"].as_str())
    else {
        return Ok(Vec::new());
    };
    match ctx.db.get(kind::PRODUCT, pid)? {
        Some(p) => super::credit_mappings::credit_items(ctx, sub_id, &p.data),
        None => Ok(Vec::new()),
    }
}

/// Records `credit.balance_low` for every subscription of the customer whose credit cart sets a
/// `low_balance_threshold_percent` for this entitlement, when a debit takes the balance from at
/// or above `credits_amount × percent / 100` to below it.
fn announce_low_balance(
    ctx: &Ctx<'_>,
    ent: &Value,
    customer_id: &str,
    (before, after): (Fixed, Fixed),
) -> Result<(), ApiError> {
    let cde = ent["id"].as_str().unwrap_or_default();
    let scale = precision(ent);
    let subs = ctx.db.list(
        kind::SUBSCRIPTION,
        &[Filter::Eq(
            "$.customer.customer_id",
            SqlValue::Text(customer_id.to_string()),
        )],
        u32::MAX,
        0,
    )?;
    for sub in subs {
        let carts = credit_items(ctx, &sub.data)?;
        for cart in carts.iter().filter(|c| c["credit_entitlement_id"] == cde) {
            let Some(percent) = cart["low_balance_threshold_percent"].as_i64() else {
                continue;
            };
            let granted = cart["credits_amount"]
                .as_str()
                .and_then(|a| Fixed::parse(a, scale).ok())
                .unwrap_or(Fixed::zero(scale));
            // threshold = granted × percent / 100, kept exact by comparing ×100.
            let hundred = |f: Fixed| f.units.checked_mul(100);
            let line = granted.units.checked_mul(i128::from(percent));
            let (Some(b), Some(a), Some(line)) = (hundred(before), hundred(after), line) else {
                return Err(overflow("low-balance threshold"));
            };
            if !(b >= line && a < line) {
                continue;
            }
            let threshold = Fixed {
                units: line / 100,
                scale,
            };
            let data = json!({
                "customer_id": customer_id,
                "subscription_id": sub.id,
                "credit_entitlement_id": cde,
                "credit_entitlement_name": ent["name"],
                "available_balance": after.to_plain(),
                "subscription_credits_amount": granted.to_plain(),
                "threshold_amount": threshold.to_plain(),
                "threshold_percent": percent,
                "brand_id": sub.data["brand_id"].as_str().map_or_else(
                    || super::brands::default_brand_id(ctx),
                    |b| Ok(b.to_string()),
                )?,
            });
            let now = ctx.now_string();
            ctx.db.insert(
                kind::CREDIT_BALANCE_LOW,
                &new_id("cbl_"),
                Some(&scope(cde, customer_id)),
                &now,
                &data,
            )?;
        }
    }
    Ok(())
}

/// Largest number of metadata pairs, key and value lengths of a ledger entry.
const METADATA_LIMITS: (usize, usize, usize) = (50, 40, 500);

fn check_metadata(metadata: &Value) -> Result<(), ApiError> {
    let Some(obj) = metadata.as_object() else {
        return Ok(());
    };
    let (pairs, key_len, value_len) = METADATA_LIMITS;
    if obj.len() > pairs {
        return Err(bad(
            "INVALID_REQUEST",
            format!("`metadata` has more than {pairs} pairs"),
        ));
    }
    for (k, v) in obj {
        if k.chars().count() > key_len {
            return Err(bad(
                "INVALID_REQUEST",
                format!("`metadata` keys are at most {key_len} characters"),
            ));
        }
        if v.as_str().is_some_and(|s| s.chars().count() > value_len) {
            return Err(bad(
                "INVALID_REQUEST",
                format!("`metadata.{k}` is longer than {value_len} characters"),
            ));
        }
    }
    Ok(())
}

fn create_entry(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CreateLedgerEntryRequest = req.input()?;
    let cde = req.param("credit_entitlement_id");
    let customer_id = req.param("customer_id");
    let ent = must_get_live(ctx, cde)?.data;
    common::must_get(ctx, kind::CUSTOMER, "Customer", customer_id)?;
    if let Some(key) = &input.idempotency_key {
        if key.is_empty() {
            return Err(bad(
                "INVALID_REQUEST",
                "`idempotency_key` must not be empty",
            ));
        }
        if ctx.db.get(kind::CREDIT_IDEMPOTENCY, key)?.is_some() {
            return Err(ApiError::conflict(
                "IDEMPOTENCY_KEY_EXISTS",
                format!("a ledger entry with idempotency_key `{key}` already exists"),
            ));
        }
    }
    let scale = precision(&ent);
    let amount =
        Fixed::parse(input.amount.as_str(), scale).map_err(|e| amount_error("amount", e))?;
    if amount.is_negative() || amount.is_zero() {
        return Err(bad("INVALID_REQUEST", "`amount` must be greater than zero"));
    }
    fits(amount, "amount")?;
    let metadata = common::metadata_json(input.metadata.as_ref())?;
    check_metadata(&metadata)?;
    let is_credit = match input.entry_type {
        dodo_types::models::LedgerEntryType::Credit => true,
        dodo_types::models::LedgerEntryType::Debit => false,
        ref other => {
            return Err(bad(
                "INVALID_REQUEST",
                format!(
                    "`entry_type` must be credit or debit, got `{}`",
                    other.as_str()
                ),
            ));
        }
    };
    let now_t = ctx.now();
    let now = clock::format(now_t);
    let expires_at = match (&input.expires_at, is_credit) {
        (Some(_), false) => {
            return Err(bad(
                "INVALID_REQUEST",
                "`expires_at` applies only to credit entries",
            ));
        }
        (Some(t), true) => {
            let t = clock::format(*t);
            if t <= now {
                return Err(bad("INVALID_REQUEST", "`expires_at` must be in the future"));
            }
            Some(t)
        }
        (None, true) => match ent["expires_after_days"].as_i64() {
            Some(days) => Some(clock::format(
                clock::add_interval(now_t, "Day", days)
                    .ok_or_else(|| ApiError::out_of_range("`expires_after_days` is too large"))?,
            )),
            None => None,
        },
        (None, false) => None,
    };

    let reason = input.reason.as_deref();
    let entry = if is_credit {
        credit_entry(
            ctx,
            &ent,
            customer_id,
            &NewGrant {
                amount,
                expires_at,
                metadata,
                reason,
                source: ("api", None),
                row_metadata: None,
            },
        )?
    } else {
        debit_entry(ctx, &ent, customer_id, amount, reason, None)?
    };
    let now = ctx.now_string();
    if let Some(key) = &input.idempotency_key {
        ctx.db.insert(
            kind::CREDIT_IDEMPOTENCY,
            key,
            None,
            &now,
            &json!({"entry_id": entry["id"]}),
        )?;
    }
    Ok(Reply::json(json!({
        "id": entry["id"],
        "customer_id": customer_id,
        "credit_entitlement_id": cde,
        "entry_type": if is_credit { "credit" } else { "debit" },
        "amount": entry["amount"],
        "is_credit": is_credit,
        "balance_before": entry["balance_before"],
        "balance_after": entry["balance_after"],
        "overage_before": entry["overage_before"],
        "overage_after": entry["overage_after"],
        "grant_id": entry["grant_id"],
        "reason": reason,
        "created_at": entry["created_at"],
    })))
}

/// The scope's state before a change: its stored balance record, the balance and the overage.
fn open_scope(
    ctx: &Ctx<'_>,
    ent: &Value,
    customer_id: &str,
) -> Result<(Record, Fixed, Fixed), ApiError> {
    let cde = ent["id"].as_str().unwrap_or_default();
    let scale = precision(ent);
    let sc = scope(cde, customer_id);
    expire_due(ctx, Some(&sc))?;
    let bal = balance_record(ctx, cde, customer_id)?;
    let before = balance_now(ctx, &sc, scale)?;
    let overage = amount_at(&bal.data["overage"], scale);
    Ok((bal, before, overage))
}

/// Stores the balance record after a change.
fn close_scope(
    ctx: &Ctx<'_>,
    mut bal: Record,
    after: Fixed,
    overage_after: Fixed,
) -> Result<(), ApiError> {
    let now = ctx.now_string();
    bal.data["balance"] = json!(after.to_plain());
    bal.data["overage"] = json!(overage_after.to_plain());
    bal.data["last_transaction_at"] = json!(now);
    bal.data["updated_at"] = json!(now);
    ctx.db.update(kind::CREDIT_BALANCE, &bal.id, &bal.data)?;
    Ok(())
}

/// What [`credit_entry`] grants.
pub(super) struct NewGrant<'a> {
    /// The amount at the entitlement's precision.
    pub(super) amount: Fixed,
    /// When the grant expires (`None`: never).
    pub(super) expires_at: Option<String>,
    /// The grant's metadata.
    pub(super) metadata: Value,
    /// The ledger row's `description`.
    pub(super) reason: Option<&'a str>,
    /// `(source_type, source_id)`: `("api", None)`, `("one_time", Some(payment_id))`.
    pub(super) source: (&'static str, Option<&'a str>),
    /// The ledger row's metadata (`{}` when `None`).
    pub(super) row_metadata: Option<&'a Value>,
}

/// Grants an amount (a new grant of the given source; `carry_deficit_auto_repay` repays
/// overage first) and writes its `credit_added` row; answers the row.
pub(super) fn credit_entry(
    ctx: &Ctx<'_>,
    ent: &Value,
    customer_id: &str,
    g: &NewGrant<'_>,
) -> Result<Value, ApiError> {
    let amount = g.amount;
    let cde = ent["id"].as_str().unwrap_or_default();
    let scale = precision(ent);
    let sc = scope(cde, customer_id);
    let now = ctx.now_string();
    let (bal, before, overage_before) = open_scope(ctx, ent, customer_id)?;
    let repay = if ent["overage_behavior"] == "carry_deficit_auto_repay" {
        overage_before.min(amount)
    } else {
        Fixed::zero(scale)
    };
    let kept = amount.checked_sub(repay).map_err(|_| overflow("grant"))?;
    let after = before.checked_add(kept).map_err(|_| overflow("balance"))?;
    let overage_after = overage_before
        .checked_sub(repay)
        .map_err(|_| overflow("overage"))?;
    fits(after, "balance")?;
    let grant_id = new_id("cgr_");
    let grant = json!({
        "id": grant_id,
        "credit_entitlement_id": cde,
        "customer_id": customer_id,
        "source_type": g.source.0,
        "source_id": g.source.1,
        "parent_grant_id": null,
        "initial_amount": amount.to_plain(),
        "remaining_amount": kept.to_plain(),
        "rollover_count": 0,
        "is_expired": false,
        "is_rolled_over": false,
        "expires_at": g.expires_at,
        "metadata": g.metadata,
        "created_at": now,
        "updated_at": now,
    });
    ctx.db
        .insert(kind::CREDIT_GRANT, &grant_id, Some(&sc), &now, &grant)?;
    let entry = write_row(
        ctx,
        cde,
        customer_id,
        &Row {
            transaction_type: "credit_added",
            is_credit: true,
            amount,
            balance: (before, after),
            overage: (overage_before, overage_after),
            grant_id: Some(&grant_id),
            description: g.reason,
            metadata: g.row_metadata,
        },
    )?;
    close_scope(ctx, bal, after, overage_after)?;
    Ok(entry)
}

/// Takes `amount` from the live grants oldest first; a shortfall becomes overage when the
/// entitlement allows it (up to `overage_limit`, with an `overage_charged` row) and is 400
/// otherwise. Writes the `credit_deducted` row (answered) and announces a low balance.
pub(super) fn debit_entry(
    ctx: &Ctx<'_>,
    ent: &Value,
    customer_id: &str,
    amount: Fixed,
    reason: Option<&str>,
    row_metadata: Option<&Value>,
) -> Result<Value, ApiError> {
    let cde = ent["id"].as_str().unwrap_or_default();
    let scale = precision(ent);
    let sc = scope(cde, customer_id);
    let now = ctx.now_string();
    let (bal, before, overage_before) = open_scope(ctx, ent, customer_id)?;
    let mut left = amount;
    let mut first_grant = None;
    for mut g in grants(ctx, &sc)? {
        if left.is_zero() {
            break;
        }
        if grant_expired(&g.data, &now) {
            continue;
        }
        let remaining = amount_at(&g.data["remaining_amount"], scale);
        if remaining.is_zero() {
            continue;
        }
        let take = remaining.min(left);
        left = left.checked_sub(take).map_err(|_| overflow("debit"))?;
        let rest = remaining.checked_sub(take).map_err(|_| overflow("grant"))?;
        g.data["remaining_amount"] = json!(rest.to_plain());
        g.data["updated_at"] = json!(now);
        ctx.db.update(kind::CREDIT_GRANT, &g.id, &g.data)?;
        first_grant.get_or_insert(g.id);
    }
    let after = before
        .checked_sub(amount.checked_sub(left).map_err(|_| overflow("debit"))?)
        .map_err(|_| overflow("balance"))?;
    let mut overage_after = overage_before;
    if !left.is_zero() {
        if ent["overage_enabled"] != true {
            return Err(bad(
                "INSUFFICIENT_BALANCE",
                format!(
                    "cannot debit {} {}: the balance is {}",
                    amount.to_plain(),
                    ent["unit"].as_str().unwrap_or("credits"),
                    before.to_plain()
                ),
            ));
        }
        overage_after = overage_before
            .checked_add(left)
            .map_err(|_| overflow("overage"))?;
        if let Some(limit) = overage_limit(ent, scale)?
            && overage_after.cmp_value(limit).is_gt()
        {
            return Err(bad(
                "OVERAGE_LIMIT_EXCEEDED",
                format!(
                    "cannot debit {}: the overage would be {}, above the limit of {}",
                    amount.to_plain(),
                    overage_after.to_plain(),
                    limit.to_plain()
                ),
            ));
        }
    }
    fits(overage_after, "overage")?;
    let entry = write_row(
        ctx,
        cde,
        customer_id,
        &Row {
            transaction_type: "credit_deducted",
            is_credit: false,
            amount,
            balance: (before, after),
            overage: (overage_before, overage_after),
            grant_id: first_grant.as_deref(),
            description: reason,
            metadata: row_metadata,
        },
    )?;
    if !left.is_zero() {
        write_row(
            ctx,
            cde,
            customer_id,
            &Row {
                transaction_type: "overage_charged",
                is_credit: false,
                amount: left,
                balance: (after, after),
                overage: (overage_before, overage_after),
                grant_id: None,
                description: reason,
                metadata: row_metadata,
            },
        )?;
    }
    announce_low_balance(ctx, ent, customer_id, (before, after))?;
    close_scope(ctx, bal, after, overage_after)?;
    Ok(entry)
}

/// The entitlement's `overage_limit` at its precision.
pub(super) fn overage_limit(ent: &Value, scale: u32) -> Result<Option<Fixed>, ApiError> {
    ent["overage_limit"]
        .as_i64()
        .map(|l| Fixed::from_int(i128::from(l), scale).map_err(|_| overflow("overage limit")))
        .transpose()
}
