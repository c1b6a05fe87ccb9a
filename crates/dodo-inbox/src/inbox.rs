//! The inbox: verify and store on receipt, then dispatch from the stored row.
//!
//! [`Inbox::receive`] verifies the Standard Webhooks signature with the dispatcher's
//! verifier and commits the delivery (`webhook-id`, type, timestamps, audited headers, raw
//! body) before answering: 200 once committed (or for an id already stored), 401 for a bad
//! signature, 413 for an oversized body, 500 if the database fails (Dodo then retries). A
//! correctly signed body that is not a webhook envelope is stored as `unparseable` and
//! answered 200, for inspection and replay. In the default [`Mode::Deferred`] a worker
//! processes stored rows; in [`Mode::Inline`] the request also processes its own row
//! before answering.
//!
//! Processing one claimed row runs the dispatcher's hooks and handlers in their own task,
//! bounded by the handler timeout, while a separate task renews the batch's leases. The
//! handlers may write in the claim's transaction ([`DeliveryTx`]); on success the inbox
//! adds the mirror's upserts and the `processed` mark (conditional on the claim's fencing
//! token) and commits them all at once. Failure or timeout rolls that transaction back and
//! schedules a retry with backoff; after the last allowed attempt the row is dead-lettered
//! and `on_dead_letter` runs. An outcome that cannot be committed for a reason that will
//! not go away (the database refuses a value) goes straight to the dead letters, without
//! running handlers that already succeeded again.
//!
//! Guarantee: writes made in the [`DeliveryTx`] (and the mirror's) take effect exactly once
//! per `webhook-id`. Effects outside the database are at-least-once: a handler runs again
//! if its attempt fails, times out, loses its lease or its process dies before the commit,
//! so deduplicate them by the `webhook-id` the handler receives.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dodo_webhooks::{
    BoxFuture, Dispatcher, Disposition, Outcome, VerifiedDelivery, WebhookEvent, WebhookHeaders,
};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::clock::{duration_micros, to_micros};
use crate::db::{Backend, Database};
use crate::error::InboxError;
use crate::group::Grouper;
use crate::mirror::{Mirror, ObjectWrite, objects_from_event};
use crate::outcome::Completion;
use crate::receipt::{Receipt, ReceiptKind};
use crate::retry::RetryPolicy;
use crate::store::{Claimed, DeliveryStatus, NewDelivery, Store};
use crate::tx::{DeliveryTx, TxState};

/// Headers kept with each delivery for audit.
pub const AUDITED_HEADERS: [&str; 8] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "content-type",
    "user-agent",
];

/// Default maximum body size: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Default claim lease: 60 s (renewed every 20 s while the handlers run).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Default handler timeout: 20 s, a third of the default lease.
pub const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(20);

/// Default retention of processed deliveries: 30 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// How many times an outcome whose commit failed transiently is committed again within the
/// attempt (when the handlers wrote nothing in the transaction, so need not run again).
const COMMIT_TRIES: u32 = 3;

/// When stored deliveries are processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Answer 200 as soon as the delivery is committed; a worker processes it. Keeps
    /// well inside Dodo's 15 s timeout whatever the handlers do.
    #[default]
    Deferred,
    /// Process the delivery within the request and answer from the result (500 on failure
    /// so Dodo retries as well). Simpler for small apps; a worker is still useful for
    /// scheduled retries.
    Inline,
}

/// A delivery that failed every allowed attempt, or whose outcome could not be committed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The `webhook-id`.
    pub webhook_id: String,
    /// The event type.
    pub event_type: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last error (internal detail).
    pub error: String,
}

type DeadLetterHook = Arc<dyn Fn(DeadLetter) -> BoxFuture<'static, ()> + Send + Sync>;

/// What processing one claimed row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Processed,
    Retrying,
    DeadLettered,
    LeaseLost,
    Unparseable,
}

struct Inner<S> {
    store: Store,
    dispatcher: Dispatcher<S>,
    mode: Mode,
    retry: RetryPolicy,
    lease: Duration,
    handler_timeout: Duration,
    max_body_bytes: usize,
    retention: Option<Duration>,
    drop_processed_bodies: bool,
    on_dead_letter: Option<DeadLetterHook>,
    notify: Notify,
    inline_id: String,
    inline_seq: AtomicU64,
    inserter: Grouper<NewDelivery, Result<Option<i64>, InboxError>>,
    completer: Grouper<Completion, (Completion, Result<bool, InboxError>)>,
}

