//! `passport serve --relay`: the bunker prepared (transport key, backend, a fresh
//! connect secret) and started beside the HTTP API through serve's door.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use nostr::Keys;
use url::Url;

use super::backend::{Backend, Local};
use super::cosign::Cosigners;
use super::error::{Error, Result};
use super::policy::{self, Grant};
use super::{budget, Bunker, Stats};
use crate::group::Group;
use crate::home::Home;
use crate::serve::door::{BoxError, Door, Sidecar, Starting};
use crate::serve::Config;

/// What the bunker needs, prepared before the server starts: transport key, group,
/// backend, and a fresh single-use secret (stored) for the URI printed at startup.
pub struct Prepared {
    transport: Keys,
    relays: Vec<Url>,
    group: Group,
    backend: Choice,
    timeout: Duration,
    approval_timeout: Duration,
    /// serve's database, beside which the relays are recorded ([`super::listening`]).
    db: std::path::PathBuf,
    /// `serve -v`: one log line per request.
    log_requests: bool,
    /// `bunker://…` with the fresh secret.
    pub uri: String,
}

/// Who answers: ready now (this home's shares), or co-signers, whose backend needs the
/// running server's store.
enum Choice {
    Ready(Arc<dyn Backend>),
    /// With this per-attempt timeout.
    Cosigners(Duration),
}

/// How the bunker answers.
pub struct Options {
    pub relays: Vec<Url>,
    /// Every request gets a reply or an error within this long.
    pub request_timeout: Duration,
    /// What the startup secret grants.
    pub grant: Grant,
    /// How long one co-signer has to answer.
    pub per_attempt: Duration,
    /// Co-signers even when the home holds t shares.
    pub force_cosigners: bool,
    /// How long a request the grant asks about waits for the operator.
    pub approval_timeout: Duration,
}

/// `ws://` and `wss://` URLs, or the one that is not.
pub fn parse_relays(relays: &[String]) -> Result<Vec<Url>> {
    relays
        .iter()
        .map(|r| match Url::parse(r) {
            Ok(u) if matches!(u.scheme(), "ws" | "wss") => Ok(u),
            _ => Err(Error::RelayUrl(r.clone())),
        })
        .collect()
}

/// The bunker for `group`, answered from `home`'s own shares (or, when it holds fewer
/// than t or `force_cosigners`, from co-signers), with a fresh single-use secret
/// (stored in serve's database at `config.db`) in its URI.
pub async fn prepare(home: Home, group: Group, config: &Config, o: Options) -> Result<Prepared> {
    let transport = super::transport_keys(&home)?;
    let secret = super::new_secret();
    let db = super::store::open(&config.db).await?;
    let (s, g, now) = (secret.clone(), o.grant.clone(), super::unix_now());
    db.call(move |c| policy::add_secret(c, &s, &g, now, None))
        .await?;
    let uri = super::bunker_uri(&transport.public_key(), &o.relays, Some(&secret));
    let held = home.active_seats(&group).map_err(Error::home)?.len();
    let backend = if o.force_cosigners || held < group.roster.threshold as usize {
        Choice::Cosigners(o.per_attempt)
    } else {
        Choice::Ready(Arc::new(Local::new(home, group.clone())?))
    };
    Ok(Prepared {
        transport,
        relays: o.relays,
        group,
        backend,
        timeout: o.request_timeout,
        approval_timeout: o.approval_timeout,
        db: config.db.clone(),
        log_requests: config.log_requests,
        uri,
    })
}

impl Prepared {
    /// The bunker as a sidecar of serve: its counters on `/metrics`, replies to
    /// strangers within `unknown`.
    pub fn sidecar(self, unknown: budget::Limits) -> Sidecar {
        let start = move |door: Door| -> Starting {
            Box::pin(async move {
                let stats = Arc::new(Stats::default());
                door.register_metrics(|r| stats.register(r));
                door.db().call(super::store::create_tables).await?;
                let backend: Arc<dyn Backend> = match self.backend {
                    Choice::Ready(backend) => backend,
                    Choice::Cosigners(per_attempt) => {
                        let co = Cosigners::new(
                            door.clone(),
                            self.transport.clone(),
                            self.group.clone(),
                            per_attempt,
                            self.timeout,
                        )
                        .await
                        .map_err(BoxError::from)?;
                        // Co-signers may come over the bunker's relays as well as HTTP.
                        let (t, g) = (self.transport.clone(), &self.group);
                        super::cosign::bridge::start(door.clone(), t, g, &self.relays).await?;
                        Arc::new(co)
                    }
                };
                tracing::info!("passport serve: bunker answers with {}", backend.describe());
                let (db, relays) = (self.db, self.relays.clone());
                let bunker = Arc::new(
                    Bunker::new(
                        self.transport,
                        self.relays,
                        self.group,
                        backend,
                        door.db().clone(),
                        self.timeout,
                    )
                    .with_stats(stats)
                    .with_unknown_limits(unknown)
                    .with_request_log(self.log_requests)
                    .with_approval(door.public_url(), self.approval_timeout),
                );
                let task = bunker.start(door.shutdown_signal()).await?;
                door.mount(super::console::router(door.db().clone(), door.public_url()));
                super::listening::record(&db, &relays, door.public_url());
                Ok(Box::pin(async move {
                    let r = task.await;
                    super::listening::forget(&db);
                    r
                }) as crate::serve::door::Task)
            })
        };
        Sidecar {
            name: "bunker",
            start: Box::new(start),
        }
    }
}

/// Serves `config` until SIGINT/SIGTERM, answering NIP-46 beside the API when `bunker`
/// is given; `ready` gets the bound address once everything is listening.
pub async fn serve(
    config: Config,
    bunker: Option<Prepared>,
    ready: impl FnOnce(SocketAddr),
) -> std::result::Result<(), crate::serve::Error> {
    let unknown = config.bunker_unknown;
    crate::serve::run_with(config, ready, bunker.map(|b| b.sidecar(unknown))).await
}
