//! `passport serve`: an HTTP coordinator that stores and relays round packages.
//!
//! It stores signed package events unchanged and hands each member what it may see. It
//! holds no secrets: confidential packages are NIP-44 encrypted end to end, and every
//! request is authenticated by NIP-98 with a roster member's identity key. The router is
//! a library function so tests drive it in process; the binary only calls [`run`].

mod api;
pub mod auth;
pub mod config;
pub(crate) mod db;
pub mod door;
mod error;
pub(crate) mod inproc;
pub(crate) mod limits;
mod listen;
pub mod logging;
mod metrics;
mod middleware;
mod openapi;
mod packages;
mod problem;
mod queries;
mod rules;
mod settings;
mod slots;
pub(crate) mod store;
mod waiters;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::Method;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use tokio::sync::watch;

pub use config::{Config, Settings};
pub use error::ApiError;
pub use openapi::document as openapi_document;

/// Errors that stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {detail}")]
    Config { path: String, detail: String },
    #[error("invalid setting {key}: {detail}")]
    Setting { key: &'static str, detail: String },
    #[error("cannot listen on {addr}: {source}; pick another address with --listen")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("database {0}")]
    Db(String),
    #[error("the server stopped: {0}")]
    Serve(#[source] std::io::Error),
    #[error("the {name} stopped: {source}")]
    Sidecar {
        name: &'static str,
        #[source]
        source: door::BoxError,
    },
}

impl Error {
    /// True for mistakes in flags, environment or config file.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Config { .. } | Error::Setting { .. })
    }
}

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    config: Config,
    /// Base of the URLs that NIP-98 `u` tags must name.
    public_url: String,
    db: db::Db,
    ip_limit: limits::Limiter,
    key_limit: limits::Limiter,
    /// New ceremonies per client IP.
    ceremony_limit: limits::Limiter,
    metrics: metrics::Metrics,
    waiters: waiters::Waiters,
    /// Who is fetching packages (the bunker prefers co-signers that are connected).
    presence: inproc::Presence,
    /// Flips to true on shutdown so long polls answer at once.
    shutdown: watch::Sender<bool>,
    /// Routes a sidecar added ([`door::Door::mount`]), served beside the API's.
    mounted: std::sync::Mutex<Router>,
}

impl AppState {
    /// Opens the database and sets up limits. `public_url` defaults to
    /// `http://<config.listen>`.
    pub fn open(config: Config) -> Result<AppState, Error> {
        config.validate()?;
        let db = db::Db::open(&config.db)?;
        Ok(AppState(Arc::new(Shared {
            public_url: config.public_url_for(config.listen),
            ip_limit: limits::Limiter::new(config.rate_per_ip, config.burst_per_ip),
            key_limit: limits::Limiter::new(config.rate_per_pubkey, config.burst_per_pubkey),
            ceremony_limit: limits::Limiter::new(
                f64::from(config.new_ceremonies_per_ip_hour) / 3600.0,
                config.new_ceremonies_per_ip_hour,
            ),
            metrics: metrics::Metrics::default(),
            waiters: waiters::Waiters::default(),
            presence: inproc::Presence::default(),
            db,
            config,
            shutdown: watch::channel(false).0,
            mounted: std::sync::Mutex::new(Router::new()),
        })))
    }

    /// Resolves when the server shuts down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.0.shutdown.subscribe()
    }

    /// Ends pending long polls (with whatever they have) and makes new ones return at once.
    pub fn shut_down(&self) {
        self.0.shutdown.send_replace(true);
    }
}

/// Every route: method, path template, handler. The router and [`routes`] both come
/// from here, so the OpenAPI test compares the document with what is really served.
fn table() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/healthz", get(api::healthz)),
        (Method::GET, "/metrics", get(api::metrics)),
        (Method::GET, "/v1/openapi.json", get(api::openapi)),
        (Method::POST, "/v1/ceremonies", post(api::create_ceremony)),
        (
            Method::GET,
            "/v1/ceremonies/{id}",
            get(api::ceremony_status),
        ),
        (
            Method::POST,
            "/v1/ceremonies/{id}/packages",
            post(packages::post_package),
        ),
        (
            Method::GET,
            "/v1/ceremonies/{id}/packages",
            get(packages::fetch_packages),
        ),
    ]
}

/// The `(method, path template)` of every route the router serves.
pub fn routes() -> Vec<(Method, &'static str)> {
    table().into_iter().map(|(m, p, _)| (m, p)).collect()
}

/// The HTTP API. Serve it with [`listen::serve`] (or, in tests, any server that puts
/// `ConnectInfo<SocketAddr>` in request extensions) so per-IP limits see client addresses.
pub fn router(state: AppState) -> Router {
    let routes = table()
        .into_iter()
        .fold(Router::new(), |r, (_, path, handler)| {
            r.route(path, handler)
        });
    // A sidecar's routes get the same layers (request log, panic catcher, per-IP limit).
    let mounted = state
        .0
        .mounted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let routes = routes.merge(mounted.with_state(()));
    middleware::wrap(routes, state.clone()).with_state(state)
}

/// Binds, calls `ready` with the bound address, and serves until SIGINT or SIGTERM.
pub async fn run(config: Config, ready: impl FnOnce(SocketAddr)) -> Result<(), Error> {
    run_with(config, ready, None).await
}

/// [`run`], with a sidecar started after the database opens and stopped at shutdown.
pub async fn run_with(
    mut config: Config,
    ready: impl FnOnce(SocketAddr),
    sidecar: Option<door::Sidecar>,
) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.listen,
        source,
    })?;
    config.listen = bound;
    let limits = listen::Limits::for_config(&config)?;
    let state = AppState::open(config)?;
    let signal = shutdown_signal()?;
    let side = match sidecar {
        Some(door::Sidecar { name, start }) => {
            let stopped = |source| Error::Sidecar { name, source };
            let task = start(door::Door(state.clone())).await.map_err(stopped)?;
            Some((name, tokio::spawn(task)))
        }
        None => None,
    };
    // After the sidecar started: it may have mounted routes.
    let app = router(state.clone());
    ready(bound);
    let stopping = state.clone();
    let served = listen::serve(listener, app, limits, state.shutdown_signal(), async move {
        signal.await;
        stopping.shut_down();
    })
    .await
    .map_err(Error::Serve);
    state.shut_down();
    if let Some((name, h)) = side {
        match h.await {
            Ok(Err(source)) => return Err(Error::Sidecar { name, source }),
            Err(e) => {
                return Err(Error::Sidecar {
                    name,
                    source: e.into(),
                })
            }
            Ok(Ok(())) => {}
        }
    }
    served
}

/// Installs the SIGINT and SIGTERM handlers now (so a signal right after the ready
/// line is not fatal) and returns a future that resolves on either.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, Error> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let install = |kind| signal(kind).map_err(Error::Serve);
        let mut term = install(SignalKind::terminate())?;
        let mut int = install(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// Seconds since the Unix epoch.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
