//! `dodo-dev emulator`: run the local Dodo Payments API emulator until Ctrl-C.
//!
//! Start-up prints the base URL, API key and webhook secret in one of three forms: a human
//! banner (default), `--print-env` (shell `export` lines for `eval` or a `.env` file, ready
//! for the official SDKs), or `--json` (one JSON object on one line, for scripts and test
//! harnesses). In the two machine forms stdout carries nothing else; logs go to stderr.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use dodo_emulator::config::{MIN_PAYOUT_THRESHOLD, PayoutCycle};
use dodo_emulator::{Emulator, EmulatorConfig, Storage};
use serde_json::json;

use crate::http::CmdError;

/// The default port: not used by common dev servers (3000, 5173, 8000, 8080, 8787...).
pub const DEFAULT_PORT: u16 = 4242;

/// Options of `dodo-dev emulator`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  dodo-dev emulator --memory
  dodo-dev emulator --memory --print-env > .env.emulator &   # then: . ./.env.emulator
  dodo-dev emulator --port 0 --memory --json     # one JSON line: base_url, api_key, webhook_secret
  curl -H \"Authorization: Bearer $DODO_PAYMENTS_API_KEY\" http://127.0.0.1:4242/customers")]
pub struct EmulatorArgs {
    /// Port to listen on (0 picks a free port).
    #[arg(long, short, default_value_t = DEFAULT_PORT, env = "DODO_EMULATOR_PORT")]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// SQLite file holding the state (created if missing).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "memory",
        default_value = "dodo-emulator.sqlite3"
    )]
    pub db: PathBuf,
    /// Keep state in memory only (lost on exit).
    #[arg(long)]
    pub memory: bool,
    /// API key clients must send as `Authorization: Bearer <key>`.
    #[arg(long, env = "DODO_EMULATOR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Webhook signing secret (`whsec_...`); generated and persisted when absent.
    #[arg(long, env = "DODO_EMULATOR_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Print shell `export` lines (DODO_PAYMENTS_BASE_URL, DODO_PAYMENTS_API_KEY,
    /// DODO_PAYMENTS_WEBHOOK_KEY, ...) instead of the banner.
    #[arg(long, conflicts_with = "json")]
    pub print_env: bool,
    /// Print one JSON object (base_url, api_key, webhook_secret, ...) instead of the banner.
    #[arg(long)]
    pub json: bool,
    /// Replay POSTs by their `Idempotency-Key` header (off by default, like the live API,
    /// which documents no such header). Code that passes with this on can still duplicate
    /// payments and refunds in production; pair it only with a client configured for it.
    #[arg(long)]
    pub replay_idempotency_key: bool,
    /// When the platform pays out as the emulator's clock moves: `bi_monthly` (the live
    /// default: 1st-15th paid the 18th, 16th-end paid the 4th), `weekly`, `monthly`, or `off`
    /// (only `dodo-dev trigger payout.*` makes payouts).
    #[arg(long, value_name = "CYCLE", default_value = "bi_monthly")]
    pub payout_cycle: PayoutCycle,
    /// Smallest net, in USD cents, a billing period pays out (less carries forward to the
    /// next); at least 10000 ($100), as the live API.
    #[arg(long, value_name = "CENTS", default_value_t = MIN_PAYOUT_THRESHOLD)]
    pub payout_threshold: i64,
}

/// The emulator's configuration for these options.
pub fn config_from(args: &EmulatorArgs) -> EmulatorConfig {
    let storage = if args.memory {
        Storage::Memory
    } else {
        Storage::File(args.db.clone())
    };
    let mut config = EmulatorConfig::default()
        .host(args.host)
        .port(args.port)
        .storage(storage);
    if let Some(key) = &args.api_key {
        config = config.api_key(key.clone());
    }
    if let Some(secret) = &args.webhook_secret {
        config = config.webhook_secret(secret.clone());
    }
    config
        .replay_idempotency_key(args.replay_idempotency_key)
        .payout_cycle(args.payout_cycle)
        .payout_threshold(args.payout_threshold)
}

