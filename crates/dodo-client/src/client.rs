//! The client handle and its builder.
//!
//! [`Client`] is a cheap-to-clone handle (an `Arc` inside) around one pooled HTTP client and
//! the resolved configuration: API key, base URL, default headers, timeouts, retry count,
//! idempotency and logging settings. [`ClientBuilder`] collects options from code and from
//! the `DODO_PAYMENTS_*` environment variables and validates them in
//! [`build`](ClientBuilder::build), returning [`Error::Config`] instead of panicking.
//! Neither type's `Debug` output contains the API key or the webhook key.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, USER_AGENT};

use crate::budget::{DEFAULT_RETRY_BUDGET, RetryBudget};
use crate::config::{EnvConfig, Environment, LogLevel, Secret};
use crate::error::Error;
use crate::intercept::Interceptor;
use crate::transport::{Transport, header_pair};

/// Default per-attempt timeout (as in the official SDKs).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default number of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Default cap on a response body: far above any API answer, low enough that a
/// misbehaving proxy cannot exhaust memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;
/// Default `User-Agent`.
pub const DEFAULT_USER_AGENT: &str = concat!("dodopayments-rust/", env!("CARGO_PKG_VERSION"));

/// A handle to the Dodo Payments API. Clone it freely: clones share one connection pool.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Transport>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Client")
            .field("base_url", &i.base_url)
            .field("api_key", &"***")
            .field("webhook_key", &i.webhook_key.as_ref().map(|_| "***"))
            .field("timeout", &i.timeout)
            .field("total_timeout", &i.total_timeout)
            .field("max_retries", &i.max_retries)
            .field(
                "server_honours_idempotency_key",
                &i.server_honours_idempotency_key,
            )
            .field("max_response_bytes", &i.max_response_bytes)
            .field("log_level", &i.log_level)
            .field(
                "retry_budget_available",
                &i.retry_budget.as_ref().map(|b| b.available()),
            )
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the live environment with the given API key and default options.
    pub fn new(api_key: impl Into<String>) -> Result<Self, Error> {
        ClientBuilder::new().api_key(api_key).build()
    }

    /// A client configured from the `DODO_PAYMENTS_*` environment variables.
    /// Fails with [`Error::Config`] when `DODO_PAYMENTS_API_KEY` is missing.
    pub fn from_env() -> Result<Self, Error> {
        ClientBuilder::from_env()?.build()
    }

    /// A builder with default options (nothing read from the environment).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The base URL requests go to (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The webhook signing secret, if configured (for webhook verification).
    pub fn webhook_key(&self) -> Option<&str> {
        self.inner.webhook_key.as_ref().map(Secret::expose)
    }

    /// The default per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The default number of retries.
    pub fn max_retries(&self) -> u32 {
        self.inner.max_retries
    }

    /// The level at which this crate emits events.
    pub fn log_level(&self) -> LogLevel {
        self.inner.log_level
    }

    /// A copy of this client with changed settings, sharing the connection pool
    /// (like the TS SDK's `withOptions`).
    fn with_inner(&self, change: impl FnOnce(&mut Transport)) -> Client {
        let i = &self.inner;
        let mut inner = Transport {
            http: i.http.clone(),
            base_url: i.base_url.clone(),
            headers: i.headers.clone(),
            webhook_key: i.webhook_key.clone(),
            timeout: i.timeout,
            total_timeout: i.total_timeout,
            max_retries: i.max_retries,
            server_honours_idempotency_key: i.server_honours_idempotency_key,
            max_response_bytes: i.max_response_bytes,
            log_level: i.log_level,
            retry_budget: i.retry_budget.clone(),
            interceptors: i.interceptors.clone(),
        };
        change(&mut inner);
        Client {
            inner: Arc::new(inner),
        }
    }

    /// A copy with another default per-attempt timeout (same connection pool).
    pub fn with_timeout(&self, timeout: Duration) -> Client {
        self.with_inner(|i| i.timeout = timeout)
    }

    /// A copy with another overall deadline per call (same connection pool).
    pub fn with_total_timeout(&self, timeout: Option<Duration>) -> Client {
        self.with_inner(|i| i.total_timeout = timeout)
    }

    /// A copy with another default retry count (same connection pool).
    pub fn with_max_retries(&self, retries: u32) -> Client {
        self.with_inner(|i| i.max_retries = retries)
    }

    /// A copy with another log level (same connection pool).
    pub fn with_log_level(&self, level: LogLevel) -> Client {
        self.with_inner(|i| i.log_level = level)
    }

    /// A copy that sends one more default header (replacing one of the same name).
    /// Fails with [`Error::Config`] on an invalid name or value.
    pub fn with_default_header(&self, name: &str, value: &str) -> Result<Client, Error> {
        let (name, value) = header_pair(name, value).map_err(Error::config)?;
        Ok(self.with_inner(|i| {
            i.headers.insert(name, value);
        }))
    }
}

