//! Customer wallets: one monetary balance per customer and currency, in minor units.
//!
//! `POST /customers/{id}/wallets/ledger-entries` credits or debits the wallet of the body's
//! currency (created at zero on first use) and answers the **wallet** (`CustomerWalletResponse`),
//! as the spec says. A debit beyond the balance is 400 `INSUFFICIENT_BALANCE` and changes
//! nothing; a balance beyond `i64` is 400 `OUT_OF_RANGE`; an amount that is not positive is 422.
//! Each entry records a `merchant_adjustment` transaction. A body `idempotency_key` is
//! deduplicated per customer: repeating the same entry with the same key applies it once and
//! answers the wallet as it is; the key with a different entry is 422 `IDEMPOTENCY_KEY_REUSED`
//! (the spec lists no 409 for this operation). `GET …/wallets` answers every wallet of the
//! customer with `total_balance_usd`, the USD wallet's balance (the emulator converts no
//! currencies); `GET …/wallets/ledger-entries` the transactions, newest first, page-numbered,
//! optionally of one `currency`. A subscription charge with
//! `customer_balance_config.allow_customer_credits_usage` settles what it can from the wallet
//! of its currency first ([`available`], [`spend`]: a `payment` transaction). Wallets emit no
//! webhooks (none of the 48 event types is one).

use dodo_types::models::CustomerLedgerEntryRequest;
use http::StatusCode;
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::common::{self, kind};
use super::{Ctx, Registry};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::request::{ApiRequest, Reply};
use crate::store::Filter;

/// Registers the handlers of this group.
pub fn register(r: &mut Registry) {
    r.add("GET", "/customers/{customer_id}/wallets", wallets);
    r.add(
        "POST",
        "/customers/{customer_id}/wallets/ledger-entries",
        create_entry,
    );
    r.add(
        "GET",
        "/customers/{customer_id}/wallets/ledger-entries",
        transactions,
    );
}

fn wallet_id(customer_id: &str, currency: &str) -> String {
    format!("{customer_id}/{currency}")
}

fn wallets(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let customer_id = req.param("customer_id");
    common::must_get(ctx, kind::CUSTOMER, "Customer", customer_id)?;
    let mut items: Vec<Value> = ctx
        .db
        .list(
            kind::CUSTOMER_WALLET,
            &[Filter::Eq(
                "$.customer_id",
                SqlValue::Text(customer_id.to_string()),
            )],
            u32::MAX,
            0,
        )?
        .into_iter()
        .map(|r| r.data)
        .collect();
    items.sort_by(|a, b| a["currency"].as_str().cmp(&b["currency"].as_str()));
    let total_usd = items
        .iter()
        .filter(|w| w["currency"] == "USD")
        .filter_map(|w| w["balance"].as_i64())
        .sum::<i64>();
    Ok(Reply::json(
        json!({ "items": items, "total_balance_usd": total_usd }),
    ))
}

fn create_entry(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let input: CustomerLedgerEntryRequest = req.input()?;
    let customer_id = req.param("customer_id");
    common::must_get(ctx, kind::CUSTOMER, "Customer", customer_id)?;
    common::known_currency("currency", &input.currency)?;
    let currency = serde_json::to_value(&input.currency)?;
    let currency = currency.as_str().unwrap_or_default().to_string();
    let entry_type = serde_json::to_value(&input.entry_type)?;
    let is_credit = match entry_type.as_str() {
        Some("credit") => true,
        Some("debit") => false,
        other => {
            return Err(ApiError::invalid_field(
                "entry_type",
                format!("expected credit or debit, got {other:?}"),
            ));
        }
    };
    if input.amount <= 0 {
        return Err(ApiError::invalid_field(
            "amount",
            format!("must be greater than zero, got {}", input.amount),
        ));
    }
    let id = wallet_id(customer_id, &currency);
    let now = ctx.now_string();
    let fingerprint = json!({
        "currency": currency, "amount": input.amount, "is_credit": is_credit,
        "reason": input.reason,
    });
    if let Some(key) = &input.idempotency_key {
        let key_id = format!("{customer_id}/{key}");
        if let Some(used) = ctx.db.get(kind::WALLET_IDEMPOTENCY, &key_id)? {
            if used.data["request"] != fingerprint {
                return Err(ApiError::unprocessable(
                    "IDEMPOTENCY_KEY_REUSED",
                    format!("idempotency_key `{key}` was already used for a different entry"),
                ));
            }
            // Already applied: answer the wallet as it is now, change nothing.
            let wallet = ctx
                .db
                .get(kind::CUSTOMER_WALLET, &id)?
                .ok_or_else(|| ApiError::internal("wallet of a recorded entry is missing"))?;
            return Ok(Reply::json(wallet.data));
        }
        ctx.db.insert(
            kind::WALLET_IDEMPOTENCY,
            &key_id,
            Some(customer_id),
            &now,
            &json!({ "request": fingerprint }),
        )?;
    }
    let wallet = apply(
        ctx,
        Movement {
            customer_id,
            currency: &currency,
            amount: input.amount,
            is_credit,
            event_type: "merchant_adjustment",
            reason: input.reason.as_deref(),
            reference: None,
        },
    )?;
    Ok(Reply::json(wallet))
}

