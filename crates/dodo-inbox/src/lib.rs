//! Durable webhook inbox and local mirror of Dodo Payments objects.
//!
//! Dodo delivers webhooks at least once, possibly out of order, and gives up after a few
//! retries. This crate makes handling them dependable: [`Inbox::receive`] verifies the
//! Standard Webhooks signature and commits the delivery (raw body, audited headers,
//! `webhook-id` unique) before answering 200; [`Worker`]s claim stored rows (with
//! `FOR UPDATE SKIP LOCKED` and a renewable lease on PostgreSQL, a single-writer claim on
//! SQLite) and run the [`dodo_webhooks::Dispatcher`]'s hooks and handlers from the stored
//! row, so each `webhook-id` is processed once even across several app instances and
//! survives crashes; failures are retried with backoff and finally dead-lettered. Every
//! processed event also updates a [`Mirror`] of payments, subscriptions, refunds,
//! disputes, customers, license keys, payouts and entitlement grants in the same
//! transaction, with an ordering guard so an older event never overwrites newer state.
//! Stored deliveries can be listed and replayed ([`Store`]); the `axum` feature mounts the
//! webhook route on an inbox and the `cli` feature provides `dodo-dev inbox list|replay`.
//! SQLite is the zero-setup default; PostgreSQL serves several instances.

#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "cli")]
pub mod cli;
mod clock;
mod db;
mod error;
mod inbox;
mod mirror;
mod receipt;
mod retry;
mod store;
mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use db::{Backend, Database};
pub use error::InboxError;
pub use inbox::{
    AUDITED_HEADERS, DEFAULT_LEASE, DEFAULT_MAX_BODY_BYTES, DeadLetter, Inbox, InboxBuilder, Mode,
};
pub use mirror::{Mirror, MirroredObject, ObjectKind};
pub use receipt::{Receipt, ReceiptError, ReceiptKind};
pub use retry::RetryPolicy;
pub use store::{DeliveryStatus, DeliverySummary, ListFilter, Store, StoredDelivery};
pub use worker::{Worker, WorkerHandle, WorkerStats};
