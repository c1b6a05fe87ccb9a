//! Shared test support: databases for both backends, a fixed-clock verifier, event bodies,
//! and handler-invocation counters.
//!
//! PostgreSQL tests read `DODO_TEST_POSTGRES_URL` (start a server with
//! `eval "$(scripts/postgres-test-server)"`). When it is unset they fail under `CI=true`
//! and are skipped with a loud message otherwise. Each test gets its own schema.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write as _;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use dodo_inbox::Database;
use dodo_webhooks::{ManualClock, SignedHeaders, Verifier, WebhookSecret};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;

/// The fixed "now" (Unix seconds) of every test verifier.
pub const NOW: i64 = 1_754_285_445;

/// The environment variable naming the test PostgreSQL server.
pub const PG_ENV: &str = "DODO_TEST_POSTGRES_URL";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A fresh, migrated-on-open database for one test.
pub struct TestDb {
    pub kind: Kind,
    /// The URL (a SQLite file or the PostgreSQL server).
    pub url: String,
    /// The PostgreSQL schema of this test.
    pub schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A new database, or `None` (after a loud message) when PostgreSQL is not configured
    /// outside CI.
    pub async fn new(kind: Kind) -> Option<TestDb> {
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("inbox.db").display());
                Some(TestDb {
                    kind,
                    url,
                    schema: None,
                    _dir: Some(dir),
                })
            }
            Kind::Postgres => {
                let Ok(url) = std::env::var(PG_ENV) else {
                    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                        panic!(
                            "{PG_ENV} is not set but CI=true: the PostgreSQL inbox tests must run in CI \
                             (start a server with `eval \"$(scripts/postgres-test-server)\"`)"
                        );
                    }
                    // Written to the real stderr: the test harness captures `eprintln!`.
                    let _ = writeln!(
                        std::io::stderr(),
                        "\n!!!!!!!! SKIPPED: PostgreSQL inbox test, {PG_ENV} is not set. Start a server with \
                         `eval \"$(scripts/postgres-test-server)\"` to run it. !!!!!!!!\n"
                    );
                    return None;
                };
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let admin = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
                Some(TestDb {
                    kind,
                    url,
                    schema: Some(schema),
                    _dir: None,
                })
            }
        }
    }

    /// A new connection pool to this test's database (call several times for several
    /// "instances").
    pub async fn connect(&self) -> Database {
        open(&self.url, self.schema.as_deref()).await
    }
}

impl Drop for TestDb {
    /// Drops this test's PostgreSQL schema (on a helper thread with its own runtime, as
    /// `Drop` cannot await); the SQLite directory is removed by `TempDir`.
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else {
            return;
        };
        let url = self.url.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(admin) = sqlx::PgPool::connect(&url).await {
                    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                    let _ = sqlx::query(&drop).execute(&admin).await;
                    admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Opens `url`, with `search_path` set to `schema` for PostgreSQL.
pub async fn open(url: &str, schema: Option<&str>) -> Database {
    match schema {
        None => Database::connect(url).await.unwrap(),
        Some(schema) => {
            let options = PgConnectOptions::from_str(url)
                .unwrap()
                .options([("search_path", schema)]);
            Database::connect_postgres(options, 12).await.unwrap()
        }
    }
}

/// Runs each listed `async fn name(kind: Kind)` as a test on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::common::Kind::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::common::Kind::Postgres).await;
                }
            )*
        }
    };
}

/// The test signing secret's verifier, at [`NOW`].
pub fn verifier() -> Verifier {
    Verifier::new(WebhookSecret::from_bytes(b"inbox-test-secret-0123456789abcd".to_vec()).unwrap())
        .with_clock(ManualClock::new(NOW))
}

/// Headers signing `body` as delivery `id` at [`NOW`].
pub fn signed(id: &str, body: &[u8]) -> SignedHeaders {
    verifier().signed_headers(id, NOW, body)
}

/// An RFC 3339 time `offset` seconds after 2025-07-23T12:00:00Z.
pub fn at(offset: i64) -> String {
    let t = time::macros::datetime!(2025-07-23 12:00:00 UTC) + time::Duration::seconds(offset);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn customer(customer_id: &str) -> Value {
    json!({"customer_id": customer_id, "email": "ada@example.com", "name": "Ada", "metadata": {}, "phone_number": null})
}

/// A webhook envelope.
pub fn envelope(event_type: &str, timestamp: &str, data: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "business_id": "bus_test",
        "type": event_type,
        "timestamp": timestamp,
        "data": data,
    }))
    .unwrap()
}

