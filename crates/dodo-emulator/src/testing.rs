//! A test harness over a running emulator: a configured API client, a typed admin handle and a
//! verifying webhook receiver.
//!
//! [`TestEmulator::start`] starts an in-memory emulator on `127.0.0.1` port 0 (each has its own
//! state and clock, so tests run in parallel). [`TestEmulator::client`] is a
//! [`dodo_client::Client`] pointed at it. [`TestEmulator::admin`] (or [`Admin::connect`] /
//! [`Admin::with_http_client`] for an emulator in another process) drives the admin API: move
//! the clock, pay a checkout session or payment link with a test card without a browser, make a
//! subscription's renewals fail, trigger any of the 48 webhook events, inject, list and clear
//! faults, register and remove endpoints, set the retry schedule, list deliveries, replay one
//! and wait for one of a type or endpoint, read recorded events (with the exact delivery body),
//! seed objects, reset, and read the email outbox ([`Admin::emails`]). The `dodo-dev` CLI and
//! the crate's own tests use this same handle. [`WebhookReceiver`] listens on port 0, verifies
//! every delivery with the emulator's secret (over the raw bytes, as a real app must) and lets
//! a test await the typed events. Failures are [`HarnessError`]s, never panics
//! inside the harness, and every wait has a timeout ([`DEFAULT_WAIT`] unless given).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use dodo_emulator::testing::TestEmulator;
//! use dodo_webhooks::EventType;
//! let emu = TestEmulator::start().await?;
//! let mut hooks = emu.webhook_receiver().await?;
//! let triggered = emu.admin().trigger("payment.succeeded").await?;
//! let event = hooks.next_of(EventType::PaymentSucceeded).await?;
//! assert_eq!(event.event_type(), EventType::PaymentSucceeded);
//! # let _ = triggered; Ok(()) }
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use dodo_webhooks::{EventType, Verifier, WebhookEvent};
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::config::EmulatorConfig;
use crate::faults::FaultSpec;
use crate::purchase::TestCard;
use crate::server::{Emulator, StartError};

/// How long waits last when no timeout is given.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// Why a harness operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The emulator did not start.
    #[error("cannot start the emulator: {0}")]
    Start(#[from] StartError),
    /// An admin request could not be sent or read.
    #[error("admin request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The admin API answered an error.
    #[error("{method} {path} answered {status} {code}: {message}")]
    Api {
        /// Method of the call.
        method: String,
        /// Path of the call.
        path: String,
        /// HTTP status.
        status: u16,
        /// Error code.
        code: String,
        /// Error message.
        message: String,
    },
    /// An answer did not have the expected shape.
    #[error("unexpected answer from {path}: {message}")]
    Decode {
        /// Path of the call.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A wait ran out.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
    /// The webhook receiver could not listen.
    #[error("cannot start the webhook receiver: {0}")]
    Io(#[from] std::io::Error),
    /// The webhook receiver stopped.
    #[error("the webhook receiver stopped")]
    ReceiverClosed,
}

/// An emulator started for a test, with its client, admin handle and receivers.
///
/// Dropping it stops the emulator.
#[derive(Debug)]
pub struct TestEmulator {
    emu: Emulator,
    admin: Admin,
}

impl TestEmulator {
    /// Starts an in-memory emulator on `127.0.0.1`, port 0.
    pub async fn start() -> Result<Self, HarnessError> {
        Self::with_config(EmulatorConfig::default()).await
    }

    /// Starts an emulator with `config`.
    pub async fn with_config(config: EmulatorConfig) -> Result<Self, HarnessError> {
        let emu = Emulator::start(config).await?;
        let admin = Admin::connect(emu.base_url(), emu.api_key())?;
        Ok(Self { emu, admin })
    }

    /// The running emulator (base URL, key, secret).
    pub fn emulator(&self) -> &Emulator {
        &self.emu
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        self.emu.base_url()
    }

    /// The API key.
    pub fn api_key(&self) -> &str {
        self.emu.api_key()
    }

    /// The emulator-wide webhook signing secret.
    pub fn webhook_secret(&self) -> &str {
        self.emu.webhook_secret()
    }

    /// A [`dodo_client::Client`] pointed at this emulator with its key.
    ///
    /// # Panics
    ///
    /// When the HTTP client cannot be built at all (the same condition that makes
    /// `reqwest::Client::new` panic); never because of test input.
    pub fn client(&self) -> dodo_client::Client {
        match dodo_client::Client::builder()
            .api_key(self.emu.api_key())
            .base_url(self.emu.base_url())
            .build()
        {
            Ok(c) => c,
            Err(e) => panic!("cannot build a client for the emulator: {e}"),
        }
    }

    /// The admin handle.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// Starts a [`WebhookReceiver`] and registers it for every event type.
    pub async fn webhook_receiver(&self) -> Result<WebhookReceiver, HarnessError> {
        WebhookReceiver::start(self, &[]).await
    }

    /// Stops the emulator and waits until it is gone.
    pub async fn shutdown(self) {
        self.emu.shutdown().await;
    }
}

/// The outcome of paying with a test card.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Paid {
    /// The payment.
    pub payment_id: String,
    /// The subscription it started, if any.
    pub subscription_id: Option<String>,
    /// The payment's status right after paying (`succeeded`, `failed`, `processing`).
    pub status: String,
}

/// What a trigger created and emitted.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Triggered {
    /// The triggered type.
    pub event_type: String,
    /// Objects created on the way, by role (`payment_id`, `subscription_id`, ...).
    pub objects: Map<String, Value>,
    /// The events emitted, in order.
    pub events: Vec<EmittedEvent>,
}

