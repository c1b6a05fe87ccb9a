//! The inbox: verify and store on receipt, then dispatch from the stored row.
//!
//! [`Inbox::receive`] verifies the Standard Webhooks signature with the dispatcher's
//! verifier, reads the envelope, and commits the delivery (`webhook-id`, type, timestamps,
//! audited headers, raw body) before answering: 200 once committed (or for an id already
//! stored), 401 for a bad signature, 400 for a body that is not an envelope, 413 for an
//! oversized body, 500 if the database fails (Dodo then retries). In the default
//! [`Mode::Deferred`] a [`Worker`] processes stored rows; in [`Mode::Inline`] the request
//! also processes its own row before answering. Processing runs the dispatcher's hooks
//! and handlers on the stored body; success marks the row processed and upserts the
//! mirrored objects in one transaction; failure schedules a retry with backoff, and after
//! the last allowed attempt the row is dead-lettered and `on_dead_letter` runs.
//!
//! Guarantees: a `webhook-id` is stored once (unique constraint) and its row reaches
//! `processed` once. A handler runs once per delivery unless its worker crashes or loses
//! its lease (the lease is renewed while the handler runs) before the result is committed;
//! then it runs again after the lease expires, so handler side effects outside the inbox
//! database should themselves be idempotent (keyed by the `webhook-id`). The dispatcher's
//! `after` hooks run when the handlers succeeded, just before the result is committed.
//! A row whose attempts keep being abandoned (a handler that crashes the process) is
//! dead-lettered once it exceeds the retry policy's attempt limit.

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

use crate::clock::{Clock, SystemClock, duration_micros, to_micros};
use crate::db::Database;
use crate::error::InboxError;
use crate::mirror::{Mirror, ObjectWrite, objects_from_event};
use crate::receipt::{Receipt, ReceiptKind};
use crate::retry::RetryPolicy;
use crate::store::{Claimed, DeliveryStatus, NewDelivery, Store};
use crate::worker::Worker;

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

/// Default claim lease: 60 s (renewed while a handler runs).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// When stored deliveries are processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Answer 200 as soon as the delivery is committed; a [`Worker`] processes it. Keeps
    /// well inside Dodo's 15 s timeout whatever the handlers do.
    #[default]
    Deferred,
    /// Process the delivery within the request and answer from the result (500 on failure
    /// so Dodo retries as well). Simpler for small apps; a worker is still useful for
    /// scheduled retries.
    Inline,
}

/// A delivery that failed every allowed attempt.
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
}

struct Inner<S> {
    store: Store,
    dispatcher: Dispatcher<S>,
    mode: Mode,
    retry: RetryPolicy,
    lease: Duration,
    max_body_bytes: usize,
    on_dead_letter: Option<DeadLetterHook>,
    notify: Notify,
    inline_id: String,
    inline_seq: AtomicU64,
}

/// A durable webhook inbox over a [`Dispatcher`]. Cheap to clone (shared state).
///
/// ```no_run
/// # async fn demo() -> Result<(), dodo_inbox::InboxError> {
/// use dodo_webhooks::{Dispatcher, Verifier};
/// let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let dispatcher = Dispatcher::new(verifier, ()).on_payment_succeeded(|_ctx, p| async move {
///     println!("paid: {}", p.payment_id);
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
            .finish_non_exhaustive()
    }
}

/// Configures and opens an [`Inbox`].
pub struct InboxBuilder<S> {
    dispatcher: Dispatcher<S>,
    mode: Mode,
    retry: RetryPolicy,
    lease: Duration,
    max_body_bytes: usize,
    clock: Arc<dyn Clock>,
    on_dead_letter: Option<DeadLetterHook>,
    migrate: bool,
}

