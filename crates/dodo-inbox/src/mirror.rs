//! The local mirror of Dodo objects (`dodo_objects`).
//!
//! Each processed delivery upserts the objects its event carries: the data object itself
//! (payment, subscription, refund, dispute, license key, payout, entitlement grant) and the
//! customer embedded in it, keyed by `(kind, id)`, in the same transaction that marks the
//! delivery processed. The JSON is stored as received, so fields newer than this crate are
//! kept. One `INSERT ... ON CONFLICT DO UPDATE ... WHERE` statement applies an object only
//! if it is not older than the stored state: when both carry the object's own `updated_at`
//! and they differ, the newer wins; otherwise the newer (or equal) envelope `timestamp`
//! wins. So an out-of-order or late-retried old event cannot overwrite newer state, and
//! replaying the same event is idempotent. [`Mirror`] reads the table back as
//! [`dodo_types`] models.

use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::Row as _;
use time::OffsetDateTime;

use crate::clock::{from_micros, to_micros};
use crate::db::{Backend, Database, on_db};
use crate::error::InboxError;

/// The kinds of object the mirror keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ObjectKind {
    /// [`dodo_types::Payment`], keyed by `payment_id`.
    Payment,
    /// [`dodo_types::Subscription`], keyed by `subscription_id`.
    Subscription,
    /// [`dodo_types::Refund`], keyed by `refund_id`.
    Refund,
    /// [`dodo_types::Dispute`], keyed by `dispute_id`.
    Dispute,
    /// [`dodo_types::CustomerLimitedDetailsResponse`] embedded in other objects, keyed by
    /// `customer_id`.
    Customer,
    /// [`dodo_types::LicenseKey`], keyed by `id`.
    LicenseKey,
    /// [`dodo_types::Payout`], keyed by `payout_id`.
    Payout,
    /// [`dodo_types::EntitlementGrant`], keyed by `id`.
    EntitlementGrant,
}

impl ObjectKind {
    /// Every kind.
    pub const ALL: [ObjectKind; 8] = [
        ObjectKind::Payment,
        ObjectKind::Subscription,
        ObjectKind::Refund,
        ObjectKind::Dispute,
        ObjectKind::Customer,
        ObjectKind::LicenseKey,
        ObjectKind::Payout,
        ObjectKind::EntitlementGrant,
    ];

    /// The stored name, e.g. `subscription`.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Payment => "payment",
            ObjectKind::Subscription => "subscription",
            ObjectKind::Refund => "refund",
            ObjectKind::Dispute => "dispute",
            ObjectKind::Customer => "customer",
            ObjectKind::LicenseKey => "license_key",
            ObjectKind::Payout => "payout",
            ObjectKind::EntitlementGrant => "entitlement_grant",
        }
    }

    /// The kind of the data object of events of `group` (the part of the event type before
    /// the dot) and the field holding its id.
    fn for_event_group(group: &str) -> Option<(ObjectKind, &'static str, &'static str)> {
        Some(match group {
            "payment" => (ObjectKind::Payment, "payment_id", "status"),
            "subscription" => (ObjectKind::Subscription, "subscription_id", "status"),
            "refund" => (ObjectKind::Refund, "refund_id", "status"),
            "dispute" => (ObjectKind::Dispute, "dispute_id", "dispute_status"),
            "license_key" => (ObjectKind::LicenseKey, "id", "status"),
            "payout" => (ObjectKind::Payout, "payout_id", "status"),
            "entitlement_grant" => (ObjectKind::EntitlementGrant, "id", "status"),
            _ => return None,
        })
    }
}

/// One object to upsert, extracted from an event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObjectWrite {
    pub kind: ObjectKind,
    pub id: String,
    pub data: String,
    pub customer_id: Option<String>,
    pub status: Option<String>,
    pub source_event_at: i64,
    pub source_updated_at: Option<i64>,
}

