//! `dodo-dev listen`: forward a running emulator's webhook deliveries to an app and print each
//! attempt with the app's answer until Ctrl-C.
//!
//! The emulator pushes every finished attempt on `GET /_emulator/deliveries/stream` (Server-
//! Sent Events), so nothing is polled: the feed is opened first, then `--forward-to URL`
//! registers a temporary endpoint (removed on exit) and the attempts of that endpoint are
//! shown as they happen; without `--forward-to`, every delivery of the emulator is shown.
//! `--print-secret` prints the secret those deliveries are signed with (the emulator-wide
//! one, `GET /_emulator/endpoints/{id}/secret`) and exits; `--json` prints each attempt's
//! delivery, as the emulator pushed it, as one JSON line (status text then goes to stderr).
//! Endpoints are registered, read and removed through the emulator's typed harness
//! ([`dodo_emulator::testing::Admin`]); the feed is read as a stream ([`crate::sse`]).

use clap::Args;
use dodo_emulator::testing::Admin;
use serde_json::Value;

use crate::delivery_view::attempt_line;
use crate::http::{CmdError, admin_key};
use crate::sse::SseStream;
use crate::trigger::event_type_parser;

/// Default emulator URL (the `dodo-dev emulator` default port).
pub const DEFAULT_EMULATOR: &str = "http://127.0.0.1:4242";

/// Options of `dodo-dev listen`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  dodo-dev listen --forward-to http://localhost:3000/webhooks
  dodo-dev listen --forward-to http://localhost:3000/webhooks --events payment.succeeded,refund.succeeded
  export DODO_PAYMENTS_WEBHOOK_KEY=\"$(dodo-dev listen --forward-to http://localhost:3000/webhooks --print-secret)\"
  dodo-dev listen --json | jq -c '{event_type, status, attempts}'")]
pub struct ListenArgs {
    /// Where the emulator should deliver events (your app's webhook route).
    #[arg(long, value_name = "URL")]
    pub forward_to: Option<String>,
    /// The running emulator.
    #[arg(long, env = "DODO_EMULATOR_URL", default_value = DEFAULT_EMULATOR, value_name = "URL")]
    pub emulator: String,
    /// API key of the emulator (its admin API requires it; default: the emulator's default key).
    #[arg(long, env = "DODO_EMULATOR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Only these event types (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = event_type_parser())]
    pub events: Vec<String>,
    /// Print the secret the deliveries to `--forward-to` are signed with, and exit.
    #[arg(long, requires = "forward_to")]
    pub print_secret: bool,
    /// Print each delivery attempt as one JSON line (the delivery as the emulator reports it).
    #[arg(long)]
    pub json: bool,
}

/// Status text: stdout normally, stderr under `--json` so stdout stays JSON lines.
fn status(as_json: bool, text: &str) {
    if as_json {
        eprintln!("{text}");
    } else {
        say!("{text}");
    }
}

/// Runs `dodo-dev listen` until Ctrl-C.
pub async fn run(args: ListenArgs, http: reqwest::Client) -> Result<(), CmdError> {
    let base = args.emulator.trim_end_matches('/').to_string();
    let key = Some(admin_key(args.api_key.as_deref()));
    let admin = Admin::with_http_client(&base, admin_key(args.api_key.as_deref()), http.clone());
    if args.print_secret {
        let url = args.forward_to.as_deref().unwrap_or_default();
        let id = register(&admin, url, &args.events).await?;
        let secret = admin.endpoint_secret(&id).await;
        let _ = admin.remove_endpoint(&id).await;
        say!("{}", secret?);
        return Ok(());
    }
    // The feed is opened before the endpoint exists, so its first delivery cannot be missed.
    let query = match args.events.as_slice() {
        [one] => format!("?event_type={one}"),
        _ => String::new(),
    };
    let mut feed = SseStream::open(
        &http,
        format!("{base}/_emulator/deliveries/stream{query}"),
        key,
    )
    .await?;
    let endpoint = match &args.forward_to {
        Some(url) => {
            let id = register(&admin, url, &args.events).await?;
            let secret = match admin.endpoint_secret(&id).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = admin.remove_endpoint(&id).await;
                    return Err(e.into());
                }
            };
            status(
                args.json,
                &format!("forwarding events from {base} to {url}"),
            );
            status(args.json, &format!("  signing secret: {secret}"));
            Some(id)
        }
        None => {
            status(args.json, &format!("tailing deliveries of {base}"));
            None
        }
    };
    status(args.json, "Press Ctrl-C to stop.");
    let tail = async {
        while let Some(d) = feed.next().await? {
            if endpoint.as_deref().is_some_and(|id| d["endpoint_id"] != id) {
                continue;
            }
            if !args.events.is_empty() && !args.events.iter().any(|t| d["event_type"] == t.as_str())
            {
                continue;
            }
            show(&d, args.json);
        }
        Err(CmdError::Failed(format!(
            "{base} closed the delivery stream (did the emulator stop?)"
        )))
    };
    let result = tokio::select! {
        r = tail => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    if let Some(id) = &endpoint {
        let _ = admin.remove_endpoint(id).await;
    }
    result
}

/// Prints one pushed delivery: its newest attempt as a line, or the whole delivery as JSON.
fn show(d: &Value, as_json: bool) {
    if as_json {
        say!("{d}");
    } else if let Some(last) = d["attempt_log"].as_array().and_then(|a| a.last()) {
        say!("{}", attempt_line(d, last));
    }
}

/// Registers a temporary endpoint for `events` (all when empty); answers its id.
async fn register(admin: &Admin, url: &str, events: &[String]) -> Result<String, CmdError> {
    let types: Vec<&str> = events.iter().map(String::as_str).collect();
    Ok(admin.add_endpoint(url, &types).await?)
}
