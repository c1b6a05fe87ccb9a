//! Durable webhook inbox and local mirror of Dodo Payments objects.
//!
//! Dodo delivers webhooks at least once, possibly out of order, and gives up after a few
//! retries. This crate makes handling them dependable: [`Inbox::receive`] verifies the
//! Standard Webhooks signature and commits the delivery (raw body, audited headers,
//! `webhook-id` unique) before answering 200 (a signed body that is not an envelope is kept
//! as unparseable, also 200); [`Worker`]s in any number of processes claim stored rows under
//! a lease and a fencing token timed by the database's clock (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, whose `NOTIFY` wakes idle workers at once), run the
//! [`dodo_webhooks::Dispatcher`]'s hooks and handlers with a timeout, and commit the outcome
//! only while the claim still holds; failures are retried with backoff and finally
//! dead-lettered. Every processed event also updates a [`Mirror`] of payments,
//! subscriptions, refunds, disputes, customers, license keys, payouts and entitlement
//! grants, with an ordering guard so an older event never overwrites newer state. Stored
//! deliveries can be listed, replayed and pruned ([`Store`]); the `axum` feature mounts the
//! webhook route on an inbox and the `cli` feature provides `dodo-dev inbox list|replay`.
//! SQLite (`synchronous=FULL`) is the zero-setup default; PostgreSQL serves several
//! instances. It is not a general job queue, and it does not call Dodo's API.
//!
//! # Guarantee
//!
//! **Exactly-once for effects in the same transaction; at-least-once for outside effects,
//! deduplicated by `webhook-id`.** A handler that writes through the claim's transaction
//! ([`DeliveryTx`]) commits those writes atomically with the delivery's `processed` mark
//! and the mirror's upserts, so they happen exactly once per `webhook-id`, across
//! processes, crashes and lost leases (tested by killing two processes at random over
//! thousands of deliveries). Anything else a handler does (send an email, call an API) can
//! happen again when an attempt fails, times out, loses its lease or its process dies
//! before the commit: key such effects by the `webhook-id` the handler receives
//! (`ctx.webhook_id` or [`DeliveryTx::webhook_id`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use dodo_inbox::{DeliveryTx, Inbox};
//! use dodo_webhooks::{Dispatcher, Verifier};
//!
//! let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
//! let dispatcher = Dispatcher::new(verifier, ()).on_payment_succeeded(|ctx, payment| async move {
//!     let tx = DeliveryTx::current().ok_or("not run by the inbox")?;
//!     let mut conn = tx.postgres().await?;
//!     // Exactly once: commits with the "processed" mark, or rolls back with the attempt.
//!     sqlx::query("UPDATE orders SET paid = TRUE WHERE payment_id = $1")
//!         .bind(&payment.payment_id)
//!         .execute(&mut **conn)
//!         .await?;
//!     drop(conn);
//!     // At least once: let the mailer drop repeats of the same webhook-id.
//!     // mailer.send_receipt(&payment, idempotency_key = &ctx.webhook_id).await?;
//!     let _ = ctx.webhook_id;
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! });
//! let inbox = Inbox::builder(dispatcher).connect("postgres://localhost/shop").await?;
//! let worker = inbox.worker().spawn();
//! // Serve `dodo_inbox::axum::router(inbox.clone())` (feature `axum`); on shutdown:
//! worker.stop().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "cli")]
pub mod cli;
mod clock;
mod db;
mod error;
mod group;
mod inbox;
mod mirror;
mod outcome;
mod receipt;
mod retry;
mod store;
mod tx;
mod worker;

pub use db::{Backend, Database};
pub use error::InboxError;
pub use inbox::{
    AUDITED_HEADERS, DEFAULT_HANDLER_TIMEOUT, DEFAULT_LEASE, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_RETENTION, DeadLetter, Inbox, InboxBuilder, Mode,
};
pub use mirror::{Mirror, MirroredObject, ObjectKind};
pub use receipt::{Receipt, ReceiptError, ReceiptKind};
pub use retry::RetryPolicy;
pub use store::{DeliveryStatus, DeliverySummary, ListFilter, Store, StoredDelivery};
pub use tx::{DeliveryTx, PostgresTx, SqliteTx, TxSlot};
pub use worker::{Worker, WorkerHandle, WorkerStats};