/// Most deliveries or outcomes written in one group commit.
const GROUP_MAX: usize = 64;

/// A durable webhook inbox over a [`Dispatcher`]. Cheap to clone (shared state).
///
/// ```no_run
/// # async fn demo() -> Result<(), dodo_inbox::InboxError> {
/// use dodo_webhooks::{Dispatcher, Verifier};
/// let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let dispatcher = Dispatcher::new(verifier, ()).on_payment_succeeded(|ctx, p| async move {
///     // Outside effects are at-least-once: deduplicate them by ctx.webhook_id.
///     println!("paid: {} ({})", p.payment_id, ctx.webhook_id);
///     Ok(())
/// });
/// let inbox = dodo_inbox::Inbox::builder(dispatcher).connect("sqlite:inbox.db").await?;
/// let worker = inbox.worker().spawn();
/// // per request: let receipt = inbox.receive(&headers, &body).await;
/// # worker.stop().await; Ok(()) }
/// ```
pub struct Inbox<S = ()> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Inbox<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> fmt::Debug for Inbox<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("store", &self.inner.store)
            .field("dispatcher", &self.inner.dispatcher)
            .field("mode", &self.inner.mode)
            .field("retry", &self.inner.retry)
            .field("lease", &self.inner.lease)
            .field("handler_timeout", &self.inner.handler_timeout)
            .field("retention", &self.inner.retention)
            .finish_non_exhaustive()
    }
}

/// Configures and opens an [`Inbox`].
pub struct InboxBuilder<S> {
    dispatcher: Dispatcher<S>,
    mode: Mode,
    retry: RetryPolicy,
    lease: Duration,
    handler_timeout: Duration,
    max_body_bytes: usize,
    retention: Option<Duration>,
    drop_processed_bodies: bool,
    on_dead_letter: Option<DeadLetterHook>,
    migrate: bool,
}

impl<S> fmt::Debug for InboxBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxBuilder")
            .field("mode", &self.mode)
            .field("retry", &self.retry)
            .field("lease", &self.lease)
            .field("handler_timeout", &self.handler_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("retention", &self.retention)
            .field("drop_processed_bodies", &self.drop_processed_bodies)
            .finish_non_exhaustive()
    }
}

