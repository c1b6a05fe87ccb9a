//! The object store: every emulated object lives as JSON in one SQLite table.
//!
//! `objects(seq, kind, id, parent, state, created_at, data)`: `kind` names the object type
//! (`"customer"`, `"payment"`, … all named in `schema::kind`), `id` is unique
//! per kind, `parent` scopes nested objects, `state` is the lifecycle (`active`, `archived`,
//! `deleted`), and `data` is the object exactly as the API returns it, so a retrieve answers the
//! stored text without re-serialising. `seq` grows monotonically (never reused), and lists are
//! ordered **newest first** (`seq DESC`). SQLite is the source of truth; one connection sits
//! behind a mutex, statements are prepared once and cached, and file databases use WAL.
//! Besides objects, the store keeps `meta` (key/value), the `idempotency` replay log and the
//! webhook outbox (`emu_events`, `emu_deliveries`, `emu_attempts`). [`SCHEMA`] names every
//! table and [`kind`] every object kind, both from [`crate::schema`], the one place naming them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::clock::Clock;

pub use crate::schema::{SCHEMA, kind};

/// Meta key of the persisted emulator-wide webhook secret.
pub const WEBHOOK_SECRET_META: &str = "webhook_secret";

/// Meta key of the origin (`http://host:port`) the stored objects' own URLs were made with.
pub const ORIGIN_META: &str = "origin";

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A private in-memory database (gone when the emulator stops).
    Memory,
    /// A SQLite file (created if missing); state survives restarts.
    File(PathBuf),
}

/// Error opening or migrating the store.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the emulator database{}: {source}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
pub struct StoreError {
    path: Option<PathBuf>,
    #[source]
    source: rusqlite::Error,
}

/// Lifecycle state of a stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Live.
    Active,
    /// Archived (still retrievable; hidden from default lists).
    Archived,
    /// Soft-deleted (answers 404 or 410 depending on the resource).
    Deleted,
}

impl State {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Archived => "archived",
            State::Deleted => "deleted",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "archived" => State::Archived,
            "deleted" => State::Deleted,
            _ => State::Active,
        }
    }
}

/// A stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Monotonic insertion sequence.
    pub seq: i64,
    /// Object id.
    pub id: String,
    /// Lifecycle state.
    pub state: State,
    /// Canonical creation timestamp.
    pub created_at: String,
    /// The object as the API returns it.
    pub data: Value,
}

