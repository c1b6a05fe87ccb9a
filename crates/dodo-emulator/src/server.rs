//! Starting, serving and stopping an emulator.
//!
//! [`Emulator::start`] opens the store, binds the listener and spawns the accept loop; the
//! returned handle knows the base URL, API key and webhook secret. The accept loop serves
//! HTTP/1.1 with hyper directly (rather than `axum::serve`) so a fault can drop a connection
//! without answering. Dropping the handle stops accepting and lets open requests finish
//! (graceful); [`Emulator::shutdown`] does the same and waits until the server is gone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use futures_util::future::Either;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::admin;
use crate::config::EmulatorConfig;
use crate::dispatch::{self, AppState, ConnectionKill};
use crate::ids;
use crate::ops::{OperationTable, TableError};
use crate::resources::{Ctx, Env, Registry};
use crate::store::{Store, StoreError};
use crate::validate::TypedValidator;

/// How long shutdown waits for open requests.
const GRACE: Duration = Duration::from_secs(5);

/// Why an emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The operation table is inconsistent.
    #[error(transparent)]
    Table(#[from] TableError),
    /// The address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A non-loopback address was asked for with the well-known default API key.
    #[error(
        "refusing to listen on {addr} with the default API key: anyone who can reach it could use \
         the API and its admin routes; set an API key of your own (or bind 127.0.0.1)"
    )]
    DefaultKeyOnPublicAddress {
        /// Requested address.
        addr: SocketAddr,
    },
    /// A registered handler names an operation the operation table lacks.
    #[error("handlers registered for operations that do not exist: {0:?}")]
    UnknownHandlers(Vec<(&'static str, &'static str)>),
    /// The payout threshold is below the live API's minimum.
    #[error(
        "payout threshold {threshold} is below the minimum of {min} USD minor units ($100.00) \
         that the live API allows"
    )]
    PayoutThresholdTooLow {
        /// The configured threshold (USD minor units).
        threshold: i64,
        /// The minimum ([`crate::config::MIN_PAYOUT_THRESHOLD`]).
        min: i64,
    },
    /// Initialising the database failed.
    #[error("cannot initialise the emulator database: {0}")]
    Init(String),
}

/// A running emulator. Dropping it shuts the server down (gracefully, in the background).
pub struct Emulator {
    base_url: String,
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("webhook_secret", &"<redacted>")
            .finish()
    }
}

impl Emulator {
    /// Opens the store, binds and starts serving.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), dodo_emulator::StartError> {
    /// let emu = dodo_emulator::Emulator::start(dodo_emulator::EmulatorConfig::default()).await?;
    /// println!("{} {}", emu.base_url(), emu.api_key());
    /// # Ok(()) }
    /// ```
    pub async fn start(config: EmulatorConfig) -> Result<Self, StartError> {
        Self::start_with(config, Registry::standard()).await
    }

