//! `dodo trigger` and `dodo listen`: make webhook events happen and watch them arrive.
//!
//! `dodo trigger <event-type>` with `--emulator URL` asks a running emulator to run the
//! scripted path of that event type (`POST /_emulator/trigger/{type}`), so the event comes out
//! of the emulator's own state machine and is delivered to its registered endpoints; adding
//! `--forward-to URL` also registers a temporary endpoint for that type and prints the
//! delivery and the app's answer. Without `--emulator`, `--forward-to URL` runs the same path
//! in a private in-memory emulator, signs the resulting event with `--secret` (or a generated
//! secret it prints) and POSTs it once. `dodo listen --forward-to URL` registers an endpoint
//! on a running emulator and prints every delivery and the app's answer until Ctrl-C.

use std::collections::HashMap;
use std::time::Duration;

use clap::Args;
use dodo_emulator::{Emulator, EmulatorConfig, Storage};
use serde_json::{Value, json};

/// Default emulator URL (the `dodo emulator` default port).
pub const DEFAULT_EMULATOR: &str = "http://127.0.0.1:8787";
/// Longest response body printed.
const SHOWN_BODY: usize = 300;

/// Options of `dodo trigger`.
#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// Event type, e.g. `payment.succeeded` (`dodo trigger --list` prints all 48).
    #[arg(required_unless_present = "list")]
    pub event_type: Option<String>,
    /// Print the supported event types and exit.
    #[arg(long)]
    pub list: bool,
    /// A running emulator to trigger on (e.g. http://127.0.0.1:8787).
    #[arg(long, env = "DODO_EMULATOR_URL")]
    pub emulator: Option<String>,
    /// API key of the emulator (sent as a Bearer token).
    #[arg(long, env = "DODO_EMULATOR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Deliver the event to this URL as well.
    #[arg(long, value_name = "URL")]
    pub forward_to: Option<String>,
    /// Signing secret (`whsec_...`) for a local delivery without `--emulator`; generated when absent.
    #[arg(long, env = "DODO_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

/// Options of `dodo listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Where the emulator should deliver events (your app's webhook route).
    #[arg(long, value_name = "URL")]
    pub forward_to: Option<String>,
    /// The running emulator.
    #[arg(long, env = "DODO_EMULATOR_URL", default_value = DEFAULT_EMULATOR)]
    pub emulator: String,
    /// Only these event types (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub events: Vec<String>,
    /// API key of the emulator (its admin API requires it; default: the emulator's default key).
    #[arg(long, env = "DODO_EMULATOR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// A failed command, printed as `error: ...`.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// The request could not be sent or answered.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    /// The emulator or the app answered an error.
    #[error("{0}")]
    Failed(String),
}

fn short(s: &str) -> String {
    let mut end = s.len().min(SHOWN_BODY);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if end < s.len() {
        format!("{}…", &s[..end])
    } else {
        s.to_string()
    }
}