/// One emitted event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct EmittedEvent {
    /// The event id (the `webhook-id` of its deliveries).
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub event_type: String,
}

/// The clock after a move.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct ClockState {
    /// The emulator's current time (RFC 3339).
    pub now: String,
    /// How far it runs ahead of real time, in seconds.
    pub offset_seconds: i64,
    /// What the move processed (renewed, on hold, cancelled, expired ids), when it moved.
    #[serde(default)]
    pub processed: Value,
}

/// One webhook delivery (an event to an endpoint) and its attempts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Delivery {
    /// Delivery id (`dlv_...`).
    pub id: String,
    /// The event id.
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// The endpoint id.
    pub endpoint_id: String,
    /// The endpoint URL.
    pub url: String,
    /// `pending`, `sending`, `succeeded` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the delivery was created.
    pub created_at: String,
    /// The signed envelope (detail answers only).
    #[serde(default)]
    pub payload: Option<Value>,
    /// The attempts (detail answers only).
    #[serde(default)]
    pub attempt_log: Vec<Value>,
}

impl Delivery {
    /// Whether the delivery reached a final state.
    pub fn is_finished(&self) -> bool {
        self.status == "succeeded" || self.status == "failed"
    }
}

/// One email of the emulator's outbox (recorded, never sent): what the customer would have
/// received. Read with [`Admin::emails`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Email {
    /// Its id (`eml_...`; the `email_log_id` of `GET /customers/{id}/emails`).
    pub email_log_id: String,
    /// The customer it went to.
    pub customer_id: String,
    /// The recipient address.
    pub recipient: String,
    /// The sender address.
    pub from: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// The link it carries (the portal's magic link), if any.
    pub link: Option<String>,
    /// What kind of email (`customer_portal_link`, ...).
    pub email_type: String,
    /// Its group (`auth`, `payments`, ...).
    pub category: String,
    /// When it was sent (RFC 3339, emulator clock).
    pub created_at: String,
}

/// One recorded event (`GET /_emulator/events`): the envelope its deliveries carry, with
/// its id.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct RecordedEvent {
    /// The event id (the `webhook-id` of its deliveries).
    pub id: String,
    /// The business the event belongs to.
    pub business_id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it happened (RFC 3339, emulator clock).
    pub timestamp: String,
    /// The object it is about.
    pub data: Value,
}

impl RecordedEvent {
    /// The body a delivery of this event carries (the envelope without the id), as JSON text:
    /// what a webhook receiver verifies and parses.
    pub fn body(&self) -> String {
        json!({
            "business_id": self.business_id,
            "type": self.event_type,
            "timestamp": self.timestamp,
            "data": self.data,
        })
        .to_string()
    }
}