/// Builds a [`Client`]. Start with [`ClientBuilder::new`] or [`ClientBuilder::from_env`].
///
/// ```
/// use std::time::Duration;
/// use dodo_client::{Client, Environment, LogLevel};
///
/// let client = Client::builder()
///     .api_key("sk_test_123")
///     .environment(Environment::TestMode)
///     .timeout(Duration::from_secs(20))
///     .max_retries(3)
///     .log_level(LogLevel::Info)
///     .default_header("X-Team", "billing")
///     .build()?;
/// assert_eq!(client.base_url(), "https://test.dodopayments.com");
/// assert!(!format!("{client:?}").contains("sk_test_123"));
/// # Ok::<(), dodo_client::Error>(())
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    api_key: Option<Secret>,
    webhook_key: Option<Secret>,
    base_url: Option<String>,
    environment: Option<Environment>,
    timeout: Duration,
    total_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    max_retries: u32,
    env_headers: Vec<(String, String)>,
    default_headers: Vec<(String, String)>,
    proxy: Option<String>,
    user_agent: Option<String>,
    log_level: LogLevel,
    server_honours_idempotency_key: bool,
    max_response_bytes: usize,
    allow_insecure_http: bool,
    retry_budget: Option<u32>,
    http_client: Option<reqwest::Client>,
    interceptors: Vec<Arc<dyn Interceptor>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("webhook_key", &self.webhook_key.as_ref().map(|_| "***"))
            .field("base_url", &self.base_url)
            .field("environment", &self.environment)
            .field("timeout", &self.timeout)
            .field("total_timeout", &self.total_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .field(
                "default_headers",
                &self
                    .env_headers
                    .iter()
                    .chain(&self.default_headers)
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>(),
            )
            .field("proxy", &self.proxy.as_ref().map(|_| "***"))
            .field("user_agent", &self.user_agent)
            .field("log_level", &self.log_level)
            .field(
                "server_honours_idempotency_key",
                &self.server_honours_idempotency_key,
            )
            .field("max_response_bytes", &self.max_response_bytes)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("retry_budget", &self.retry_budget)
            .field("own_http_client", &self.http_client.is_some())
            .field("interceptors", &self.interceptors.len())
            .finish()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientBuilder {
    /// A builder with the defaults: live environment, 60 s per attempt, 2 retries (a POST
    /// only when it certainly was not processed or the API deduplicates it), no generated
    /// `Idempotency-Key`, responses capped at 32 MiB, https required except on loopback,
    /// log level `warn`. Nothing is read from the environment.
    pub fn new() -> Self {
        ClientBuilder {
            api_key: None,
            webhook_key: None,
            base_url: None,
            environment: None,
            timeout: DEFAULT_TIMEOUT,
            total_timeout: None,
            connect_timeout: None,
            max_retries: DEFAULT_MAX_RETRIES,
            env_headers: Vec::new(),
            default_headers: Vec::new(),
            proxy: None,
            user_agent: None,
            log_level: LogLevel::default(),
            server_honours_idempotency_key: false,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            allow_insecure_http: false,
            retry_budget: Some(DEFAULT_RETRY_BUDGET),
            http_client: None,
            interceptors: Vec::new(),
        }
    }

    /// A builder preloaded from the process environment (see [`EnvConfig`]).
    pub fn from_env() -> Result<Self, Error> {
        Ok(Self::new().env(EnvConfig::from_process_env()?))
    }

    /// A builder preloaded from variables found through `lookup` (for tests and for
    /// configuration stores other than the process environment).
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        Ok(Self::new().env(EnvConfig::from_lookup(lookup)?))
    }

    /// Applies parsed environment variables; values set there replace earlier ones.
    pub fn env(mut self, env: EnvConfig) -> Self {
        if env.api_key.is_some() {
            self.api_key = env.api_key;
        }
        if env.webhook_key.is_some() {
            self.webhook_key = env.webhook_key;
        }
        if env.base_url.is_some() {
            self.base_url = env.base_url;
        }
        if env.environment.is_some() {
            self.environment = env.environment;
        }
        if let Some(level) = env.log_level {
            self.log_level = level;
        }
        self.env_headers = env.custom_headers;
        self
    }

    /// The API key (sent as `Authorization: Bearer <key>`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(Secret::new(key));
        self
    }

    /// The webhook signing secret, exposed by [`Client::webhook_key`].
    pub fn webhook_key(mut self, key: impl Into<String>) -> Self {
        self.webhook_key = Some(Secret::new(key));
        self
    }

    /// A base URL (e.g. an emulator at `http://127.0.0.1:4010`). Setting both this and
    /// [`environment`](Self::environment) is an error at build time.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Forgets any base URL (e.g. one read from `DODO_PAYMENTS_BASE_URL`), so that
    /// [`environment`](Self::environment) decides.
    pub fn clear_base_url(mut self) -> Self {
        self.base_url = None;
        self
    }

    /// The environment (`LiveMode` by default).
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environment = Some(environment);
        self
    }

    /// Per-attempt timeout (default 60 s), covering connect, send and reading the body.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Overall deadline for one call across all its attempts and backoff sleeps
    /// (default: none). A retry that would start after the deadline is not made.
    pub fn total_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.total_timeout = timeout;
        self
    }

    /// TCP/TLS connect timeout (default: bounded only by the per-attempt timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Retries after the first attempt (default 2; 0 disables retries).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// A header sent with every request (validated at build time). Overrides headers
    /// from `DODO_PAYMENTS_CUSTOM_HEADERS` with the same name.
    pub fn default_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.default_headers.push((name.into(), value.into()));
        self
    }

    /// Route requests through a proxy (`http://`, `https://` or `socks5://` URL if the
    /// transport supports it). Validated at build time.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// The `User-Agent` (default `dodopayments-rust/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// The most detailed level at which this crate emits `tracing` events (default `warn`).
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = level;
        self
    }

    /// Declares that the server deduplicates POSTs by the `Idempotency-Key` header (for
    /// example the emulator started with its replay option). When on, every POST without
    /// a caller-given key gets a generated one (`dodo-rs-retry-<uuid>`, identical on all
    /// attempts) and is retried after timeouts, resets and 5xx like a GET. Default `false`.
    ///
    /// **Risk:** the live Dodo API documents no `Idempotency-Key` header; turned on against
    /// it, a timed-out refund or charge can be sent, and processed, up to three times.
    pub fn server_honours_idempotency_key(mut self, honoured: bool) -> Self {
        self.server_honours_idempotency_key = honoured;
        self
    }

    /// The largest response body read, in bytes (default 32 MiB). A larger answer ends the
    /// call with [`Error::ResponseTooLarge`] without reading the rest.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Allows a plain `http://` base URL on a host other than loopback (`127.0.0.0/8`,
    /// `::1`, `localhost`), which is refused by default. **Risk:** the API key and every
    /// customer's data cross the network unencrypted; use it only inside a network you
    /// trust, such as a container network running the emulator.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Capacity of the client-wide retry budget (default 500 tokens; `None` disables it).
    /// A retry costs 5 tokens (10 after a timeout or connection failure) and each
    /// successful attempt returns 1, so a long outage stops retries after about a hundred
    /// instead of tripling the load. Shared by every clone of the client.
    pub fn retry_budget(mut self, capacity: Option<u32>) -> Self {
        self.retry_budget = capacity;
        self
    }

    /// Sends every request through your own `reqwest::Client` (custom root certificates,
    /// mTLS, a corporate proxy set-up, your connection pool). Retries, timeouts (set per
    /// request), the response cap, redaction and the API key stay this crate's.
    /// [`proxy`](Self::proxy) and [`connect_timeout`](Self::connect_timeout) configure the
    /// client this crate builds, so combining them with this is a build error: set them on
    /// your own client instead.
    ///
    /// ```
    /// let http = reqwest::Client::builder()
    ///     .pool_max_idle_per_host(4)
    ///     .build()
    ///     .unwrap();
    /// let client = dodo_client::Client::builder()
    ///     .api_key("sk_test_...")
    ///     .http_client(http)
    ///     .build()
    ///     .unwrap();
    /// # let _ = client;
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Adds an [`Interceptor`] run around every attempt (see its docs for what it may
    /// change). Interceptors run in the order they were added.
    pub fn interceptor(mut self, interceptor: impl Interceptor) -> Self {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Validates the options and builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let api_key = self.api_key.ok_or_else(|| {
            Error::config(
                "no API key: set DODO_PAYMENTS_API_KEY or call ClientBuilder::api_key".to_owned(),
            )
        })?;
        let base_url = match (self.base_url, self.environment) {
            (Some(_), Some(env)) => {
                return Err(Error::config(format!(
                    "ambiguous base URL: both a base URL (DODO_PAYMENTS_BASE_URL or base_url()) and \
                     the environment {env} (DODO_PAYMENTS_ENVIRONMENT or environment()) are set; \
                     set only one (clear_base_url() drops the base URL)"
                )));
            }
            (Some(url), None) => validate_base_url(&url, self.allow_insecure_http)?,
            (None, env) => env.unwrap_or_default().base_url().to_owned(),
        };

        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let user_agent = self.user_agent.as_deref().unwrap_or(DEFAULT_USER_AGENT);
        headers.insert(
            USER_AGENT,
            HeaderValue::from_str(user_agent)
                .map_err(|_| Error::config("the user agent is not a valid header value"))?,
        );
        for (name, value) in self.env_headers.iter().chain(&self.default_headers) {
            let (name, value) = header_pair(name, value).map_err(Error::config)?;
            headers.insert(name, value);
        }
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", api_key.expose())).map_err(|_| {
                Error::config("the API key contains characters not allowed in a header")
            })?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);

        let http = match self.http_client {
            Some(_) if self.proxy.is_some() || self.connect_timeout.is_some() => {
                return Err(Error::config(
                    "proxy() and connect_timeout() configure the HTTP client this crate builds; \
                     with http_client(), set them on your own reqwest::Client",
                ));
            }
            Some(own) => own,
            None => {
                let mut http = reqwest::Client::builder();
                if let Some(timeout) = self.connect_timeout {
                    http = http.connect_timeout(timeout);
                }
                if let Some(proxy) = &self.proxy {
                    let proxy = reqwest::Proxy::all(proxy.as_str())
                        .map_err(|_| Error::config("the proxy URL is not valid"))?;
                    http = http.proxy(proxy);
                }
                http.build()
                    .map_err(|e| Error::config(format!("could not build the HTTP client: {e}")))?
            }
        };

        Ok(Client {
            inner: Arc::new(Transport {
                http,
                base_url,
                headers,
                webhook_key: self.webhook_key,
                timeout: self.timeout,
                total_timeout: self.total_timeout,
                max_retries: self.max_retries,
                server_honours_idempotency_key: self.server_honours_idempotency_key,
                max_response_bytes: self.max_response_bytes,
                log_level: self.log_level,
                retry_budget: self.retry_budget.map(|c| Arc::new(RetryBudget::new(c))),
                interceptors: self.interceptors,
            }),
        })
    }
}