/// A `subscription.*` body for `sub_id` of `customer_id` with `status`.
pub fn subscription_event(
    event_type: &str,
    timestamp: &str,
    sub_id: &str,
    customer_id: &str,
    status: &str,
) -> Vec<u8> {
    envelope(
        event_type,
        timestamp,
        json!({
            "payload_type": "Subscription",
            "addons": [],
            "billing": {"country": "US", "city": "New York", "state": "NY", "street": "1 Main", "zipcode": "10001"},
            "brand_id": "brd_1",
            "cancel_at_next_billing_date": false,
            "created_at": "2025-06-23T11:57:59.125145Z",
            "currency": "USD",
            "customer": customer(customer_id),
            "metadata": {},
            "next_billing_date": "2025-08-23T12:01:14Z",
            "on_demand": false,
            "payment_frequency_count": 1,
            "payment_frequency_interval": "Month",
            "previous_billing_date": "2025-07-23T12:01:21Z",
            "product_id": "pdt_pro",
            "quantity": 1,
            "recurring_pre_tax_amount": 420,
            "status": status,
            "subscription_id": sub_id,
            "subscription_period_count": 1,
            "subscription_period_interval": "Year",
            "tax_inclusive": false,
            "trial_period_days": 0
        }),
    )
}

/// A `payment.*` body for `payment_id` with `status` and an optional `updated_at`.
pub fn payment_event(
    event_type: &str,
    timestamp: &str,
    payment_id: &str,
    status: &str,
    updated_at: Option<&str>,
) -> Vec<u8> {
    envelope(
        event_type,
        timestamp,
        json!({
            "payload_type": "Payment",
            "billing": {"country": "US"},
            "brand_id": "brd_1",
            "business_id": "bus_test",
            "created_at": "2025-07-23T11:00:00Z",
            "currency": "USD",
            "customer": customer("cus_pay"),
            "digital_products_delivered": false,
            "is_update_payment_method": false,
            "metadata": {},
            "payment_id": payment_id,
            "payment_provider": "dodo",
            "retry_attempt": 0,
            "settlement_amount": 1000,
            "settlement_currency": "USD",
            "status": status,
            "total_amount": 1000,
            "updated_at": updated_at
        }),
    )
}

/// Handler invocations per webhook-id.
#[derive(Clone, Default)]
pub struct Calls(Arc<Mutex<HashMap<String, u32>>>);

impl Calls {
    pub fn record(&self, webhook_id: &str) {
        *self
            .0
            .lock()
            .unwrap()
            .entry(webhook_id.to_owned())
            .or_default() += 1;
    }

    pub fn get(&self, webhook_id: &str) -> u32 {
        self.0.lock().unwrap().get(webhook_id).copied().unwrap_or(0)
    }

    pub fn snapshot(&self) -> HashMap<String, u32> {
        self.0.lock().unwrap().clone()
    }

    pub fn total(&self) -> u32 {
        self.0.lock().unwrap().values().sum()
    }
}

/// Direct SQL access to a test database, beside the inbox (setup and assertions).
pub enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl TestDb {
    /// A plain sqlx pool on this test's database.
    pub async fn raw(&self) -> Raw {
        match self.kind {
            Kind::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)
                    .unwrap()
                    .create_if_missing(true)
                    .busy_timeout(std::time::Duration::from_secs(30));
                Raw::Sqlite(sqlx::SqlitePool::connect_with(options).await.unwrap())
            }
            Kind::Postgres => {
                let options = PgConnectOptions::from_str(&self.url)
                    .unwrap()
                    .options([("search_path", self.schema.as_deref().unwrap())]);
                Raw::Postgres(sqlx::PgPool::connect_with(options).await.unwrap())
            }
        }
    }
}

impl Raw {
    /// Runs one statement.
    pub async fn exec(&self, sql: &str) {
        match self {
            Raw::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
            Raw::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The text column `col` of every row of `sql`, in order.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        use sqlx::Row as _;
        match self {
            Raw::Sqlite(pool) => sqlx::query(sql)
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect(),
            Raw::Postgres(pool) => sqlx::query(sql)
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect(),
        }
    }
}

/// Creates the `effects` table handlers write into through their `DeliveryTx` (no unique
/// key, so a duplicate effect would show as a second row).
pub async fn create_effects(raw: &Raw) {
    raw.exec("CREATE TABLE effects (webhook_id TEXT NOT NULL, note TEXT NOT NULL)")
        .await;
}

/// Writes an effect row in the delivery's transaction.
pub async fn write_effect(
    tx: &dodo_inbox::DeliveryTx,
    note: &str,
) -> Result<(), dodo_inbox::InboxError> {
    let sql = "INSERT INTO effects (webhook_id, note) VALUES ($1, $2)";
    match tx.backend() {
        dodo_inbox::Backend::Postgres => {
            let mut conn = tx.postgres().await?;
            sqlx::query(sql)
                .bind(tx.webhook_id())
                .bind(note)
                .execute(&mut **conn)
                .await?;
        }
        dodo_inbox::Backend::Sqlite => {
            let mut conn = tx.sqlite().await?;
            sqlx::query(sql)
                .bind(tx.webhook_id())
                .bind(note)
                .execute(&mut **conn)
                .await?;
        }
    }
    Ok(())
}
