//! `dodo-dev logs tail`: show the requests a running emulator answers, as they happen.
//!
//! It reads the emulator's bounded request log: `--history N` first prints the newest N
//! matching requests (oldest first) from `GET /_emulator/requests`, then every new one is
//! pushed by `GET /_emulator/requests/stream`. Filters (`--method`, `--path-prefix`,
//! `--status`) are applied by the emulator. The log holds method, path, status, request id
//! and duration, never query strings or bodies.

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::http::{CmdError, admin_key, call};
use crate::listen::DEFAULT_EMULATOR;
use crate::sse::SseStream;

/// Options of `dodo-dev logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(subcommand)]
    pub command: LogsCommand,
}

/// The `logs` subcommands.
#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Print the emulator's requests as they are answered, until Ctrl-C.
    Tail(TailArgs),
}

/// Options of `dodo-dev logs tail`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  dodo-dev logs tail
  dodo-dev logs tail --method POST --path-prefix /payments
  dodo-dev logs tail --status 422 --history 20
  dodo-dev logs tail --json | jq -c 'select(.duration_ms > 100)'")]
pub struct TailArgs {
    /// The running emulator.
    #[arg(long, env = "DODO_EMULATOR_URL", default_value = DEFAULT_EMULATOR, value_name = "URL")]
    pub emulator: String,
    /// API key of the emulator (its admin API requires it; default: the emulator's default key).
    #[arg(long, env = "DODO_EMULATOR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Only this HTTP method (GET, POST, PATCH, PUT, DELETE).
    #[arg(long, value_parser = ["GET", "POST", "PATCH", "PUT", "DELETE", "get", "post", "patch", "put", "delete"])]
    pub method: Option<String>,
    /// Only paths starting with this, e.g. `/payments`.
    #[arg(long, value_name = "PREFIX")]
    pub path_prefix: Option<String>,
    /// Only this response status, e.g. 404.
    #[arg(long, value_parser = clap::value_parser!(u16).range(100..=599))]
    pub status: Option<u16>,
    /// First print the newest N logged requests that match (at most 1000).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=1000))]
    pub history: u16,
    /// Print each request as one JSON line.
    #[arg(long)]
    pub json: bool,
}

/// The query string of the filters (`?method=...&...`, empty without filters).
pub fn filter_query(args: &TailArgs, limit: Option<u16>) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(m) = &args.method {
        pairs.push(("method", m.to_ascii_uppercase()));
    }
    if let Some(p) = &args.path_prefix {
        pairs.push(("path_prefix", p.clone()));
    }
    if let Some(s) = args.status {
        pairs.push(("status", s.to_string()));
    }
    if let Some(l) = limit {
        pairs.push(("limit", l.to_string()));
    }
    if pairs.is_empty() {
        return String::new();
    }
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect();
    format!("?{}", encoded.join("&"))
}

/// One line for one logged request.
pub fn request_line(r: &Value) -> String {
    format!(
        "{} {:<6} {} → {} ({} ms) {}",
        r["at"].as_str().unwrap_or_default(),
        r["method"].as_str().unwrap_or_default(),
        r["path"].as_str().unwrap_or_default(),
        r["status"],
        r["duration_ms"],
        r["request_id"].as_str().unwrap_or_default(),
    )
}

fn show(r: &Value, as_json: bool) {
    if as_json {
        say!("{r}");
    } else {
        say!("{}", request_line(r));
    }
}

/// Runs `dodo-dev logs ...`.
pub async fn run(args: LogsArgs, http: reqwest::Client) -> Result<(), CmdError> {
    let LogsCommand::Tail(args) = args.command;
    let base = args.emulator.trim_end_matches('/');
    let key = Some(admin_key(args.api_key.as_deref()));
    // The stream is opened first, so nothing answered between the history and it is missed.
    let mut stream = SseStream::open(
        &http,
        format!(
            "{base}/_emulator/requests/stream{}",
            filter_query(&args, None)
        ),
        key,
    )
    .await?;
    if args.history > 0 {
        let list = call(
            &http,
            reqwest::Method::GET,
            &format!(
                "{base}/_emulator/requests{}",
                filter_query(&args, Some(args.history))
            ),
            key,
            None,
        )
        .await?;
        let mut items = list["items"].as_array().cloned().unwrap_or_default();
        items.reverse();
        for r in &items {
            show(r, args.json);
        }
    }
    // On stderr, so stdout stays the requests only; printed once the feed is open.
    eprintln!("tailing requests of {base} (Ctrl-C to stop)");
    let tail = async {
        while let Some(r) = stream.next().await? {
            show(&r, args.json);
        }
        Err(CmdError::Failed(format!(
            "{base} closed the request stream"
        )))
    };
    tokio::select! {
        r = tail => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(method: Option<&str>, prefix: Option<&str>, status: Option<u16>) -> TailArgs {
        TailArgs {
            emulator: DEFAULT_EMULATOR.into(),
            api_key: None,
            method: method.map(str::to_string),
            path_prefix: prefix.map(str::to_string),
            status,
            history: 0,
            json: false,
        }
    }

    #[test]
    fn filters_become_an_encoded_query() {
        assert_eq!(filter_query(&args(None, None, None), None), "");
        assert_eq!(
            filter_query(
                &args(Some("post"), Some("/payments/a b"), Some(422)),
                Some(20)
            ),
            "?method=POST&path_prefix=%2Fpayments%2Fa%20b&status=422&limit=20"
        );
    }

    #[test]
    fn a_request_is_one_readable_line() {
        let r = json!({"id": "log_1", "at": "2026-12-03T09:00:00Z", "method": "GET",
                       "path": "/customers", "status": 200, "request_id": "req_1", "duration_ms": 3});
        assert_eq!(
            request_line(&r),
            "2026-12-03T09:00:00Z GET    /customers → 200 (3 ms) req_1"
        );
    }
}
