//! Workers: claim stored deliveries and process them.
//!
//! A [`Worker`] repeatedly claims a batch of due rows (new, retry due, or abandoned by a
//! crashed worker whose lease expired) under a fresh fencing token, processes the batch
//! concurrently, and records each result; while busy it claims the next batch as the current
//! one is processed, so the claim's round trip does not stall it. Any number of workers, in one process or in
//! several processes on one PostgreSQL database, can run at once: a row is claimed by one
//! worker at a time. [`Worker::process_available`] drains what is due now (tests,
//! cron-style use); [`Worker::run_until`] and [`Worker::spawn`] keep going, woken at once
//! by new deliveries of the same process and, on PostgreSQL, of every process
//! (`LISTEN`/`NOTIFY`), with a poll interval as the fallback; they also prune processed
//! deliveries past the inbox's retention, and stop gracefully (the current batch finishes).
//! This module also adds [`Inbox::worker`].

use std::future::Future;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use sqlx::postgres::PgListener;

use crate::db::Pool;
use crate::error::InboxError;
use crate::inbox::{Inbox, LeaseRenewal, Step, new_token, unique_suffix};
use crate::store::Claimed;
use crate::store::READY_CHANNEL;

/// Counts of what a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Rows processed successfully.
    pub processed: u64,
    /// Failed attempts with a retry scheduled.
    pub retried: u64,
    /// Rows dead-lettered.
    pub dead_lettered: u64,
    /// Results discarded because another worker took the row over (lease expired).
    pub lease_lost: u64,
    /// Attempts whose result could not be recorded (database errors).
    pub errors: u64,
    /// Replayed deliveries whose body still is not a webhook envelope.
    pub unparseable: u64,
}

impl WorkerStats {
    fn add(&mut self, other: WorkerStats) {
        self.processed += other.processed;
        self.retried += other.retried;
        self.dead_lettered += other.dead_lettered;
        self.lease_lost += other.lease_lost;
        self.errors += other.errors;
        self.unparseable += other.unparseable;
    }
}

/// Processes an inbox's stored deliveries.
///
/// A clone is a new worker with its own id: finishing a row is guarded by `claimed_by`,
/// so two live workers must never share an id.
#[derive(Debug)]
pub struct Worker<S = ()> {
    inbox: Inbox<S>,
    id: String,
    batch_size: usize,
    poll_interval: Duration,
}

impl<S: Clone> Clone for Worker<S> {
    fn clone(&self) -> Self {
        Self {
            inbox: self.inbox.clone(),
            id: format!("{}-clone-{}", self.id, unique_suffix()),
            batch_size: self.batch_size,
            poll_interval: self.poll_interval,
        }
    }
}

/// Rows claimed under one fencing token, their leases renewed until this is dropped.
struct Claim {
    token: String,
    rows: Vec<Claimed>,
    _renewal: LeaseRenewal,
}

/// How often a running worker deletes processed deliveries past the retention.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Rows deleted per pruning statement.
const PRUNE_BATCH: u32 = 5_000;

impl<S: Clone + Send + Sync + 'static> Inbox<S> {
    /// A worker processing this inbox's stored deliveries.
    pub fn worker(&self) -> Worker<S> {
        Worker::new(self.clone())
    }
}