impl<S: Clone + Send + Sync + 'static> InboxBuilder<S> {
    /// Sets the processing mode (default [`Mode::Deferred`]).
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the retry policy (default [`RetryPolicy::default`]).
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets how long a claim is held without renewal, by the database's clock (default
    /// 60 s; renewed every third of it by a task independent of the handlers). A crashed
    /// or cut-off worker's rows are claimed again, under a new fencing token, after it.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(1));
        self
    }

    /// Sets how long the hooks and handlers of one attempt may run (default 20 s; keep it
    /// well under the lease). A timed-out attempt is failed, its transaction rolled back,
    /// and a retry scheduled; its task is cancelled at its next `.await`.
    #[must_use]
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Sets the maximum accepted body size (default 1 MiB; larger → 413).
    #[must_use]
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Sets how long processed deliveries are kept before workers delete them (default
    /// 30 days; `None` keeps them forever). Dead letters and unparseable deliveries are
    /// kept until replayed or deleted by hand.
    #[must_use]
    pub fn retain_processed(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// Drops the raw body of each delivery in the transaction that marks it processed
    /// (default: kept until pruned). The body holds customer data; once dropped the
    /// delivery can no longer be replayed, while its metadata and the mirror remain.
    #[must_use]
    pub fn drop_processed_bodies(mut self, drop: bool) -> Self {
        self.drop_processed_bodies = drop;
        self
    }

    /// Runs `hook` after a delivery is dead-lettered (once per dead-lettering).
    #[must_use]
    pub fn on_dead_letter<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(DeadLetter) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_dead_letter = Some(Arc::new(move |dl| Box::pin(hook(dl))));
        self
    }

    /// Does not run the bundled migrations on open (manage them yourself).
    #[must_use]
    pub fn skip_migrations(mut self) -> Self {
        self.migrate = false;
        self
    }

    /// Connects to `url` (see [`Database::connect`]), migrates and opens the inbox.
    pub async fn connect(self, url: &str) -> Result<Inbox<S>, InboxError> {
        let db = Database::connect(url).await?;
        self.open(db).await
    }

    /// Migrates `db` (unless skipped) and opens the inbox on it.
    pub async fn open(self, db: Database) -> Result<Inbox<S>, InboxError> {
        if self.migrate {
            db.migrate().await?;
        }
        if self.handler_timeout >= self.lease {
            tracing::warn!(handler_timeout = ?self.handler_timeout, lease = ?self.lease, "the handler timeout is not under the lease: an attempt whose lease renewals fail can be taken over while its handlers still run (its outcome is then discarded)");
        }
        let store = Store::new(db);
        // SQLite has one writer: one flusher. PostgreSQL commits groups in parallel, but
        // every statement costs a round trip and a commit, so two flushers (one writing
        // while the other gathers a bigger group) beat four: the inbox bench measured
        // 26-29k receipts/s and 7.4-7.8k/s end to end with two, 20-28k and 6.9-7.1k with
        // four (docs/performance.md).
        let flushers = match store.database().backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => 2,
        };
        let inserter = {
            let store = store.clone();
            Grouper::spawn(flushers, GROUP_MAX, move |group: Vec<NewDelivery>| {
                let store = store.clone();
                async move { store.insert_group(&group).await }
            })
        };
        let completer = {
            let store = store.clone();
            Grouper::spawn(flushers, GROUP_MAX, move |group: Vec<Completion>| {
                let store = store.clone();
                async move {
                    let results = store.complete_group(&group).await;
                    group.into_iter().zip(results).collect()
                }
            })
        };
        Ok(Inbox {
            inner: Arc::new(Inner {
                inserter,
                completer,
                store,
                dispatcher: self.dispatcher,
                mode: self.mode,
                retry: self.retry,
                lease: self.lease,
                handler_timeout: self.handler_timeout,
                max_body_bytes: self.max_body_bytes,
                retention: self.retention,
                drop_processed_bodies: self.drop_processed_bodies,
                on_dead_letter: self.on_dead_letter,
                notify: Notify::new(),
                inline_id: format!("inline-{}", unique_suffix()),
                inline_seq: AtomicU64::new(0),
            }),
        })
    }
}

/// A short random suffix for worker ids: the process id and 8 hex digits.
pub(crate) fn unique_suffix() -> String {
    let uuid = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", std::process::id(), &uuid[..8])
}

/// A fresh fencing token for one claim.
pub(crate) fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The envelope fields the inbox records; `data` must be present but is not parsed here.
#[derive(Deserialize)]
struct Envelope {
    business_id: String,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    #[allow(dead_code)]
    data: serde::de::IgnoredAny,
}

/// The envelope's `data`, for the mirror.
#[derive(Deserialize)]
struct DataOnly {
    data: Value,
}