/// The objects carried by an event of `event_type` whose envelope `timestamp` is
/// `event_at` (µs) and whose `data` is `data`. Unknown types and data without an id give
/// nothing.
pub(crate) fn objects_from_event(
    event_type: &str,
    event_at: i64,
    data: &Value,
) -> Vec<ObjectWrite> {
    let mut out = Vec::new();
    let group = event_type.split('.').next().unwrap_or_default();
    if let Some((kind, id_field, status_field)) = ObjectKind::for_event_group(group)
        && let Some(id) = data.get(id_field).and_then(Value::as_str)
    {
        let customer_id = data
            .get("customer")
            .and_then(|c| c.get("customer_id"))
            .or_else(|| data.get("customer_id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        out.push(ObjectWrite {
            kind,
            id: id.to_owned(),
            data: data.to_string(),
            customer_id,
            status: data
                .get(status_field)
                .and_then(Value::as_str)
                .map(str::to_owned),
            source_event_at: event_at,
            source_updated_at: timestamp_field(data, "updated_at"),
        });
    }
    if let Some(customer) = data.get("customer").filter(|c| c.is_object())
        && let Some(id) = customer.get("customer_id").and_then(Value::as_str)
    {
        out.push(ObjectWrite {
            kind: ObjectKind::Customer,
            id: id.to_owned(),
            data: customer.to_string(),
            customer_id: Some(id.to_owned()),
            status: None,
            source_event_at: event_at,
            source_updated_at: None,
        });
    }
    out
}

fn timestamp_field(data: &Value, field: &str) -> Option<i64> {
    let text = data.get(field)?.as_str()?;
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(to_micros)
}

const GUARD: &str = "WHERE (excluded.source_updated_at IS NOT NULL \
         AND dodo_objects.source_updated_at IS NOT NULL \
         AND excluded.source_updated_at > dodo_objects.source_updated_at) \
      OR ((excluded.source_updated_at IS NULL OR dodo_objects.source_updated_at IS NULL \
           OR excluded.source_updated_at = dodo_objects.source_updated_at) \
          AND excluded.source_event_at >= dodo_objects.source_event_at)";

const COLUMNS: &str = "kind, id, data, customer_id, status, source_event_at, \
     source_updated_at, source_webhook_id, source_event_type, updated_at";

const ON_CONFLICT: &str = "ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data, \
     customer_id = excluded.customer_id, status = excluded.status, \
     source_event_at = excluded.source_event_at, \
     source_updated_at = excluded.source_updated_at, \
     source_webhook_id = excluded.source_webhook_id, \
     source_event_type = excluded.source_event_type, \
     updated_at = excluded.updated_at";

/// The guarded upsert of one object on `backend`; binds kind, id, data, customer_id,
/// status, source_event_at, source_updated_at, source_webhook_id, source_event_type
/// (`updated_at` is the database's clock).
pub(crate) fn upsert_sql(db: &Database) -> String {
    let data = match db.backend() {
        Backend::Sqlite => "$3",
        Backend::Postgres => "CAST($3 AS JSONB)",
    };
    db.with_now(&format!(
        "INSERT INTO dodo_objects ({COLUMNS}) \
         VALUES ($1, $2, {data}, $4, $5, $6, $7, $8, $9, NOW_US) {ON_CONFLICT} {GUARD}"
    ))
}

/// A PostgreSQL CTE (`name AS (...)`) upserting one object only if the CTE `mark` returned
/// the delivery row (whose `webhook_id` and `event_type` it records); binds kind, id,
/// data, customer_id, status, source_event_at, source_updated_at from `$first` on.
pub(crate) fn upsert_after_mark_cte(db: &Database, name: &str, first: usize) -> String {
    let p = |i: usize| format!("${}", first + i);
    db.with_now(&format!(
        "{name} AS (INSERT INTO dodo_objects ({COLUMNS}) \
         SELECT CAST({} AS TEXT), CAST({} AS TEXT), CAST({} AS JSONB), CAST({} AS TEXT), \
                CAST({} AS TEXT), CAST({} AS BIGINT), CAST({} AS BIGINT), \
                mark.webhook_id, mark.event_type, NOW_US FROM mark \
         {ON_CONFLICT} {GUARD})",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6)
    ))
}

/// A PostgreSQL CTE `name AS (...)` upserting, per `(kind, id)`, the newest of the rows
/// of the query `source` (columns `kind, id, data, customer_id, status, event_at,
/// updated_at, webhook_id, event_type, ord`; `ord` breaks ties, higher wins), each still
/// subject to the ordering guard against the stored state. One statement may not upsert a
/// key twice, and applying only the newest gives the state the writes applied in turn
/// would give.
pub(crate) fn upsert_newest_cte(db: &Database, name: &str, source: &str) -> String {
    db.with_now(&format!(
        "{name} AS (INSERT INTO dodo_objects ({COLUMNS}) \
         SELECT kind, id, CAST(data AS JSONB), customer_id, status, event_at, updated_at, \
                webhook_id, event_type, NOW_US \
         FROM (SELECT DISTINCT ON (kind, id) * FROM ({source}) AS candidates \
               ORDER BY kind, id, updated_at DESC NULLS LAST, event_at DESC, ord DESC) AS newest \
         {ON_CONFLICT} {GUARD})"
    ))
}

