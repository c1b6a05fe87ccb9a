//! `dodo-dev trigger`: make a webhook event happen.
//!
//! With `--emulator URL` it asks a running emulator to run the scripted path of that event
//! type (`POST /_emulator/trigger/{type}`), so the event comes out of the emulator's own state
//! machine and reaches its registered endpoints; adding `--forward-to URL` also registers a
//! temporary endpoint for that type and reports the delivery and the app's answer. Every
//! admin call goes through the emulator's typed harness ([`dodo_emulator::testing::Admin`]),
//! the same one tests use. Without
//! `--emulator`, `--forward-to URL` runs the same path in a private in-memory emulator, signs
//! the resulting event with the app's secret (`--secret`, else the variables of
//! [`crate::secret`], else a generated one it prints) and POSTs it once.

use std::time::Duration;

use clap::Args;
use clap::builder::PossibleValuesParser;
use dodo_emulator::testing::{Admin, Delivery, DeliveryFilter, HarnessError, TestEmulator};
use dodo_emulator::{EmulatorConfig, Storage};
use serde_json::json;

use crate::delivery_view::print_delivery;
use crate::http::{CmdError, admin_key, short};
use crate::secret;

/// How long `trigger --forward-to` waits for its delivery to settle.
const SETTLE: Duration = Duration::from_secs(60);

/// Every event type the emulator can trigger (the 48 documented ones).
pub fn event_types() -> impl Iterator<Item = &'static str> {
    dodo_webhooks::EventType::ALL.iter().map(|t| t.as_str())
}

/// A clap parser accepting exactly the documented event types (listed in `--help`).
pub fn event_type_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(event_types())
}

/// Options of `dodo-dev trigger`.
#[derive(Debug, Args)]
#[command(
    after_help = "The signing secret of a local delivery: --secret, else DODO_PAYMENTS_WEBHOOK_SECRET,
else DODO_PAYMENTS_WEBHOOK_KEY, else DODO_WEBHOOK_SECRET (first set wins), else generated.