impl<S: Clone + Send + Sync + 'static> Worker<S> {
    /// A worker with a unique id, batches of 16 and a 1 s poll interval (the fallback when
    /// no notification arrives).
    pub fn new(inbox: Inbox<S>) -> Self {
        Self {
            inbox,
            id: format!("worker-{}", unique_suffix()),
            batch_size: 16,
            poll_interval: Duration::from_secs(1),
        }
    }

    /// Sets the worker id recorded in `claimed_by` (must be unique among live workers).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets how many rows are claimed and processed concurrently per batch (at least 1).
    #[must_use]
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Sets how long an idle worker waits before looking for due rows again (new
    /// deliveries wake it at once: those of the same process always, those of other
    /// processes on PostgreSQL through `LISTEN`/`NOTIFY`).
    #[must_use]
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every;
        self
    }

    /// The worker id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Claims and processes one batch; `Ok(None)` if nothing was due.
    async fn batch(&self) -> Result<Option<WorkerStats>, InboxError> {
        Ok(match self.claim().await? {
            Some(claim) => Some(self.process(claim).await),
            None => None,
        })
    }

    /// Claims up to a batch of due rows under a fresh fencing token and starts renewing
    /// their leases; `Ok(None)` if nothing was due.
    async fn claim(&self) -> Result<Option<Claim>, InboxError> {
        let limit = i64::try_from(self.batch_size).unwrap_or(i64::MAX);
        let token = new_token();
        let rows = self
            .inbox
            .store()
            .claim(&self.id, &token, self.inbox.lease_micros(), limit, None)
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let renewal = self.inbox.keep_leases(&token);
        Ok(Some(Claim {
            token,
            rows,
            _renewal: renewal,
        }))
    }

    /// Processes a claim's rows concurrently and counts the results.
    async fn process(&self, claim: Claim) -> WorkerStats {
        let results = self.inbox.process_rows(claim.rows, &claim.token).await;
        let mut stats = WorkerStats::default();
        for result in results {
            match result {
                Ok(Step::Processed) => stats.processed += 1,
                Ok(Step::Retrying) => stats.retried += 1,
                Ok(Step::DeadLettered) => stats.dead_lettered += 1,
                Ok(Step::LeaseLost) => stats.lease_lost += 1,
                Ok(Step::Unparseable) => stats.unparseable += 1,
                Err(e) => {
                    tracing::error!(worker = %self.id, error = %e, "recording a delivery result failed");
                    stats.errors += 1;
                }
            }
        }
        stats
    }

    /// Processes batches until nothing is due (retries scheduled for later are left).
    pub async fn process_available(&self) -> Result<WorkerStats, InboxError> {
        let mut total = WorkerStats::default();
        while let Some(stats) = self.batch().await? {
            total.add(stats);
        }
        Ok(total)
    }

    /// Processes deliveries until `shutdown` completes; the batch in progress, and the next
    /// one if it was already claimed (a busy worker claims its next batch while processing
    /// the current one), then finish before returning. Database errors are logged and retried after the poll
    /// interval. Every minute, processed deliveries past the inbox's retention are deleted.
    pub async fn run_until<F: Future<Output = ()>>(&self, shutdown: F) -> WorkerStats {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut total = WorkerStats::default();
        let mut listener = self.listen().await;
        let mut last_prune: Option<tokio::time::Instant> = None;
        // The next batch, claimed while the current one was processed.
        let mut next: Option<Claim> = None;
        loop {
            if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                self.prune().await;
                last_prune = Some(tokio::time::Instant::now());
            }
            let claimed = match next.take() {
                Some(claim) => Ok(Some(claim)),
                None => self.claim().await,
            };
            let idle = match claimed {
                Ok(Some(claim)) => {
                    // Under load, the next claim's round trip overlaps this batch's
                    // handlers instead of following them; its leases are renewed meanwhile.
                    let (stats, prefetched) = tokio::join!(self.process(claim), self.claim());
                    total.add(stats);
                    next = prefetched.unwrap_or_else(|e| {
                        tracing::error!(worker = %self.id, error = %e, "claiming deliveries failed");
                        None
                    });
                    false
                }
                Ok(None) => true,
                Err(e) => {
                    tracing::error!(worker = %self.id, error = %e, "claiming deliveries failed");
                    true
                }
            };
            if shutdown.as_mut().now_or_never().is_some() {
                // Rows already claimed are processed rather than left to their lease.
                if let Some(claim) = next.take() {
                    total.add(self.process(claim).await);
                }
                return total;
            }
            if idle {
                if listener.is_none() {
                    listener = self.listen().await;
                }
                tokio::select! {
                    () = shutdown.as_mut() => return total,
                    () = self.inbox.notified() => {}
                    () = notification(&mut listener) => {}
                    () = tokio::time::sleep(self.poll_interval) => {}
                }
                // One claim serves every notification that arrived meanwhile.
                if let Some(l) = listener.as_mut() {
                    while l.next_buffered().is_some() {}
                }
            }
        }
    }

    /// A PostgreSQL listener on the ready channel (`None` on SQLite, or if it cannot be
    /// opened: polling then covers until the next try).
    async fn listen(&self) -> Option<PgListener> {
        let Pool::Postgres(pool) = &self.inbox.store().database().pool else {
            return None;
        };
        let mut listener = match PgListener::connect_with(pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(worker = %self.id, error = %e, "LISTEN connection failed; polling");
                return None;
            }
        };
        match listener.listen(READY_CHANNEL).await {
            Ok(()) => Some(listener),
            Err(e) => {
                tracing::warn!(worker = %self.id, error = %e, "LISTEN failed; polling");
                None
            }
        }
    }

    /// Deletes processed deliveries past the retention (errors are logged).
    async fn prune(&self) {
        let Some(retention) = self.inbox.retention() else {
            return;
        };
        match self
            .inbox
            .store()
            .prune_processed(retention, PRUNE_BATCH)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(worker = %self.id, deleted = n, "pruned processed deliveries"),
            Err(e) => {
                tracing::warn!(worker = %self.id, error = %e, "pruning processed deliveries failed")
            }
        }
    }

    /// Runs the worker on the current Tokio runtime until [`WorkerHandle::stop`].
    pub fn spawn(self) -> WorkerHandle {
        let (stop, stopped) = oneshot::channel::<()>();
        let join = tokio::spawn(async move {
            self.run_until(async move {
                // A dropped handle also stops the worker.
                let _ = stopped.await;
            })
            .await
        });
        WorkerHandle { stop, join }
    }
}

/// Waits for a notification on `listener`; never completes without one. A broken
/// listener is dropped (polling covers until it is opened again).
async fn notification(listener: &mut Option<PgListener>) {
    match listener {
        Some(l) => {
            if let Err(e) = l.recv().await {
                tracing::warn!(error = %e, "LISTEN connection lost; polling");
                *listener = None;
            }
        }
        None => std::future::pending().await,
    }
}

/// A running worker; [`stop`](Self::stop) ends it gracefully. Dropping the handle also
/// stops it (after the current batch) without waiting.
#[derive(Debug)]
pub struct WorkerHandle {
    stop: oneshot::Sender<()>,
    join: JoinHandle<WorkerStats>,
}

impl WorkerHandle {
    /// Asks the worker to stop, waits for its current batch, and returns its counts.
    pub async fn stop(self) -> WorkerStats {
        let _ = self.stop.send(());
        self.join.await.unwrap_or_default()
    }
}

#[cfg(test)]
mod clone_tests {
    use dodo_webhooks::{Dispatcher, Verifier};

    #[tokio::test]
    async fn a_cloned_worker_claims_under_its_own_id() {
        let verifier = Verifier::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let inbox = crate::Inbox::builder(Dispatcher::new(verifier, ()))
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let worker = inbox.worker();
        let clone = worker.clone();
        assert_ne!(worker.id(), clone.id());
        assert!(clone.id().starts_with(worker.id()));
    }
}
