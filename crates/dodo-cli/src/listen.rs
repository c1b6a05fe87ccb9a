//! `dodo-dev listen`: forward a running emulator's webhook deliveries to an app and print each
//! attempt with the app's answer until Ctrl-C.
//!
//! `--forward-to URL` registers a temporary endpoint on the emulator (removed on exit);
//! without it, every delivery of the emulator is shown. `--print-secret` prints the secret the
//! deliveries are signed with and exits; `--json` prints each attempt's delivery as one JSON
//! line.

use std::collections::HashMap;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use crate::delivery_view::attempt_line;
use crate::http::{CmdError, admin_key, call};
use crate::trigger::event_type_parser;

/// Default emulator URL (the `dodo-dev emulator` default port).
pub const DEFAULT_EMULATOR: &str = "http://127.0.0.1:4242";

/// Options of `dodo-dev listen`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  dodo-dev listen --forward-to http://localhost:3000/webhooks
  dodo-dev listen --forward-to http://localhost:3000/webhooks --events payment.succeeded,refund.succeeded
  export DODO_PAYMENTS_WEBHOOK_KEY=\"$(dodo-dev listen --print-secret)\"
  dodo-dev listen --json | jq -c '{event_type, status}'")]
pub struct ListenArgs {
    /// Where the emulator should deliver events (your app's webhook route).
    #[arg(long, value_name = "URL")]
    pub forward_to: Option<String>,
    /// The running emulator.
    #[arg(long, env = "DODO_EMULATOR_URL", default_value = DEFAULT_EMULATOR, value_name = "URL")]
    pub emulator: String,
    /// API key of the emulator (sent as a Bearer token).
    #[arg(long, env = "DODO_EMULATOR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Only these event types (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = event_type_parser())]
    pub events: Vec<String>,
    /// Print the secret deliveries are signed with, and exit.
    #[arg(long)]
    pub print_secret: bool,
    /// Print each delivery attempt as one JSON line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `dodo-dev listen` until Ctrl-C.
pub async fn run(args: ListenArgs, http: reqwest::Client) -> Result<(), CmdError> {
    let base = args.emulator.trim_end_matches('/').to_string();
    let key = Some(admin_key(args.api_key.as_deref()).to_string());
    let endpoint = match &args.forward_to {
        Some(url) => {
            let ep = call(
                &http,
                reqwest::Method::POST,
                &format!("{base}/_emulator/endpoints"),
                key.as_deref(),
                Some(&json!({"url": url, "filter_types": args.events})),
            )
            .await?;
            let id = ep["id"].as_str().unwrap_or_default().to_string();
            let secret = ep["secret"].as_str().unwrap_or_default().to_string();
            if args.print_secret {
                remove_endpoint(&http, &base, key.as_deref(), &id).await;
                say!("{secret}");
                return Ok(());
            }
            if !args.json {
                say!("forwarding events from {base} to {url}");
                say!("  signing secret: {secret}");
            }
            Some(id)
        }
        None if args.print_secret => {
            return Err(CmdError::Failed(
                "--print-secret needs --forward-to URL on this emulator".into(),
            ));
        }
        None => {
            if !args.json {
                say!("tailing deliveries of {base}");
            }
            None
        }
    };
    if !args.json {
        say!("Press Ctrl-C to stop.");
    }
    let tail = tail(&http, &base, key.as_deref(), endpoint.as_deref(), args.json);
    let result = tokio::select! {
        r = tail => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    if let Some(id) = &endpoint {
        remove_endpoint(&http, &base, key.as_deref(), id).await;
    }
    result
}

async fn remove_endpoint(http: &reqwest::Client, base: &str, key: Option<&str>, id: &str) {
    let _ = call(
        http,
        reqwest::Method::DELETE,
        &format!("{base}/_emulator/endpoints/{id}"),
        key,
        None,
    )
    .await;
}

/// Prints every attempt of every delivery (of `endpoint`, or all) as it happens.
async fn tail(
    http: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    endpoint: Option<&str>,
    as_json: bool,
) -> Result<(), CmdError> {
    let mut printed: HashMap<String, usize> = HashMap::new();
    let filter = endpoint
        .map(|e| format!("?endpoint_id={e}"))
        .unwrap_or_default();
    let list_url = format!("{base}/_emulator/deliveries{filter}");
    // Deliveries that existed before listening are not replayed on screen.
    let existing = call(http, reqwest::Method::GET, &list_url, key, None).await?;
    for d in existing["items"].as_array().into_iter().flatten() {
        if let (Some(id), Some(n)) = (d["id"].as_str(), d["attempts"].as_u64()) {
            printed.insert(id.to_string(), usize::try_from(n).unwrap_or(usize::MAX));
        }
    }
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let list = call(http, reqwest::Method::GET, &list_url, key, None).await?;
        let mut items: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
        items.reverse();
        for d in items {
            let id = d["id"].as_str().unwrap_or_default().to_string();
            let attempts = usize::try_from(d["attempts"].as_u64().unwrap_or(0)).unwrap_or(0);
            let seen = printed.get(&id).copied().unwrap_or(0);
            if attempts <= seen {
                continue;
            }
            let detail = call(
                http,
                reqwest::Method::GET,
                &format!("{base}/_emulator/deliveries/{id}"),
                key,
                None,
            )
            .await?;
            if as_json {
                say!("{detail}");
            } else {
                for a in detail["attempt_log"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .skip(seen)
                {
                    say!("{}", attempt_line(&detail, a));
                }
            }
            printed.insert(id, attempts);
        }
    }
}
