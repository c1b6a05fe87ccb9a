//! The state one running emulator shares between its routes: the store (with its clock), the
//! operation table and handlers, faults, keys, the request log, the live feeds and the page
//! templates. Every piece of mutable state lives here, per instance; nothing is global.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::faults::Faults;
use crate::ops::OperationTable;
use crate::resources::{Env, Registry};
use crate::store::Store;
use crate::validate::BodyValidator;

/// Shared state of a running emulator.
pub struct AppState {
    /// The object store.
    pub store: Store,
    /// Routes of the API.
    pub table: OperationTable,
    /// Domain handlers.
    pub registry: Registry,
    /// Body validator.
    pub validator: Box<dyn BodyValidator>,
    /// Fault rules.
    pub faults: Faults,
    /// Accepted API key.
    pub api_key: String,
    /// Emulator-wide webhook secret.
    pub webhook_secret: String,
    /// Facts for handlers.
    pub env: Env,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Idempotency keys of requests in progress.
    pub(crate) inflight: Mutex<HashSet<String>>,
    /// The log of answered requests.
    pub request_log: Arc<crate::request_log::RequestLog>,
    /// Finished delivery attempts (each the delivery's detail JSON), for SSE streams.
    pub delivery_feed: tokio::sync::broadcast::Sender<Value>,
    /// Set when the emulator shuts down (ends SSE streams).
    pub closing: crate::live::Closing,
    /// Finished deliveries (and delivered events) kept before the oldest are pruned.
    pub max_deliveries: usize,
    /// The page templates.
    pub pages: crate::pages::Pages,
}

impl AppState {
    /// Assembles the state.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        table: OperationTable,
        registry: Registry,
        validator: Box<dyn BodyValidator>,
        api_key: String,
        webhook_secret: String,
        env: Env,
        max_body_bytes: usize,
        request_log_capacity: usize,
    ) -> Self {
        let closing = crate::live::Closing::default();
        let request_log = Arc::new(crate::request_log::RequestLog::new(
            request_log_capacity,
            store.clock().clone(),
            closing.subscribe(),
        ));
        Self {
            store,
            table,
            registry,
            validator,
            faults: Faults::default(),
            api_key,
            webhook_secret,
            env,
            max_body_bytes,
            inflight: Mutex::new(HashSet::new()),
            request_log,
            delivery_feed: crate::live::feed(),
            closing,
            max_deliveries: crate::config::DEFAULT_MAX_DELIVERIES,
            pages: crate::pages::Pages::new(),
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("env", &self.env)
            .field("api_key", &"<redacted>")
            .field("webhook_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}
