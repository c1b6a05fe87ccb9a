//! Webhook delivery: fan-out of outbox events to endpoints, signed POSTs, retries, the
//! delivery log, replay, and the admin routes that expose them.
//!
//! A background task (one per emulator, stopped when the emulator is gone) polls the
//! `emu_events` outbox written by [`crate::emit`]. Each new event becomes one delivery per
//! endpoint that wants it: every `/webhooks` endpoint that is not `disabled` and whose
//! `filter_types` is empty or lists the type (signed with that endpoint's own secret, with its
//! custom headers), and every endpoint registered through `POST /_emulator/endpoints` (signed
//! with the emulator-wide secret). An attempt POSTs the envelope `{business_id, type,
//! timestamp, data}` with `webhook-id` (the event id, the same on every attempt and replay),
//! `webhook-timestamp` (the real time of the attempt, so verifiers' tolerance holds even after
//! the virtual clock moved) and `webhook-signature`. Any 2xx is success; anything else, a
//! timeout or a connection error schedules the next attempt after the next delay of the
//! schedule (stretched to a `retry-after` in seconds); `410 Gone` disables the endpoint. Every attempt is logged (status, response body
//! truncated to 2 KiB, error, duration).
//!
//! | route | effect |
//! |---|---|
//! | `GET /_emulator/deliveries` | newest first; filters `event_type`, `status`, `endpoint_id`, `event_id`, `limit` (100) → `{"items": [...]}` |
//! | `GET /_emulator/deliveries/{id}` | the delivery, its event envelope and its attempts |
//! | `GET /_emulator/deliveries/stream` | Server-Sent Events: after each attempt, `data:` is the delivery as `GET /_emulator/deliveries/{id}` answers it; filters `endpoint_id`, `event_type` |
//! | `POST /_emulator/deliveries/{id}/replay` | a new delivery of the same event to the same endpoint (same `webhook-id`) → 202 |
//! | `GET /_emulator/events` | recorded events, newest first (`type`, `limit`) |
//! | `POST /_emulator/endpoints` | register `{url, filter_types?}` signed with the emulator-wide secret → 201 (without the secret) |
//! | `GET /_emulator/endpoints/{id}/secret` | `{"secret": "whsec_..."}`, the secret that signs its deliveries |
//! | `GET /_emulator/endpoints` | admin-registered endpoints |
//! | `DELETE /_emulator/endpoints/{id}` | remove one → 204 |
//! | `GET`/`PUT /_emulator/webhook-schedule` | `{"profile": "accelerated"\|"realistic"}` or `{"delays_ms": [...], "timeout_ms": n}` |
//!
//! Schedules (delays before the 2nd, 3rd, ... attempt): `accelerated` (default) 0, 0.2 s,
//! 0.5 s, 1 s, 2 s, 5 s, 10 s, 10 s; `realistic` (Dodo's documented one) 0, 5 s, 5 min,
//! 30 min, 2 h, 5 h, 10 h, 10 h. The attempt timeout defaults to 15 s.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::StatusCode;
use rusqlite::{OptionalExtension, params};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::dispatch::{AppState, error_response};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::resources::common::kind;
use crate::store::{Db, Filter, State as ObjState};

/// Store kind of endpoints registered through the admin API.
pub use crate::schema::kind::ADMIN_ENDPOINT;
/// Accelerated retry delays (ms) before the 2nd, 3rd, ... attempt.
pub const ACCELERATED: [u64; 8] = [0, 200, 500, 1_000, 2_000, 5_000, 10_000, 10_000];
/// Dodo's documented retry delays (ms).
pub const REALISTIC: [u64; 8] = [
    0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
];
/// Default attempt timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 15_000;
/// Longest stored response body.
pub const MAX_RESPONSE_BODY: usize = 2_048;
const SCHEDULE_META: &str = "webhook_schedule";
const TICK: Duration = Duration::from_millis(20);
/// Most attempts in flight at once (further due deliveries wait for a free slot).
pub const MAX_IN_FLIGHT: usize = 64;
/// Most retries a schedule may list.
pub const MAX_SCHEDULE_LEN: usize = 20;
/// Longest delay a schedule may list (one week).
pub const MAX_DELAY_MS: u64 = 7 * 24 * 3_600_000;
/// Longest attempt timeout (two minutes).
pub const MAX_TIMEOUT_MS: u64 = 120_000;
/// Ticks between two prunings of old deliveries (about one second).
const PRUNE_EVERY: u32 = 50;

