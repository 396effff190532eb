//! The one door through which a component running beside the HTTP API (the NIP-46
//! bunker) uses serve. Serve knows nothing of what comes through it.
//!
//! What it offers:
//! - [`Door::db`]: the database handle, for the component's own tables (it creates them
//!   itself, idempotently, through [`Db::call`]), and the read-only package queries
//!   re-exported here ([`recent_of_round`], [`replies`], [`last_posted`]);
//! - [`Door::ceremony_for`], [`Door::insert_own`], [`Door::subscribe`],
//!   [`Door::presence`]: the package store of a roster's ceremony, as the server itself
//!   (so it alone may issue ECDH requests), with wake-ups when packages arrive and who
//!   is polling now;
//! - [`Door::shutdown_signal`], and [`Door::register_metrics`] for its families on `/metrics`;
//! - [`Sidecar`]: how [`super::run_with`] starts it once the database is open.

use nostr::{Event, PublicKey};
use tokio::sync::watch;

pub use super::db::Db;
pub use super::inproc::Seen;
pub use super::limits::Limiter;
pub use super::store::{last_posted, recent_of_round, replies, Ceremony};
use super::AppState;
use crate::ceremony::Roster;

/// Any error a sidecar stops with (it keeps its own typed error behind this).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A future that runs until shutdown.
pub type Task = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BoxError>> + Send>>;

/// What a sidecar's start returns: a future that gets it ready, yielding its [`Task`].
pub type Starting =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Task, BoxError>> + Send>>;

/// Something that runs beside the HTTP API until shutdown, built once the database is
/// open. It gets ready (connected, subscribed) before the ready line is printed; its
/// task then runs until shutdown.
pub struct Sidecar {
    /// For errors: "the {name} stopped: …".
    pub name: &'static str,
    pub start: Box<dyn FnOnce(Door) -> Starting + Send>,
}

/// Why the store did not take a package the server made itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Db(#[from] super::Error),
    /// The package was judged unacceptable: the reply a client would get.
    #[error(transparent)]
    Package(super::error::ApiError),
    #[error("the store already holds a different package in this slot ({existing})")]
    Conflict { existing: String },
    #[error("the package's prerequisite is not in the store")]
    Missing,
    #[error("internal error: {0}")]
    Internal(String),
}

/// A handle on the running server for a sidecar. Cheap to clone.
#[derive(Clone)]
pub struct Door(pub(super) AppState);

impl Door {
    /// The server's database.
    pub fn db(&self) -> &Db {
        &self.0 .0.db
    }

    /// The server's ceremony for exactly `roster`, registered now if no member has yet.
    pub async fn ceremony_for(&self, roster: &Roster) -> Result<Ceremony, Error> {
        self.0.ceremony_for(roster).await
    }

    /// Stores a package the server itself made and wakes waiters. Returns its seq.
    pub async fn insert_own(&self, c: &Ceremony, event: &Event) -> Result<i64, Error> {
        self.0.insert_own(c, event).await
    }

    /// A receiver that changes whenever `ceremony` accepts a package.
    pub fn subscribe(&self, ceremony: &str) -> watch::Receiver<i64> {
        self.0 .0.waiters.subscribe(ceremony)
    }

    /// Which keys are fetching `ceremony`'s packages, and when they last did.
    pub fn presence(&self, ceremony: &str) -> Vec<(PublicKey, Seen)> {
        self.0 .0.presence.of(ceremony)
    }

    /// Flips to true when the server shuts down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.0.shutdown_signal()
    }

    /// Registers the sidecar's families in the registry `/metrics` shows.
    pub fn register_metrics(&self, f: impl FnOnce(&mut prometheus_client::registry::Registry)) {
        self.0 .0.metrics.register(f);
    }
}