/// Cancels a spawned task when dropped (a batch's lease renewal, an attempt's handlers).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<S: Clone + Send + Sync + 'static> Inbox<S> {
    /// Starts configuring an inbox over `dispatcher`. Do not give the dispatcher its own
    /// idempotency guard: the inbox deduplicates by `webhook-id` itself.
    pub fn builder(dispatcher: Dispatcher<S>) -> InboxBuilder<S> {
        InboxBuilder {
            dispatcher,
            mode: Mode::default(),
            retry: RetryPolicy::default(),
            lease: DEFAULT_LEASE,
            handler_timeout: DEFAULT_HANDLER_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            retention: Some(DEFAULT_RETENTION),
            drop_processed_bodies: false,
            on_dead_letter: None,
            migrate: true,
        }
    }

    /// Stored deliveries (inspection, replay, pruning).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The mirrored Dodo objects.
    pub fn mirror(&self) -> Mirror {
        self.inner.store.mirror()
    }

    /// The dispatcher running handlers and hooks.
    pub fn dispatcher(&self) -> &Dispatcher<S> {
        &self.inner.dispatcher
    }

    /// The processing mode.
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// How long processed deliveries are kept (`None`: forever).
    pub fn retention(&self) -> Option<Duration> {
        self.inner.retention
    }

    /// Replays the stored delivery `webhook_id` (see [`Store::replay`]) and wakes the
    /// workers.
    pub async fn replay(&self, webhook_id: &str) -> Result<(), InboxError> {
        self.inner.store.replay(webhook_id).await?;
        self.inner.notify.notify_one();
        Ok(())
    }

    /// Replays every dead letter, optionally of one event type; returns how many.
    pub async fn replay_dead_letters(&self, event_type: Option<&str>) -> Result<u64, InboxError> {
        let n = self.inner.store.replay_dead_letters(event_type).await?;
        if n > 0 {
            self.inner.notify.notify_one();
        }
        Ok(n)
    }

    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.notify.notified()
    }

    /// The maximum accepted body size.
    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    pub(crate) fn lease_micros(&self) -> i64 {
        duration_micros(self.inner.lease)
    }

    /// Verifies and stores one delivery, and in [`Mode::Inline`] processes it; never fails
    /// (every problem is a [`Receipt`] with its HTTP status).
    pub async fn receive<H: WebhookHeaders + ?Sized>(&self, headers: &H, body: &[u8]) -> Receipt {
        let mut new = match self.prepare(headers, body) {
            Ok(new) => new,
            Err(receipt) => return *receipt,
        };
        let inserted = match self.store_delivery(&mut new).await {
            Ok(inserted) => inserted,
            Err(e) => {
                tracing::error!(webhook_id = %new.webhook_id, error = %e, "storing a webhook delivery failed");
                let mut receipt = Receipt::rejected(
                    500,
                    "store_failed",
                    "the delivery could not be stored",
                    e.to_string(),
                );
                receipt.webhook_id = Some(new.webhook_id);
                receipt.event_type = Some(new.event_type);
                return receipt;
            }
        };
        if new.status == DeliveryStatus::Unparseable {
            return match inserted {
                Some(_) => {
                    tracing::warn!(webhook_id = %new.webhook_id, error = new.error.as_deref().unwrap_or_default(), "stored a signed delivery that is not a webhook envelope");
                    Receipt::ok(ReceiptKind::Unparseable, &new.webhook_id, &new.event_type)
                }
                None => Receipt::ok(ReceiptKind::Duplicate, &new.webhook_id, &new.event_type),
            };
        }
        let stored = Receipt::ok(ReceiptKind::Stored, &new.webhook_id, &new.event_type);
        if self.inner.mode == Mode::Deferred {
            return match inserted {
                Some(_) => {
                    self.inner.notify.notify_one();
                    stored
                }
                None => Receipt::ok(ReceiptKind::Duplicate, &new.webhook_id, &new.event_type),
            };
        }
        let row_id = match inserted {
            Some(id) => id,
            None => match self.inner.store.status_of(&new.webhook_id).await {
                Ok(Some((id, DeliveryStatus::Received | DeliveryStatus::Failed))) => id,
                // Claimed before: processed again here only if that claim's lease ran out
                // (a request dropped mid-handler); otherwise Dodo is told to come back.
                Ok(Some((id, DeliveryStatus::Processing))) => id,
                Ok(_) => {
                    return Receipt::ok(ReceiptKind::Duplicate, &new.webhook_id, &new.event_type);
                }
                Err(_) => return in_progress(&new.webhook_id, &new.event_type),
            },
        };
        self.process_inline(row_id, stored).await
    }

    /// Stores `new` in a group commit with concurrent receipts (its body is moved out).
    async fn store_delivery(&self, new: &mut NewDelivery) -> Result<Option<i64>, InboxError> {
        let moved = NewDelivery {
            raw_body: std::mem::take(&mut new.raw_body),
            headers: std::mem::take(&mut new.headers),
            ..new.clone()
        };
        match self.inner.inserter.submit(moved).await {
            Ok(result) => result,
            Err(Some(alone)) => self.inner.store.insert(&alone).await,
            Err(None) => Err(InboxError::Database(sqlx::Error::WorkerCrashed)),
        }
    }

    async fn process_inline(&self, row_id: i64, stored: Receipt) -> Receipt {
        // One claim id per request, so two requests never share a claim.
        let seq = self.inner.inline_seq.fetch_add(1, Ordering::Relaxed);
        let worker = format!("{}-{seq}", self.inner.inline_id);
        let token = new_token();
        let claimed = match self
            .inner
            .store
            .claim(&worker, &token, self.lease_micros(), 1, Some(row_id))
            .await
        {
            Ok(rows) if !rows.is_empty() => rows,
            Ok(_) => return in_progress_like(&stored),
            Err(e) => {
                tracing::warn!(error = %e, "inline claim failed; asking Dodo to retry");
                return in_progress_like(&stored);
            }
        };
        let (webhook_id, event_type) =
            (claimed[0].webhook_id.clone(), claimed[0].event_type.clone());
        let step = self.process_batch(claimed, &token).await.pop();
        match step {
            Some(Ok(Step::Processed)) => {
                Receipt::ok(ReceiptKind::Processed, &webhook_id, &event_type)
            }
            Some(Ok(Step::DeadLettered)) => {
                Receipt::ok(ReceiptKind::DeadLettered, &webhook_id, &event_type)
            }
            Some(Ok(Step::Unparseable)) => {
                Receipt::ok(ReceiptKind::Unparseable, &webhook_id, &event_type)
            }
            Some(Ok(Step::Retrying)) => not_done(
                500,
                "handler_failed",
                "the webhook handler failed; the delivery is stored and will be retried",
                ReceiptKind::Failed,
                &webhook_id,
                &event_type,
            ),
            Some(Ok(Step::LeaseLost) | Err(_)) | None => in_progress(&webhook_id, &event_type),
        }
    }

    /// Size check, verification, envelope, and the row to insert.
    fn prepare<H: WebhookHeaders + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<NewDelivery, Box<Receipt>> {
        if body.len() > self.inner.max_body_bytes {
            return Err(Box::new(Receipt::rejected(
                413,
                "payload_too_large",
                "the request body is too large",
                format!("{} bytes", body.len()),
            )));
        }
        let delivery = self
            .inner
            .dispatcher
            .verifier()
            .verify(headers, body)
            .map_err(|e| {
                Box::new(Receipt::rejected(
                    401,
                    e.code(),
                    "the webhook signature could not be verified",
                    e.to_string(),
                ))
            })?;
        let mut audited = serde_json::Map::new();
        for name in AUDITED_HEADERS {
            if let Some(value) = headers.header(name) {
                audited.insert(
                    name.to_owned(),
                    Value::String(String::from_utf8_lossy(value).into_owned()),
                );
            }
        }
        let webhook_timestamp = delivery.timestamp.unix_timestamp();
        let mut new = NewDelivery {
            status: DeliveryStatus::Received,
            error: None,
            webhook_id: delivery.id,
            event_type: String::new(),
            business_id: String::new(),
            event_timestamp: webhook_timestamp.saturating_mul(1_000_000),
            webhook_timestamp,
            headers: Value::Object(audited).to_string(),
            raw_body: body.to_vec(),
        };
        match serde_json::from_slice::<Envelope>(body) {
            Ok(envelope) => {
                new.event_type = envelope.event_type;
                new.business_id = envelope.business_id;
                new.event_timestamp = to_micros(envelope.timestamp);
            }
            Err(e) => {
                // Signed by Dodo, so never refused (Dodo would retry it for days): kept as
                // unparseable. The error names the position, never the payload's values.
                new.status = DeliveryStatus::Unparseable;
                new.error = Some(describe_envelope_error(&e));
                new.event_type = loose_type(body);
            }
        }
        Ok(new)
    }

    /// Processes rows claimed under `token` concurrently while a separate task renews
    /// their leases; one result per row, in order.
    pub(crate) async fn process_batch(
        &self,
        rows: Vec<Claimed>,
        token: &str,
    ) -> Vec<Result<Step, InboxError>> {
        let _renewal = self.keep_leases(token);
        futures_util::future::join_all(rows.into_iter().map(|row| self.process_claimed(row, token)))
            .await
    }

    /// Renews the leases of `token`'s rows every third of the lease, in its own task so
    /// slow or blocking handlers cannot starve it; stops when dropped.
    fn keep_leases(&self, token: &str) -> AbortOnDrop<()> {
        let store = self.inner.store.clone();
        let lease = self.inner.lease;
        let token = token.to_owned();
        let period = (lease / 3).max(Duration::from_millis(10));
        AbortOnDrop(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                tick.tick().await;
                if let Err(e) = store.extend_leases(&token, duration_micros(lease)).await {
                    tracing::warn!(error = %e, "renewing leases failed");
                }
            }
        }))
    }

    /// Runs the dispatcher on a claimed row and records the result.
    async fn process_claimed(&self, claimed: Claimed, token: &str) -> Result<Step, InboxError> {
        if claimed.attempts > i64::from(self.inner.retry.max_attempts.max(1)) {
            // Earlier attempts were abandoned (their workers crashed or lost the lease):
            // a handler that takes the process down must not loop forever.
            let error = format!(
                "abandoned: {} attempts started without a recorded result",
                claimed.attempts - 1
            );
            return self.record_failure(&claimed, token, &error, true).await;
        }
        let event = match WebhookEvent::parse(&claimed.raw_body) {
            Ok(event) => event,
            Err(dodo_webhooks::ParseError::Json(e) | dodo_webhooks::ParseError::Envelope(e)) => {
                // A replayed unparseable delivery this version still cannot read.
                let error = describe_envelope_error(&e);
                let held = self
                    .inner
                    .store
                    .mark_unparseable(&claimed, token, &error)
                    .await?;
                return Ok(if held {
                    Step::Unparseable
                } else {
                    Step::LeaseLost
                });
            }
            Err(e) => {
                return self
                    .record_failure(&claimed, token, &describe_parse_error(&e), true)
                    .await;
            }
        };
        let event_at = to_micros(event.timestamp);
        let delivery = VerifiedDelivery {
            id: claimed.webhook_id.clone(),
            timestamp: OffsetDateTime::from_unix_timestamp(claimed.webhook_timestamp)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        };
        let tx = DeliveryTx::new(
            self.inner.store.database().clone(),
            claimed.webhook_id.clone(),
        );
        let outcome = match self.run_handlers(&tx, delivery, event).await {
            Ok(outcome) => outcome,
            Err(error) => {
                rollback(tx.take().await).await;
                return self.record_failure(&claimed, token, &error, true).await;
            }
        };
        match outcome.disposition {
            Disposition::Failed | Disposition::Rejected | Disposition::InProgress => {
                rollback(tx.take().await).await;
                self.record_failure(&claimed, token, &describe_failure(&outcome), true)
                    .await
            }
            _ => self.commit(&claimed, token, &tx, &outcome, event_at).await,
        }
    }

    /// Runs the hooks and handlers in their own task with the claim's [`DeliveryTx`] as
    /// current, bounded by the handler timeout; `Err` describes a timeout or a crash.
    async fn run_handlers(
        &self,
        tx: &DeliveryTx,
        delivery: VerifiedDelivery,
        event: WebhookEvent,
    ) -> Result<Outcome, String> {
        let inbox = self.clone();
        // Dropping this future (a stopped worker, a dropped request) cancels the handlers.
        let mut task =
            AbortOnDrop(tokio::spawn(tx.clone().scope(async move {
                inbox.inner.dispatcher.dispatch(delivery, event).await
            })));
        match tokio::time::timeout(self.inner.handler_timeout, &mut task.0).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(e)) => Err(format!(
                "handler_crashed: the handler task ended abnormally: {e}"
            )),
            Err(_) => {
                task.0.abort();
                tx.close_now();
                tracing::warn!(webhook_id = %tx.webhook_id(), timeout = ?self.inner.handler_timeout, "handlers timed out; the attempt is failed and its transaction rolled back");
                Err(format!(
                    "handler_timeout: the handlers did not finish within {:?}",
                    self.inner.handler_timeout
                ))
            }
        }
    }

    /// Commits the mark, the mirror's upserts and the handlers' transactional writes.
    async fn commit(
        &self,
        claimed: &Claimed,
        token: &str,
        tx: &DeliveryTx,
        outcome: &Outcome,
        event_at: i64,
    ) -> Result<Step, InboxError> {
        let writes = mirror_writes(claimed, event_at);
        let after_error = (!outcome.warnings.is_empty()).then(|| {
            outcome
                .warnings
                .iter()
                .map(|w| format!("{}: {}", w.code, w.detail))
                .collect::<Vec<_>>()
                .join("; ")
        });
        let done = Completion {
            id: claimed.id,
            webhook_id: claimed.webhook_id.clone(),
            event_type: claimed.event_type.clone(),
            token: token.to_owned(),
            disposition: outcome.disposition.as_str(),
            after_error,
            writes,
            drop_body: self.inner.drop_processed_bodies,
        };
        let state = tx.take().await;
        let handlers_wrote = !matches!(state, TxState::Idle);
        let store = &self.inner.store;
        let (done, mut result) = if handlers_wrote {
            let result = store.complete(state, &done).await;
            (done, result)
        } else {
            // Nothing of the handlers' to commit: share a transaction with other attempts.
            match self.inner.completer.submit(done).await {
                Ok(answer) => answer,
                Err(Some(done)) => {
                    let result = store.complete(TxState::Idle, &done).await;
                    (done, result)
                }
                Err(None) => return Err(InboxError::Database(sqlx::Error::WorkerCrashed)),
            }
        };
        let mut tries = 1;
        // Without writes of the handlers to lose, a transient failure is retried here,
        // so the handlers need not run again.
        while !handlers_wrote
            && tries < COMMIT_TRIES
            && matches!(&result, Err(e) if is_transient(e))
        {
            tokio::time::sleep(Duration::from_millis(50) * tries).await;
            tries += 1;
            result = store.complete(TxState::Idle, &done).await;
        }
        match result {
            Ok(true) => Ok(Step::Processed),
            Ok(false) => {
                tracing::warn!(webhook_id = %claimed.webhook_id, "this attempt lost its lease before committing: its writes were rolled back and its outcome discarded (another attempt owns the delivery)");
                Ok(Step::LeaseLost)
            }
            // The handlers' transactional writes rolled back: running them again is the
            // only way to make them, so a transient failure is retried like any other.
            Err(e) if is_transient(&e) => {
                let error = format!("commit_failed: committing the outcome failed: {e}");
                self.record_failure(claimed, token, &error, true).await
            }
            // A failure that will not go away: dead letter now, handlers not run again.
            Err(e) => {
                let error = format!(
                    "commit_failed: the outcome could not be committed; the handlers succeeded \
                     and were not run again: {e}"
                );
                self.record_failure(claimed, token, &error, false).await
            }
        }
    }

    /// Records a failed attempt: a retry if `retryable` and attempts remain, else a dead
    /// letter (and the `on_dead_letter` hook).
    async fn record_failure(
        &self,
        claimed: &Claimed,
        token: &str,
        error: &str,
        retryable: bool,
    ) -> Result<Step, InboxError> {
        let retry = &self.inner.retry;
        if retryable && retry.may_retry(claimed.attempts) {
            let after = duration_micros(retry.delay(claimed.attempts));
            tracing::warn!(webhook_id = %claimed.webhook_id, attempts = claimed.attempts, %error, "webhook delivery failed; retry scheduled");
            let held = self
                .inner
                .store
                .fail(claimed, token, error, Some(after))
                .await?;
            return Ok(if held {
                Step::Retrying
            } else {
                lease_lost(claimed);
                Step::LeaseLost
            });
        }
        tracing::error!(webhook_id = %claimed.webhook_id, attempts = claimed.attempts, %error, "webhook delivery dead-lettered");
        if !self.inner.store.fail(claimed, token, error, None).await? {
            lease_lost(claimed);
            return Ok(Step::LeaseLost);
        }
        if let Some(hook) = &self.inner.on_dead_letter {
            let dead = DeadLetter {
                webhook_id: claimed.webhook_id.clone(),
                event_type: claimed.event_type.clone(),
                attempts: claimed.attempts,
                error: error.to_owned(),
            };
            let hook = Arc::clone(hook);
            // Contain panics of the hook: the dead-lettering is already committed.
            let run = std::panic::AssertUnwindSafe(async move { hook(dead).await });
            if futures_util::FutureExt::catch_unwind(run).await.is_err() {
                tracing::error!(webhook_id = %claimed.webhook_id, "on_dead_letter hook panicked");
            }
        }
        Ok(Step::DeadLettered)
    }
}