/// Retry schedule and timeout of deliveries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Schedule {
    /// Delays before each further attempt (so at most `1 + delays_ms.len()` attempts).
    pub delays_ms: Vec<u64>,
    /// Timeout of one attempt.
    pub timeout_ms: u64,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            delays_ms: ACCELERATED.to_vec(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }
}

fn schedule(db: &Db<'_>) -> Schedule {
    db.meta_get(SCHEDULE_META)
        .ok()
        .flatten()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
    )
    .unwrap_or(i64::MAX)
}

/// Spawns the delivery task of an emulator; it ends when the emulator's state is dropped.
pub fn start(state: &Arc<AppState>) {
    let _ = state.store.write(|db| {
        db.conn().execute(
            "UPDATE emu_deliveries SET status = 'pending' WHERE status = 'sending'",
            [],
        )
    });
    let weak = Arc::downgrade(state);
    tokio::spawn(run(weak));
}

async fn run(weak: Weak<AppState>) {
    let client = match reqwest::Client::builder().no_proxy().build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; no deliveries");
            return;
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut ticks = 0_u32;
    loop {
        tokio::time::sleep(TICK).await;
        let Some(state) = weak.upgrade() else { break };
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(PRUNE_EVERY)
            && let Err(e) = state.store.write(|db| prune(db, state.max_deliveries))
        {
            tracing::warn!(error = %e, "cannot prune old deliveries");
        }
        let free = slots.available_permits();
        let due = state.store.write(|db| {
            fan_out(&state, db)?;
            take_due(db, free)
        });
        match due {
            Ok(due) => {
                for id in due {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        break;
                    };
                    let (state, client) = (state.clone(), client.clone());
                    tokio::spawn(async move {
                        attempt(state, client, id).await;
                        drop(slot);
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "webhook delivery tick failed"),
        }
    }
}

struct Target {
    id: String,
    url: String,
    filter: Vec<String>,
}

fn targets(db: &Db<'_>) -> rusqlite::Result<Vec<Target>> {
    let mut out = Vec::new();
    for k in [kind::WEBHOOK, ADMIN_ENDPOINT] {
        for r in db.list(k, &[Filter::State(ObjState::Active)], u32::MAX, 0)? {
            if r.data["disabled"] == true {
                continue;
            }
            let Some(url) = r.data["url"].as_str() else {
                continue;
            };
            let filter = r.data["filter_types"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Target {
                id: r.id,
                url: url.to_string(),
                filter,
            });
        }
    }
    Ok(out)
}

fn fan_out(_state: &AppState, db: &Db<'_>) -> rusqlite::Result<()> {
    let events: Vec<(i64, String, String)> = {
        let mut stmt = db.conn().prepare_cached(
            "SELECT seq, id, type FROM emu_events WHERE fanned = 0 ORDER BY seq LIMIT 500",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    if events.is_empty() {
        return Ok(());
    }
    let targets = targets(db)?;
    let now = db.now_string();
    let at = now_ms();
    for (seq, event_id, ty) in events {
        for t in &targets {
            if !t.filter.is_empty() && !t.filter.iter().any(|f| f == &ty) {
                continue;
            }
            insert_delivery(db, &event_id, &t.id, &t.url, &now, at)?;
        }
        db.conn()
            .prepare_cached("UPDATE emu_events SET fanned = 1 WHERE seq = ?1")?
            .execute([seq])?;
    }
    Ok(())
}

fn insert_delivery(
    db: &Db<'_>,
    event_id: &str,
    endpoint_id: &str,
    url: &str,
    now: &str,
    at: i64,
) -> rusqlite::Result<String> {
    let id = new_id("dlv_");
    db.conn()
        .prepare_cached(
            "INSERT INTO emu_deliveries (id, event_id, endpoint_id, url, status, attempts, next_at_ms, created_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6)",
        )?
        .execute(params![id, event_id, endpoint_id, url, at, now])?;
    Ok(id)
}

/// Deletes finished deliveries (with their attempts) and delivered events beyond the newest
/// `keep`.
fn prune(db: &Db<'_>, keep: usize) -> rusqlite::Result<()> {
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    let gone = db.conn().execute(
        "DELETE FROM emu_deliveries WHERE status IN ('succeeded', 'failed') AND seq <=
           (SELECT seq FROM emu_deliveries ORDER BY seq DESC LIMIT 1 OFFSET ?1)",
        [keep],
    )?;
    if gone > 0 {
        db.conn().execute(
            "DELETE FROM emu_attempts WHERE delivery_id NOT IN (SELECT id FROM emu_deliveries)",
            [],
        )?;
    }
    db.conn().execute(
        "DELETE FROM emu_events WHERE fanned = 1 AND seq <=
           (SELECT seq FROM emu_events ORDER BY seq DESC LIMIT 1 OFFSET ?1)
           AND id NOT IN (SELECT event_id FROM emu_deliveries)",
        [keep],
    )?;
    Ok(())
}

fn take_due(db: &Db<'_>, free: usize) -> rusqlite::Result<Vec<String>> {
    if free == 0 {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = {
        let mut stmt = db.conn().prepare_cached(
            "SELECT id FROM emu_deliveries WHERE status = 'pending' AND next_at_ms <= ?1 ORDER BY seq LIMIT ?2",
        )?;
        stmt.query_map(params![now_ms(), i64::try_from(free).unwrap_or(0)], |r| {
            r.get(0)
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    for id in &ids {
        db.conn()
            .prepare_cached("UPDATE emu_deliveries SET status = 'sending' WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(ids)
}

/// Everything one attempt needs, read under the lock.
struct Prepared {
    event_id: String,
    endpoint_id: String,
    url: String,
    attempts: i64,
    body: String,
    secret: String,
    headers: Vec<(String, String)>,
    schedule: Schedule,
}

/// The envelope of an event row.
fn envelope(business_id: &str, ty: &str, timestamp: &str, data: &str) -> Value {
    let data: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    json!({ "business_id": business_id, "type": ty, "timestamp": timestamp, "data": data })
}

fn prepare(state: &AppState, db: &Db<'_>, id: &str) -> rusqlite::Result<Option<Prepared>> {
    let row: Option<(String, String, String, i64)> = db
        .conn()
        .query_row(
            "SELECT event_id, endpoint_id, url, attempts FROM emu_deliveries WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((event_id, endpoint_id, url, attempts)) = row else {
        return Ok(None);
    };
    let ev: Option<(String, String, String)> = db
        .conn()
        .query_row(
            "SELECT type, timestamp, data FROM emu_events WHERE id = ?1",
            [&event_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((ty, ts, data)) = ev else {
        return Ok(None);
    };
    let body = envelope(&state.env.business_id, &ty, &ts, &data).to_string();
    let (secret, headers) = if db.get(ADMIN_ENDPOINT, &endpoint_id)?.is_some() {
        (state.webhook_secret.clone(), Vec::new())
    } else {
        let secret = db
            .get(kind::WEBHOOK_SECRET, &endpoint_id)?
            .and_then(|r| r.data["secret"].as_str().map(str::to_string))
            .unwrap_or_else(|| state.webhook_secret.clone());
        let headers = db
            .get(kind::WEBHOOK_HEADERS, &endpoint_id)?
            .and_then(|r| {
                r.data["headers"].as_object().map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
            })
            .unwrap_or_default();
        (secret, headers)
    };
    Ok(Some(Prepared {
        event_id,
        endpoint_id,
        url,
        attempts,
        body,
        secret,
        headers,
        schedule: schedule(db),
    }))
}

/// Outcome of one HTTP attempt.
struct Outcome {
    status: Option<u16>,
    /// `retry-after` in seconds, when the receiver sent one.
    retry_after: Option<u64>,
    body: Option<String>,
    error: Option<String>,
}

async fn send(client: &reqwest::Client, p: &Prepared, ts: i64) -> Outcome {
    let signature = match dodo_webhooks::WebhookSecret::new(&p.secret) {
        Ok(s) => s.sign(&p.event_id, ts, p.body.as_bytes()),
        Err(e) => {
            return Outcome {
                status: None,
                retry_after: None,
                body: None,
                error: Some(format!("endpoint secret unusable: {e}")),
            };
        }
    };
    let mut req = client
        .post(&p.url)
        .timeout(Duration::from_millis(p.schedule.timeout_ms))
        .header("content-type", "application/json")
        .header("user-agent", "dodo-emulator-webhooks")
        .header("webhook-id", &p.event_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature);
    for (k, v) in &p.headers {
        req = req.header(k, v);
    }
    match req.body(p.body.clone()).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let text = resp.text().await.unwrap_or_default();
            let mut end = text.len().min(MAX_RESPONSE_BODY);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            Outcome {
                status: Some(status),
                retry_after,
                body: Some(text[..end].to_string()),
                error: None,
            }
        }
        Err(e) => Outcome {
            status: None,
            retry_after: None,
            body: None,
            error: Some(if e.is_timeout() {
                "timeout".to_string()
            } else {
                format!("connection error: {e}")
            }),
        },
    }
}

async fn attempt(state: Arc<AppState>, client: reqwest::Client, id: String) {
    let prepared = state.store.read(|db| prepare(&state, db, &id));
    let p = match prepared {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, delivery = %id, "cannot prepare delivery");
            return;
        }
    };
    let ts = now_ms() / 1000;
    let started = Instant::now();
    let out = send(&client, &p, ts).await;
    let duration = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let n = p.attempts + 1;
    let ok = out.status.is_some_and(|s| (200..300).contains(&s));
    let gone = out.status == Some(410);
    let delay = usize::try_from(p.attempts)
        .ok()
        .and_then(|i| p.schedule.delays_ms.get(i).copied())
        // A receiver's `retry-after` (seconds) stretches the next delay, never shortens it.
        .map(|d| d.max(out.retry_after.unwrap_or(0).saturating_mul(1000)));
    let (status, next) = match (ok, gone, delay) {
        (true, _, _) => ("succeeded", None),
        (false, true, _) | (false, false, None) => ("failed", None),
        (false, false, Some(d)) => (
            "pending",
            Some(now_ms().saturating_add(i64::try_from(d).unwrap_or(i64::MAX))),
        ),
    };
    let res = state.store.write(|db| {
        db.conn()
            .prepare_cached(
                "INSERT INTO emu_attempts (delivery_id, n, at, webhook_timestamp, status_code, response_body, error, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![id, n, db.now_string(), ts, out.status, out.body, out.error, duration])?;
        db.conn()
            .prepare_cached(
                "UPDATE emu_deliveries SET status = ?2, attempts = ?3, next_at_ms = ?4 WHERE id = ?1",
            )?
            .execute(params![id, status, n, next])?;
        if gone && let Some(mut r) = db.get(kind::WEBHOOK, &p.endpoint_id)? {
            r.data["disabled"] = json!(true);
            db.update(kind::WEBHOOK, &p.endpoint_id, &r.data)?;
        }
        Ok::<_, rusqlite::Error>(())
    });
    if let Err(e) = res {
        tracing::warn!(error = %e, delivery = %id, "cannot record delivery attempt");
    } else if state.delivery_feed.receiver_count() > 0 {
        match state.store.read(|db| delivery_detail(&state, db, &id)) {
            Ok(detail) => {
                let _ = state.delivery_feed.send(detail);
            }
            Err(e) => {
                tracing::warn!(error = %e.message, delivery = %id, "cannot publish delivery attempt")
            }
        }
    }
    tracing::debug!(delivery = %id, url = %p.url, attempt = n, ?out.status, "webhook attempt");
}

/// Admin routes of deliveries, events, admin endpoints and the schedule.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_emulator/deliveries", get(list_deliveries))
        .route("/_emulator/deliveries/stream", get(stream_deliveries))
        .route("/_emulator/deliveries/{id}", get(get_delivery))
        .route("/_emulator/deliveries/{id}/replay", post(replay))
        .route("/_emulator/events", get(list_events))
        .route(
            "/_emulator/endpoints",
            post(add_endpoint).get(list_endpoints),
        )
        .route("/_emulator/endpoints/{id}", delete(remove_endpoint))
        .route("/_emulator/endpoints/{id}/secret", get(endpoint_secret))
        .route(
            "/_emulator/webhook-schedule",
            get(get_schedule).put(put_schedule),
        )
}

fn reject(e: ApiError) -> Response {
    error_response(&e)
}

#[derive(Debug, Default, Deserialize)]
struct DeliveryQuery {
    event_type: Option<String>,
    status: Option<String>,
    endpoint_id: Option<String>,
    event_id: Option<String>,
    limit: Option<usize>,
}

fn delivery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    Ok(json!({
        "id": r.get::<_, String>(0)?,
        "event_id": r.get::<_, String>(1)?,
        "endpoint_id": r.get::<_, String>(2)?,
        "url": r.get::<_, String>(3)?,
        "status": r.get::<_, String>(4)?,
        "attempts": r.get::<_, i64>(5)?,
        "created_at": r.get::<_, String>(6)?,
        "event_type": r.get::<_, String>(7)?,
    }))
}

const DELIVERY_SELECT: &str =
    "SELECT d.id, d.event_id, d.endpoint_id, d.url, d.status, d.attempts, d.created_at, e.type
     FROM emu_deliveries d JOIN emu_events e ON e.id = d.event_id";

async fn list_deliveries(
    State(state): State<Arc<AppState>>,
    Query(q): Query<DeliveryQuery>,
) -> Response {
    let limit = match crate::request::admin_limit(q.limit) {
        Ok(l) => i64::try_from(l).unwrap_or(i64::MAX),
        Err(e) => return reject(e),
    };
    let out = state.store.read(|db| {
        let sql = format!(
            "{DELIVERY_SELECT} WHERE (?1 IS NULL OR e.type = ?1) AND (?2 IS NULL OR d.status = ?2)
             AND (?3 IS NULL OR d.endpoint_id = ?3) AND (?4 IS NULL OR d.event_id = ?4)
             ORDER BY d.seq DESC LIMIT ?5"
        );
        let mut stmt = db.conn().prepare_cached(&sql)?;
        stmt.query_map(
            params![q.event_type, q.status, q.endpoint_id, q.event_id, limit],
            delivery_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()
    });
    match out {
        Ok(items) => Json(json!({ "items": items })).into_response(),
        Err(e) => reject(ApiError::from(e)),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    endpoint_id: Option<String>,
    event_type: Option<String>,
}

async fn stream_deliveries(
    State(state): State<Arc<AppState>>,
    Query(q): Query<StreamQuery>,
) -> Response {
    let rx = state.delivery_feed.subscribe();
    crate::live::sse(rx, state.closing.subscribe(), move |d: &Value| {
        let keep = q
            .endpoint_id
            .as_ref()
            .is_none_or(|e| d["endpoint_id"] == e.as_str())
            && q.event_type
                .as_ref()
                .is_none_or(|t| d["event_type"] == t.as_str());
        keep.then(|| d.clone())
    })
    .into_response()
}

fn delivery_detail(state: &AppState, db: &Db<'_>, id: &str) -> Result<Value, ApiError> {
    let sql = format!("{DELIVERY_SELECT} WHERE d.id = ?1");
    let mut d = db
        .conn()
        .query_row(&sql, [id], delivery_row)
        .optional()?
        .ok_or_else(|| ApiError::not_found("Delivery", id))?;
    let event_id = d["event_id"].as_str().unwrap_or_default().to_string();
    let (ty, ts, data): (String, String, String) = db.conn().query_row(
        "SELECT type, timestamp, data FROM emu_events WHERE id = ?1",
        [&event_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    d["payload"] = envelope(&state.env.business_id, &ty, &ts, &data);
    let mut stmt = db.conn().prepare_cached(
        "SELECT n, at, webhook_timestamp, status_code, response_body, error, duration_ms
         FROM emu_attempts WHERE delivery_id = ?1 ORDER BY n",
    )?;
    let attempts = stmt
        .query_map([id], |r| {
            Ok(json!({
                "attempt": r.get::<_, i64>(0)?,
                "at": r.get::<_, String>(1)?,
                "webhook_timestamp": r.get::<_, i64>(2)?,
                "status_code": r.get::<_, Option<i64>>(3)?,
                "response_body": r.get::<_, Option<String>>(4)?,
                "error": r.get::<_, Option<String>>(5)?,
                "duration_ms": r.get::<_, i64>(6)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    d["attempt_log"] = json!(attempts);
    Ok(d)
}

async fn get_delivery(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.store.read(|db| delivery_detail(&state, db, &id)) {
        Ok(v) => Json(v).into_response(),
        Err(e) => reject(e),
    }
}

async fn replay(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let out = state.store.write(|db| {
        let row: Option<(String, String, String)> = db
            .conn()
            .query_row(
                "SELECT event_id, endpoint_id, url FROM emu_deliveries WHERE id = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (event_id, endpoint_id, url) =
            row.ok_or_else(|| ApiError::not_found("Delivery", &id))?;
        let new = insert_delivery(
            db,
            &event_id,
            &endpoint_id,
            &url,
            &db.now_string(),
            now_ms(),
        )?;
        delivery_detail(&state, db, &new)
    });
    match out {
        Ok(v) => (StatusCode::ACCEPTED, Json(v)).into_response(),
        Err(e) => reject(e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct EventQuery {
    #[serde(rename = "type")]
    ty: Option<String>,
    limit: Option<usize>,
}

async fn list_events(State(state): State<Arc<AppState>>, Query(q): Query<EventQuery>) -> Response {
    let limit = match crate::request::admin_limit(q.limit) {
        Ok(l) => i64::try_from(l).unwrap_or(i64::MAX),
        Err(e) => return reject(e),
    };
    let out = state.store.read(|db| {
        let mut stmt = db.conn().prepare_cached(
            "SELECT id, type, timestamp, data FROM emu_events WHERE (?1 IS NULL OR type = ?1)
             ORDER BY seq DESC LIMIT ?2",
        )?;
        stmt.query_map(params![q.ty, limit], |r| {
            let (id, ty, ts, data): (String, String, String, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            let mut v = envelope(&state.env.business_id, &ty, &ts, &data);
            v["id"] = json!(id);
            Ok(v)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()
    });
    match out {
        Ok(items) => Json(json!({ "items": items })).into_response(),
        Err(e) => reject(ApiError::from(e)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEndpoint {
    url: String,
    #[serde(default)]
    filter_types: Vec<String>,
}

async fn add_endpoint(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let parsed: Result<NewEndpoint, _> = serde_json::from_slice(&body);
    let ep = match parsed {
        Ok(ep) => ep,
        Err(e) => return reject(ApiError::invalid_field("body", e)),
    };
    if !(ep.url.starts_with("http://") || ep.url.starts_with("https://")) {
        return reject(ApiError::invalid_field("url", "must be an http(s) URL"));
    }
    let id = new_id("whk_");
    let now = state.store.clock().now_string();
    let data = json!({
        "id": id, "url": ep.url, "filter_types": ep.filter_types, "disabled": false,
        "created_at": now, "signed_with": "emulator-wide webhook secret",
    });
    let out = state
        .store
        .write(|db| db.insert(ADMIN_ENDPOINT, &id, None, &now, &data));
    match out {
        // The secret is not part of the answer: `GET /_emulator/endpoints/{id}/secret`
        // hands it out explicitly, as `GET /webhooks/{id}/secret` does for API endpoints.
        Ok(_) => (StatusCode::CREATED, Json(data)).into_response(),
        Err(e) => reject(ApiError::from(e)),
    }
}

async fn list_endpoints(State(state): State<Arc<AppState>>) -> Response {
    let out = state
        .store
        .read(|db| db.list(ADMIN_ENDPOINT, &[], u32::MAX, 0));
    match out {
        Ok(rows) => {
            let items: Vec<Value> = rows.into_iter().map(|r| r.data).collect();
            Json(json!({ "items": items })).into_response()
        }
        Err(e) => reject(ApiError::from(e)),
    }
}

async fn endpoint_secret(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.store.read(|db| db.get(ADMIN_ENDPOINT, &id)) {
        Ok(Some(_)) => Json(json!({ "secret": state.webhook_secret })).into_response(),
        Ok(None) => reject(ApiError::not_found("Endpoint", &id)),
        Err(e) => reject(ApiError::from(e)),
    }
}

async fn remove_endpoint(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.store.write(|db| db.delete(ADMIN_ENDPOINT, &id)) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => reject(ApiError::not_found("Endpoint", &id)),
        Err(e) => reject(ApiError::from(e)),
    }
}

async fn get_schedule(State(state): State<Arc<AppState>>) -> Response {
    Json(state.store.read(schedule)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutSchedule {
    profile: Option<String>,
    delays_ms: Option<Vec<u64>>,
    timeout_ms: Option<u64>,
}

async fn put_schedule(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let put: PutSchedule = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return reject(ApiError::invalid_field("body", e)),
    };
    let out = state.store.write(|db| {
        let mut s = schedule(db);
        match put.profile.as_deref() {
            None => {}
            Some("accelerated") => s.delays_ms = ACCELERATED.to_vec(),
            Some("realistic") => s.delays_ms = REALISTIC.to_vec(),
            Some(other) => {
                return Err(ApiError::invalid_field(
                    "profile",
                    format!("unknown profile `{other}` (accelerated, realistic)"),
                ));
            }
        }
        if let Some(d) = put.delays_ms {
            if d.len() > MAX_SCHEDULE_LEN {
                return Err(ApiError::invalid_field(
                    "delays_ms",
                    format!("at most {MAX_SCHEDULE_LEN} retries"),
                ));
            }
            if let Some(i) = d.iter().position(|ms| *ms > MAX_DELAY_MS) {
                return Err(ApiError::invalid_field(
                    &format!("delays_ms[{i}]"),
                    format!("at most {MAX_DELAY_MS} ms (one week)"),
                ));
            }
            s.delays_ms = d;
        }
        if let Some(t) = put.timeout_ms {
            if t == 0 || t > MAX_TIMEOUT_MS {
                return Err(ApiError::invalid_field(
                    "timeout_ms",
                    format!("must be within 1..={MAX_TIMEOUT_MS}"),
                ));
            }
            s.timeout_ms = t;
        }
        db.meta_set(SCHEDULE_META, &json!(s).to_string())?;
        Ok(s)
    });
    match out {
        Ok(s) => Json(s).into_response(),
        Err(e) => reject(e),
    }
}
