//! Configuration of an emulator instance.
//!
//! [`EmulatorConfig::default`] gives what tests want: in memory, on `127.0.0.1` port 0, with
//! the default test key. The CLI sets a port, a database file and a key. Secrets are redacted
//! from `Debug`.

use std::net::{IpAddr, Ipv4Addr};

use crate::ops::{Operation, spec_operations};
pub use crate::resources::payout_cycles::{MIN_PAYOUT_THRESHOLD, PayoutCycle};
use crate::store::Storage;

/// The API key accepted when none is configured.
pub const DEFAULT_API_KEY: &str = "dodo_test_emulator_key";

/// The business id stamped on every object when none is configured.
pub const DEFAULT_BUSINESS_ID: &str = "bus_emulator0000000000000";

/// Answered requests the request log keeps by default.
pub const DEFAULT_REQUEST_LOG_CAPACITY: usize = 1_000;

/// Finished webhook deliveries kept by default before the oldest are pruned.
pub const DEFAULT_MAX_DELIVERIES: usize = 10_000;

/// Settings of one emulator instance.
#[derive(Clone)]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// Address to bind (default `127.0.0.1`).
    pub host: IpAddr,
    /// Port to bind (default 0: any free port).
    pub port: u16,
    /// Database location (default in memory).
    pub storage: Storage,
    /// The accepted bearer key (default [`DEFAULT_API_KEY`]).
    pub api_key: String,
    /// Emulator-wide webhook signing secret; `None` generates one (`whsec_...`), persisted in
    /// the database so a file-backed emulator keeps it across restarts.
    pub webhook_secret: Option<String>,
    /// Business id of the emulated merchant.
    pub business_id: String,
    /// The operation table to route (default: the spec's operations).
    pub operations: &'static [Operation],
    /// Largest accepted request body in bytes (larger bodies get 413).
    pub max_body_bytes: usize,
    /// How many answered requests the request log keeps (default 1,000; see
    /// the request log).
    pub request_log_capacity: usize,
    /// Finished webhook deliveries (with their attempts and events) kept before the oldest
    /// are pruned (default [`DEFAULT_MAX_DELIVERIES`]).
    pub max_deliveries: usize,
    /// Whether a POST/PATCH/PUT/DELETE carrying an `Idempotency-Key` header is replayed from
    /// the first answer (default `false`: the header is ignored, as by the live API, which
    /// documents no such header). Turn it on only together with the client's
    /// `server_honours_idempotency_key(true)`; code that passes with it on may still
    /// duplicate money operations against the live API.
    pub replay_idempotency_key: bool,
    /// When the platform pays the merchant out as the clock moves (default
    /// [`PayoutCycle::BiMonthly`], the live default; [`PayoutCycle::Off`] leaves payouts to
    /// the `payout.*` triggers). See [`crate::resources::payout_cycles`].
    pub payout_cycle: PayoutCycle,
    /// The smallest net, in USD minor units, a billing period pays out; less carries forward
    /// (default and minimum [`MIN_PAYOUT_THRESHOLD`], $100, as the live API; a smaller value
    /// makes [`crate::Emulator::start`] fail).
    pub payout_threshold: i64,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            storage: Storage::Memory,
            api_key: DEFAULT_API_KEY.to_string(),
            webhook_secret: None,
            business_id: DEFAULT_BUSINESS_ID.to_string(),
            operations: spec_operations(),
            max_body_bytes: 5 * 1024 * 1024,
            request_log_capacity: DEFAULT_REQUEST_LOG_CAPACITY,
            max_deliveries: DEFAULT_MAX_DELIVERIES,
            replay_idempotency_key: false,
            payout_cycle: PayoutCycle::default(),
            payout_threshold: MIN_PAYOUT_THRESHOLD,
        }
    }
}

impl EmulatorConfig {
    /// Sets the port (0 picks a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets where the database lives.
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// Sets the accepted API key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// Sets the webhook signing secret.
    pub fn webhook_secret(mut self, secret: impl Into<String>) -> Self {
        self.webhook_secret = Some(secret.into());
        self
    }

    /// Replays requests by their `Idempotency-Key` header (see
    /// [`replay_idempotency_key`](Self::replay_idempotency_key); off by default, like the
    /// live API).
    pub fn replay_idempotency_key(mut self, replay: bool) -> Self {
        self.replay_idempotency_key = replay;
        self
    }

    /// Sets the payout cycle (see [`payout_cycle`](Self::payout_cycle)).
    pub fn payout_cycle(mut self, cycle: PayoutCycle) -> Self {
        self.payout_cycle = cycle;
        self
    }

    /// Sets the payout threshold in USD minor units (at least [`MIN_PAYOUT_THRESHOLD`]; see
    /// [`payout_threshold`](Self::payout_threshold)).
    pub fn payout_threshold(mut self, minor_units: i64) -> Self {
        self.payout_threshold = minor_units;
        self
    }

    /// Sets how many answered requests the request log keeps.
    pub fn request_log_capacity(mut self, capacity: usize) -> Self {
        self.request_log_capacity = capacity;
        self
    }

    /// Sets how many finished webhook deliveries are kept before the oldest are pruned.
    pub fn max_deliveries(mut self, max: usize) -> Self {
        self.max_deliveries = max;
        self
    }

    /// Sets the bind address.
    pub fn host(mut self, host: IpAddr) -> Self {
        self.host = host;
        self
    }
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("storage", &self.storage)
            .field("api_key", &"<redacted>")
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("business_id", &self.business_id)
            .field("operations", &self.operations.len())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("replay_idempotency_key", &self.replay_idempotency_key)
            .field("request_log_capacity", &self.request_log_capacity)
            .field("max_deliveries", &self.max_deliveries)
            .field("payout_cycle", &self.payout_cycle)
            .field("payout_threshold", &self.payout_threshold)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let c = EmulatorConfig::default()
            .api_key("sk_secret_value")
            .webhook_secret("whsec_topsecret");
        let s = format!("{c:?}");
        assert!(!s.contains("sk_secret_value"));
        assert!(!s.contains("topsecret"));
        assert!(s.contains("<redacted>"));
    }
}