/// Validates a base URL (absolute https, or http on loopback unless `allow_insecure_http`;
/// no query or fragment) and strips trailing `/`.
fn validate_base_url(url: &str, allow_insecure_http: bool) -> Result<String, Error> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| Error::config(format!("base URL {url:?} is not a valid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::config(format!(
            "base URL {url:?} must use http or https"
        )));
    }
    if parsed.scheme() == "http" && !allow_insecure_http && !is_loopback(&parsed) {
        return Err(Error::config(format!(
            "base URL {url:?} uses plain http on a non-loopback host, which would send the API \
             key unencrypted; use https, or ClientBuilder::allow_insecure_http(true) inside a \
             trusted network"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::config(format!(
            "base URL {url:?} must not have a query or fragment"
        )));
    }
    Ok(url.trim().trim_end_matches('/').to_owned())
}

/// Whether the URL's host is a loopback address or `localhost`.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let host = host.to_ascii_lowercase();
            host == "localhost" || host.ends_with(".localhost")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn public_types_are_thread_safe() {
        assert_send_sync::<Client>();
        assert_send_sync::<ClientBuilder>();
        assert_send_sync::<Error>();
        assert_send_sync::<crate::Call<serde_json::Value>>();
        assert_send_sync::<crate::Page<serde_json::Value>>();
        assert_send_sync::<crate::ListCall<serde_json::Value>>();
    }

    #[test]
    fn with_methods_copy_and_override() {
        let base = Client::builder()
            .api_key("k")
            .webhook_key("w")
            .build()
            .unwrap();
        let other = base
            .with_timeout(Duration::from_secs(5))
            .with_max_retries(7)
            .with_log_level(LogLevel::Debug)
            .with_default_header("X-Extra", "1")
            .unwrap();
        assert_eq!(other.timeout(), Duration::from_secs(5));
        assert_eq!(other.max_retries(), 7);
        assert_eq!(other.log_level(), LogLevel::Debug);
        assert_eq!(other.webhook_key(), Some("w"));
        assert_eq!(other.inner.headers.get("x-extra").unwrap(), "1");
        assert_eq!(base.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(base.max_retries(), DEFAULT_MAX_RETRIES);
        assert!(base.inner.headers.get("x-extra").is_none());
        assert!(base.with_default_header("bad name", "v").is_err());
    }

    #[test]
    fn base_url_validation() {
        assert_eq!(
            validate_base_url("http://127.0.0.1:4010/", false).unwrap(),
            "http://127.0.0.1:4010"
        );
        assert!(validate_base_url("http://localhost:4242", false).is_ok());
        assert!(validate_base_url("http://[::1]:4242", false).is_ok());
        assert!(validate_base_url("https://api.example.com", false).is_ok());
        assert!(validate_base_url("ftp://x", false).is_err());
        assert!(validate_base_url("not a url", false).is_err());
        assert!(validate_base_url("https://x/?a=1", false).is_err());
        let refused = validate_base_url("http://emulator.internal:4242", false).unwrap_err();
        assert!(
            refused.to_string().contains("allow_insecure_http"),
            "{refused}"
        );
        assert!(validate_base_url("http://10.0.0.5:4242", false).is_err());
        assert!(validate_base_url("http://emulator.internal:4242", true).is_ok());
    }
}
