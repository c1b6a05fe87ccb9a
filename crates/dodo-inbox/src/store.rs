//! The `webhook_deliveries` table: storing, claiming, listing, replaying and pruning
//! (an attempt's outcome is recorded by `outcome.rs`).
//!
//! A delivery is inserted once per `webhook-id` (`INSERT ... ON CONFLICT DO NOTHING`, so two
//! concurrent receipts of one id cannot both insert); on PostgreSQL the same statement
//! sends a `NOTIFY` that wakes idle workers in every process. Workers claim due rows in one
//! statement that sets `status = 'processing'`, `claimed_by`, a fresh `claim_token` and
//! `lease_until` (PostgreSQL skips rows other workers have locked with `FOR UPDATE SKIP
//! LOCKED`; SQLite's single writer makes its `UPDATE ... WHERE id IN (SELECT ...)
//! RETURNING` atomic). Every time is the database's clock, so hosts with skewed clocks
//! agree on leases. A row whose lease expired (its worker crashed or was cut off) is due
//! again under a new token, which every write of the attempt's outcome must still hold.
//!
//! Row life cycle: `received` → `processing` → `processed`, or → `failed` (retry scheduled
//! at `next_attempt_at`) → `processing` → ... → `dead` after the last allowed attempt or
//! when the outcome cannot be committed. A signed body that is not an envelope is stored
//! as `unparseable`. Replaying puts a finished row back to `received`; processed rows are
//! pruned after the retention period.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sqlx::Row as _;
use time::OffsetDateTime;

use crate::clock::{duration_micros, from_micros};
use crate::db::{Backend, Database, Pool, on_db};
use crate::error::InboxError;
use crate::mirror::Mirror;

/// Processing state of a stored delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryStatus {
    /// Stored, not yet processed (also after a replay).
    Received,
    /// Claimed by a worker whose lease has not necessarily expired.
    Processing,
    /// Handlers succeeded (or the event was skipped / unhandled); final.
    Processed,
    /// The last attempt failed; another is scheduled at `next_attempt_at`.
    Failed,
    /// Every allowed attempt failed, or the outcome could not be committed (dead letter);
    /// only a replay runs it again.
    Dead,
    /// Correctly signed, but the body is not a webhook envelope: kept for inspection and
    /// replay (answered 2xx so Dodo stops retrying); never processed until replayed.
    Unparseable,
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
            DeliveryStatus::Unparseable => "unparseable",
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
            "unparseable" => DeliveryStatus::Unparseable,
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
    /// The request body exactly as received (empty once dropped, see `body_dropped_at`).
    pub raw_body: Vec<u8>,
    /// When the body was dropped after processing (retention of personal data), if it was.
    pub body_dropped_at: Option<OffsetDateTime>,
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
    /// `received`, or `unparseable` for a body that is not an envelope.
    pub status: DeliveryStatus,
    /// Why it is unparseable.
    pub error: Option<String>,
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
/// replay, pruning, the CLI). Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Database,
}

/// The `NOTIFY` channel that tells workers in every process a delivery is due.
pub(crate) const READY_CHANNEL: &str = "dodo_inbox_ready";

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

/// Claims due rows, oldest due first. The `status IN (...)` term lets both engines walk
/// the partial index of unfinished rows (`webhook_deliveries_ready` on PostgreSQL,
/// `webhook_deliveries_due` on SQLite), so a claim costs the
/// same however many processed rows the table keeps.
const CLAIM_DUE: &str = "UPDATE webhook_deliveries \
     SET status = 'processing', claimed_by = $1, claim_token = $2, \
         lease_until = NOW_US + $3, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM webhook_deliveries \
         WHERE status IN ('received', 'failed', 'processing') \
           AND ((status <> 'processing' AND next_attempt_at <= NOW_US) \
             OR (status = 'processing' AND lease_until < NOW_US)) \
         ORDER BY next_attempt_at, id LIMIT $4 LOCKING) \
     RETURNING id, webhook_id, event_type, webhook_timestamp, raw_body, attempts";