async fn admin(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: Option<&str>,
    body: Option<Value>,
) -> Result<Value, CmdError> {
    let mut req = http.request(method, &url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        return Err(CmdError::Failed(format!(
            "{url} answered {status}: {}",
            short(&text)
        )));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Runs `dodo trigger`.
pub async fn run_trigger(args: TriggerArgs) -> Result<(), CmdError> {
    if args.list {
        for t in dodo_emulator::triggers::EVENT_TYPES {
            println!("{t}");
        }
        return Ok(());
    }
    let ty = args.event_type.clone().unwrap_or_default();
    if !dodo_emulator::triggers::EVENT_TYPES.contains(&ty.as_str()) {
        return Err(CmdError::Failed(format!(
            "unknown event type `{ty}` (see `dodo trigger --list`)"
        )));
    }
    let http = reqwest::Client::new();
    match (&args.emulator, &args.forward_to) {
        (Some(base), forward) => {
            trigger_on(&http, base.trim_end_matches('/'), &ty, &args, forward.as_deref()).await
        }
        (None, Some(forward)) => trigger_locally(&http, &ty, forward, args.secret.clone()).await,
        (None, None) => Err(CmdError::Failed(
            "give --emulator URL (trigger on a running emulator) or --forward-to URL (sign and send a sample)".into(),
        )),
    }
}

async fn trigger_on(
    http: &reqwest::Client,
    base: &str,
    ty: &str,
    args: &TriggerArgs,
    forward: Option<&str>,
) -> Result<(), CmdError> {
    // The admin API requires the emulator's key; the emulator's default key unless given.
    let key = Some(
        args.api_key
            .as_deref()
            .unwrap_or(dodo_emulator::DEFAULT_API_KEY),
    );
    let endpoint = match forward {
        Some(url) => Some(
            admin(
                http,
                reqwest::Method::POST,
                format!("{base}/_emulator/endpoints"),
                key,
                Some(json!({"url": url, "filter_types": [ty]})),
            )
            .await?,
        ),
        None => None,
    };
    let out = admin(
        http,
        reqwest::Method::POST,
        format!("{base}/_emulator/trigger/{ty}"),
        key,
        None,
    )
    .await;
    let result = match out {
        Ok(out) => {
            println!("triggered {ty}");
            for (name, id) in out["objects"].as_object().into_iter().flatten() {
                println!("  {name}: {}", id.as_str().unwrap_or_default());
            }
            for e in out["events"].as_array().into_iter().flatten() {
                println!(
                    "  event {} {}",
                    e["type"].as_str().unwrap_or_default(),
                    e["id"].as_str().unwrap_or_default()
                );
            }
            match &endpoint {
                Some(ep) => {
                    let id = ep["id"].as_str().unwrap_or_default();
                    wait_and_print(http, base, id, key).await
                }
                None => Ok(()),
            }
        }
        Err(e) => Err(e),
    };
    if let Some(ep) = endpoint {
        let id = ep["id"].as_str().unwrap_or_default();
        let _ = admin(
            http,
            reqwest::Method::DELETE,
            format!("{base}/_emulator/endpoints/{id}"),
            key,
            None,
        )
        .await;
    }
    result
}

/// Waits until the endpoint's delivery settles (succeeded or failed) and prints its attempts.
async fn wait_and_print(
    http: &reqwest::Client,
    base: &str,
    endpoint: &str,
    key: Option<&str>,
) -> Result<(), CmdError> {
    for _ in 0..600 {
        let list = admin(
            http,
            reqwest::Method::GET,
            format!("{base}/_emulator/deliveries?endpoint_id={endpoint}"),
            key,
            None,
        )
        .await?;
        if let Some(d) = list["items"].as_array().and_then(|a| a.first())
            && d["status"] != "pending"
            && d["status"] != "sending"
        {
            let id = d["id"].as_str().unwrap_or_default();
            let detail = admin(
                http,
                reqwest::Method::GET,
                format!("{base}/_emulator/deliveries/{id}"),
                key,
                None,
            )
            .await?;
            print_delivery(&detail);
            return if d["status"] == "succeeded" {
                Ok(())
            } else {
                Err(CmdError::Failed(format!("delivery {id} failed")))
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(CmdError::Failed(
        "the delivery did not settle within 60 s".into(),
    ))
}

/// What the app answered to one delivery attempt: status and a short body, or the error.
fn attempt_answer(attempt: &Value) -> String {
    match attempt["status_code"].as_i64() {
        Some(code) => format!(
            "{code} {}",
            short(attempt["response_body"].as_str().unwrap_or_default())
        ),
        None => attempt["error"].as_str().unwrap_or("no answer").to_string(),
    }
}

fn print_delivery(d: &Value) {
    println!(
        "→ {} {} to {} ({})",
        d["event_type"].as_str().unwrap_or_default(),
        d["event_id"].as_str().unwrap_or_default(),
        d["url"].as_str().unwrap_or_default(),
        d["status"].as_str().unwrap_or_default()
    );
    for a in d["attempt_log"].as_array().into_iter().flatten() {
        let answer = attempt_answer(a);
        println!(
            "    attempt {}: {answer} ({} ms)",
            a["attempt"], a["duration_ms"]
        );
    }
}

async fn trigger_locally(
    http: &reqwest::Client,
    ty: &str,
    forward: &str,
    secret: Option<String>,
) -> Result<(), CmdError> {
    let secret = match secret {
        Some(s) => s,
        None => {
            let s = dodo_emulator::ids::webhook_secret();
            println!("signing secret (generated): {s}");
            s
        }
    };
    let key = dodo_webhooks::WebhookSecret::new(&secret)
        .map_err(|e| CmdError::Failed(format!("--secret: {e}")))?;
    let emu = Emulator::start(EmulatorConfig::default().port(0).storage(Storage::Memory))
        .await
        .map_err(|e| CmdError::Failed(format!("cannot start a local emulator: {e}")))?;
    let base = emu.base_url().to_string();
    let out = admin(
        http,
        reqwest::Method::POST,
        format!("{base}/_emulator/trigger/{ty}"),
        Some(emu.api_key()),
        None,
    )
    .await?;
    let event_id = out["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["type"] == ty)
        .and_then(|e| e["id"].as_str())
        .map(str::to_string)
        .ok_or_else(|| CmdError::Failed(format!("the {ty} path emitted no {ty} event")))?;
    let events = admin(
        http,
        reqwest::Method::GET,
        format!("{base}/_emulator/events?type={ty}&limit=100"),
        Some(emu.api_key()),
        None,
    )
    .await?;
    let mut envelope = events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["id"] == event_id.as_str())
        .cloned()
        .ok_or_else(|| CmdError::Failed("the event was not recorded".into()))?;
    emu.shutdown().await;
    if let Some(o) = envelope.as_object_mut() {
        o.remove("id");
    }
    let body = envelope.to_string();
    let ts = time_now();
    let signature = key.sign(&event_id, ts, body.as_bytes());
    let resp = http
        .post(forward)
        .header("content-type", "application/json")
        .header("webhook-id", &event_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    println!("→ {ty} {event_id} to {forward}");
    println!("    answer: {} {}", status.as_u16(), short(&text));
    if status.is_success() {
        Ok(())
    } else {
        Err(CmdError::Failed(format!("{forward} answered {status}")))
    }
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs `dodo listen` until Ctrl-C.
pub async fn run_listen(args: ListenArgs) -> Result<(), CmdError> {
    let http = reqwest::Client::new();
    let base = args.emulator.trim_end_matches('/').to_string();
    let key = Some(
        args.api_key
            .as_deref()
            .unwrap_or(dodo_emulator::DEFAULT_API_KEY),
    );
    let endpoint = match &args.forward_to {
        Some(url) => {
            let ep = admin(
                &http,
                reqwest::Method::POST,
                format!("{base}/_emulator/endpoints"),
                key,
                Some(json!({"url": url, "filter_types": args.events})),
            )
            .await?;
            let id = ep["id"].as_str().unwrap_or_default().to_string();
            let secret = admin(
                &http,
                reqwest::Method::GET,
                format!("{base}/_emulator/endpoints/{id}/secret"),
                key,
                None,
            )
            .await?;
            println!("forwarding events from {base} to {url}");
            println!(
                "  signing secret: {}",
                secret["secret"].as_str().unwrap_or_default()
            );
            Some(id)
        }
        None => {
            println!("tailing deliveries of {base}");
            None
        }
    };
    println!("Press Ctrl-C to stop.");
    let tail = tail(&http, &base, endpoint.as_deref(), key);
    tokio::select! {
        r = tail => {
            if let Some(id) = &endpoint {
                let _ = admin(&http, reqwest::Method::DELETE, format!("{base}/_emulator/endpoints/{id}"), key, None).await;
            }
            r
        }
        _ = tokio::signal::ctrl_c() => {
            if let Some(id) = &endpoint {
                let _ = admin(&http, reqwest::Method::DELETE, format!("{base}/_emulator/endpoints/{id}"), key, None).await;
            }
            Ok(())
        }
    }
}

/// Prints every attempt of every delivery (of `endpoint`, or all) as it happens.
async fn tail(
    http: &reqwest::Client,
    base: &str,
    endpoint: Option<&str>,
    key: Option<&str>,
) -> Result<(), CmdError> {
    let mut printed: HashMap<String, usize> = HashMap::new();
    let filter = endpoint
        .map(|e| format!("?endpoint_id={e}"))
        .unwrap_or_default();
    // Deliveries that existed before listening are not replayed on screen.
    let existing = admin(
        http,
        reqwest::Method::GET,
        format!("{base}/_emulator/deliveries{filter}"),
        key,
        None,
    )
    .await?;
    for d in existing["items"].as_array().into_iter().flatten() {
        if let (Some(id), Some(n)) = (d["id"].as_str(), d["attempts"].as_u64()) {
            printed.insert(id.to_string(), usize::try_from(n).unwrap_or(usize::MAX));
        }
    }
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let list = admin(
            http,
            reqwest::Method::GET,
            format!("{base}/_emulator/deliveries{filter}"),
            key,
            None,
        )
        .await?;
        let mut items: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
        items.reverse();
        for d in items {
            let id = d["id"].as_str().unwrap_or_default().to_string();
            let attempts = usize::try_from(d["attempts"].as_u64().unwrap_or(0)).unwrap_or(0);
            let seen = printed.get(&id).copied().unwrap_or(0);
            if attempts <= seen {
                continue;
            }
            let detail = admin(
                http,
                reqwest::Method::GET,
                format!("{base}/_emulator/deliveries/{id}"),
                key,
                None,
            )
            .await?;
            for a in detail["attempt_log"]
                .as_array()
                .into_iter()
                .flatten()
                .skip(seen)
            {
                let answer = attempt_answer(a);
                println!(
                    "{} {} {} attempt {} → {answer}",
                    a["at"].as_str().unwrap_or_default(),
                    detail["event_type"].as_str().unwrap_or_default(),
                    detail["event_id"].as_str().unwrap_or_default(),
                    a["attempt"],
                );
            }
            printed.insert(id, attempts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn short_cuts_long_bodies_on_char_boundaries() {
        assert_eq!(short("ok"), "ok");
        let long = "é".repeat(400);
        let cut = short(&long);
        assert!(cut.ends_with('…'));
        assert!(cut.len() <= 303);
    }
}