Examples:
  dodo-dev trigger payment.succeeded --forward-to http://localhost:3000/webhooks
  dodo-dev trigger subscription.renewed --emulator http://127.0.0.1:4242 --forward-to http://localhost:3000/webhooks
  DODO_PAYMENTS_WEBHOOK_KEY=whsec_... dodo-dev trigger refund.failed --forward-to https://localhost:8443/hook --ca-cert cert.pem
  dodo-dev trigger dispute.won --forward-to http://localhost:3000/webhooks --json | jq .status_code
  dodo-dev trigger --list"
)]
pub struct TriggerArgs {
    /// Event type (one of the 48 documented ones; `--list` prints them one per line).
    #[arg(required_unless_present = "list", value_parser = event_type_parser())]
    pub event_type: Option<String>,
    /// Print the supported event types and exit.
    #[arg(long)]
    pub list: bool,
    /// A running emulator to trigger on (e.g. http://127.0.0.1:4242).
    #[arg(long, env = "DODO_EMULATOR_URL", value_name = "URL")]
    pub emulator: Option<String>,
    /// API key of the emulator (its admin API requires it; default: the emulator's default key).
    #[arg(long, env = "DODO_EMULATOR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Deliver the event to this URL as well (http or https).
    #[arg(long, value_name = "URL")]
    pub forward_to: Option<String>,
    /// Signing secret (`whsec_...`) of a local delivery (without `--emulator`).
    #[arg(long, value_name = "WHSEC")]
    pub secret: Option<String>,
    /// Print one JSON object with the outcome instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `dodo-dev trigger`.
pub async fn run(args: TriggerArgs, http: reqwest::Client) -> Result<(), CmdError> {
    if args.list {
        for t in event_types() {
            say!("{t}");
        }
        return Ok(());
    }
    // clap has already checked the type against the documented list.
    let ty = args.event_type.clone().unwrap_or_default();
    match (&args.emulator, &args.forward_to) {
        (Some(base), forward) => {
            trigger_on(&http, base.trim_end_matches('/'), &ty, &args, forward.as_deref()).await
        }
        (None, Some(forward)) => trigger_locally(&http, &ty, forward, &args).await,
        (None, None) => Err(CmdError::Failed(
            "give --emulator URL (or DODO_EMULATOR_URL) to trigger on a running emulator, or --forward-to URL to sign and send one event".into(),
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
    let admin = Admin::with_http_client(base, admin_key(args.api_key.as_deref()), http.clone());
    let endpoint_id = match forward {
        Some(url) => Some(admin.add_endpoint(url, &[ty]).await?),
        None => None,
    };
    let result = trigger_and_report(&admin, ty, endpoint_id.as_deref(), args.json).await;
    if let Some(id) = endpoint_id {
        let _ = admin.remove_endpoint(&id).await;
    }
    result
}

async fn trigger_and_report(
    admin: &Admin,
    ty: &str,
    endpoint: Option<&str>,
    as_json: bool,
) -> Result<(), CmdError> {
    let out = admin.trigger(ty).await?;
    // The wait subscribes to the delivery feed and then reads what already finished, so a
    // delivery that settled before it started is found too.
    let delivery = match endpoint {
        Some(id) => Some(settled(admin, id).await?),
        None => None,
    };
    let delivery_json = delivery
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| CmdError::Failed(format!("cannot show the delivery: {e}")))?;
    if as_json {
        let report = json!({
            "event_type": ty,
            "objects": out.objects,
            "events": out.events,
            "delivery": delivery_json,
        });
        say!("{report}");
    } else {
        say!("triggered {ty}");
        for (name, id) in &out.objects {
            say!("  {name}: {}", id.as_str().unwrap_or_default());
        }
        for e in &out.events {
            say!("  event {} {}", e.event_type, e.id);
        }
        if let Some(d) = &delivery_json {
            print_delivery(d);
        }
    }
    match &delivery {
        Some(d) if d.status != "succeeded" => Err(CmdError::Failed(format!(
            "delivery {} to {} failed",
            d.id, d.url
        ))),
        _ => Ok(()),
    }
}

/// Waits until the endpoint's delivery settles (succeeded or failed: retries exhausted or
/// the endpoint gone) and returns it; at most [`SETTLE`].
async fn settled(admin: &Admin, endpoint_id: &str) -> Result<Delivery, CmdError> {
    match admin
        .wait_for_delivery_matching(&DeliveryFilter::endpoint(endpoint_id), SETTLE)
        .await
    {
        Ok(d) => Ok(d),
        Err(HarnessError::Timeout(..)) => Err(CmdError::Failed(format!(
            "the delivery did not settle within {} s",
            SETTLE.as_secs()
        ))),
        Err(HarnessError::ReceiverClosed) => Err(CmdError::Failed(
            "the emulator closed the delivery stream before the delivery settled".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn trigger_locally(
    http: &reqwest::Client,
    ty: &str,
    forward: &str,
    args: &TriggerArgs,
) -> Result<(), CmdError> {
    let found = secret::find(args.secret.clone(), |name| std::env::var(name).ok());
    let (secret_value, generated) = match &found {
        Some(f) => (f.value.clone(), false),
        None => (dodo_emulator::ids::webhook_secret(), true),
    };
    let key = match &found {
        Some(f) => secret::parse(f)?,
        None => dodo_webhooks::WebhookSecret::new(&secret_value)
            .map_err(|e| CmdError::Failed(format!("generated secret: {e}")))?,
    };
    if generated && !args.json {
        say!("signing secret (generated): {secret_value}");
    }
    let (event_id, body) = sample_event(ty).await?;
    let ts = time_now();
    let signature = key.sign(&event_id, ts, body.as_bytes());
    let sent = http
        .post(forward)
        .header("content-type", "application/json")
        .header("webhook-id", &event_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|source| CmdError::Http {
            url: forward.to_string(),
            source,
        })?;
    let status = sent.status();
    let text = sent.text().await.unwrap_or_default();
    if args.json {
        let mut report = json!({
            "event_type": ty,
            "event_id": event_id,
            "forward_to": forward,
            "status_code": status.as_u16(),
            "response_body": short(&text),
            "secret_from": found.as_ref().map(|f| f.source.clone()),
        });
        if generated {
            report["generated_secret"] = json!(secret_value);
        }
        say!("{report}");
    } else {
        say!("→ {ty} {event_id} to {forward}");
        say!("    answer: {} {}", status.as_u16(), short(&text));
    }
    if status.is_success() {
        Ok(())
    } else {
        Err(CmdError::Failed(format!("{forward} answered {status}")))
    }
}

/// Runs the event type's path in a private in-memory emulator; returns the event id and the
/// exact body a delivery carries.
async fn sample_event(ty: &str) -> Result<(String, String), CmdError> {
    let emu = TestEmulator::with_config(EmulatorConfig::default().port(0).storage(Storage::Memory))
        .await
        .map_err(|e| CmdError::Failed(format!("cannot start a private emulator: {e}")))?;
    let result = async {
        let admin = emu.admin();
        let out = admin.trigger(ty).await?;
        let event_id = out
            .events
            .iter()
            .find(|e| e.event_type == ty)
            .map(|e| e.id.clone())
            .ok_or_else(|| CmdError::Failed(format!("the {ty} path emitted no {ty} event")))?;
        let event = admin
            .events(Some(ty), 100)
            .await?
            .into_iter()
            .find(|e| e.id == event_id)
            .ok_or_else(|| CmdError::Failed("the event was not recorded".into()))?;
        Ok((event_id, event.body()))
    }
    .await;
    emu.shutdown().await;
    result
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_knows_all_48_documented_types() {
        assert_eq!(event_types().count(), 48);
        assert!(event_types().any(|t| t == "payment.succeeded"));
    }
}