fn lease_lost(claimed: &Claimed) {
    tracing::warn!(webhook_id = %claimed.webhook_id, "this attempt lost its lease: its outcome was not recorded (another attempt owns the delivery)");
}

/// Rolls back a transaction the handlers opened (nothing to do if they opened none).
async fn rollback(state: TxState) {
    let result = match state {
        TxState::Sqlite(tx) => tx.rollback().await,
        TxState::Postgres(tx) => tx.rollback().await,
        TxState::Idle | TxState::Closed => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "rolling back a failed attempt's transaction failed");
    }
}

/// Whether a database error may go away by itself (connection trouble, a serialization
/// conflict or deadlock, a busy database), as opposed to a refusal that will repeat.
fn is_transient(e: &InboxError) -> bool {
    let InboxError::Database(e) = e else {
        return false;
    };
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let code = pg.code();
                matches!(
                    code,
                    "40001" | "40P01" | "55P03" | "53300" | "57P01" | "57P02" | "57P03"
                ) || code.starts_with("08")
            } else {
                // SQLite (extended) result codes: BUSY and LOCKED.
                db.code()
                    .and_then(|c| c.parse::<i64>().ok())
                    .is_some_and(|n| matches!(n % 256, 5 | 6))
            }
        }
        _ => false,
    }
}

