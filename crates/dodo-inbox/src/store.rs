//! The `webhook_deliveries` table: storing, claiming, finishing, listing and replaying.
//!
//! A delivery is inserted once per `webhook-id` (`INSERT ... ON CONFLICT DO NOTHING`, so two
//! concurrent receipts of one id cannot both insert). Workers claim due rows in one
//! statement that sets `status = 'processing'`, `claimed_by` and `lease_until`
//! (PostgreSQL skips rows other workers have locked with `FOR UPDATE SKIP LOCKED`; SQLite's
//! single writer makes its `UPDATE ... WHERE id IN (SELECT ...) RETURNING` atomic). A row
//! whose lease expired (its worker crashed) is due again. Finishing a row checks that the
//! worker still holds the claim, so a worker that lost its lease cannot overwrite the
//! result of the worker that took over.
//!
//! Row life cycle: `received` → `processing` → `processed`, or → `failed` (retry scheduled
//! at `next_attempt_at`) → `processing` → ... → `dead` after the last allowed attempt.
//! Replaying puts a finished row back to `received`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;
use sqlx::Row as _;
use time::OffsetDateTime;

use crate::clock::{Clock, SystemClock, from_micros};
use crate::db::{Database, on_db};
use crate::error::InboxError;
use crate::mirror::{Mirror, ObjectWrite, upsert_sql};

/// Processing state of a stored delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Stored, not yet processed (also after a replay).
    Received,
    /// Claimed by a worker whose lease has not necessarily expired.
    Processing,
    /// Handlers succeeded (or the event was skipped / unhandled); final.
    Processed,
    /// The last attempt failed; another is scheduled at `next_attempt_at`.
    Failed,
    /// Every allowed attempt failed (dead letter); only a replay runs it again.
    Dead,
}

impl DeliveryStatus {
    /// The stored name, e.g. `processed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Received => "received",
            DeliveryStatus::Processing => "processing",
            DeliveryStatus::Processed => "processed",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dead => "dead",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = InboxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "received" => DeliveryStatus::Received,
            "processing" => DeliveryStatus::Processing,
            "processed" => DeliveryStatus::Processed,
            "failed" => DeliveryStatus::Failed,
            "dead" => DeliveryStatus::Dead,
            other => return Err(InboxError::Corrupt(format!("delivery status {other:?}"))),
        })
    }
}

/// One stored delivery without its body and headers (for listings).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DeliverySummary {
    /// Row id (increasing in arrival order).
    pub id: i64,
    /// The `webhook-id` header (unique).
    pub webhook_id: String,
    /// The envelope's `type`.
    pub event_type: String,
    /// The envelope's `business_id`.
    pub business_id: String,
    /// The envelope's `timestamp` (when the event occurred).
    #[serde(with = "time::serde::rfc3339")]
    pub event_timestamp: OffsetDateTime,
    /// When the delivery was stored.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Processing state.
    pub status: DeliveryStatus,
    /// Attempts started so far (a claim counts as an attempt).
    pub attempts: i64,
    /// When the row becomes due (for `received` / `failed`).
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// The worker holding (or last holding) the claim.
    pub claimed_by: Option<String>,
    /// Until when the claim is held.
    #[serde(with = "time::serde::rfc3339::option")]
    pub lease_until: Option<OffsetDateTime>,
    /// The error of the last failed attempt (internal detail; may be long).
    pub last_error: Option<String>,
    /// What the dispatcher did on success: `delivered`, `unhandled`, `skipped`, ...
    pub disposition: Option<String>,
    /// Errors of `after` hooks on the successful attempt (they never fail a delivery).
    pub after_error: Option<String>,
    /// When processing succeeded.
    #[serde(with = "time::serde::rfc3339::option")]
    pub processed_at: Option<OffsetDateTime>,
    /// How many times the row was replayed.
    pub replay_count: i64,
}

