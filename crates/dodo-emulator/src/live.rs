//! Live feeds for the admin API: Server-Sent Event streams fed by tokio broadcast channels.
//!
//! Producers (the delivery task, the request log) publish finished items to a
//! [`tokio::sync::broadcast`] channel; every `.../stream` route subscribes and forwards the
//! items that pass its filter as SSE `data:` lines, with no polling. A subscriber that falls
//! behind skips what it missed (the channel is bounded) rather than slowing producers; the
//! stream ends when the emulator shuts down, so open streams never hold shutdown up.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::{broadcast, watch};

/// Items buffered per subscriber before a slow one starts skipping.
pub const FEED_CAPACITY: usize = 1_024;

/// The emulator's shutdown signal, observed by long-lived responses (SSE streams).
#[derive(Debug)]
pub struct Closing {
    tx: watch::Sender<bool>,
}

impl Default for Closing {
    fn default() -> Self {
        Self {
            tx: watch::channel(false).0,
        }
    }
}

impl Closing {
    /// Signals every open stream to end.
    pub fn close(&self) {
        self.tx.send_replace(true);
    }

    /// A receiver that resolves `changed()` when the emulator closes.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }
}

/// A new broadcast channel of [`FEED_CAPACITY`] (the receiver is dropped: subscribers come
/// from `Sender::subscribe`).
pub fn feed<T: Clone>() -> broadcast::Sender<T> {
    broadcast::channel(FEED_CAPACITY).0
}

/// An SSE response forwarding every item of `rx` that `render` turns into a JSON value, until
/// the emulator closes. Each event's `data:` is that JSON.
pub fn sse<T, F>(
    rx: broadcast::Receiver<T>,
    closing: watch::Receiver<bool>,
    render: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    T: Clone + Send + 'static,
    F: Fn(&T) -> Option<serde_json::Value> + Send + 'static,
{
    let stream = futures_util::stream::unfold(
        (rx, closing, render),
        |(mut rx, mut closing, render)| async move {
            loop {
                if *closing.borrow() {
                    return None;
                }
                let item = tokio::select! {
                    item = rx.recv() => item,
                    _ = closing.changed() => return None,
                };
                match item {
                    Ok(item) => {
                        if let Some(v) = render(&item) {
                            let event = Event::default().data(v.to_string());
                            return Some((Ok(event), (rx, closing, render)));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
