//! Recording an attempt's outcome in `webhook_deliveries`, fenced by its claim token.
//!
//! A successful attempt's [`Completion`] marks the row processed and upserts the mirror's
//! objects in one transaction: the handlers' own transaction when they opened one (their
//! writes commit with the mark), else a new one, or, for a group of completions from
//! concurrent attempts, one shared transaction (one statement on PostgreSQL) that falls
//! back to one by one when the group fails. Failures schedule a retry or dead-letter the
//! row; a replayed body that still is not an envelope goes back to `unparseable`. Every
//! write here applies only while the attempt's token still holds the claim, so an attempt
//! that lost its lease records nothing.

use sqlx::Row as _;

use crate::db::{Pool, on_db};
use crate::error::InboxError;
use crate::mirror::{ObjectWrite, upsert_after_mark_cte, upsert_newest_cte, upsert_sql};
use crate::store::{Claimed, DeliveryStatus, Store};
use crate::tx::TxState;

/// A successful attempt's outcome to commit: the mark's fields and the mirror's writes.
#[derive(Debug)]
pub(crate) struct Completion {
    pub id: i64,
    pub webhook_id: String,
    pub event_type: String,
    /// The claim's fencing token: the mark applies only while it still holds the row.
    pub token: String,
    pub disposition: &'static str,
    pub after_error: Option<String>,
    pub writes: Vec<ObjectWrite>,
    /// Drop the raw body in the same statement (retention of personal data).
    pub drop_body: bool,
}

/// The mark of a processed attempt, conditional on its claim token; binds id, token,
/// disposition, after_error, drop_body.
const MARK: &str = "UPDATE webhook_deliveries SET status = 'processed', disposition = $3, \
     after_error = $4, processed_at = NOW_US, last_error = NULL, lease_until = NULL, \
     claim_token = NULL, \
     raw_body = CASE WHEN $5 THEN EMPTY_BLOB ELSE raw_body END, \
     body_dropped_at = CASE WHEN $5 THEN NOW_US ELSE NULL END \
     WHERE id = $1 AND claim_token = $2 AND status = 'processing'";
impl Store {
    /// Marks a claimed row processed and applies the mirror writes, in the handlers'
    /// transaction `tx` if they opened one (their writes commit with the mark), else in a
    /// new one. `Ok(false)`, with everything rolled back, if the completion's token no
    /// longer holds the claim (the lease was lost and another attempt took over).
    pub(crate) async fn complete(
        &self,
        tx: TxState,
        done: &Completion,
    ) -> Result<bool, InboxError> {
        match (&self.db.pool, tx) {
            (Pool::Postgres(pool), TxState::Idle | TxState::Closed) => {
                // One statement: the mark and the upserts commit together, one round trip.
                let mut conn = pool.acquire().await?;
                self.complete_pg(&mut conn, done).await
            }
            (Pool::Postgres(_), TxState::Postgres(mut tx)) => {
                let marked = self.complete_pg(&mut tx, done).await?;
                finish(tx, marked).await
            }
            (Pool::Sqlite(pool), TxState::Idle | TxState::Closed) => {
                let mut tx = pool.begin().await?;
                let marked = self.complete_sqlite(&mut tx, done).await?;
                finish(tx, marked).await
            }
            (Pool::Sqlite(_), TxState::Sqlite(mut tx)) => {
                let marked = self.complete_sqlite(&mut tx, done).await?;
                finish(tx, marked).await
            }
            (_, TxState::Sqlite(_) | TxState::Postgres(_)) => Err(InboxError::Corrupt(
                "a transaction of the other backend".to_owned(),
            )),
        }
    }