/// A condition of a list query.
#[derive(Debug, Clone)]
pub enum Filter {
    /// `json_extract(data, path) = value` (booleans compare as 0/1).
    Eq(&'static str, SqlValue),
    /// `json_extract(data, path) >= value` (text comparison).
    Gte(&'static str, String),
    /// `json_extract(data, path) <= value` (text comparison).
    Lte(&'static str, String),
    /// Creation timestamp at or after (canonical format).
    CreatedGte(String),
    /// Creation timestamp at or before (canonical format).
    CreatedLte(String),
    /// The object is in this state.
    State(State),
    /// The object is not in this state.
    NotState(State),
    /// Belongs to this parent.
    Parent(String),
    /// The JSON array at `array` has an element whose `field` equals `value`.
    ArrayContains {
        /// Path of the array (`$.product_cart`).
        array: &'static str,
        /// Path of the field inside an element (`$.product_id`).
        field: &'static str,
        /// Wanted value.
        value: String,
    },
    /// Inserted before this sequence number (cursor pagination).
    SeqBelow(i64),
    /// A raw SQL condition over the columns (`data`, `state`, ...) with its `?` values.
    Sql(&'static str, Vec<SqlValue>),
}

/// A replayable response recorded for an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    /// Hash of method, path and body of the first request.
    pub fingerprint: String,
    /// Status of the recorded response.
    pub status: u16,
    /// Body of the recorded response.
    pub body: Vec<u8>,
}

/// The SQLite store shared by all requests, with the emulator's clock (every write reads
/// the time from it: timestamps, the outbox).
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    clock: Clock,
    shown: OnceLock<PayloadView>,
}

/// How a watched object is shown in the webhook events its change records, when that differs
/// from what is stored (`None`: as stored). Installed by the server
/// ([`Store::show_in_payloads_as`]) so the store need not know the layers above it: a
/// subscription's credit carts, for one, are derived from balances when it is read.
#[derive(Clone)]
pub struct PayloadView(Arc<ViewFn>);

type ViewFn = dyn Fn(&Db<'_>, &str, &Value) -> Option<Value> + Send + Sync;

impl PayloadView {
    /// A view from `f(db, kind, stored)`: the object to show, or `None` for as stored.
    pub fn new(f: impl Fn(&Db<'_>, &str, &Value) -> Option<Value> + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl std::fmt::Debug for PayloadView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PayloadView")
    }
}

impl Store {
    /// Opens (and migrates) the store; `clock` is the emulator's clock.
    pub fn open(storage: &Storage, clock: Clock) -> Result<Self, StoreError> {
        let path = match storage {
            Storage::Memory => None,
            Storage::File(p) => Some(p.clone()),
        };
        let wrap = |source| StoreError {
            path: path.clone(),
            source,
        };
        let conn = match storage {
            Storage::Memory => Connection::open_in_memory().map_err(wrap)?,
            Storage::File(p) => {
                let conn = Connection::open(p).map_err(wrap)?;
                conn.pragma_update(None, "journal_mode", "WAL")
                    .map_err(wrap)?;
                conn.pragma_update(None, "synchronous", "NORMAL")
                    .map_err(wrap)?;
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(wrap)?;
                conn
            }
        };
        conn.execute_batch(crate::schema::SCHEMA).map_err(wrap)?;
        conn.set_prepared_statement_cache_capacity(256);
        Ok(Self {
            conn: Mutex::new(conn),
            clock,
            shown: OnceLock::new(),
        })
    }

    /// The emulator's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Installs the [`PayloadView`] of webhook events (once; a second call is ignored).
    pub fn show_in_payloads_as(&self, view: PayloadView) {
        let _ = self.shown.set(view);
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` with exclusive access to the database (no transaction).
    pub fn read<R>(&self, f: impl FnOnce(&Db<'_>) -> R) -> R {
        let conn = self.lock();
        f(&Db {
            conn: &conn,
            clock: &self.clock,
            quiet: false,
            shown: self.shown.get(),
        })
    }

    /// Runs `f` in a transaction: committed when `f` returns `Ok`, rolled back otherwise.
    pub fn write<R, E>(&self, f: impl FnOnce(&Db<'_>) -> Result<R, E>) -> Result<R, E>
    where
        E: From<rusqlite::Error>,
    {
        self.write_with(false, f)
    }

    /// Like [`Store::write`], but the changes record no webhook events (seeded state is not a
    /// change the API would announce).
    pub fn write_quiet<R, E>(&self, f: impl FnOnce(&Db<'_>) -> Result<R, E>) -> Result<R, E>
    where
        E: From<rusqlite::Error>,
    {
        self.write_with(true, f)
    }

    fn write_with<R, E>(&self, quiet: bool, f: impl FnOnce(&Db<'_>) -> Result<R, E>) -> Result<R, E>
    where
        E: From<rusqlite::Error>,
    {
        let conn = self.lock();
        let tx = conn.unchecked_transaction()?;
        let out = f(&Db {
            conn: &tx,
            clock: &self.clock,
            quiet,
            shown: self.shown.get(),
        });
        match out {
            Ok(v) => {
                tx.commit()?;
                Ok(v)
            }
            Err(e) => {
                // Dropping the transaction rolls it back.
                drop(tx);
                Err(e)
            }
        }
    }

    /// The database path of a file store.
    pub fn path_of(storage: &Storage) -> Option<&Path> {
        match storage {
            Storage::Memory => None,
            Storage::File(p) => Some(p),
        }
    }
}

/// Access to the database while the store is locked.
#[derive(Debug)]
pub struct Db<'a> {
    conn: &'a Connection,
    clock: &'a Clock,
    /// Changes record no webhook events.
    quiet: bool,
    /// How changed objects are shown in their events ([`PayloadView`]).
    shown: Option<&'a PayloadView>,
}

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, String, String, String)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn to_record(
    (seq, id, state, created_at, data): (i64, String, String, String, String),
) -> rusqlite::Result<Record> {
    let data = serde_json::from_str(&data).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(Record {
        seq,
        id,
        state: State::parse(&state),
        created_at,
        data,
    })
}

impl Db<'_> {
    /// The underlying connection (for the webhook outbox and delivery log tables).
    pub fn conn(&self) -> &Connection {
        self.conn
    }

    /// The emulator's clock.
    pub fn clock(&self) -> &Clock {
        self.clock
    }

    /// The emulator's current time in the canonical format.
    pub fn now_string(&self) -> String {
        self.clock.now_string()
    }

    /// Inserts a new object. Fails on a duplicate `(kind, id)`.
    pub fn insert(
        &self,
        kind: &str,
        id: &str,
        parent: Option<&str>,
        created_at: &str,
        data: &Value,
    ) -> rusqlite::Result<i64> {
        let text = serde_json::to_string(data)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        self.conn
            .prepare_cached(
                "INSERT INTO objects (kind, id, parent, state, created_at, data)
                 VALUES (?1, ?2, ?3, 'active', ?4, ?5)",
            )?
            .execute(params![kind, id, parent, created_at, text])?;
        let seq = self.conn.last_insert_rowid();
        if !self.quiet && crate::emit::watches(kind) {
            self.observe(kind, None, data)?;
        }
        Ok(seq)
    }

    /// Replaces the data of an object; `false` if it does not exist.
    pub fn update(&self, kind: &str, id: &str, data: &Value) -> rusqlite::Result<bool> {
        let text = serde_json::to_string(data)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let watched = !self.quiet && crate::emit::watches(kind);
        let old = if watched {
            self.get(kind, id)?.map(|r| r.data)
        } else {
            None
        };
        let n = self
            .conn
            .prepare_cached("UPDATE objects SET data = ?3 WHERE kind = ?1 AND id = ?2")?
            .execute(params![kind, id, text])?;
        if watched && n > 0 {
            self.observe(kind, old.as_ref(), data)?;
        }
        Ok(n > 0)
    }

    /// Records the events a change of a watched object means, showing it as the installed
    /// [`PayloadView`] says (only when the change means any event).
    fn observe(&self, kind: &str, old: Option<&Value>, new: &Value) -> rusqlite::Result<()> {
        crate::emit::observe(self.conn, self.clock, kind, old, new, || {
            self.shown.and_then(|view| (view.0)(self, kind, new))
        })
    }

    /// Sets the lifecycle state; `false` if the object does not exist.
    pub fn set_state(&self, kind: &str, id: &str, state: State) -> rusqlite::Result<bool> {
        let n = self
            .conn
            .prepare_cached("UPDATE objects SET state = ?3 WHERE kind = ?1 AND id = ?2")?
            .execute(params![kind, id, state.as_str()])?;
        Ok(n > 0)
    }

    /// Fetches an object in any state.
    pub fn get(&self, kind: &str, id: &str) -> rusqlite::Result<Option<Record>> {
        self.conn
            .prepare_cached(
                "SELECT seq, id, state, created_at, data FROM objects WHERE kind = ?1 AND id = ?2",
            )?
            .query_row(params![kind, id], record)
            .optional()?
            .map(to_record)
            .transpose()
    }

    /// Fetches the stored JSON text and state of an object (the retrieve fast path).
    pub fn get_raw(&self, kind: &str, id: &str) -> rusqlite::Result<Option<(String, State)>> {
        self.conn
            .prepare_cached("SELECT data, state FROM objects WHERE kind = ?1 AND id = ?2")?
            .query_row(params![kind, id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    State::parse(&row.get::<_, String>(1)?),
                ))
            })
            .optional()
    }

    /// Removes an object for good; `false` if it did not exist.
    pub fn delete(&self, kind: &str, id: &str) -> rusqlite::Result<bool> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM objects WHERE kind = ?1 AND id = ?2")?
            .execute(params![kind, id])?;
        Ok(n > 0)
    }

    /// Lists objects of a kind matching all filters, newest first.
    pub fn list(
        &self,
        kind: &str,
        filters: &[Filter],
        limit: u32,
        offset: u64,
    ) -> rusqlite::Result<Vec<Record>> {
        let (clause, mut values) = where_clause(kind, filters);
        let sql = format!(
            "SELECT seq, id, state, created_at, data FROM objects WHERE {clause} \
             ORDER BY seq DESC LIMIT ? OFFSET ?"
        );
        values.push(SqlValue::Integer(i64::from(limit)));
        values.push(SqlValue::Integer(i64::try_from(offset).unwrap_or(i64::MAX)));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(values), record)?;
        rows.map(|r| r.and_then(to_record)).collect()
    }

    /// The newest object of a kind matching all filters.
    pub fn find_one(&self, kind: &str, filters: &[Filter]) -> rusqlite::Result<Option<Record>> {
        Ok(self.list(kind, filters, 1, 0)?.into_iter().next())
    }

    /// Counts objects of a kind matching all filters.
    pub fn count(&self, kind: &str, filters: &[Filter]) -> rusqlite::Result<u64> {
        let (clause, values) = where_clause(kind, filters);
        let sql = format!("SELECT COUNT(*) FROM objects WHERE {clause}");
        let n: i64 = self
            .conn
            .prepare_cached(&sql)?
            .query_row(rusqlite::params_from_iter(values), |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Reads a meta value.
    pub fn meta_get(&self, key: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()
    }

    /// Writes a meta value.
    pub fn meta_set(&self, key: &str, value: &str) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
            .execute([key, value])?;
        Ok(())
    }

    /// Rewrites the emulator's own URLs stored in objects (image and download URLs,
    /// checkout, portal and short links...) from `old` origin to `new`, so a file-backed
    /// emulator restarted on another port serves working links. Only `old` followed by `/`
    /// or by the end of a JSON string is replaced, so `http://127.0.0.1:4000` does not touch
    /// `http://127.0.0.1:40001`. Returns how many objects changed.
    pub fn rewrite_origin(&self, old: &str, new: &str) -> rusqlite::Result<usize> {
        self.conn
            .prepare_cached(
                "UPDATE objects SET data = replace(replace(data, ?1 || '/', ?2 || '/'), \
                 '\"' || ?1 || '\"', '\"' || ?2 || '\"') \
                 WHERE instr(data, ?1) > 0",
            )?
            .execute([old, new])
    }

    /// The recorded response for an idempotency key.
    pub fn idempotency_get(&self, key: &str) -> rusqlite::Result<Option<IdempotentResponse>> {
        self.conn
            .prepare_cached("SELECT fingerprint, status, body FROM idempotency WHERE key = ?1")?
            .query_row([key], |r| {
                Ok(IdempotentResponse {
                    fingerprint: r.get(0)?,
                    status: r.get(1)?,
                    body: r.get(2)?,
                })
            })
            .optional()
    }

    /// Records the response for an idempotency key (first writer wins).
    pub fn idempotency_put(
        &self,
        key: &str,
        response: &IdempotentResponse,
        now: &str,
    ) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO idempotency (key, fingerprint, status, body, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                key,
                response.fingerprint,
                response.status,
                response.body,
                now
            ])?;
        Ok(())
    }

    /// Deletes every object, meta value, idempotency record, event and delivery.
    pub fn clear(&self) -> rusqlite::Result<()> {
        self.conn.execute_batch(
            "DELETE FROM objects; DELETE FROM meta; DELETE FROM idempotency;
                 DELETE FROM emu_events; DELETE FROM emu_deliveries; DELETE FROM emu_attempts;
                 DELETE FROM emu_blobs;",
        )
    }
}

fn where_clause(kind: &str, filters: &[Filter]) -> (String, Vec<SqlValue>) {
    let mut clause = String::from("kind = ?");
    let mut values = vec![SqlValue::Text(kind.to_string())];
    for f in filters {
        match f {
            Filter::Eq(path, v) => {
                clause.push_str(" AND json_extract(data, ?) = ?");
                values.push(SqlValue::Text((*path).to_string()));
                values.push(v.clone());
            }
            Filter::Gte(path, v) => {
                clause.push_str(" AND json_extract(data, ?) >= ?");
                values.push(SqlValue::Text((*path).to_string()));
                values.push(SqlValue::Text(v.clone()));
            }
            Filter::Lte(path, v) => {
                clause.push_str(" AND json_extract(data, ?) <= ?");
                values.push(SqlValue::Text((*path).to_string()));
                values.push(SqlValue::Text(v.clone()));
            }
            Filter::CreatedGte(v) => {
                clause.push_str(" AND created_at >= ?");
                values.push(SqlValue::Text(v.clone()));
            }
            Filter::CreatedLte(v) => {
                clause.push_str(" AND created_at <= ?");
                values.push(SqlValue::Text(v.clone()));
            }
            Filter::State(s) => {
                clause.push_str(" AND state = ?");
                values.push(SqlValue::Text(s.as_str().to_string()));
            }
            Filter::NotState(s) => {
                clause.push_str(" AND state <> ?");
                values.push(SqlValue::Text(s.as_str().to_string()));
            }
            Filter::Parent(p) => {
                clause.push_str(" AND parent = ?");
                values.push(SqlValue::Text(p.clone()));
            }
            Filter::ArrayContains {
                array,
                field,
                value,
            } => {
                clause.push_str(
                    " AND EXISTS (SELECT 1 FROM json_each(data, ?) AS e \
                     WHERE json_extract(e.value, ?) = ?)",
                );
                values.push(SqlValue::Text((*array).to_string()));
                values.push(SqlValue::Text((*field).to_string()));
                values.push(SqlValue::Text(value.clone()));
            }
            Filter::SeqBelow(seq) => {
                clause.push_str(" AND seq < ?");
                values.push(SqlValue::Integer(*seq));
            }
            Filter::Sql(sql, vals) => {
                clause.push_str(" AND (");
                clause.push_str(sql);
                clause.push(')');
                values.extend(vals.iter().cloned());
            }
        }
    }
    (clause, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mem() -> Store {
        Store::open(&Storage::Memory, Clock::new()).unwrap()
    }

    #[test]
    fn insert_get_update_delete() {
        let store = mem();
        store
            .write(|db| {
                db.insert(
                    "customer",
                    "cus_1",
                    None,
                    "2025-01-01T00:00:00.000000Z",
                    &json!({"email": "a@x"}),
                )?;
                assert!(db.update("customer", "cus_1", &json!({"email": "b@x"}))?);
                let r = db.get("customer", "cus_1")?.unwrap();
                assert_eq!(r.data["email"], "b@x");
                assert_eq!(r.state, State::Active);
                assert!(db.get("payment", "cus_1")?.is_none());
                assert!(db.delete("customer", "cus_1")?);
                assert!(!db.delete("customer", "cus_1")?);
                Ok::<_, rusqlite::Error>(())
            })
            .unwrap();
    }

    #[test]
    fn duplicate_ids_per_kind_are_rejected() {
        let store = mem();
        store
            .write(|db| {
                db.insert("k", "1", None, "t", &json!({}))?;
                assert!(db.insert("k", "1", None, "t", &json!({})).is_err());
                db.insert("other", "1", None, "t", &json!({}))?;
                Ok::<_, rusqlite::Error>(())
            })
            .unwrap();
    }

    #[test]
    fn list_is_newest_first_with_filters_and_paging() {
        let store = mem();
        store
            .write(|db| {
                for i in 0..5 {
                    let at = format!("2025-01-0{}T00:00:00.000000Z", i + 1);
                    db.insert(
                        "p",
                        &format!("p{i}"),
                        None,
                        &at,
                        &json!({"n": i, "even": i % 2 == 0, "cart": [{"product_id": format!("x{i}")}]}),
                    )?;
                }
                let all = db.list("p", &[], 10, 0)?;
                let ids: Vec<_> = all.iter().map(|r| r.id.as_str()).collect();
                assert_eq!(ids, ["p4", "p3", "p2", "p1", "p0"]);
                let page = db.list("p", &[], 2, 2)?;
                assert_eq!(page[0].id, "p2");
                let even = db.list("p", &[Filter::Eq("$.even", SqlValue::Integer(1))], 10, 0)?;
                assert_eq!(even.len(), 3);
                let range = db.list(
                    "p",
                    &[
                        Filter::CreatedGte("2025-01-02T00:00:00.000000Z".into()),
                        Filter::CreatedLte("2025-01-03T00:00:00.000000Z".into()),
                    ],
                    10,
                    0,
                )?;
                assert_eq!(range.len(), 2);
                let contains = db.list(
                    "p",
                    &[Filter::ArrayContains {
                        array: "$.cart",
                        field: "$.product_id",
                        value: "x3".into(),
                    }],
                    10,
                    0,
                )?;
                assert_eq!(contains[0].id, "p3");
                assert!(db.set_state("p", "p3", State::Archived)?);
                assert_eq!(db.count("p", &[Filter::State(State::Active)])?, 4);
                Ok::<_, rusqlite::Error>(())
            })
            .unwrap();
    }

    #[test]
    fn failed_write_rolls_back() {
        let store = mem();
        let out: Result<(), rusqlite::Error> = store.write(|db| {
            db.insert("k", "1", None, "t", &json!({}))?;
            Err(rusqlite::Error::InvalidQuery)
        });
        assert!(out.is_err());
        assert!(store.read(|db| db.get("k", "1")).unwrap().is_none());
    }

    #[test]
    fn idempotency_first_writer_wins() {
        let store = mem();
        store
            .write(|db| {
                let a = IdempotentResponse {
                    fingerprint: "f".into(),
                    status: 200,
                    body: b"{}".to_vec(),
                };
                db.idempotency_put("k", &a, "t")?;
                db.idempotency_put(
                    "k",
                    &IdempotentResponse {
                        status: 500,
                        ..a.clone()
                    },
                    "t",
                )?;
                assert_eq!(db.idempotency_get("k")?.unwrap(), a);
                Ok::<_, rusqlite::Error>(())
            })
            .unwrap();
    }
}