impl<S> fmt::Debug for InboxBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxBuilder")
            .field("mode", &self.mode)
            .field("retry", &self.retry)
            .field("lease", &self.lease)
            .field("max_body_bytes", &self.max_body_bytes)
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

    /// Sets how long a claim is held without renewal (default 60 s; renewed every third
    /// of it while the handler runs). A crashed worker's rows are processed again after it.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(1));
        self
    }

    /// Sets the maximum accepted body size (default 1 MiB; larger → 413).
    #[must_use]
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Replaces the clock used for leases, retry schedules and timestamps (tests). The
    /// signature tolerance uses the verifier's own clock.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
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
        Ok(Inbox {
            inner: Arc::new(Inner {
                store: Store::with_clock(db, self.clock),
                dispatcher: self.dispatcher,
                mode: self.mode,
                retry: self.retry,
                lease: self.lease,
                max_body_bytes: self.max_body_bytes,
                on_dead_letter: self.on_dead_letter,
                notify: Notify::new(),
                inline_id: format!("inline-{}", crate::worker::unique_suffix()),
                inline_seq: AtomicU64::new(0),
            }),
        })
    }
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

impl<S: Clone + Send + Sync + 'static> Inbox<S> {
    /// Starts configuring an inbox over `dispatcher`. Do not give the dispatcher its own
    /// idempotency guard: the inbox deduplicates by `webhook-id` itself.
    pub fn builder(dispatcher: Dispatcher<S>) -> InboxBuilder<S> {
        InboxBuilder {
            dispatcher,
            mode: Mode::default(),
            retry: RetryPolicy::default(),
            lease: DEFAULT_LEASE,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            clock: Arc::new(SystemClock),
            on_dead_letter: None,
            migrate: true,
        }
    }

    /// Stored deliveries (inspection, replay).
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

    /// A worker processing this inbox's stored deliveries.
    pub fn worker(&self) -> Worker<S> {
        Worker::new(self.clone())
    }

    /// Replays the stored delivery `webhook_id` (see [`Store::replay`]) and wakes a local
    /// worker.
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
        let new = match self.prepare(headers, body) {
            Ok(new) => new,
            Err(receipt) => return *receipt,
        };
        let inserted = match self.inner.store.insert(&new).await {
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

    async fn process_inline(&self, row_id: i64, stored: Receipt) -> Receipt {
        // One claim id per request, so two requests never share a claim.
        let seq = self.inner.inline_seq.fetch_add(1, Ordering::Relaxed);
        let worker = format!("{}-{seq}", self.inner.inline_id);
        let worker = worker.as_str();
        let claimed = match self
            .inner
            .store
            .claim(worker, self.lease_micros(), 1, Some(row_id))
            .await
        {
            Ok(mut rows) => match rows.pop() {
                Some(row) => row,
                None => return in_progress_like(&stored),
            },
            Err(e) => {
                tracing::warn!(error = %e, "inline claim failed; asking Dodo to retry");
                return in_progress_like(&stored);
            }
        };
        let (webhook_id, event_type) = (claimed.webhook_id.clone(), claimed.event_type.clone());
        match self.process_claimed(claimed, worker).await {
            Ok(Step::Processed) => Receipt::ok(ReceiptKind::Processed, &webhook_id, &event_type),
            Ok(Step::DeadLettered) => {
                Receipt::ok(ReceiptKind::DeadLettered, &webhook_id, &event_type)
            }
            Ok(Step::Retrying) => not_done(
                500,
                "handler_failed",
                "the webhook handler failed; the delivery is stored and will be retried",
                ReceiptKind::Failed,
                &webhook_id,
                &event_type,
            ),
            Ok(Step::LeaseLost) | Err(_) => in_progress(&webhook_id, &event_type),
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
        let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
            let code = match e.classify() {
                serde_json::error::Category::Data => "invalid_envelope",
                _ => "invalid_json",
            };
            let mut r = Receipt::rejected(
                400,
                code,
                "the request body is not a webhook envelope (business_id, type, timestamp, data)",
                e.to_string(),
            );
            r.webhook_id = Some(delivery.id.clone());
            Box::new(r)
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
        Ok(NewDelivery {
            webhook_id: delivery.id,
            event_type: envelope.event_type,
            business_id: envelope.business_id,
            event_timestamp: to_micros(envelope.timestamp),
            webhook_timestamp: delivery.timestamp.unix_timestamp(),
            headers: Value::Object(audited).to_string(),
            raw_body: body.to_vec(),
        })
    }

    /// Runs the dispatcher on a claimed row and records the result.
    pub(crate) async fn process_claimed(
        &self,
        claimed: Claimed,
        worker: &str,
    ) -> Result<Step, InboxError> {
        if claimed.attempts > i64::from(self.inner.retry.max_attempts.max(1)) {
            // Earlier attempts were abandoned (their workers crashed or lost the lease):
            // a handler that takes the process down must not loop forever.
            let error = format!(
                "abandoned: {} attempts started without a recorded result",
                claimed.attempts - 1
            );
            return self.record_failure(&claimed, worker, &error).await;
        }
        let result = match WebhookEvent::parse(&claimed.raw_body) {
            Err(e) => Err(describe_parse_error(&e)),
            Ok(event) => {
                let event_at = to_micros(event.timestamp);
                let delivery = VerifiedDelivery {
                    id: claimed.webhook_id.clone(),
                    timestamp: OffsetDateTime::from_unix_timestamp(claimed.webhook_timestamp)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                };
                let outcome = self
                    .dispatch_leased(&claimed, worker, delivery, event)
                    .await;
                match outcome.disposition {
                    Disposition::Failed | Disposition::Rejected | Disposition::InProgress => {
                        Err(describe_failure(&outcome))
                    }
                    _ => Ok((outcome, event_at)),
                }
            }
        };
        match result {
            Ok((outcome, event_at)) => {
                let writes = mirror_writes(&claimed, event_at);
                let after_error = (!outcome.warnings.is_empty()).then(|| {
                    outcome
                        .warnings
                        .iter()
                        .map(|w| format!("{}: {}", w.code, w.detail))
                        .collect::<Vec<_>>()
                        .join("; ")
                });
                let done = self
                    .inner
                    .store
                    .complete(
                        &claimed,
                        worker,
                        outcome.disposition.as_str(),
                        after_error.as_deref(),
                        &writes,
                    )
                    .await;
                match done {
                    Ok(true) => Ok(Step::Processed),
                    Ok(false) => Ok(Step::LeaseLost),
                    // For example an object the database refuses: retry, then dead-letter,
                    // rather than leaving the row to be reclaimed forever.
                    Err(e) => {
                        let error = format!("recording the result failed: {e}");
                        self.record_failure(&claimed, worker, &error).await
                    }
                }
            }
            Err(error) => self.record_failure(&claimed, worker, &error).await,
        }
    }

    async fn record_failure(
        &self,
        claimed: &Claimed,
        worker: &str,
        error: &str,
    ) -> Result<Step, InboxError> {
        let retry = &self.inner.retry;
        if retry.may_retry(claimed.attempts) {
            let at = self
                .inner
                .store
                .now()
                .saturating_add(duration_micros(retry.delay(claimed.attempts)));
            tracing::warn!(webhook_id = %claimed.webhook_id, attempts = claimed.attempts, %error, "webhook delivery failed; retry scheduled");
            let held = self
                .inner
                .store
                .fail(claimed, worker, error, Some(at))
                .await?;
            return Ok(if held {
                Step::Retrying
            } else {
                Step::LeaseLost
            });
        }
        tracing::error!(webhook_id = %claimed.webhook_id, attempts = claimed.attempts, %error, "webhook delivery dead-lettered");
        if !self.inner.store.fail(claimed, worker, error, None).await? {
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

    /// Dispatches while renewing the lease every third of its length.
    async fn dispatch_leased(
        &self,
        claimed: &Claimed,
        worker: &str,
        delivery: VerifiedDelivery,
        event: WebhookEvent,
    ) -> Outcome {
        let dispatch = self.inner.dispatcher.dispatch(delivery, event);
        let mut dispatch = std::pin::pin!(dispatch);
        let period = (self.inner.lease / 3).max(Duration::from_millis(10));
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                outcome = &mut dispatch => return outcome,
                _ = renew.tick() => {
                    match self.inner.store.extend_lease(claimed.id, worker, self.lease_micros()).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(webhook_id = %claimed.webhook_id, "lease lost while the handler runs"),
                        Err(e) => tracing::warn!(webhook_id = %claimed.webhook_id, error = %e, "renewing the lease failed"),
                    }
                }
            }
        }
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