    /// Commits several completions (whose handlers opened no transaction) in one
    /// transaction; one result per completion, in order. If the transaction fails (one
    /// outcome the database refuses), each is committed alone, so one poison row cannot
    /// hold back the others.
    pub(crate) async fn complete_group(
        &self,
        group: &[Completion],
    ) -> Vec<Result<bool, InboxError>> {
        if group.len() > 1 {
            let together: Result<Vec<bool>, InboxError> = match &self.db.pool {
                Pool::Postgres(pool) => self.complete_group_pg(pool, group).await,
                Pool::Sqlite(pool) => {
                    async {
                        let mut tx = pool.begin().await?;
                        let mut marked = Vec::with_capacity(group.len());
                        for done in group {
                            marked.push(self.complete_sqlite(&mut tx, done).await?);
                        }
                        tx.commit().await?;
                        Ok(marked)
                    }
                    .await
                }
            };
            if let Ok(marked) = together {
                return marked.into_iter().map(Ok).collect();
            }
        }
        let mut out = Vec::with_capacity(group.len());
        for done in group {
            out.push(self.complete(TxState::Idle, done).await);
        }
        out
    }

    /// The whole group in one PostgreSQL statement: the marks, fenced by each row's token,
    /// and the newest version of each mirrored object among the marked rows.
    async fn complete_group_pg(
        &self,
        pool: &sqlx::PgPool,
        group: &[Completion],
    ) -> Result<Vec<bool>, InboxError> {
        let mark = self.db.with_now(
            "UPDATE webhook_deliveries d SET status = 'processed', \
             disposition = input.disposition, after_error = input.after_error, \
             processed_at = NOW_US, last_error = NULL, lease_until = NULL, claim_token = NULL, \
             raw_body = CASE WHEN input.drop_body THEN ''::BYTEA ELSE d.raw_body END, \
             body_dropped_at = CASE WHEN input.drop_body THEN NOW_US ELSE NULL END \
             FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BOOL[]) \
                  AS input(id, token, disposition, after_error, drop_body) \
             WHERE d.id = input.id AND d.claim_token = input.token \
               AND d.status = 'processing' \
             RETURNING d.id, d.webhook_id, d.event_type",
        );
        let objects = "SELECT o.kind, o.id, o.data, o.customer_id, o.status, o.event_at, \
             o.updated_at, mark.webhook_id, mark.event_type, o.ord \
             FROM UNNEST($6::BIGINT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], \
                         $11::TEXT[], $12::BIGINT[], $13::BIGINT[], $14::BIGINT[]) \
                  AS o(delivery, kind, id, data, customer_id, status, event_at, updated_at, ord) \
             JOIN mark ON mark.id = o.delivery";
        let sql = format!(
            "WITH mark AS ({mark}), {} SELECT id FROM mark",
            upsert_newest_cte(&self.db, "objects", objects)
        );
        let mut writes: Vec<(i64, &ObjectWrite)> = Vec::new();
        for done in group {
            writes.extend(done.writes.iter().map(|w| (done.id, w)));
        }
        let rows = sqlx::query(&sql)
            .bind(group.iter().map(|d| d.id).collect::<Vec<_>>())
            .bind(group.iter().map(|d| d.token.as_str()).collect::<Vec<_>>())
            .bind(group.iter().map(|d| d.disposition).collect::<Vec<_>>())
            .bind(
                group
                    .iter()
                    .map(|d| d.after_error.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(group.iter().map(|d| d.drop_body).collect::<Vec<_>>())
            .bind(writes.iter().map(|(d, _)| *d).collect::<Vec<_>>())
            .bind(
                writes
                    .iter()
                    .map(|(_, w)| w.kind.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .iter()
                    .map(|(_, w)| w.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .iter()
                    .map(|(_, w)| w.data.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .iter()
                    .map(|(_, w)| w.customer_id.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .iter()
                    .map(|(_, w)| w.status.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .iter()
                    .map(|(_, w)| w.source_event_at)
                    .collect::<Vec<_>>(),
            )
            .bind(
                writes
                    .iter()
                    .map(|(_, w)| w.source_updated_at)
                    .collect::<Vec<_>>(),
            )
            .bind(
                (0..writes.len())
                    .map(|i| i64::try_from(i).unwrap_or(i64::MAX))
                    .collect::<Vec<_>>(),
            )
            .fetch_all(pool)
            .await?;
        let mut marked = std::collections::HashSet::with_capacity(rows.len());
        for row in rows {
            marked.insert(row.try_get::<i64, _>("id")?);
        }
        Ok(group.iter().map(|d| marked.contains(&d.id)).collect())
    }

    async fn complete_pg(
        &self,
        conn: &mut sqlx::PgConnection,
        done: &Completion,
    ) -> Result<bool, InboxError> {
        let mark = self.db.with_now(&MARK.replace("EMPTY_BLOB", "''::BYTEA"));
        let mut sql = format!("WITH mark AS ({mark} RETURNING webhook_id, event_type)");
        for i in 0..done.writes.len() {
            sql.push_str(", ");
            sql.push_str(&upsert_after_mark_cte(
                &self.db,
                &format!("w{i}"),
                6 + 7 * i,
            ));
        }
        sql.push_str(" SELECT COUNT(*) AS n FROM mark");
        let mut query = sqlx::query(&sql)
            .bind(done.id)
            .bind(&done.token)
            .bind(done.disposition)
            .bind(done.after_error.as_deref())
            .bind(done.drop_body);
        for w in &done.writes {
            query = query
                .bind(w.kind.as_str())
                .bind(&w.id)
                .bind(&w.data)
                .bind(&w.customer_id)
                .bind(&w.status)
                .bind(w.source_event_at)
                .bind(w.source_updated_at);
        }
        let n: i64 = query.fetch_one(&mut *conn).await?.try_get("n")?;
        Ok(n == 1)
    }

    async fn complete_sqlite(
        &self,
        conn: &mut sqlx::SqliteConnection,
        done: &Completion,
    ) -> Result<bool, InboxError> {
        let mark = self.db.with_now(&MARK.replace("EMPTY_BLOB", "X''"));
        let n = sqlx::query(&mark)
            .bind(done.id)
            .bind(&done.token)
            .bind(done.disposition)
            .bind(done.after_error.as_deref())
            .bind(done.drop_body)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        let upsert = upsert_sql(&self.db);
        for w in &done.writes {
            sqlx::query(&upsert)
                .bind(w.kind.as_str())
                .bind(&w.id)
                .bind(&w.data)
                .bind(&w.customer_id)
                .bind(&w.status)
                .bind(w.source_event_at)
                .bind(w.source_updated_at)
                .bind(&done.webhook_id)
                .bind(&done.event_type)
                .execute(&mut *conn)
                .await?;
        }
        Ok(true)
    }

    /// Records a failed attempt: `retry_after` (µs) schedules another attempt that long
    /// after the database's now, `None` dead-letters the row. `false` if `token` no longer
    /// holds the claim.
    pub(crate) async fn fail(
        &self,
        claimed: &Claimed,
        token: &str,
        error: &str,
        retry_after: Option<i64>,
    ) -> Result<bool, InboxError> {
        let status = match retry_after {
            Some(_) => DeliveryStatus::Failed,
            None => DeliveryStatus::Dead,
        };
        self.finish_unprocessed(claimed, token, status, error, retry_after.unwrap_or(0))
            .await
    }

    /// Records that the stored body is not a webhook envelope (`unparseable`, kept for
    /// inspection and replay). `false` if `token` no longer holds the claim.
    pub(crate) async fn mark_unparseable(
        &self,
        claimed: &Claimed,
        token: &str,
        error: &str,
    ) -> Result<bool, InboxError> {
        self.finish_unprocessed(claimed, token, DeliveryStatus::Unparseable, error, 0)
            .await
    }

    async fn finish_unprocessed(
        &self,
        claimed: &Claimed,
        token: &str,
        status: DeliveryStatus,
        error: &str,
        after_micros: i64,
    ) -> Result<bool, InboxError> {
        let sql = self.db.with_now(
            "UPDATE webhook_deliveries SET status = $3, next_attempt_at = NOW_US + $4, \
             last_error = $5, lease_until = NULL, claim_token = NULL \
             WHERE id = $1 AND claim_token = $2 AND status = 'processing'",
        );
        let n = on_db!(self.db, |pool| sqlx::query(&sql)
            .bind(claimed.id)
            .bind(token)
            .bind(status.as_str())
            .bind(after_micros)
            .bind(error)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(n == 1)
    }
}

/// Commits `tx` if the mark applied, else rolls it back; returns whether it committed.
async fn finish<DB: sqlx::Database>(
    tx: sqlx::Transaction<'static, DB>,
    marked: bool,
) -> Result<bool, InboxError> {
    if marked {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(marked)
}
