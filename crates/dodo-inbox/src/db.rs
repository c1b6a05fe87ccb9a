//! Database connection: SQLite (default, embedded) or PostgreSQL (several instances).
//!
//! [`Database`] wraps an sqlx pool of either kind and runs the migrations shipped with the
//! crate (`migrations/sqlite`, `migrations/postgres`). Queries elsewhere are written once
//! and expanded for both pool types by the crate-private `on_db!` macro; where the
//! dialects differ (row claiming, JSON columns) the callers pick the statement by
//! [`Backend`]; times come from the database's clock (`NOW_US` in statement templates).
//! All queries are runtime queries (`sqlx::query`), so no database is needed at
//! build time.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::InboxError;

/// A pooled PostgreSQL connection idle at least this long is pinged before it is used.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// Which database engine a [`Database`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite: embedded, one writer at a time; fine for one app instance.
    Sqlite,
    /// PostgreSQL: row claiming with `FOR UPDATE SKIP LOCKED`; for several instances.
    Postgres,
}

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The SQL expression for "now" in Unix microseconds on `backend`: `clock_timestamp()` on
/// PostgreSQL (the server's clock when the statement reads it), `julianday('now')` on
/// SQLite (the clock of the host that owns the file).
pub(crate) fn now_us_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
        Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
    }
}

/// A connection pool to the inbox database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) pool: Pool,
}

/// Runs `$body` with `$pool` bound to the SQLite or the Postgres pool; the body is
/// compiled once per backend, so the same `sqlx::query` code serves both.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match &$db.pool {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

impl Database {
    /// Connects to `url`: `sqlite:path.db` / `sqlite://path.db` / `sqlite::memory:` or
    /// `postgres://...` / `postgresql://...`. SQLite files are created if missing and
    /// opened in WAL mode with `synchronous=FULL` (a delivery answered 200 survives an OS
    /// crash or power cut) and a 30 s busy timeout; an in-memory SQLite database uses a
    /// single connection (each connection would otherwise see its own database).
    pub async fn connect(url: &str) -> Result<Self, InboxError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| InboxError::InvalidUrl(e.to_string()))?;
            Self::connect_sqlite(
                options,
                url.contains(":memory:") || url.contains("mode=memory"),
            )
            .await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| InboxError::InvalidUrl(e.to_string()))?;
            Self::connect_postgres(options, 10).await
        } else {
            Err(InboxError::InvalidUrl(
                "expected a sqlite: or postgres:// URL".to_owned(),
            ))
        }
    }

    /// Opens SQLite with the given options (WAL, `synchronous=FULL`, busy timeout and
    /// create-if-missing are added). `in_memory` limits the pool to one long-lived
    /// connection.
    pub async fn connect_sqlite(
        options: SqliteConnectOptions,
        in_memory: bool,
    ) -> Result<Self, InboxError> {
        Self::open_sqlite(options, in_memory, SqliteSynchronous::Full).await
    }

    /// Opens SQLite like [`connect_sqlite`](Self::connect_sqlite) but with
    /// `synchronous=NORMAL`. Risk: a delivery already answered 200 can be lost if the OS
    /// crashes or the power fails before the next WAL checkpoint (an application crash
    /// loses nothing). Commits are cheaper; `docs/performance.md` measures by how much.
    pub async fn connect_sqlite_risking_loss_on_power_failure(
        options: SqliteConnectOptions,
        in_memory: bool,
    ) -> Result<Self, InboxError> {
        Self::open_sqlite(options, in_memory, SqliteSynchronous::Normal).await
    }

    async fn open_sqlite(
        options: SqliteConnectOptions,
        in_memory: bool,
        synchronous: SqliteSynchronous,
    ) -> Result<Self, InboxError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(30));
        let pool = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?
        };
        Ok(Self::from_sqlite_pool(pool))
    }

    /// Opens PostgreSQL with the given options and at most `max_connections` connections.
    /// A pooled connection idle for a second or more is pinged before use (and replaced if
    /// the server closed it); one in steady use is not, which saves a round trip per
    /// statement. A pool built elsewhere ([`Database::from_pg_pool`]) keeps its own settings.
    pub async fn connect_postgres(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> Result<Self, InboxError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            // sqlx pings a connection when it goes back to the pool and, by default,
            // again before each use: one more round trip per statement (the inbox bench
            // stored about a fifth more receipts per second without it). Only a
            // connection that sat idle can have broken since its last ping (a server
            // restart, a proxy's idle timeout), so only those are pinged, and a dead one
            // is replaced before any statement uses it.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_WHEN_IDLE_FOR {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self::from_pg_pool(pool))
    }

    /// Uses an existing SQLite pool (configure a busy timeout; WAL is recommended).
    pub fn from_sqlite_pool(pool: SqlitePool) -> Self {
        Self {
            pool: Pool::Sqlite(pool),
        }
    }

    /// Uses an existing PostgreSQL pool (its `search_path` decides the schema).
    pub fn from_pg_pool(pool: PgPool) -> Self {
        Self {
            pool: Pool::Postgres(pool),
        }
    }

    /// The database engine.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Creates or upgrades the inbox tables (`webhook_deliveries`, `dodo_objects`). Safe to
    /// run from several instances at once (sqlx takes a lock while migrating).
    pub async fn migrate(&self) -> Result<(), InboxError> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Pool::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        on_db!(self, |pool| pool.close().await);
    }

    /// Picks the statement for this backend.
    pub(crate) fn sql(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.backend() {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }

    /// `template` with `NOW_US` replaced by this backend's clock expression.
    pub(crate) fn with_now(&self, template: &str) -> String {
        template.replace("NOW_US", now_us_sql(self.backend()))
    }
}