/// A mirrored object with its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MirroredObject {
    /// The kind.
    pub kind: ObjectKind,
    /// The object's id.
    pub id: String,
    /// The object as last received.
    pub data: Value,
    /// The customer it belongs to, when known.
    pub customer_id: Option<String>,
    /// Its status field (`status`, or `dispute_status` for disputes), when present.
    pub status: Option<String>,
    /// Envelope `timestamp` of the event that wrote this state.
    pub source_event_at: OffsetDateTime,
    /// The object's own `updated_at`, when it has one.
    pub source_updated_at: Option<OffsetDateTime>,
    /// `webhook-id` of the delivery that wrote this state.
    pub source_webhook_id: String,
    /// Type of the event that wrote this state.
    pub source_event_type: String,
    /// When the row was last written.
    pub updated_at: OffsetDateTime,
}

/// Read access to the mirrored objects. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Mirror {
    db: Database,
}

macro_rules! object_from_row {
    ($row:expr, $kind:expr) => {{
        let row = &$row;
        let data: String = row.try_get("data")?;
        let id: String = row.try_get("id")?;
        MirroredObject {
            data: serde_json::from_str(&data).map_err(|source| InboxError::Decode {
                what: format!("{} {}", $kind.as_str(), id),
                source,
            })?,
            kind: $kind,
            id,
            customer_id: row.try_get("customer_id")?,
            status: row.try_get("status")?,
            source_event_at: from_micros(row.try_get("source_event_at")?),
            source_updated_at: row
                .try_get::<Option<i64>, _>("source_updated_at")?
                .map(from_micros),
            source_webhook_id: row.try_get("source_webhook_id")?,
            source_event_type: row.try_get("source_event_type")?,
            updated_at: from_micros(row.try_get("updated_at")?),
        }
    }};
}