fn describe_failure(outcome: &Outcome) -> String {
    match &outcome.error {
        Some(e) if e.detail.is_empty() => format!("{}: {}", e.code, e.message),
        Some(e) => format!("{}: {}", e.code, e.detail),
        None => format!("dispatch ended as {}", outcome.disposition.as_str()),
    }
}

/// The mirror writes of a stored delivery (none if its body has no usable `data`).
fn mirror_writes(claimed: &Claimed, event_at: i64) -> Vec<ObjectWrite> {
    match serde_json::from_slice::<DataOnly>(&claimed.raw_body) {
        Ok(d) => objects_from_event(&claimed.event_type, event_at, &d.data),
        Err(_) => Vec::new(),
    }
}

/// Why a body is not an envelope, by category and position only (serde's messages quote
/// values from the payload, such as customer emails).
fn describe_envelope_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Data => "invalid_envelope: a field is missing or mistyped",
        serde_json::error::Category::Eof => "invalid_json: the body ends early",
        _ => "invalid_json: the body is not JSON",
    };
    format!(
        "{what} (line {}, column {}); expected business_id, type, timestamp, data",
        e.line(),
        e.column()
    )
}

/// The `type` of a body that is JSON with a string `type`, else empty (for listings).
fn loose_type(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct TypeOnly {
        #[serde(rename = "type")]
        event_type: String,
    }
    serde_json::from_slice::<TypeOnly>(body)
        .map(|t| t.event_type)
        .unwrap_or_default()
}