/// Claims one unfinished row by id, due or not, unless a live lease holds it.
const CLAIM_ONE: &str = "UPDATE webhook_deliveries \
     SET status = 'processing', claimed_by = $1, claim_token = $2, \
         lease_until = NOW_US + $3, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM webhook_deliveries \
         WHERE id = $4 AND (status IN ('received', 'failed') \
             OR (status = 'processing' AND lease_until < NOW_US)) LOCKING) \
     RETURNING id, webhook_id, event_type, webhook_timestamp, raw_body, attempts";

const INSERT: &str = "INSERT INTO webhook_deliveries (webhook_id, event_type, business_id, \
     event_timestamp, webhook_timestamp, headers, raw_body, received_at, status, attempts, \
     next_attempt_at, replay_count, last_error) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, NOW_US, $8, 0, NOW_US, 0, $9) \
     ON CONFLICT (webhook_id) DO NOTHING RETURNING id";

/// Runs the insert statement `$sql` for the delivery `$d` on the executor `$conn`:
/// `Some(row id)`, or `None` for a duplicate (written once, expanded per backend).
macro_rules! insert_one {
    ($conn:expr, $sql:expr, $d:expr) => {{
        let d: &NewDelivery = $d;
        let row = sqlx::query($sql)
            .bind(&d.webhook_id)
            .bind(&d.event_type)
            .bind(&d.business_id)
            .bind(d.event_timestamp)
            .bind(d.webhook_timestamp)
            .bind(&d.headers)
            .bind(&d.raw_body)
            .bind(d.status.as_str())
            .bind(d.error.as_deref())
            .fetch_optional($conn)
            .await?;
        match row {
            Some(row) => Some(row.try_get::<i64, _>("id")?),
            None => None,
        }
    }};
}

const NOTIFY_READY: &str = "SELECT pg_notify('dodo_inbox_ready', '')::TEXT";

