//! Configuration values and environment parsing.
//!
//! [`Environment`] picks the API host, [`LogLevel`] how much this crate logs, and
//! [`EnvConfig`] is the pure parse of the `DODO_PAYMENTS_*` environment variables (it takes
//! a lookup function, so tests pass a map instead of mutating the process environment).
//! Secrets are held in a private wrapper whose `Debug` never shows the value.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// Environment variable holding the API key.
pub const ENV_API_KEY: &str = "DODO_PAYMENTS_API_KEY";
/// Environment variable overriding the base URL.
pub const ENV_BASE_URL: &str = "DODO_PAYMENTS_BASE_URL";
/// Environment variable selecting `live_mode` or `test_mode`.
pub const ENV_ENVIRONMENT: &str = "DODO_PAYMENTS_ENVIRONMENT";
/// Environment variable holding the webhook signing secret, the name Dodo's docs and most
/// adaptors use. Wins over [`ENV_WEBHOOK_KEY`] when both are set.
pub const ENV_WEBHOOK_SECRET: &str = "DODO_PAYMENTS_WEBHOOK_SECRET";
/// Environment variable holding the webhook signing secret, the name the Express adaptor
/// uses; read when [`ENV_WEBHOOK_SECRET`] is unset or empty.
pub const ENV_WEBHOOK_KEY: &str = "DODO_PAYMENTS_WEBHOOK_KEY";
/// The webhook-secret variables in order of precedence (the first one set wins).
pub const WEBHOOK_SECRET_VARS: [&str; 2] = [ENV_WEBHOOK_SECRET, ENV_WEBHOOK_KEY];
/// Environment variable setting the log level.
pub const ENV_LOG: &str = "DODO_PAYMENTS_LOG";
/// Environment variable with extra headers, one `Name: value` per line.
pub const ENV_CUSTOM_HEADERS: &str = "DODO_PAYMENTS_CUSTOM_HEADERS";

/// Which Dodo Payments deployment to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Environment {
    /// `https://live.dodopayments.com` (the default).
    #[default]
    LiveMode,
    /// `https://test.dodopayments.com`.
    TestMode,
}

impl Environment {
    /// The base URL of this environment.
    pub fn base_url(self) -> &'static str {
        match self {
            Environment::LiveMode => "https://live.dodopayments.com",
            Environment::TestMode => "https://test.dodopayments.com",
        }
    }

    /// The name used in configuration (`live_mode` / `test_mode`).
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::LiveMode => "live_mode",
            Environment::TestMode => "test_mode",
        }
    }
}

impl FromStr for Environment {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "live_mode" => Ok(Environment::LiveMode),
            "test_mode" => Ok(Environment::TestMode),
            other => Err(Error::config(format!(
                "unknown environment {other:?}; expected \"live_mode\" or \"test_mode\""
            ))),
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most detailed level at which this crate emits `tracing` events: a cap on top of the
/// application's own subscriber filter.
///
/// Ordered: `Off < Error < Warn < Info < Debug`. The default is `Debug`, i.e. no cap: the
/// app's filter (`RUST_LOG=dodo_client=info`, ...) alone decides what is recorded.
/// `DODO_PAYMENTS_LOG` or [`ClientBuilder::log_level`](crate::ClientBuilder::log_level)
/// lowers the cap, for example to keep a verbose subscriber from recording this crate's
/// per-attempt events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum LogLevel {
    /// Emit nothing.
    Off,
    /// Only errors.
    Error,
    /// Errors and warnings.
    Warn,
    /// Plus one event per attempt and per retry, and the call's span.
    Info,
    /// Plus request and response headers (credentials redacted; bodies never logged); the
    /// default (no cap).
    #[default]
    Debug,
}