impl Mirror {
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }

    fn columns(&self) -> &'static str {
        self.db.sql(
            "kind, id, data, customer_id, status, source_event_at, source_updated_at, \
             source_webhook_id, source_event_type, updated_at",
            "kind, id, data::TEXT AS data, customer_id, status, source_event_at, \
             source_updated_at, source_webhook_id, source_event_type, updated_at",
        )
    }

    /// The mirrored object of `kind` with `id`, as JSON with bookkeeping.
    pub async fn object(
        &self,
        kind: ObjectKind,
        id: &str,
    ) -> Result<Option<MirroredObject>, InboxError> {
        let sql = format!(
            "SELECT {} FROM dodo_objects WHERE kind = $1 AND id = $2",
            self.columns()
        );
        let found = on_db!(self.db, |pool| {
            match sqlx::query(&sql)
                .bind(kind.as_str())
                .bind(id)
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Some(object_from_row!(row, kind)),
                None => None,
            }
        });
        Ok(found)
    }

    /// Every mirrored object of `kind` belonging to `customer_id`, by id.
    pub async fn objects_for_customer(
        &self,
        kind: ObjectKind,
        customer_id: &str,
    ) -> Result<Vec<MirroredObject>, InboxError> {
        let sql = format!(
            "SELECT {} FROM dodo_objects WHERE kind = $1 AND customer_id = $2 ORDER BY id",
            self.columns()
        );
        let found = on_db!(self.db, |pool| {
            let rows = sqlx::query(&sql)
                .bind(kind.as_str())
                .bind(customer_id)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(object_from_row!(row, kind));
            }
            out
        });
        Ok(found)
    }

    /// Number of mirrored objects of `kind`.
    pub async fn count(&self, kind: ObjectKind) -> Result<i64, InboxError> {
        let sql = "SELECT COUNT(*) AS n FROM dodo_objects WHERE kind = $1";
        let n = on_db!(self.db, |pool| sqlx::query(sql)
            .bind(kind.as_str())
            .fetch_one(pool)
            .await?
            .try_get::<i64, _>("n")?);
        Ok(n)
    }

    async fn typed<T: DeserializeOwned>(
        &self,
        kind: ObjectKind,
        id: &str,
    ) -> Result<Option<T>, InboxError> {
        match self.object(kind, id).await? {
            None => Ok(None),
            Some(obj) => decode(kind, id, obj.data).map(Some),
        }
    }

    /// The mirrored payment.
    pub async fn payment(&self, id: &str) -> Result<Option<dodo_types::Payment>, InboxError> {
        self.typed(ObjectKind::Payment, id).await
    }

    /// The mirrored subscription.
    pub async fn subscription(
        &self,
        id: &str,
    ) -> Result<Option<dodo_types::Subscription>, InboxError> {
        self.typed(ObjectKind::Subscription, id).await
    }

    /// The mirrored refund.
    pub async fn refund(&self, id: &str) -> Result<Option<dodo_types::Refund>, InboxError> {
        self.typed(ObjectKind::Refund, id).await
    }

    /// The mirrored dispute.
    pub async fn dispute(&self, id: &str) -> Result<Option<dodo_types::Dispute>, InboxError> {
        self.typed(ObjectKind::Dispute, id).await
    }

    /// The mirrored license key (by its `id`, not the key string).
    pub async fn license_key(
        &self,
        id: &str,
    ) -> Result<Option<dodo_types::LicenseKey>, InboxError> {
        self.typed(ObjectKind::LicenseKey, id).await
    }

    /// The mirrored payout.
    pub async fn payout(&self, id: &str) -> Result<Option<dodo_types::Payout>, InboxError> {
        self.typed(ObjectKind::Payout, id).await
    }

    /// The mirrored entitlement grant.
    pub async fn entitlement_grant(
        &self,
        id: &str,
    ) -> Result<Option<dodo_types::EntitlementGrant>, InboxError> {
        self.typed(ObjectKind::EntitlementGrant, id).await
    }

    /// The customer as last embedded in a payment, subscription, refund or dispute.
    pub async fn customer(
        &self,
        customer_id: &str,
    ) -> Result<Option<dodo_types::CustomerLimitedDetailsResponse>, InboxError> {
        self.typed(ObjectKind::Customer, customer_id).await
    }

    /// Every mirrored subscription of `customer_id`, by id.
    pub async fn subscriptions_for_customer(
        &self,
        customer_id: &str,
    ) -> Result<Vec<dodo_types::Subscription>, InboxError> {
        self.objects_for_customer(ObjectKind::Subscription, customer_id)
            .await?
            .into_iter()
            .map(|o| decode(ObjectKind::Subscription, &o.id, o.data))
            .collect()
    }

    /// Whether `customer_id` has a subscription whose mirrored status is `active` (optionally
    /// only to `product_id`).
    pub async fn is_subscription_active(
        &self,
        customer_id: &str,
        product_id: Option<&str>,
    ) -> Result<bool, InboxError> {
        let subs = self
            .objects_for_customer(ObjectKind::Subscription, customer_id)
            .await?;
        Ok(subs.iter().any(|s| {
            s.status.as_deref() == Some("active")
                && product_id
                    .is_none_or(|p| s.data.get("product_id").and_then(Value::as_str) == Some(p))
        }))
    }
}

fn decode<T: DeserializeOwned>(kind: ObjectKind, id: &str, data: Value) -> Result<T, InboxError> {
    serde_json::from_value(data).map_err(|source| InboxError::Decode {
        what: format!("{} {id}", kind.as_str()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extracts_object_and_embedded_customer() {
        let data = json!({
            "payload_type": "Subscription",
            "subscription_id": "sub_1",
            "status": "active",
            "customer": {"customer_id": "cus_1", "email": "a@b.c", "name": "A"}
        });
        let writes = objects_from_event("subscription.active", 7, &data);
        assert_eq!(writes.len(), 2);
        assert_eq!(writes[0].kind, ObjectKind::Subscription);
        assert_eq!(writes[0].id, "sub_1");
        assert_eq!(writes[0].customer_id.as_deref(), Some("cus_1"));
        assert_eq!(writes[0].status.as_deref(), Some("active"));
        assert_eq!(writes[0].source_event_at, 7);
        assert_eq!(writes[1].kind, ObjectKind::Customer);
        assert_eq!(writes[1].id, "cus_1");
    }

    #[test]
    fn uses_updated_at_and_skips_unknown_groups() {
        let data = json!({"payout_id": "pout_1", "status": "success",
            "updated_at": "2025-01-01T00:00:01.5Z"});
        let writes = objects_from_event("payout.success", 0, &data);
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].source_updated_at, Some(1_735_689_601_500_000));
        assert!(objects_from_event("credit.added", 0, &json!({"id": "x"})).is_empty());
        assert!(objects_from_event("payment.succeeded", 0, &json!({})).is_empty());
    }
}