impl Store {
    /// A store over `db`. Does not run migrations (see [`Store::connect`] and
    /// [`Database::migrate`]).
    pub fn new(db: Database) -> Self {
        Self { db }
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

    /// Stores a delivery unless its `webhook-id` is already stored; returns the new row id,
    /// or `None` for a duplicate. On PostgreSQL the same statement notifies idle workers.
    pub(crate) async fn insert(&self, d: &NewDelivery) -> Result<Option<i64>, InboxError> {
        let sql = match self.db.backend() {
            Backend::Sqlite => self.db.with_now(INSERT),
            Backend::Postgres => self.db.with_now(&format!(
                "WITH ins AS ({INSERT}) \
                 SELECT id, pg_notify('{READY_CHANNEL}', '')::TEXT AS woke FROM ins"
            )),
        };
        let id = on_db!(self.db, |pool| insert_one!(pool, &sql, d));
        Ok(id)
    }

    /// Stores several deliveries in one transaction (one commit, one `NOTIFY`); one result
    /// per delivery, in order. If the transaction fails (one value the database refuses),
    /// each is stored alone.
    pub(crate) async fn insert_group(
        &self,
        group: &[NewDelivery],
    ) -> Vec<Result<Option<i64>, InboxError>> {
        if group.len() > 1 {
            let together = match &self.db.pool {
                Pool::Postgres(pool) => self.insert_group_pg(pool, group).await,
                Pool::Sqlite(pool) => {
                    let sql = self.db.with_now(INSERT);
                    async {
                        let mut tx = pool.begin().await?;
                        let mut ids = Vec::with_capacity(group.len());
                        for d in group {
                            ids.push(insert_one!(&mut *tx, &sql, d));
                        }
                        tx.commit().await?;
                        Ok(ids)
                    }
                    .await
                }
            };
            if let Ok(ids) = together {
                return ids.into_iter().map(Ok).collect();
            }
        }
        let mut out = Vec::with_capacity(group.len());
        for d in group {
            out.push(self.insert(d).await);
        }
        out
    }

    /// The whole group in one PostgreSQL statement (one `NOTIFY` reaches the listeners:
    /// PostgreSQL folds identical notifications of one transaction).
    async fn insert_group_pg(
        &self,
        pool: &sqlx::PgPool,
        group: &[NewDelivery],
    ) -> Result<Vec<Option<i64>>, InboxError> {
        let sql = self.db.with_now(&format!(
            "WITH ins AS (INSERT INTO webhook_deliveries (webhook_id, event_type, business_id, \
                 event_timestamp, webhook_timestamp, headers, raw_body, received_at, status, \
                 attempts, next_attempt_at, replay_count, last_error) \
             SELECT w, t, b, et, wt, h, body, NOW_US, st, 0, NOW_US, 0, err \
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[], \
                         $6::TEXT[], $7::BYTEA[], $8::TEXT[], $9::TEXT[]) \
                  AS u(w, t, b, et, wt, h, body, st, err) \
             ON CONFLICT (webhook_id) DO NOTHING RETURNING id, webhook_id) \
             SELECT id, webhook_id, pg_notify('{READY_CHANNEL}', '')::TEXT AS woke FROM ins"
        ));
        let rows = sqlx::query(&sql)
            .bind(
                group
                    .iter()
                    .map(|d| d.webhook_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                group
                    .iter()
                    .map(|d| d.event_type.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                group
                    .iter()
                    .map(|d| d.business_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(group.iter().map(|d| d.event_timestamp).collect::<Vec<_>>())
            .bind(
                group
                    .iter()
                    .map(|d| d.webhook_timestamp)
                    .collect::<Vec<_>>(),
            )
            .bind(group.iter().map(|d| d.headers.as_str()).collect::<Vec<_>>())
            .bind(
                group
                    .iter()
                    .map(|d| d.raw_body.as_slice())
                    .collect::<Vec<_>>(),
            )
            .bind(group.iter().map(|d| d.status.as_str()).collect::<Vec<_>>())
            .bind(group.iter().map(|d| d.error.as_deref()).collect::<Vec<_>>())
            .fetch_all(pool)
            .await?;
        let mut inserted = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            inserted.insert(
                row.try_get::<String, _>("webhook_id")?,
                row.try_get::<i64, _>("id")?,
            );
        }
        // A webhook-id twice in one group (a retry racing the original): the first one
        // inserted, the other is a duplicate.
        Ok(group
            .iter()
            .map(|d| inserted.remove(&d.webhook_id))
            .collect())
    }

    /// Tells idle workers in every process that a delivery is due (PostgreSQL `NOTIFY`;
    /// nothing on SQLite, whose workers share the process).
    pub(crate) async fn notify_ready(&self) -> Result<(), InboxError> {
        if let Pool::Postgres(pool) = &self.db.pool {
            sqlx::query(NOTIFY_READY).execute(pool).await?;
        }
        Ok(())
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

    /// Claims up to `limit` due rows for `worker` under the fencing `token` until the
    /// database's now + `lease_micros`; each claim counts as an attempt. With `only_id`,
    /// claims just that row if it is unfinished and not held by a live lease, even if its
    /// retry is not due yet (a redelivery in inline mode). Rows come back by row id.
    pub(crate) async fn claim(
        &self,
        worker: &str,
        token: &str,
        lease_micros: i64,
        limit: i64,
        only_id: Option<i64>,
    ) -> Result<Vec<Claimed>, InboxError> {
        let locking = self.db.sql("", "FOR UPDATE SKIP LOCKED");
        let (template, target) = match only_id {
            Some(id) => (CLAIM_ONE, id),
            None => (CLAIM_DUE, limit),
        };
        let sql = self.db.with_now(&template.replace("LOCKING", locking));
        let mut claimed = on_db!(self.db, |pool| {
            let rows = sqlx::query(&sql)
                .bind(worker)
                .bind(token)
                .bind(lease_micros)
                .bind(target)
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

    /// Extends the lease of every unfinished row claimed under `token` to the database's
    /// now + `lease_micros`; returns how many rows are still held.
    pub(crate) async fn extend_leases(
        &self,
        token: &str,
        lease_micros: i64,
    ) -> Result<u64, InboxError> {
        let sql = self.db.with_now(
            "UPDATE webhook_deliveries SET lease_until = NOW_US + $2 \
             WHERE claim_token = $1 AND status = 'processing'",
        );
        let n = on_db!(self.db, |pool| sqlx::query(&sql)
            .bind(token)
            .bind(lease_micros)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n)
    }

    /// Deletes processed deliveries whose processing finished more than `older_than` ago
    /// (by the database's clock), at most `limit` rows per call; returns how many. Dead
    /// letters and unparseable deliveries are kept for inspection.
    pub async fn prune_processed(
        &self,
        older_than: std::time::Duration,
        limit: u32,
    ) -> Result<u64, InboxError> {
        let sql = self.db.with_now(
            "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
             WHERE status = 'processed' AND processed_at < NOW_US - $1 LIMIT $2)",
        );
        let n = on_db!(self.db, |pool| sqlx::query(&sql)
            .bind(duration_micros(older_than))
            .bind(i64::from(limit))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n)
    }

    /// The stored delivery with this `webhook-id`, body and headers included.
    pub async fn get(&self, webhook_id: &str) -> Result<Option<StoredDelivery>, InboxError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, webhook_timestamp, headers, raw_body, body_dropped_at \
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
                        body_dropped_at: row
                            .try_get::<Option<i64>, _>("body_dropped_at")?
                            .map(from_micros),
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
    /// it or its body was dropped after processing. Its signature is not checked again (it
    /// was verified on receipt). Handlers run again; the mirror's ordering guard keeps
    /// re-applied objects consistent. Workers in every process are woken.
    pub async fn replay(&self, webhook_id: &str) -> Result<(), InboxError> {
        let sql = self.db.with_now(
            "UPDATE webhook_deliveries SET status = 'received', attempts = 0, \
             next_attempt_at = NOW_US, last_error = NULL, lease_until = NULL, \
             claim_token = NULL, replay_count = replay_count + 1 \
             WHERE webhook_id = $1 AND body_dropped_at IS NULL \
               AND (status <> 'processing' OR lease_until < NOW_US)",
        );
        let n = on_db!(self.db, |pool| sqlx::query(&sql)
            .bind(webhook_id)
            .execute(pool)
            .await?
            .rows_affected());
        if n == 1 {
            self.notify_ready().await?;
            return Ok(());
        }
        match self.get(webhook_id).await? {
            None => Err(InboxError::NotFound(webhook_id.to_owned())),
            Some(d) if d.body_dropped_at.is_some() => {
                Err(InboxError::BodyDropped(webhook_id.to_owned()))
            }
            Some(_) => Err(InboxError::Busy(webhook_id.to_owned())),
        }
    }

    /// Replays every dead letter (optionally only of one event type); returns how many.
    pub async fn replay_dead_letters(&self, event_type: Option<&str>) -> Result<u64, InboxError> {
        let sql = self.db.with_now(
            "UPDATE webhook_deliveries SET status = 'received', attempts = 0, \
             next_attempt_at = NOW_US, last_error = NULL, lease_until = NULL, \
             claim_token = NULL, replay_count = replay_count + 1 \
             WHERE status = 'dead' AND (CAST($1 AS TEXT) IS NULL OR event_type = $1)",
        );
        let n = on_db!(self.db, |pool| sqlx::query(&sql)
            .bind(event_type)
            .execute(pool)
            .await?
            .rows_affected());
        if n > 0 {
            self.notify_ready().await?;
        }
        Ok(n)
    }
}
