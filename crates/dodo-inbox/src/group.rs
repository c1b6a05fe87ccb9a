//! Group commit: small writes from concurrent tasks share one transaction.
//!
//! A [`Grouper`] queues items submitted by many tasks; a few flusher tasks each take
//! whatever is queued (up to a maximum) and write it in one go, then answer every
//! submitter. Under load this turns N transactions (N commits, N fsyncs on SQLite) into a
//! few; when idle a lone item is written at once, so latency does not grow. The flush
//! function decides how a group is written and must answer every item (typically by
//! retrying them one by one when the group as a whole fails).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

type Queue<T, R> = mpsc::UnboundedReceiver<(T, oneshot::Sender<R>)>;

/// Submits items to be written in groups by background flusher tasks.
pub(crate) struct Grouper<T, R> {
    queue: mpsc::UnboundedSender<(T, oneshot::Sender<R>)>,
}

impl<T: Send + 'static, R: Send + 'static> Grouper<T, R> {
    /// Spawns `flushers` tasks on the current Tokio runtime, each writing up to `max`
    /// queued items at a time with `flush`, which returns one result per item, in order.
    /// The tasks end when the grouper is dropped.
    pub(crate) fn spawn<F, Fut>(flushers: usize, max: usize, flush: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (queue, rx) = mpsc::unbounded_channel();
        let rx: Arc<Mutex<Queue<T, R>>> = Arc::new(Mutex::new(rx));
        let flush = Arc::new(flush);
        for _ in 0..flushers.max(1) {
            let (rx, flush) = (Arc::clone(&rx), Arc::clone(&flush));
            tokio::spawn(async move {
                loop {
                    let group = {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else {
                            return;
                        };
                        let mut group = vec![first];
                        while group.len() < max {
                            match rx.try_recv() {
                                Ok(item) => group.push(item),
                                Err(_) => break,
                            }
                        }
                        group
                    };
                    let (items, replies): (Vec<T>, Vec<_>) = group.into_iter().unzip();
                    let results = flush(items).await;
                    for (result, reply) in results.into_iter().zip(replies) {
                        let _ = reply.send(result);
                    }
                }
            });
        }
        Self { queue }
    }

    /// Queues `item` and waits for its result; `Err(item)` back if the flushers are gone
    /// (their runtime shut down), so the caller can write it alone.
    pub(crate) async fn submit(&self, item: T) -> Result<R, Option<T>> {
        let (reply, result) = oneshot::channel();
        if let Err(mpsc::error::SendError((item, _))) = self.queue.send((item, reply)) {
            return Err(Some(item));
        }
        result.await.map_err(|_| None)
    }
}
