//! The database transaction a handler shares with the inbox ([`DeliveryTx`]).
//!
//! While the inbox runs the dispatcher's handlers and hooks for one claimed delivery, it
//! makes a [`DeliveryTx`] available through [`DeliveryTx::current`]. A handler that asks it
//! for its connection ([`DeliveryTx::postgres`] / [`DeliveryTx::sqlite`]) opens the claim's
//! transaction; whatever the handler writes there commits in the same transaction that
//! marks the delivery processed, fenced by the claim's token, and the mirror's upserts join
//! it too. So those writes happen exactly once: if the attempt fails, times out, or lost its
//! lease, they roll back with it. Effects outside this database (emails, API calls) are
//! at-least-once; deduplicate them by the `webhook-id` ([`DeliveryTx::webhook_id`], also
//! `ctx.webhook_id`). The handle is bound to the handler's task: a task the handler spawns
//! does not see it, and it refuses use once the attempt has finished. An opened transaction
//! holds one pooled connection until the attempt ends; with a one-connection pool
//! (in-memory SQLite) a handler must not use the inbox's pool for other statements
//! meanwhile.

use std::future::Future;
use std::sync::Arc;

use sqlx::{Postgres, Sqlite, Transaction};
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

use crate::db::{Backend, Database, Pool};
use crate::error::InboxError;

tokio::task_local! {
    static CURRENT: DeliveryTx;
}

/// Where the claim's transaction stands.
pub(crate) enum TxState {
    /// No handler asked for it yet; the inbox opens its own at commit time.
    Idle,
    /// Opened on SQLite (`BEGIN IMMEDIATE`).
    Sqlite(Transaction<'static, Sqlite>),
    /// Opened on PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
    /// The attempt is over (committed, rolled back or abandoned).
    Closed,
}

/// The slot holding a claim's transaction; opaque (reach it through [`DeliveryTx`]).
pub struct TxSlot(TxState);

struct Shared {
    db: Database,
    webhook_id: String,
    state: Arc<Mutex<TxSlot>>,
}

/// The claim's PostgreSQL transaction, locked for the caller (see [`DeliveryTx::postgres`]).
pub type PostgresTx = OwnedMappedMutexGuard<TxSlot, Transaction<'static, Postgres>>;

/// The claim's SQLite transaction, locked for the caller (see [`DeliveryTx::sqlite`]).
pub type SqliteTx = OwnedMappedMutexGuard<TxSlot, Transaction<'static, Sqlite>>;

/// A handle to the transaction of the delivery being processed. Cheap to clone.
///
/// ```no_run
/// # use dodo_webhooks::{Dispatcher, Verifier};
/// # let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// use dodo_inbox::DeliveryTx;
/// let dispatcher = Dispatcher::new(verifier, ()).on_payment_succeeded(|ctx, payment| async move {
///     let tx = DeliveryTx::current().ok_or("not run by a dodo-inbox worker")?;
///     let mut conn = tx.postgres().await?;
///     // Commits together with the "processed" mark, or not at all.
///     sqlx::query("INSERT INTO orders_paid (payment_id, webhook_id) VALUES ($1, $2)")
///         .bind(&payment.payment_id)
///         .bind(&ctx.webhook_id)
///         .execute(&mut **conn)
///         .await?;
///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
/// });
/// ```
#[derive(Clone)]
pub struct DeliveryTx {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DeliveryTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryTx")
            .field("webhook_id", &self.shared.webhook_id)
            .field("backend", &self.shared.db.backend())
            .finish_non_exhaustive()
    }
}

impl DeliveryTx {
    pub(crate) fn new(db: Database, webhook_id: String) -> Self {
        Self {
            shared: Arc::new(Shared {
                db,
                webhook_id,
                state: Arc::new(Mutex::new(TxSlot(TxState::Idle))),
            }),
        }
    }

    /// The handle of the delivery whose handlers the current task is running, or `None`
    /// outside a handler or hook run by the inbox.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `f` with this handle as [`current`](Self::current).
    pub(crate) fn scope<F: Future>(self, f: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self, f)
    }

    /// The `webhook-id` of the delivery (the key to deduplicate outside effects by).
    pub fn webhook_id(&self) -> &str {
        &self.shared.webhook_id
    }

    /// The database engine (which of [`postgres`](Self::postgres) / [`sqlite`](Self::sqlite)
    /// to call).
    pub fn backend(&self) -> Backend {
        self.shared.db.backend()
    }

    /// The claim's PostgreSQL transaction, opened on first use. Hold the guard only while
    /// running statements (`.execute(&mut **guard)`). Fails on SQLite
    /// ([`InboxError::WrongBackend`]) and once the attempt is over
    /// ([`InboxError::TransactionClosed`]).
    pub fn postgres(
        &self,
    ) -> impl Future<Output = Result<PostgresTx, InboxError>> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        async move {
            let mut state = Arc::clone(&shared.state).lock_owned().await;
            if matches!(state.0, TxState::Idle) {
                let Pool::Postgres(pool) = &shared.db.pool else {
                    return Err(InboxError::WrongBackend("sqlite"));
                };
                state.0 = TxState::Postgres(pool.begin().await?);
            }
            OwnedMutexGuard::try_map(state, |s| match &mut s.0 {
                TxState::Postgres(tx) => Some(tx),
                _ => None,
            })
            .map_err(|state| unusable(&shared, &state.0))
        }
    }

    /// The claim's SQLite transaction, opened on first use with `BEGIN IMMEDIATE` (it holds
    /// SQLite's single write lock until the attempt ends, so keep such handlers short).
    /// Fails on PostgreSQL ([`InboxError::WrongBackend`]) and once the attempt is over
    /// ([`InboxError::TransactionClosed`]).
    pub fn sqlite(&self) -> impl Future<Output = Result<SqliteTx, InboxError>> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        async move {
            let mut state = Arc::clone(&shared.state).lock_owned().await;
            if matches!(state.0, TxState::Idle) {
                let Pool::Sqlite(pool) = &shared.db.pool else {
                    return Err(InboxError::WrongBackend("postgres"));
                };
                state.0 = TxState::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?);
            }
            OwnedMutexGuard::try_map(state, |s| match &mut s.0 {
                TxState::Sqlite(tx) => Some(tx),
                _ => None,
            })
            .map_err(|state| unusable(&shared, &state.0))
        }
    }

    /// Ends the handlers' use of the transaction and hands it to the inbox.
    pub(crate) async fn take(&self) -> TxState {
        std::mem::replace(&mut self.shared.state.lock().await.0, TxState::Closed)
    }

    /// Closes the handle without waiting for a handler that may still hold it (a timed-out
    /// attempt): a transaction it opened rolls back when that handler's task is dropped.
    pub(crate) fn close_now(&self) {
        if let Ok(mut state) = self.shared.state.try_lock() {
            state.0 = TxState::Closed;
        }
    }
}

/// Why the transaction in `state` is not the one asked for.
fn unusable(shared: &Shared, state: &TxState) -> InboxError {
    match state {
        TxState::Sqlite(_) => InboxError::WrongBackend("sqlite"),
        TxState::Postgres(_) => InboxError::WrongBackend("postgres"),
        TxState::Idle | TxState::Closed => InboxError::TransactionClosed(shared.webhook_id.clone()),
    }
}