/// Inline mode could not finish the delivery now (another request holds it, or the store
/// failed): 503 so Dodo delivers again, instead of a 200 that would end its retries while
/// nothing has run.
fn in_progress(webhook_id: &str, event_type: &str) -> Receipt {
    not_done(
        503,
        "in_progress",
        "the delivery is stored but not processed yet; retry later",
        ReceiptKind::Stored,
        webhook_id,
        event_type,
    )
}

/// A non-2xx receipt for a stored delivery that inline processing did not finish.
fn not_done(
    status: u16,
    code: &'static str,
    message: &str,
    kind: ReceiptKind,
    webhook_id: &str,
    event_type: &str,
) -> Receipt {
    let mut r = Receipt::rejected(status, code, message, "");
    r.kind = kind;
    r.webhook_id = Some(webhook_id.to_owned());
    r.event_type = Some(event_type.to_owned());
    r
}

fn in_progress_like(stored: &Receipt) -> Receipt {
    in_progress(
        stored.webhook_id.as_deref().unwrap_or_default(),
        stored.event_type.as_deref().unwrap_or_default(),
    )
}

/// A parse failure for logs and the `last_error` column: the code and the field path, never
/// serde's message, which quotes values from the payload (customer emails, names).
fn describe_parse_error(e: &dodo_webhooks::ParseError) -> String {
    match e {
        dodo_webhooks::ParseError::Data {
            event_type, path, ..
        } => format!(
            "{}: `data` of a {event_type} event does not fit its model at `{path}`",
            e.code()
        ),
        other => format!(
            "{}: the stored body is not a webhook envelope",
            other.code()
        ),
    }
}