/// One change of a customer's wallet balance and the transaction that records it.
struct Movement<'a> {
    customer_id: &'a str,
    currency: &'a str,
    amount: i64,
    is_credit: bool,
    event_type: &'a str,
    reason: Option<&'a str>,
    reference: Option<&'a str>,
}

/// Applies `m` (creating the wallet at zero on first use) and records its transaction;
/// answers the wallet. A debit beyond the balance is 400 `INSUFFICIENT_BALANCE`, a balance
/// beyond `i64` 400 `OUT_OF_RANGE`; either changes nothing.
fn apply(ctx: &Ctx<'_>, m: Movement<'_>) -> Result<Value, ApiError> {
    let (customer_id, currency) = (m.customer_id, m.currency);
    let id = wallet_id(customer_id, currency);
    let now = ctx.now_string();
    let existing = ctx.db.get(kind::CUSTOMER_WALLET, &id)?;
    let mut wallet = match &existing {
        Some(r) => r.data.clone(),
        None => json!({
            "customer_id": customer_id,
            "currency": currency,
            "balance": 0,
            "created_at": now,
            "updated_at": now,
        }),
    };
    let before = wallet["balance"].as_i64().unwrap_or(0);
    let after = if m.is_credit {
        before.checked_add(m.amount).ok_or_else(|| {
            ApiError::out_of_range(format!(
                "crediting {} to a balance of {before} {currency} would overflow; nothing was changed",
                m.amount
            ))
        })?
    } else {
        match before.checked_sub(m.amount) {
            Some(a) if a >= 0 => a,
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "INSUFFICIENT_BALANCE",
                    format!(
                        "cannot debit {} {currency}: the wallet balance is {before}",
                        m.amount
                    ),
                ));
            }
        }
    };
    wallet["balance"] = json!(after);
    wallet["updated_at"] = json!(now);
    if existing.is_some() {
        ctx.db.update(kind::CUSTOMER_WALLET, &id, &wallet)?;
    } else {
        ctx.db
            .insert(kind::CUSTOMER_WALLET, &id, Some(customer_id), &now, &wallet)?;
    }
    let tx_id = new_id("cwt_");
    let tx = json!({
        "id": tx_id,
        "business_id": ctx.env.business_id,
        "customer_id": customer_id,
        "currency": currency,
        "amount": m.amount,
        "is_credit": m.is_credit,
        "event_type": m.event_type,
        "before_balance": before,
        "after_balance": after,
        "reason": m.reason,
        "reference_object_id": m.reference,
        "created_at": now,
    });
    ctx.db.insert(
        kind::WALLET_TRANSACTION,
        &tx_id,
        Some(customer_id),
        &now,
        &tx,
    )?;
    Ok(wallet)
}

/// How much of `amount` the customer's `currency` wallet can settle (its balance, at most
/// `amount`); nothing is taken.
pub fn available(
    ctx: &Ctx<'_>,
    customer_id: &str,
    currency: &str,
    amount: i64,
) -> Result<i64, ApiError> {
    let balance = ctx
        .db
        .get(kind::CUSTOMER_WALLET, &wallet_id(customer_id, currency))?
        .and_then(|w| w.data["balance"].as_i64())
        .unwrap_or(0);
    Ok(balance.clamp(0, amount.max(0)))
}

/// Takes `amount` from the customer's `currency` wallet to settle payment `payment_id` (a
/// `payment` transaction referencing it).
pub fn spend(
    ctx: &Ctx<'_>,
    customer_id: &str,
    currency: &str,
    amount: i64,
    payment_id: &str,
) -> Result<(), ApiError> {
    if amount <= 0 {
        return Ok(());
    }
    apply(
        ctx,
        Movement {
            customer_id,
            currency,
            amount,
            is_credit: false,
            event_type: "payment",
            reason: Some("Customer credit used to settle a payment"),
            reference: Some(payment_id),
        },
    )
    .map(|_| ())
}

fn transactions(ctx: &Ctx<'_>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let customer_id = req.param("customer_id");
    common::must_get(ctx, kind::CUSTOMER, "Customer", customer_id)?;
    let mut filters = vec![Filter::Parent(customer_id.to_string())];
    common::eq_filter(req, "currency", "$.currency", &mut filters);
    common::page_list(ctx, req, kind::WALLET_TRANSACTION, &filters, common::as_is)
}