    /// Like [`Emulator::start`] with a custom handler registry (e.g. to add or replace
    /// domain handlers).
    pub async fn start_with(
        config: EmulatorConfig,
        registry: Registry,
    ) -> Result<Self, StartError> {
        let clock = crate::clock::Clock::new();
        let requested = SocketAddr::new(config.host, config.port);
        if !config.host.is_loopback() && config.api_key == crate::config::DEFAULT_API_KEY {
            return Err(StartError::DefaultKeyOnPublicAddress { addr: requested });
        }
        if config.payout_threshold < crate::config::MIN_PAYOUT_THRESHOLD {
            return Err(StartError::PayoutThresholdTooLow {
                threshold: config.payout_threshold,
                min: crate::config::MIN_PAYOUT_THRESHOLD,
            });
        }
        let store = Store::open(&config.storage, clock)?;
        let table = OperationTable::new(config.operations)?;
        let unknown = registry.unknown_routes(config.operations);
        if !unknown.is_empty() {
            return Err(StartError::UnknownHandlers(unknown));
        }
        let addr = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let base_url = format!("http://{addr}");
        let env = Env {
            business_id: config.business_id.clone(),
            base_url: base_url.clone(),
            payouts: crate::resources::payout_cycles::PayoutSchedule {
                cycle: config.payout_cycle,
                threshold: config.payout_threshold,
            },
        };
        let webhook_secret = init_store(&store, &env, config.webhook_secret.clone())?;
        // Subscription events carry the credit carts `GET /subscriptions/{id}` answers.
        let shown_env = env.clone();
        store.show_in_payloads_as(crate::store::PayloadView::new(move |db, kind, data| {
            (kind == crate::resources::common::kind::SUBSCRIPTION)
                .then(|| {
                    let ctx = crate::resources::Ctx {
                        db,
                        env: &shown_env,
                    };
                    crate::resources::subscription_carts::render(&ctx, data.clone()).ok()
                })
                .flatten()
        }));
        let mut state = AppState::new(
            store,
            table,
            registry,
            Box::new(TypedValidator),
            config.api_key.clone(),
            webhook_secret,
            env,
            config.max_body_bytes,
            config.request_log_capacity,
        );
        state.max_deliveries = config.max_deliveries;
        state.replay_idempotency_key = config.replay_idempotency_key;
        let state = Arc::new(state);
        crate::delivery::start(&state);
        let router = admin::routes()
            .merge(crate::extensions::routes())
            .merge(crate::request_log::routes(state.request_log.clone()))
            .fallback(dispatch::api)
            .with_state(state.clone());
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, router, state.clone(), stopped));
        Ok(Self {
            base_url,
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The accepted API key.
    pub fn api_key(&self) -> &str {
        &self.state.api_key
    }

    /// The emulator-wide webhook signing secret (`whsec_...`).
    pub fn webhook_secret(&self) -> &str {
        &self.state.webhook_secret
    }

    /// Stops accepting connections, lets open requests finish (up to 5 s), and waits.
    pub async fn shutdown(mut self) {
        self.state.closing.close();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.state.closing.close();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Creates the default brand and loads (or stores) the webhook secret.
fn init_store(store: &Store, env: &Env, configured: Option<String>) -> Result<String, StartError> {
    store
        .write(|db| {
            let ctx = Ctx { db, env };
            crate::resources::brands::default_brand_id(&ctx)?;
            let secret = match configured {
                Some(s) => s,
                None => match db.meta_get(crate::store::WEBHOOK_SECRET_META)? {
                    Some(s) => s,
                    None => ids::webhook_secret(),
                },
            };
            db.meta_set(crate::store::WEBHOOK_SECRET_META, &secret)?;
            // Objects stored by an earlier run on another port carry that run's URLs.
            if let Some(old) = db.meta_get(crate::store::ORIGIN_META)?
                && old != env.base_url
            {
                let changed = db.rewrite_origin(&old, &env.base_url)?;
                tracing::info!(from = %old, to = %env.base_url, objects = changed, "stored emulator URLs moved to this run's origin");
            }
            db.meta_set(crate::store::ORIGIN_META, &env.base_url)?;
            Ok(secret)
        })
        .map_err(|e: crate::error::ApiError| StartError::Init(e.message))
}

/// Serves connections. Every request first passes the admin guard ([`crate::auth`]) and is
/// recorded in the request log ([`crate::request_log`]) here, around the router, which costs
/// less than two axum middleware layers on the hot path.
async fn accept_loop(
    listener: TcpListener,
    router: Router,
    state: Arc<AppState>,
    mut stopped: oneshot::Receiver<()>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    // Transient accept errors (e.g. too many open files): back off briefly.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let kill = Arc::new(Notify::new());
                let inner = TowerToHyperService::new(router.clone());
                let conn_kill = ConnectionKill(kill.clone());
                let state = state.clone();
                let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                    req.extensions_mut().insert(conn_kill.clone());
                    let pending = state.request_log.begin(req.method(), req.uri());
                    let refused = crate::auth::check_admin(
                        req.method(),
                        req.uri().path(),
                        req.headers(),
                        &state.api_key,
                    )
                    .err();
                    let answer = match refused {
                        None => Either::Left(inner.call(req)),
                        Some(e) => Either::Right(std::future::ready(Ok(crate::error::error_response(&e)))),
                    };
                    let state = state.clone();
                    async move {
                        let mut response: axum::response::Response = answer.await?;
                        if let Some(p) = pending {
                            state.request_log.finish(p, &mut response);
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    tokio::select! {
                        _ = conn => {}
                        () = kill.notified() => {}
                    }
                });
            }
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(GRACE, graceful.shutdown()).await;
}