impl LogLevel {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

impl FromStr for LogLevel {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(LogLevel::Off),
            "error" => Ok(LogLevel::Error),
            "warn" | "warning" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            other => Err(Error::config(format!(
                "unknown log level {other:?}; expected off, error, warn, info or debug"
            ))),
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret string: its `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// The `DODO_PAYMENTS_*` environment variables, parsed. Empty values count as unset.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvConfig {
    /// `DODO_PAYMENTS_API_KEY`.
    pub(crate) api_key: Option<Secret>,
    /// `DODO_PAYMENTS_WEBHOOK_SECRET`, else `DODO_PAYMENTS_WEBHOOK_KEY`.
    pub(crate) webhook_key: Option<Secret>,
    /// `DODO_PAYMENTS_BASE_URL`.
    pub base_url: Option<String>,
    /// `DODO_PAYMENTS_ENVIRONMENT`.
    pub environment: Option<Environment>,
    /// `DODO_PAYMENTS_LOG`.
    pub log_level: Option<LogLevel>,
    /// `DODO_PAYMENTS_CUSTOM_HEADERS`, in order.
    pub custom_headers: Vec<(String, String)>,
}

impl fmt::Debug for EnvConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvConfig")
            .field("api_key", &self.api_key)
            .field("webhook_key", &self.webhook_key)
            .field("base_url", &self.base_url)
            .field("environment", &self.environment)
            .field("log_level", &self.log_level)
            .field(
                "custom_headers",
                &self
                    .custom_headers
                    .iter()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl EnvConfig {
    /// Parses the variables through `lookup` (e.g. `|k| std::env::var(k).ok()` or a map).
    ///
    /// Errors on an unknown environment name, an unknown log level or a malformed
    /// custom-header line; the message names the variable but never echoes a secret.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let environment = get(ENV_ENVIRONMENT)
            .map(|v| v.parse::<Environment>())
            .transpose()
            .map_err(|e| Error::config(format!("{ENV_ENVIRONMENT}: {}", strip_prefix(&e))))?;
        let log_level = get(ENV_LOG)
            .map(|v| v.parse::<LogLevel>())
            .transpose()
            .map_err(|e| Error::config(format!("{ENV_LOG}: {}", strip_prefix(&e))))?;
        let custom_headers = match lookup(ENV_CUSTOM_HEADERS) {
            Some(text) => parse_custom_headers(&text)?,
            None => Vec::new(),
        };
        Ok(EnvConfig {
            api_key: get(ENV_API_KEY).map(Secret::new),
            webhook_key: WEBHOOK_SECRET_VARS
                .iter()
                .find_map(|name| get(name))
                .map(Secret::new),
            base_url: get(ENV_BASE_URL),
            environment,
            log_level,
            custom_headers,
        })
    }

    /// Parses the process environment.
    pub fn from_process_env() -> Result<Self, Error> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Whether an API key was found.
    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }

    /// Whether a webhook key was found.
    pub fn has_webhook_key(&self) -> bool {
        self.webhook_key.is_some()
    }

    /// The webhook key, if found.
    pub fn webhook_key(&self) -> Option<&str> {
        self.webhook_key.as_ref().map(Secret::expose)
    }
}

fn strip_prefix(e: &Error) -> String {
    match e {
        Error::Config { message } => message.clone(),
        other => other.to_string(),
    }
}

/// Parses `DODO_PAYMENTS_CUSTOM_HEADERS`: one `Name: value` per line, split at the first
/// colon, both sides trimmed; blank lines are skipped. A line without a colon or with an
/// empty name is an error naming the line number (not its content, which may be secret).
pub fn parse_custom_headers(text: &str) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Error::config(format!(
                "{ENV_CUSTOM_HEADERS}: line {} has no ':' (expected `Name: value`)",
                index + 1
            )));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::config(format!(
                "{ENV_CUSTOM_HEADERS}: line {} has an empty header name",
                index + 1
            )));
        }
        out.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        assert_eq!(
            "test_mode".parse::<Environment>().unwrap(),
            Environment::TestMode
        );
        assert_eq!(
            " LIVE_MODE ".parse::<Environment>().unwrap(),
            Environment::LiveMode
        );
        assert!("prod".parse::<Environment>().is_err());
        assert_eq!("debug".parse::<LogLevel>().unwrap(), LogLevel::Debug);
        assert!("verbose".parse::<LogLevel>().is_err());
        assert!(LogLevel::Off < LogLevel::Error && LogLevel::Info < LogLevel::Debug);
    }

    #[test]
    fn custom_headers() {
        let h = parse_custom_headers("X-A: 1\n\n  X-B :  two: parts \r\n").unwrap();
        assert_eq!(
            h,
            vec![
                ("X-A".to_string(), "1".to_string()),
                ("X-B".to_string(), "two: parts".to_string())
            ]
        );
        let e = parse_custom_headers("X-A: 1\nsecretvalue").unwrap_err();
        assert!(e.to_string().contains("line 2"));
        assert!(!e.to_string().contains("secretvalue"));
        assert!(parse_custom_headers(": v").is_err());
    }
}