/// A stored delivery with everything needed to audit or re-run it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredDelivery {
    /// The listing fields.
    pub summary: DeliverySummary,
    /// The `webhook-timestamp` header (Unix seconds of the signed attempt).
    pub webhook_timestamp: i64,
    /// The audited request headers (`webhook-*`, `svix-*`, `content-type`, `user-agent`).
    pub headers: BTreeMap<String, String>,
    /// The request body exactly as received.
    pub raw_body: Vec<u8>,
}

/// Which deliveries [`Store::list`] returns (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListFilter {
    /// Only rows in this state.
    pub status: Option<DeliveryStatus>,
    /// Only rows of this event type (wire name, e.g. `payment.succeeded`).
    pub event_type: Option<String>,
    /// Only rows with a smaller row id (for paging: pass the last id seen).
    pub before_id: Option<i64>,
    /// At most this many rows (default 50).
    pub limit: u32,
}

impl Default for ListFilter {
    fn default() -> Self {
        Self {
            status: None,
            event_type: None,
            before_id: None,
            limit: 50,
        }
    }
}

impl ListFilter {
    /// The newest 50 deliveries of any state and type.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restricts to one state.
    #[must_use]
    pub fn status(mut self, status: DeliveryStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Restricts to one event type.
    #[must_use]
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Returns rows older than row `id` (paging).
    #[must_use]
    pub fn before_id(mut self, id: i64) -> Self {
        self.before_id = Some(id);
        self
    }

    /// Sets the maximum number of rows.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }
}

/// A verified delivery about to be stored.
#[derive(Debug, Clone)]
pub(crate) struct NewDelivery {
    pub webhook_id: String,
    pub event_type: String,
    pub business_id: String,
    pub event_timestamp: i64,
    pub webhook_timestamp: i64,
    pub headers: String,
    pub raw_body: Vec<u8>,
}

/// A row a worker has claimed.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub id: i64,
    pub webhook_id: String,
    pub event_type: String,
    pub webhook_timestamp: i64,
    pub raw_body: Vec<u8>,
    pub attempts: i64,
}

/// Access to stored deliveries and the object mirror, without handlers (inspection,
/// replay, the CLI). Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Database,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.db.backend())
            .finish_non_exhaustive()
    }
}

const SUMMARY_COLUMNS: &str = "id, webhook_id, event_type, business_id, event_timestamp, \
     received_at, status, attempts, next_attempt_at, claimed_by, lease_until, last_error, \
     disposition, after_error, processed_at, replay_count";

/// Builds a [`DeliverySummary`] from a row holding [`SUMMARY_COLUMNS`].
macro_rules! summary_from_row {
    ($row:expr) => {{
        let row = &$row;
        let status: String = row.try_get("status")?;
        DeliverySummary {
            id: row.try_get("id")?,
            webhook_id: row.try_get("webhook_id")?,
            event_type: row.try_get("event_type")?,
            business_id: row.try_get("business_id")?,
            event_timestamp: from_micros(row.try_get("event_timestamp")?),
            received_at: from_micros(row.try_get("received_at")?),
            status: status.parse()?,
            attempts: row.try_get("attempts")?,
            next_attempt_at: from_micros(row.try_get("next_attempt_at")?),
            claimed_by: row.try_get("claimed_by")?,
            lease_until: row
                .try_get::<Option<i64>, _>("lease_until")?
                .map(from_micros),
            last_error: row.try_get("last_error")?,
            disposition: row.try_get("disposition")?,
            after_error: row.try_get("after_error")?,
            processed_at: row
                .try_get::<Option<i64>, _>("processed_at")?
                .map(from_micros),
            replay_count: row.try_get("replay_count")?,
        }
    }};
}

