//! Webhook events from state changes: every stored object change that the real API announces
//! becomes a row in the `emu_events` outbox, in the same transaction as the change.
//!
//! [`observe`] is called by the store on every insert and update. It compares the old and new
//! JSON of watched kinds and records the event types the change means (`payment.succeeded`
//! when a payment's `status` becomes `succeeded`, `subscription.renewed` when an active
//! subscription's `next_billing_date` moves on, `license_key.created` on insert, ...). The
//! event's `data` is the object **at the time of the change**, round-tripped through its typed
//! model in `dodo-types` (the model's fields, plus any stored field the model lacks) plus
//! `data.payload_type`. The envelope (`business_id`, `type`, `timestamp`, `data`) is
//! completed at delivery by
//! [`crate::delivery`]. The rules per kind:
//!
//! | kind | event |
//! |---|---|
//! | payment | `status` becomes `succeeded`/`failed`/`processing`/`cancelled` → `payment.<status>` |
//! | refund | `status` becomes `succeeded`/`failed` → `refund.<status>` |
//! | subscription | `status` → `active` (`unpaused` from `paused`), `on_hold`, `past_due`, `paused`, `cancelled`, `failed`, `expired`; active `next_billing_date` moved on → `renewed`; `product_id` changed → `plan_changed`; `payment_method_id` changed once past `pending` → `update_payment_method`; any other change → `updated` |
//! | license key | insert → `license_key.created` |
//! | dispute (`dispute`) | `dispute_status` `dispute_<x>` → `dispute.<x>` |
//! | payout (`payout`) | insert → `payout.created`; `status` → `payout.<status>` |
//! | `credit_ledger_entry` | insert → `credit.<transaction_type minus credit_>` |
//! | `credit_balance_low` | insert → `credit.balance_low` |
//! | `abandoned_checkout` | insert → `abandoned_checkout.detected`; `status` → `recovered` |
//! | `dunning_attempt` | insert → `dunning.started`; `status` → `recovered` |
//! | entitlement grant (`generic:/customers/{}/entitlement-grants`) | insert → `entitlement_grant.created`; `status` `Delivered`/`Failed`/`Revoked` → `entitlement_grant.<lower>` |

use rusqlite::{Connection, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::clock::Clock;
use crate::ids::new_id;
use crate::schema::kind;

pub use crate::schema::kind::{
    ABANDONED_CHECKOUT, CREDIT_BALANCE_LOW, CREDIT_LEDGER_ENTRY, DISPUTE, DUNNING_ATTEMPT,
    ENTITLEMENT_GRANT, PAYOUT,
};

/// Whether changes of `kind` can produce events (the store reads the old object only then).
pub fn watches(kind: &str) -> bool {
    matches!(
        kind,
        kind::PAYMENT
            | kind::REFUND
            | kind::SUBSCRIPTION
            | kind::LICENSE_KEY
            | DISPUTE
            | PAYOUT
            | CREDIT_LEDGER_ENTRY
            | CREDIT_BALANCE_LOW
            | ABANDONED_CHECKOUT
            | DUNNING_ATTEMPT
            | ENTITLEMENT_GRANT
    )
}

fn status_of<'a>(v: Option<&'a Value>, field: &str) -> Option<&'a str> {
    v.and_then(|v| v[field].as_str())
}

fn changed_to<'a>(old: Option<&Value>, new: &'a Value, field: &str) -> Option<&'a str> {
    let now = new[field].as_str()?;
    (status_of(old, field) != Some(now)).then_some(now)
}