/// An active fault rule ([`Admin::faults`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ActiveFault {
    /// Rule id (`flt_...`).
    pub id: String,
    /// How many matching requests the rule affects in all.
    pub count: u32,
    /// How many it still affects.
    pub remaining: u32,
    /// Only requests whose path starts with this.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// The status it answers, if it answers one.
    #[serde(default)]
    pub status: Option<u16>,
}

/// One object to insert with [`Admin::seed`] (no events are emitted for it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SeedObject {
    /// Its store kind (`customer`, `product`, `license_key`, ...; `dodo_emulator::schema::kind`).
    pub kind: String,
    /// Its id.
    pub id: String,
    /// The object as the API answers it.
    pub data: Value,
    /// The id of its parent object, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// `active` (default), `archived` or `deleted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Creation time (RFC 3339; default now on the emulator's clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

impl SeedObject {
    /// An active object of `kind` created now.
    pub fn new(kind: impl Into<String>, id: impl Into<String>, data: Value) -> Self {
        Self {
            kind: kind.into(),
            id: id.into(),
            data,
            parent: None,
            state: None,
            created_at: None,
        }
    }
}

/// A retry schedule for webhook deliveries ([`Admin::set_webhook_schedule`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum WebhookSchedule {
    /// A named profile: `accelerated` (the default: 0, 0.2 s, 0.5 s, 1 s, ...) or
    /// `realistic` (Dodo's documented 0, 5 s, 5 min, 30 min, ...).
    Profile {
        /// The profile's name.
        profile: String,
    },
    /// Explicit delays before each attempt (the first is usually 0) and an optional
    /// per-attempt timeout.
    Custom {
        /// Delay before each attempt, in milliseconds (at most 20 attempts).
        delays_ms: Vec<u64>,
        /// How long one attempt may take, in milliseconds.
        #[serde(skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
}

/// Filters of [`Admin::deliveries`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DeliveryFilter {
    /// Only this event type.
    pub event_type: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only this endpoint.
    pub endpoint_id: Option<String>,
}

impl DeliveryFilter {
    /// Deliveries of one event type.
    pub fn event_type(event_type: impl Into<String>) -> Self {
        Self {
            event_type: Some(event_type.into()),
            ..Self::default()
        }
    }

    /// Deliveries to one endpoint.
    pub fn endpoint(endpoint_id: impl Into<String>) -> Self {
        Self {
            endpoint_id: Some(endpoint_id.into()),
            ..Self::default()
        }
    }
}

