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
//! - [`Door::mount`]: routes of its own, served on the server's address;
//! - [`Sidecar`]: how [`super::run_with`] starts it once the database is open.

use nostr::{Event, PublicKey};
use tokio::sync::watch;

pub use super::db::{Db, Ticket};
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

/// Packages of `ceremony` after `since` signed by `sender` (hex): `(seq, event JSON)`, in
/// seq order, at most `limit`.
pub fn sent_by(
    conn: &rusqlite::Connection,
    ceremony: &str,
    sender: &str,
    since: i64,
    limit: usize,
) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, event FROM packages WHERE ceremony_id = ?1 AND sender = ?2 AND seq > ?3 \
         ORDER BY seq LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        rusqlite::params![ceremony, sender, since, limit as i64],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    rows.collect()
}

/// Packages of `round` in `ceremony` after `since`: `(seq, seat, event JSON)`, in seq
/// order, at most `limit`.
pub fn of_round_since(
    conn: &rusqlite::Connection,
    ceremony: &str,
    round: crate::envelope::Round,
    since: i64,
    limit: usize,
) -> rusqlite::Result<Vec<(i64, u16, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, seat, event FROM packages WHERE ceremony_id = ?1 AND round = ?2 \
         AND seq > ?3 ORDER BY seq LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        rusqlite::params![ceremony, round.as_str(), since, limit as i64],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    rows.collect()
}

/// The newest seq in `ceremony` (0 when empty).
pub fn latest_seq(conn: &mut rusqlite::Connection, ceremony: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT coalesce(max(seq), 0) FROM packages WHERE ceremony_id = ?1",
        [ceremony],
        |r| r.get(0),
    )
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

    /// Stores a package that came to the sidecar from elsewhere (a relay), judged by the
    /// same rules as one a member posts, and wakes waiters. Returns its seq.
    pub async fn insert_posted(&self, c: &Ceremony, event: &Event) -> Result<i64, Error> {
        self.0.insert_judged(c, event, false).await
    }

    /// Counts `pk` as seen in `ceremony` now (it spoke through the sidecar, not HTTP).
    pub fn touch(&self, ceremony: &str, pk: &PublicKey) {
        drop(self.0 .0.presence.poll(ceremony, pk));
    }

    /// A receiver that changes whenever `ceremony` accepts a package.
    pub fn subscribe(&self, ceremony: &str) -> watch::Receiver<i64> {
        self.0 .0.waiters.subscribe_all(ceremony)
    }

    /// Which keys are fetching `ceremony`'s packages, and when they last did.
    pub fn presence(&self, ceremony: &str) -> Vec<(PublicKey, Seen)> {
        self.0 .0.presence.of(ceremony)
    }

    /// The base of the server's own URLs: `public_url`, else `http://<bound address>`
    /// (the bunker's approval links point there).
    pub fn public_url(&self) -> &str {
        &self.0 .0.public_url
    }

    /// Adds `routes` to the server's (same address, same layers). Only routes mounted
    /// while the sidecar starts are served; their paths must not collide with others.
    pub fn mount(&self, routes: axum::Router) {
        let mut m = self.0 .0.mounted.lock().unwrap_or_else(|e| e.into_inner());
        *m = std::mem::take(&mut *m).merge(routes);
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