/// Event types a change of one object means, with the payload type.
pub fn event_types(kind: &str, old: Option<&Value>, new: &Value) -> (Vec<String>, &'static str) {
    let mut out = Vec::new();
    let payload = match kind {
        kind::PAYMENT => {
            if let Some(s) = changed_to(old, new, "status")
                && matches!(s, "succeeded" | "failed" | "processing" | "cancelled")
            {
                out.push(format!("payment.{s}"));
            }
            "Payment"
        }
        kind::REFUND => {
            if let Some(s) = changed_to(old, new, "status")
                && matches!(s, "succeeded" | "failed")
            {
                out.push(format!("refund.{s}"));
            }
            "Refund"
        }
        kind::SUBSCRIPTION => {
            subscription_events(old, new, &mut out);
            "Subscription"
        }
        kind::LICENSE_KEY => {
            if old.is_none() {
                out.push("license_key.created".into());
            }
            "LicenseKey"
        }
        DISPUTE => {
            if let Some(s) = changed_to(old, new, "dispute_status")
                && let Some(x) = s.strip_prefix("dispute_")
            {
                out.push(format!("dispute.{x}"));
            }
            "Dispute"
        }
        PAYOUT => {
            if old.is_none() {
                out.push("payout.created".into());
            }
            if let Some(s) = changed_to(old, new, "status")
                && s != "not_initiated"
            {
                out.push(format!("payout.{s}"));
            }
            "Payout"
        }
        CREDIT_LEDGER_ENTRY => {
            if old.is_none()
                && let Some(t) = new["transaction_type"].as_str()
            {
                let t = t.strip_prefix("credit_").unwrap_or(t);
                // `manual_adjustment` is not a ledger transaction type of the spec; triggers
                // mark it in `reference_type`.
                let t = if new["reference_type"] == "manual_adjustment" {
                    "manual_adjustment"
                } else {
                    t
                };
                out.push(format!("credit.{t}"));
            }
            "CreditLedgerEntry"
        }
        CREDIT_BALANCE_LOW => {
            if old.is_none() {
                out.push("credit.balance_low".into());
            }
            "CreditBalanceLow"
        }
        ABANDONED_CHECKOUT => {
            if old.is_none() {
                out.push("abandoned_checkout.detected".into());
            } else if changed_to(old, new, "status") == Some("recovered") {
                out.push("abandoned_checkout.recovered".into());
            }
            "AbandonedCheckout"
        }
        DUNNING_ATTEMPT => {
            if old.is_none() {
                out.push("dunning.started".into());
            } else if changed_to(old, new, "status") == Some("recovered") {
                out.push("dunning.recovered".into());
            }
            "DunningAttempt"
        }
        ENTITLEMENT_GRANT => {
            if old.is_none() {
                out.push("entitlement_grant.created".into());
            }
            if let Some(s) = changed_to(old, new, "status")
                && matches!(s, "Delivered" | "Failed" | "Revoked")
            {
                out.push(format!("entitlement_grant.{}", s.to_ascii_lowercase()));
            }
            "EntitlementGrant"
        }
        _ => "",
    };
    (out, payload)
}

fn subscription_events(old: Option<&Value>, new: &Value, out: &mut Vec<String>) {
    let Some(old) = old else {
        if let Some(s) = new["status"].as_str()
            && s != "pending"
        {
            out.push(format!("subscription.{s}"));
        }
        return;
    };
    if let Some(s) = changed_to(Some(old), new, "status") {
        let was = old["status"].as_str().unwrap_or("");
        match s {
            "active" if was == "paused" => out.push("subscription.unpaused".into()),
            "active" | "on_hold" | "past_due" | "paused" | "cancelled" | "failed" | "expired" => {
                out.push(format!("subscription.{s}"));
            }
            _ => {}
        }
    } else if new["status"] == "active"
        && old["next_billing_date"] != new["next_billing_date"]
        && new["next_billing_date"].as_str() > old["next_billing_date"].as_str()
    {
        out.push("subscription.renewed".into());
    }
    if old["product_id"] != new["product_id"] {
        out.push("subscription.plan_changed".into());
    }
    // The card of a pending subscription's first payment is where it starts, not an update.
    if old["payment_method_id"] != new["payment_method_id"]
        && !new["payment_method_id"].is_null()
        && old["status"] != "pending"
    {
        out.push("subscription.update_payment_method".into());
    }
    if out.is_empty() {
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("updated_at");
            }
            v
        };
        if strip(old) != strip(new) {
            out.push("subscription.updated".into());
        }
    }
}