/// Builds a [`Claimed`] from a `RETURNING` row.
macro_rules! claimed_from_row {
    ($row:expr) => {{
        let row = &$row;
        Claimed {
            id: row.try_get("id")?,
            webhook_id: row.try_get("webhook_id")?,
            event_type: row.try_get("event_type")?,
            webhook_timestamp: row.try_get("webhook_timestamp")?,
            raw_body: row.try_get("raw_body")?,
            attempts: row.try_get("attempts")?,
        }
    }};
}

const CLAIM_SQLITE: &str = "UPDATE webhook_deliveries \
     SET status = 'processing', claimed_by = $1, lease_until = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM webhook_deliveries \
         WHERE ((status IN ('received', 'failed') AND (next_attempt_at <= $3 OR id = $5)) \
             OR (status = 'processing' AND lease_until < $3)) \
           AND (CAST($5 AS BIGINT) IS NULL OR id = $5) \
         ORDER BY id LIMIT $4) \
     RETURNING id, webhook_id, event_type, webhook_timestamp, raw_body, attempts";

const CLAIM_POSTGRES: &str = "UPDATE webhook_deliveries \
     SET status = 'processing', claimed_by = $1, lease_until = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM webhook_deliveries \
         WHERE ((status IN ('received', 'failed') AND (next_attempt_at <= $3 OR id = $5)) \
             OR (status = 'processing' AND lease_until < $3)) \
           AND (CAST($5 AS BIGINT) IS NULL OR id = $5) \
         ORDER BY id LIMIT $4 \
         FOR UPDATE SKIP LOCKED) \
     RETURNING id, webhook_id, event_type, webhook_timestamp, raw_body, attempts";

impl Store {
    /// A store over `db` using the system clock. Does not run migrations (see
    /// [`Store::connect`] and [`Database::migrate`]).
    pub fn new(db: Database) -> Self {
        Self::with_clock(db, Arc::new(SystemClock))
    }

    /// A store over `db` reading the time from `clock`.
    pub fn with_clock(db: Database, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// Connects to `url` (see [`Database::connect`]) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self, InboxError> {
        let db = Database::connect(url).await?;
        db.migrate().await?;
        Ok(Self::new(db))
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Typed read access to the mirrored Dodo objects.
    pub fn mirror(&self) -> Mirror {
        Mirror::new(self.db.clone())
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_micros()
    }

    /// Stores a delivery unless its `webhook-id` is already stored; returns the new row id,
    /// or `None` for a duplicate.
    pub(crate) async fn insert(&self, d: &NewDelivery) -> Result<Option<i64>, InboxError> {
        let now = self.now();
        let sql = "INSERT INTO webhook_deliveries (webhook_id, event_type, business_id, \
             event_timestamp, webhook_timestamp, headers, raw_body, received_at, status, \
             attempts, next_attempt_at, replay_count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'received', 0, $8, 0) \
             ON CONFLICT (webhook_id) DO NOTHING RETURNING id";
        let id = on_db!(self.db, |pool| {
            let row = sqlx::query(sql)
                .bind(&d.webhook_id)
                .bind(&d.event_type)
                .bind(&d.business_id)
                .bind(d.event_timestamp)
                .bind(d.webhook_timestamp)
                .bind(&d.headers)
                .bind(&d.raw_body)
                .bind(now)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Some(row.try_get::<i64, _>("id")?),
                None => None,
            }
        });
        Ok(id)
    }

    /// Row id and state of the delivery with this `webhook-id`.
    pub(crate) async fn status_of(
        &self,
        webhook_id: &str,
    ) -> Result<Option<(i64, DeliveryStatus)>, InboxError> {
        let sql = "SELECT id, status FROM webhook_deliveries WHERE webhook_id = $1";
        let found = on_db!(self.db, |pool| {
            match sqlx::query(sql)
                .bind(webhook_id)
                .fetch_optional(pool)
                .await?
            {
                Some(row) => {
                    let status: String = row.try_get("status")?;
                    Some((row.try_get::<i64, _>("id")?, status.parse()?))
                }
                None => None,
            }
        });
        Ok(found)
    }