/// Quotes `value` for a POSIX shell (single quotes; an embedded `'` becomes `'\''`).
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The `export` lines of `--print-env`: what the official SDKs, `@dodopayments/express`,
/// this toolkit's client and `dodo-dev` itself read. `DODO_PAYMENTS_ENVIRONMENT` is unset:
/// next to a base URL it is the SDKs' "Ambiguous URL" error.
pub fn env_lines(base_url: &str, api_key: &str, webhook_secret: &str) -> String {
    let vars = [
        ("DODO_PAYMENTS_BASE_URL", base_url),
        ("DODO_PAYMENTS_API_KEY", api_key),
        ("DODO_PAYMENTS_WEBHOOK_KEY", webhook_secret),
        ("DODO_PAYMENTS_WEBHOOK_SECRET", webhook_secret),
        ("DODO_EMULATOR_URL", base_url),
        ("DODO_EMULATOR_API_KEY", api_key),
    ];
    let mut out = String::new();
    for (name, value) in vars {
        out.push_str(&format!("export {name}={}\n", shell_quote(value)));
    }
    out.push_str("unset DODO_PAYMENTS_ENVIRONMENT\n");
    out
}

/// Runs the emulator until Ctrl-C (or SIGTERM), then shuts it down cleanly.
pub async fn run(args: EmulatorArgs) -> Result<(), CmdError> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let storage_note = if args.memory {
        "in memory".to_string()
    } else {
        args.db.display().to_string()
    };
    let emulator = Emulator::start(config_from(&args)).await.map_err(|e| {
        CmdError::Failed(format!(
            "cannot start the emulator on {}:{}: {e}",
            args.host, args.port
        ))
    })?;
    let stop = Stop::install();
    let (base, key, secret) = (
        emulator.base_url(),
        emulator.api_key(),
        emulator.webhook_secret(),
    );
    if args.print_env {
        crate::out::raw(env_lines(base, key, secret).as_bytes());
    } else if args.json {
        let line = json!({
            "base_url": base,
            "api_key": key,
            "webhook_secret": secret,
            "state": storage_note,
            "pid": std::process::id(),
        });
        say!("{line}");
    } else {
        say!("Dodo Payments emulator listening");
        say!("  base URL:       {base}");
        say!("  API key:        {key}");
        say!("  webhook secret: {secret}");
        say!("  state:          {storage_note}");
        say!("  admin API:      {base}/_emulator/health");
        say!("Press Ctrl-C to stop.");
    }
    stop.wait().await;
    if !(args.print_env || args.json) {
        say!("shutting down...");
    } else {
        eprintln!("shutting down...");
    }
    emulator.shutdown().await;
    Ok(())
}

/// Ctrl-C and, on Unix, SIGTERM (what `kill`, npm and process managers send), registered
/// before the start-up lines are printed so a signal sent right after them is never missed.
struct Stop {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Stop {
    fn install() -> Stop {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                .ok();
            Stop { signals }
        }
        #[cfg(not(unix))]
        Stop {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        if let Err(e) = tokio::signal::ctrl_c().await {
            eprintln!("error: cannot listen for Ctrl-C: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_survive_a_shell() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn env_lines_name_every_variable_the_sdks_read() {
        let out = env_lines("http://127.0.0.1:4242", "sk_local", "whsec_abc");
        assert!(out.contains("export DODO_PAYMENTS_BASE_URL='http://127.0.0.1:4242'\n"));
        assert!(out.contains("export DODO_PAYMENTS_API_KEY='sk_local'\n"));
        assert!(out.contains("export DODO_PAYMENTS_WEBHOOK_KEY='whsec_abc'\n"));
        assert!(out.contains("export DODO_PAYMENTS_WEBHOOK_SECRET='whsec_abc'\n"));
        assert!(out.ends_with("unset DODO_PAYMENTS_ENVIRONMENT\n"));
    }
}