/// The typed model's serialisation of `data`, keeping stored fields the model does not know
/// (e.g. `Payout.additional_docs`, `EntitlementGrant.external_id` of the spec's examples).
fn typed<T: DeserializeOwned + Serialize>(data: &Value) -> Result<Value, String> {
    let t: T = serde_json::from_value(data.clone()).map_err(|e| e.to_string())?;
    let mut out = serde_json::to_value(t).map_err(|e| e.to_string())?;
    if let (Some(o), Some(stored)) = (out.as_object_mut(), data.as_object()) {
        for (k, v) in stored {
            o.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Ok(out)
}

/// The event `data` of an object: round-tripped through its typed model, plus `payload_type`.
/// An object the model rejects is sent as stored (and logged), never dropped.
pub fn payload(payload_type: &str, data: &Value) -> Value {
    let out = match payload_type {
        "Payment" => typed::<dodo_types::Payment>(data),
        "Subscription" => typed::<dodo_types::Subscription>(data),
        "Refund" => typed::<dodo_types::Refund>(data),
        "Dispute" => typed::<dodo_types::Dispute>(data),
        "LicenseKey" => typed::<dodo_types::LicenseKey>(data),
        "Payout" => typed::<dodo_types::Payout>(data),
        "CreditLedgerEntry" => typed::<dodo_types::CreditLedgerEntry>(data),
        "CreditBalanceLow" => typed::<dodo_types::CreditBalanceLow>(data),
        "AbandonedCheckout" => typed::<dodo_types::AbandonedCheckout>(data),
        "DunningAttempt" => typed::<dodo_types::DunningAttempt>(data),
        "EntitlementGrant" => typed::<dodo_types::EntitlementGrant>(data),
        _ => Ok(data.clone()),
    };
    let mut v = out.unwrap_or_else(|e| {
        tracing::warn!(payload_type, error = %e, "stored object does not fit its webhook model; sending it as stored");
        data.clone()
    });
    if let Some(o) = v.as_object_mut() {
        o.insert("payload_type".into(), Value::String(payload_type.into()));
    }
    v
}

/// Records the events a change means (called by the store inside the write transaction); the
/// payload shows what `show` answers (the object as the API would answer it; asked only when
/// the change means an event), else `new`.
pub fn observe(
    conn: &Connection,
    clock: &Clock,
    kind: &str,
    old: Option<&Value>,
    new: &Value,
    show: impl FnOnce() -> Option<Value>,
) -> rusqlite::Result<()> {
    let (types, payload_type) = event_types(kind, old, new);
    if types.is_empty() {
        return Ok(());
    }
    let shown = show();
    let data = payload(payload_type, shown.as_ref().unwrap_or(new)).to_string();
    let at = clock.now_string();
    for t in types {
        record(conn, &t, &at, &data)?;
    }
    Ok(())
}

/// Appends one event to the outbox; answers its id (the `webhook-id` of its deliveries).
pub fn record(
    conn: &Connection,
    event_type: &str,
    at: &str,
    data: &str,
) -> rusqlite::Result<String> {
    let id = new_id("msg_");
    conn.prepare_cached(
        "INSERT INTO emu_events (id, type, timestamp, data) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id, event_type, at, data])?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payment_status_changes_map_to_events() {
        let old = json!({"status": "requires_payment_method"});
        let new = json!({"status": "succeeded"});
        assert_eq!(
            event_types("payment", Some(&old), &new).0,
            ["payment.succeeded"]
        );
        assert!(event_types("payment", Some(&new), &new).0.is_empty());
    }

    #[test]
    fn subscription_rules() {
        let a = json!({"status": "active", "next_billing_date": "2025-01-01T00:00:00.000000Z", "product_id": "p"});
        let mut renewed = a.clone();
        renewed["next_billing_date"] = json!("2025-02-01T00:00:00.000000Z");
        assert_eq!(
            event_types("subscription", Some(&a), &renewed).0,
            ["subscription.renewed"]
        );
        let mut paused = a.clone();
        paused["status"] = json!("paused");
        assert_eq!(
            event_types("subscription", Some(&paused), &a).0,
            ["subscription.unpaused"]
        );
        let mut other = a.clone();
        other["metadata"] = json!({"k": "v"});
        assert_eq!(
            event_types("subscription", Some(&a), &other).0,
            ["subscription.updated"]
        );
    }
}