    /// Claims up to `limit` due rows for `worker` until `now + lease`; each claim counts
    /// as an attempt. With `only_id`, claims just that row if it is unfinished and not
    /// held by a live lease, even if its retry is not due yet (a redelivery in inline
    /// mode). Rows come back in arrival order.
    pub(crate) async fn claim(
        &self,
        worker: &str,
        lease_micros: i64,
        limit: i64,
        only_id: Option<i64>,
    ) -> Result<Vec<Claimed>, InboxError> {
        let now = self.now();
        let sql = self.db.sql(CLAIM_SQLITE, CLAIM_POSTGRES);
        let mut claimed = on_db!(self.db, |pool| {
            let rows = sqlx::query(sql)
                .bind(worker)
                .bind(now.saturating_add(lease_micros))
                .bind(now)
                .bind(limit)
                .bind(only_id)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(claimed_from_row!(row));
            }
            out
        });
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }

    /// Extends `worker`'s lease on row `id`; `false` if the claim was lost.
    pub(crate) async fn extend_lease(
        &self,
        id: i64,
        worker: &str,
        lease_micros: i64,
    ) -> Result<bool, InboxError> {
        let until = self.now().saturating_add(lease_micros);
        let sql = "UPDATE webhook_deliveries SET lease_until = $3 \
             WHERE id = $1 AND claimed_by = $2 AND status = 'processing'";
        let n = on_db!(self.db, |pool| sqlx::query(sql)
            .bind(id)
            .bind(worker)
            .bind(until)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Marks a claimed row processed and applies the mirror writes in the same
    /// transaction. `false` (and nothing written) if `worker` no longer holds the claim.
    pub(crate) async fn complete(
        &self,
        claimed: &Claimed,
        worker: &str,
        disposition: &str,
        after_error: Option<&str>,
        writes: &[ObjectWrite],
    ) -> Result<bool, InboxError> {
        let now = self.now();
        let mark = "UPDATE webhook_deliveries SET status = 'processed', disposition = $3, \
             after_error = $4, processed_at = $5, last_error = NULL, lease_until = NULL \
             WHERE id = $1 AND claimed_by = $2 AND status = 'processing'";
        let upsert = upsert_sql(self.db.backend());
        let done = on_db!(self.db, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(mark)
                .bind(claimed.id)
                .bind(worker)
                .bind(disposition)
                .bind(after_error)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                for w in writes {
                    sqlx::query(upsert)
                        .bind(w.kind.as_str())
                        .bind(&w.id)
                        .bind(&w.data)
                        .bind(&w.customer_id)
                        .bind(&w.status)
                        .bind(w.source_event_at)
                        .bind(w.source_updated_at)
                        .bind(&claimed.webhook_id)
                        .bind(&claimed.event_type)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                true
            } else {
                tx.rollback().await?;
                false
            }
        });
        Ok(done)
    }

    /// Records a failed attempt: `retry_at` schedules another attempt, `None` dead-letters
    /// the row. `false` if `worker` no longer holds the claim.
    pub(crate) async fn fail(
        &self,
        claimed: &Claimed,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool, InboxError> {
        let (status, next) = match retry_at {
            Some(at) => ("failed", at),
            None => ("dead", self.now()),
        };
        let sql = "UPDATE webhook_deliveries SET status = $3, next_attempt_at = $4, \
             last_error = $5, lease_until = NULL \
             WHERE id = $1 AND claimed_by = $2 AND status = 'processing'";
        let n = on_db!(self.db, |pool| sqlx::query(sql)
            .bind(claimed.id)
            .bind(worker)
            .bind(status)
            .bind(next)
            .bind(error)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// The stored delivery with this `webhook-id`, body and headers included.
    pub async fn get(&self, webhook_id: &str) -> Result<Option<StoredDelivery>, InboxError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, webhook_timestamp, headers, raw_body \
             FROM webhook_deliveries WHERE webhook_id = $1"
        );
        let found = on_db!(self.db, |pool| {
            match sqlx::query(&sql)
                .bind(webhook_id)
                .fetch_optional(pool)
                .await?
            {
                None => None,
                Some(row) => {
                    let headers: String = row.try_get("headers")?;
                    Some(StoredDelivery {
                        summary: summary_from_row!(row),
                        webhook_timestamp: row.try_get("webhook_timestamp")?,
                        headers: serde_json::from_str(&headers).map_err(|source| {
                            InboxError::Decode {
                                what: format!("headers of {webhook_id}"),
                                source,
                            }
                        })?,
                        raw_body: row.try_get("raw_body")?,
                    })
                }
            }
        });
        Ok(found)
    }

    /// Stored deliveries matching `filter`, newest first.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<DeliverySummary>, InboxError> {
        // CAST gives the parameters a type on PostgreSQL and is a no-op on SQLite.
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM webhook_deliveries \
             WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
               AND (CAST($2 AS TEXT) IS NULL OR event_type = $2) \
               AND (CAST($3 AS BIGINT) IS NULL OR id < $3) \
             ORDER BY id DESC LIMIT $4"
        );
        let status = filter.status.map(DeliveryStatus::as_str);
        let rows = on_db!(self.db, |pool| {
            let rows = sqlx::query(&sql)
                .bind(status)
                .bind(filter.event_type.as_deref())
                .bind(filter.before_id)
                .bind(i64::from(filter.limit))
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(summary_from_row!(row));
            }
            out
        });
        Ok(rows)
    }

    /// Number of stored deliveries per state.
    pub async fn counts(&self) -> Result<BTreeMap<String, i64>, InboxError> {
        let sql = "SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status";
        let counts = on_db!(self.db, |pool| {
            let mut out = BTreeMap::new();
            for row in sqlx::query(sql).fetch_all(pool).await? {
                out.insert(
                    row.try_get::<String, _>("status")?,
                    row.try_get::<i64, _>("n")?,
                );
            }
            out
        });
        Ok(counts)
    }

    /// Puts the delivery with this `webhook-id` back in the queue (state `received`,
    /// attempts reset, due now), whatever its state, unless a worker holds a live claim on
    /// it. Its signature is not checked again (it was verified on receipt). Handlers run
    /// again; the mirror's ordering guard keeps re-applied objects consistent.
    pub async fn replay(&self, webhook_id: &str) -> Result<(), InboxError> {
        let now = self.now();
        let sql = "UPDATE webhook_deliveries SET status = 'received', attempts = 0, \
             next_attempt_at = $2, last_error = NULL, lease_until = NULL, \
             replay_count = replay_count + 1 \
             WHERE webhook_id = $1 AND (status <> 'processing' OR lease_until < $2)";
        let n = on_db!(self.db, |pool| sqlx::query(sql)
            .bind(webhook_id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        if n == 1 {
            return Ok(());
        }
        match self.get(webhook_id).await? {
            None => Err(InboxError::NotFound(webhook_id.to_owned())),
            Some(_) => Err(InboxError::Busy(webhook_id.to_owned())),
        }
    }

    /// Replays every dead letter (optionally only of one event type); returns how many.
    pub async fn replay_dead_letters(&self, event_type: Option<&str>) -> Result<u64, InboxError> {
        let now = self.now();
        let sql = "UPDATE webhook_deliveries SET status = 'received', attempts = 0, \
             next_attempt_at = $1, last_error = NULL, lease_until = NULL, \
             replay_count = replay_count + 1 \
             WHERE status = 'dead' AND (CAST($2 AS TEXT) IS NULL OR event_type = $2)";
        let n = on_db!(self.db, |pool| sqlx::query(sql)
            .bind(now)
            .bind(event_type)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n)
    }
}