/// A typed handle on an emulator's admin API (`/_emulator/*`), over HTTP with its API key.
///
/// Works for an emulator in this process ([`TestEmulator::admin`]) or another one
/// ([`Admin::connect`]).
#[derive(Clone)]
pub struct Admin {
    base_url: String,
    api_key: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

impl Admin {
    /// A handle on the emulator at `base_url` with `api_key` (proxies are ignored: the
    /// emulator is local).
    pub fn connect(base_url: &str, api_key: &str) -> Result<Self, HarnessError> {
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            http: reqwest::Client::builder().no_proxy().build()?,
        })
    }

    /// A handle that sends its admin calls through `http` (for example a client with extra
    /// root certificates or timeouts of its own).
    pub fn with_http_client(base_url: &str, api_key: &str, http: reqwest::Client) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            http,
        }
    }

    /// The emulator's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, HarnessError> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base_url))
            .bearer_auth(&self.api_key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(HarnessError::Api {
                method: method.to_string(),
                path: path.to_string(),
                status: status.as_u16(),
                code: v["code"].as_str().unwrap_or_default().to_string(),
                message: v["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
            });
        }
        let bytes = if bytes.is_empty() {
            Bytes::from_static(b"null")
        } else {
            bytes
        };
        serde_json::from_slice(&bytes).map_err(|e| HarnessError::Decode {
            path: path.to_string(),
            message: e.to_string(),
        })
    }

    /// Moves the emulator's clock forward and processes what fell due (renewals, expiries).
    pub async fn advance_clock(&self, by: Duration) -> Result<ClockState, HarnessError> {
        let secs = by.as_secs();
        self.call(
            reqwest::Method::POST,
            "/_emulator/clock/advance",
            Some(json!({ "by": secs })),
        )
        .await
    }

    /// The emulator's clock.
    pub async fn clock(&self) -> Result<ClockState, HarnessError> {
        self.call(reqwest::Method::GET, "/_emulator/clock", None)
            .await
    }

    /// Pays a checkout session with a test card as its hosted page would (the session's
    /// customer, or a test buyer).
    pub async fn pay_checkout_session(
        &self,
        session_id: &str,
        card: TestCard,
    ) -> Result<Paid, HarnessError> {
        self.call(
            reqwest::Method::POST,
            &format!("/_emulator/checkout-sessions/{session_id}/pay"),
            Some(json!({ "card_number": card.number() })),
        )
        .await
    }

    /// Pays a checkout session as [`Admin::pay_checkout_session`] does, answering its custom
    /// fields (`(key, answer)` pairs; a boolean field takes `"true"`).
    pub async fn pay_checkout_session_answering(
        &self,
        session_id: &str,
        card: TestCard,
        answers: &[(&str, &str)],
    ) -> Result<Paid, HarnessError> {
        let answers: serde_json::Map<String, Value> = answers
            .iter()
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect();
        self.call(
            reqwest::Method::POST,
            &format!("/_emulator/checkout-sessions/{session_id}/pay"),
            Some(json!({ "card_number": card.number(), "custom_fields": answers })),
        )
        .await
    }

    /// Pays a payment link (a payment awaiting its payment method) with a test card.
    pub async fn pay_payment_link(
        &self,
        payment_id: &str,
        card: TestCard,
    ) -> Result<Paid, HarnessError> {
        self.call(
            reqwest::Method::POST,
            &format!("/_emulator/payments/{payment_id}/pay"),
            Some(json!({ "card_number": card.number() })),
        )
        .await
    }

    /// Runs the scripted path of an event type (any of the 48, e.g. `payment.succeeded`).
    pub async fn trigger(&self, event_type: impl AsRef<str>) -> Result<Triggered, HarnessError> {
        self.call(
            reqwest::Method::POST,
            &format!("/_emulator/trigger/{}", event_type.as_ref()),
            None,
        )
        .await
    }

    /// Adds a fault rule; answers its id.
    pub async fn add_fault(&self, spec: &FaultSpec) -> Result<String, HarnessError> {
        let body = serde_json::to_value(spec).map_err(|e| HarnessError::Decode {
            path: "/_emulator/faults".into(),
            message: e.to_string(),
        })?;
        let rule: Value = self
            .call(reqwest::Method::POST, "/_emulator/faults", Some(body))
            .await?;
        rule["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| HarnessError::Decode {
                path: "/_emulator/faults".into(),
                message: format!("no rule id in {rule}"),
            })
    }

    /// The active fault rules, oldest first.
    pub async fn faults(&self) -> Result<Vec<ActiveFault>, HarnessError> {
        #[derive(Deserialize)]
        struct Items {
            items: Vec<ActiveFault>,
        }
        let items: Items = self
            .call(reqwest::Method::GET, "/_emulator/faults", None)
            .await?;
        Ok(items.items)
    }

    /// Inserts objects directly, in one transaction, without events; answers how many.
    pub async fn seed(&self, objects: &[SeedObject]) -> Result<u64, HarnessError> {
        let body = serde_json::to_value(objects).map_err(|e| HarnessError::Decode {
            path: "/_emulator/seed".into(),
            message: e.to_string(),
        })?;
        let v: Value = self
            .call(
                reqwest::Method::POST,
                "/_emulator/seed",
                Some(json!({ "objects": body })),
            )
            .await?;
        v["inserted"].as_u64().ok_or_else(|| HarnessError::Decode {
            path: "/_emulator/seed".into(),
            message: format!("no count in {v}"),
        })
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) -> Result<(), HarnessError> {
        self.call::<Value>(reqwest::Method::DELETE, "/_emulator/faults", None)
            .await
            .map(drop)
    }

    /// Registers an endpoint signed with the emulator-wide secret; answers its id.
    /// `event_types` empty means every type.
    pub async fn add_endpoint(
        &self,
        url: &str,
        event_types: &[&str],
    ) -> Result<String, HarnessError> {
        let ep: Value = self
            .call(
                reqwest::Method::POST,
                "/_emulator/endpoints",
                Some(json!({ "url": url, "filter_types": event_types })),
            )
            .await?;
        ep["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| HarnessError::Decode {
                path: "/_emulator/endpoints".into(),
                message: format!("no endpoint id in {ep}"),
            })
    }

    /// The secret signing an admin endpoint's deliveries.
    pub async fn endpoint_secret(&self, endpoint_id: &str) -> Result<String, HarnessError> {
        let v: Value = self
            .call(
                reqwest::Method::GET,
                &format!("/_emulator/endpoints/{endpoint_id}/secret"),
                None,
            )
            .await?;
        v["secret"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| HarnessError::Decode {
                path: format!("/_emulator/endpoints/{endpoint_id}/secret"),
                message: format!("no secret in {v}"),
            })
    }

    /// Makes the renewals of a subscription fail (`true`: its card declines, so the next
    /// renewal puts it on hold) or succeed again (`false`).
    pub async fn set_fail_renewals(
        &self,
        subscription_id: &str,
        fail: bool,
    ) -> Result<(), HarnessError> {
        self.call::<Value>(
            reqwest::Method::POST,
            &format!("/_emulator/subscriptions/{subscription_id}/card"),
            Some(json!({ "fail_renewals": fail })),
        )
        .await
        .map(drop)
    }

    /// Removes an admin endpoint (it receives nothing more).
    pub async fn remove_endpoint(&self, endpoint_id: &str) -> Result<(), HarnessError> {
        self.call::<Value>(
            reqwest::Method::DELETE,
            &format!("/_emulator/endpoints/{endpoint_id}"),
            None,
        )
        .await
        .map(drop)
    }

    /// Recorded events, newest first (at most `limit`, up to 1,000), of one type or all.
    pub async fn events(
        &self,
        event_type: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, HarnessError> {
        let mut q = vec![("limit", limit.to_string())];
        if let Some(t) = event_type {
            q.push(("type", t.to_string()));
        }
        let query = serde_urlencoded::to_string(&q).unwrap_or_default();
        #[derive(Deserialize)]
        struct Items {
            items: Vec<RecordedEvent>,
        }
        let items: Items = self
            .call(
                reqwest::Method::GET,
                &format!("/_emulator/events?{query}"),
                None,
            )
            .await?;
        Ok(items.items)
    }

    /// Sets the retry schedule of webhook deliveries.
    pub async fn set_webhook_schedule(
        &self,
        schedule: &WebhookSchedule,
    ) -> Result<(), HarnessError> {
        let body = serde_json::to_value(schedule).map_err(|e| HarnessError::Decode {
            path: "/_emulator/webhook-schedule".into(),
            message: e.to_string(),
        })?;
        self.call::<Value>(
            reqwest::Method::PUT,
            "/_emulator/webhook-schedule",
            Some(body),
        )
        .await
        .map(drop)
    }

    /// Sends a delivery's event again to the same endpoint (same `webhook-id`); answers the
    /// new delivery.
    pub async fn replay_delivery(&self, delivery_id: &str) -> Result<Delivery, HarnessError> {
        self.call(
            reqwest::Method::POST,
            &format!("/_emulator/deliveries/{delivery_id}/replay"),
            None,
        )
        .await
    }

    /// Settles a payment directly (`succeeded` or `failed`), as a test that needs no card.
    pub async fn complete_payment(
        &self,
        payment_id: &str,
        status: &str,
    ) -> Result<Value, HarnessError> {
        self.call(
            reqwest::Method::POST,
            &format!("/_emulator/payments/{payment_id}/complete"),
            Some(json!({ "status": status })),
        )
        .await
    }

    /// Deliveries, newest first (at most 1,000).
    pub async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, HarnessError> {
        let mut q = vec![("limit", "1000".to_string())];
        for (k, v) in [
            ("event_type", &filter.event_type),
            ("status", &filter.status),
            ("endpoint_id", &filter.endpoint_id),
        ] {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        }
        let query = serde_urlencoded::to_string(&q).unwrap_or_default();
        #[derive(Deserialize)]
        struct Items {
            items: Vec<Delivery>,
        }
        let items: Items = self
            .call(
                reqwest::Method::GET,
                &format!("/_emulator/deliveries?{query}"),
                None,
            )
            .await?;
        Ok(items.items)
    }

    /// One delivery with its payload and attempts.
    pub async fn delivery(&self, id: &str) -> Result<Delivery, HarnessError> {
        self.call(
            reqwest::Method::GET,
            &format!("/_emulator/deliveries/{id}"),
            None,
        )
        .await
    }

    /// Waits (up to [`DEFAULT_WAIT`]) until a delivery of `event_type` has finished (succeeded
    /// or failed) and answers it with its attempts. Listens to the delivery stream, so it
    /// returns as soon as the attempt ends; a delivery finished before the call counts too.
    pub async fn wait_for_delivery(&self, event_type: &str) -> Result<Delivery, HarnessError> {
        self.wait_for_delivery_within(event_type, DEFAULT_WAIT)
            .await
    }

    /// [`Admin::wait_for_delivery`] with a timeout.
    pub async fn wait_for_delivery_within(
        &self,
        event_type: &str,
        timeout: Duration,
    ) -> Result<Delivery, HarnessError> {
        self.wait_for_delivery_matching(&DeliveryFilter::event_type(event_type), timeout)
            .await
    }

    /// Waits up to `timeout` until a delivery matching `filter` (event type and/or endpoint;
    /// `status` is ignored) has finished, and answers it with its attempts; one finished
    /// before the call counts too.
    pub async fn wait_for_delivery_matching(
        &self,
        filter: &DeliveryFilter,
        timeout: Duration,
    ) -> Result<Delivery, HarnessError> {
        let what = match (&filter.event_type, &filter.endpoint_id) {
            (Some(t), Some(e)) => format!("a finished delivery of {t} to {e}"),
            (Some(t), None) => format!("a finished delivery of {t}"),
            (None, Some(e)) => format!("a finished delivery to {e}"),
            (None, None) => "a finished delivery".to_string(),
        };
        let filter = DeliveryFilter {
            status: None,
            ..filter.clone()
        };
        let wait = async {
            // Subscribe first, then look at what already finished: nothing falls in between.
            let q: Vec<(&str, &String)> = [
                ("event_type", filter.event_type.as_ref()),
                ("endpoint_id", filter.endpoint_id.as_ref()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            let query = serde_urlencoded::to_string(&q).unwrap_or_default();
            let path = format!("/_emulator/deliveries/stream?{query}");
            let mut stream = self
                .http
                .get(format!("{}{path}", self.base_url))
                .bearer_auth(&self.api_key)
                .send()
                .await?;
            if !stream.status().is_success() {
                return Err(HarnessError::Api {
                    method: "GET".into(),
                    path,
                    status: stream.status().as_u16(),
                    code: String::new(),
                    message: "cannot open the delivery stream".into(),
                });
            }
            let done = self.deliveries(&filter).await?;
            if let Some(d) = done.into_iter().find(Delivery::is_finished) {
                return self.delivery(&d.id).await;
            }
            let mut buf = String::new();
            loop {
                while let Some(end) = buf.find("\n\n") {
                    let event: String = buf.drain(..end + 2).collect();
                    let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) else {
                        continue;
                    };
                    if let Ok(d) = serde_json::from_str::<Delivery>(data.trim())
                        && d.is_finished()
                    {
                        return Ok(d);
                    }
                }
                match stream.chunk().await? {
                    Some(chunk) => buf.push_str(&String::from_utf8_lossy(&chunk)),
                    None => return Err(HarnessError::ReceiverClosed),
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| HarnessError::Timeout(timeout, what))?
    }

    /// The email outbox, newest first (at most 1,000): every email the emulator "sent"
    /// (such as the portal link of `POST /customers/{id}/customer-portal/session?send_email=true`),
    /// with its bodies and link.
    pub async fn emails(&self) -> Result<Vec<Email>, HarnessError> {
        self.emails_query("/_emulator/emails").await
    }

    /// The emails sent to one customer, newest first.
    pub async fn emails_to(&self, customer_id: &str) -> Result<Vec<Email>, HarnessError> {
        let query = serde_urlencoded::to_string([("customer_id", customer_id)]).unwrap_or_default();
        self.emails_query(&format!("/_emulator/emails?{query}"))
            .await
    }

    async fn emails_query(&self, path: &str) -> Result<Vec<Email>, HarnessError> {
        #[derive(Deserialize)]
        struct Items {
            items: Vec<Email>,
        }
        let items: Items = self.call(reqwest::Method::GET, path, None).await?;
        Ok(items.items)
    }

    /// Deletes every object, event and delivery (the webhook secret stays).
    pub async fn reset(&self) -> Result<(), HarnessError> {
        self.call::<Value>(reqwest::Method::POST, "/_emulator/reset", None)
            .await
            .map(drop)
    }
}

/// A verified webhook delivery as received.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Received {
    /// The parsed event.
    pub event: WebhookEvent,
    /// The `webhook-id` header.
    pub webhook_id: String,
    /// The raw body.
    pub body: Bytes,
}

struct ReceiverState {
    verifier: Verifier,
    tx: mpsc::UnboundedSender<Received>,
    rejected: Mutex<u32>,
}

/// An HTTP server on `127.0.0.1:0` that receives the emulator's webhooks, verifies each with
/// the emulator's secret (answering 400 to anything unsigned or tampered with, 200 otherwise)
/// and hands the verified events to the test. Dropping it stops the server.
pub struct WebhookReceiver {
    url: String,
    endpoint_id: String,
    rx: mpsc::UnboundedReceiver<Received>,
    state: Arc<ReceiverState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("url", &self.url)
            .field("endpoint_id", &self.endpoint_id)
            .finish_non_exhaustive()
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let id = header("webhook-id");
    let verified = state.verifier.verify_parts(
        &id,
        &header("webhook-timestamp"),
        &header("webhook-signature"),
        &body,
    );
    let event = verified.ok().and_then(|_| WebhookEvent::parse(&body).ok());
    match event {
        Some(event) => {
            let _ = state.tx.send(Received {
                event,
                webhook_id: id,
                body,
            });
            StatusCode::OK
        }
        None => {
            let mut n = state.rejected.lock().unwrap_or_else(|e| e.into_inner());
            *n = n.saturating_add(1);
            StatusCode::BAD_REQUEST
        }
    }
}

impl WebhookReceiver {
    /// Starts a receiver and registers it on `emu` for `event_types` (empty: all).
    pub async fn start(emu: &TestEmulator, event_types: &[&str]) -> Result<Self, HarnessError> {
        let verifier =
            Verifier::from_secret(emu.webhook_secret()).map_err(|e| HarnessError::Decode {
                path: "webhook secret".into(),
                message: e.to_string(),
            })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(ReceiverState {
            verifier,
            tx,
            rejected: Mutex::new(0),
        });
        let app = Router::new()
            .route("/webhooks", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        let url = format!("http://{addr}/webhooks");
        let endpoint_id = emu.admin().add_endpoint(&url, event_types).await?;
        Ok(Self {
            url,
            endpoint_id,
            rx,
            state,
            stop: Some(stop),
        })
    }

    /// The URL the emulator delivers to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The id of the admin endpoint registered for this receiver.
    pub fn endpoint_id(&self) -> &str {
        &self.endpoint_id
    }

    /// How many requests failed verification (answered 400).
    pub fn rejected(&self) -> u32 {
        *self
            .state
            .rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The next verified delivery (waits up to [`DEFAULT_WAIT`]).
    pub async fn next(&mut self) -> Result<Received, HarnessError> {
        match tokio::time::timeout(DEFAULT_WAIT, self.rx.recv()).await {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(HarnessError::ReceiverClosed),
            Err(_) => Err(HarnessError::Timeout(DEFAULT_WAIT, "a webhook".into())),
        }
    }

    /// The next verified event of `event_type`, skipping others (waits up to
    /// [`DEFAULT_WAIT`] in all).
    pub async fn next_of(&mut self, event_type: EventType) -> Result<WebhookEvent, HarnessError> {
        let want = event_type.clone();
        let wait = async {
            loop {
                match self.rx.recv().await {
                    Some(r) if r.event.event_type() == want => return Ok(r.event),
                    Some(_) => {}
                    None => return Err(HarnessError::ReceiverClosed),
                }
            }
        };
        tokio::time::timeout(DEFAULT_WAIT, wait)
            .await
            .map_err(|_| {
                HarnessError::Timeout(DEFAULT_WAIT, format!("a {}", event_type.as_str()))
            })?
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
