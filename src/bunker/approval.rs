//! Requests waiting for the operator's approval (a grant's `ask`, NIP-46 `auth_url`),
//! kept in the bunker's table `bunker_pending` of serve's database so that the terminal
//! (`passport bunker pending|approve|deny`, another process writing the file) and the
//! console page (in-process) decide on the same queue.
//!
//! A row holds what the operator needs to judge and nothing secret: the client, the
//! method, for `sign_event` the unsigned event (kind, content, tags, created_at), for the
//! encryption methods the peer (and, for an encrypt, the plaintext's length only; a
//! decrypt's ciphertext is not kept). The bunker waits on the row ([`super::asking`])
//! until it is decided or expires.
//!
//! In-process deciders call [`wake`] after [`decide`] (or use [`decide_now`]) so the
//! waiting request goes on at once; a decision by another process is seen by polling.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tokio::sync::Notify;

use super::nostrconnect::ClientMeta;
use crate::serve::door::Db;

/// The table, created with the bunker's others ([`super::store`]).
pub const TABLE: &str = "
CREATE TABLE IF NOT EXISTS bunker_pending (
    id         TEXT PRIMARY KEY,
    client     TEXT NOT NULL,
    method     TEXT NOT NULL,
    kind       INTEGER,
    event_json TEXT,
    peer       TEXT,
    text_len   INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    decision   TEXT,
    decided_at INTEGER
);
CREATE INDEX IF NOT EXISTS bunker_pending_open ON bunker_pending (decision, expires_at);
";

/// At most this many undecided requests per client: more are refused, so one client
/// cannot bury the operator's queue.
pub const MAX_PER_CLIENT: i64 = 16;

/// Decided rows are kept this long (seconds) for `bunker pending` to say "already
/// decided", then removed.
const KEEP_DECIDED: u64 = 24 * 3600;

/// One request waiting for the operator.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pending {
    /// Short, random, URL-safe (16 hex digits).
    pub id: String,
    /// The client's pubkey, hex.
    pub client: String,
    pub client_npub: String,
    /// What the client said about itself when it connected: a hint, unverified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<ClientMeta>,
    /// The NIP-46 method name.
    pub method: String,
    /// `sign_event`: the event kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<u16>,
    /// `sign_event`: the unsigned event (`kind`, `content`, `tags`, `created_at`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<serde_json::Value>,
    /// The encryption methods: the peer's pubkey, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// `nip44_encrypt`/`nip04_encrypt`: the plaintext's length in bytes (never the text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_len: Option<u64>,
    pub created_at: u64,
    pub expires_at: u64,
}

/// What the operator says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Deny,
}

impl Decision {
    fn word(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }
}

/// What [`decide`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decided {
    /// Recorded; the waiting request goes on.
    Done,
    /// No such request.
    NotFound,
    /// Approved or denied before.
    AlreadyDecided,
    /// Its time ran out (the client got an error) or the bunker that asked stopped.
    Expired,
}

/// Where a waiting request stands ([`state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Waiting,
    Approved,
    Denied,
    Expired,
}

/// What a new row says (the bunker fills it from the request).
#[derive(Clone, Debug, Default)]
pub struct New {
    pub client: String,
    pub method: String,
    pub kind: Option<u16>,
    pub event: Option<serde_json::Value>,
    pub peer: Option<String>,
    pub text_len: Option<u64>,
}

static WAKE: Notify = Notify::const_new();

/// Wakes every request waiting in this process to re-read its row (after an
/// in-process [`decide`]).
pub fn wake() {
    WAKE.notify_waiters();
}

/// The wake-up [`wake`] sends; create it before reading the row, so none is missed.
pub(super) fn woken() -> tokio::sync::futures::Notified<'static> {
    WAKE.notified()
}

/// [`decide`] through serve's database handle, then [`wake`]: for in-process deciders
/// (the console page).
pub async fn decide_now(
    db: &Db,
    id: &str,
    d: Decision,
    now: u64,
) -> Result<Decided, crate::serve::Error> {
    let id = id.to_owned();
    let r = db.call(move |c| decide(c, &id, d, now)).await?;
    if r == Decided::Done {
        wake();
    }
    Ok(r)
}

/// A fresh id: 64 random bits, hex.
fn new_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

/// Adds a request for `lifetime` seconds; `None` when the client already has
/// [`MAX_PER_CLIENT`] waiting. Old decided rows are dropped on the way.
pub fn insert(
    conn: &mut Connection,
    new: &New,
    now: u64,
    lifetime: u64,
) -> rusqlite::Result<Option<String>> {
    let tx = Db::write_tx(conn)?;
    tx.execute(
        "DELETE FROM bunker_pending WHERE expires_at < ?1",
        params![now.saturating_sub(KEEP_DECIDED) as i64],
    )?;
    let waiting: i64 = tx.query_row(
        "SELECT count(*) FROM bunker_pending WHERE client = ?1 AND decision IS NULL \
         AND expires_at > ?2",
        params![new.client, now as i64],
        |r| r.get(0),
    )?;
    if waiting >= MAX_PER_CLIENT {
        return Ok(None);
    }
    let id = new_id();
    tx.execute(
        "INSERT INTO bunker_pending (id, client, method, kind, event_json, peer, text_len, \
         created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id,
            new.client,
            new.method,
            new.kind,
            new.event.as_ref().map(|e| e.to_string()),
            new.peer,
            new.text_len.map(|n| n as i64),
            now as i64,
            now.saturating_add(lifetime) as i64
        ],
    )?;
    tx.commit()?;
    Ok(Some(id))
}

const COLUMNS: &str = "p.id, p.client, p.method, p.kind, p.event_json, p.peer, p.text_len, \
    p.created_at, p.expires_at, c.meta_json";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Pending> {
    let client: String = r.get(1)?;
    let client_npub = nostr::PublicKey::from_hex(&client)
        .map(|p| super::npub(&p))
        .unwrap_or_else(|_| client.clone());
    Ok(Pending {
        id: r.get(0)?,
        client,
        client_npub,
        method: r.get(2)?,
        kind: r.get(3)?,
        event: r
            .get::<_, Option<String>>(4)?
            .and_then(|j| serde_json::from_str(&j).ok()),
        peer: r.get(5)?,
        text_len: r.get::<_, Option<i64>>(6)?.map(|n| n.max(0) as u64),
        created_at: r.get::<_, i64>(7)?.max(0) as u64,
        expires_at: r.get::<_, i64>(8)?.max(0) as u64,
        meta: r
            .get::<_, Option<String>>(9)?
            .and_then(|j| ClientMeta::from_json(&j)),
    })
}

/// Every undecided, unexpired request, oldest first.
pub fn list(conn: &Connection, now: u64) -> rusqlite::Result<Vec<Pending>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM bunker_pending p LEFT JOIN bunker_clients c ON c.pubkey = p.client \
         WHERE p.decision IS NULL AND p.expires_at > ?1 ORDER BY p.created_at, p.id"
    ))?;
    let rows = stmt.query_map([now as i64], row)?;
    rows.collect()
}

/// One request by id, decided or not.
pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<Pending>> {
    conn.query_row(
        &format!(
            "SELECT {COLUMNS} FROM bunker_pending p LEFT JOIN bunker_clients c \
             ON c.pubkey = p.client WHERE p.id = ?1"
        ),
        [id],
        row,
    )
    .optional()
}

/// A request's decision word (none yet) and expiry, if it exists.
fn decision_of(conn: &Connection, id: &str) -> rusqlite::Result<Option<(Option<String>, i64)>> {
    conn.query_row(
        "SELECT decision, expires_at FROM bunker_pending WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Approves or denies a waiting request, once.
pub fn decide(conn: &mut Connection, id: &str, d: Decision, now: u64) -> rusqlite::Result<Decided> {
    let tx = Db::write_tx(conn)?;
    let found = decision_of(&tx, id)?;
    let r = match found {
        None => Decided::NotFound,
        Some((Some(w), _)) if w == "expired" => Decided::Expired,
        Some((Some(_), _)) => Decided::AlreadyDecided,
        Some((None, exp)) if exp <= now as i64 => Decided::Expired,
        Some((None, _)) => {
            tx.execute(
                "UPDATE bunker_pending SET decision = ?2, decided_at = ?3 WHERE id = ?1",
                params![id, d.word(), now as i64],
            )?;
            Decided::Done
        }
    };
    tx.commit()?;
    Ok(r)
}

/// Where request `id` stands; at or past its expiry, an undecided one is marked expired
/// here (atomically, so a decision racing the deadline either counts or is refused).
pub fn state(conn: &mut Connection, id: &str, now: u64) -> rusqlite::Result<State> {
    let tx = Db::write_tx(conn)?;
    let found = decision_of(&tx, id)?;
    let s = match found {
        None => State::Expired,
        Some((Some(w), _)) => match w.as_str() {
            "approve" => State::Approved,
            "deny" => State::Denied,
            _ => State::Expired,
        },
        Some((None, exp)) if exp <= now as i64 => {
            tx.execute(
                "UPDATE bunker_pending SET decision = 'expired', decided_at = ?2 WHERE id = ?1",
                params![id, now as i64],
            )?;
            State::Expired
        }
        Some((None, _)) => State::Waiting,
    };
    tx.commit()?;
    Ok(s)
}

/// Where request `id` stands, read only (for a page or a command that shows it):
/// `None` when there is no such request.
pub fn status(conn: &Connection, id: &str, now: u64) -> rusqlite::Result<Option<State>> {
    let found = decision_of(conn, id)?;
    Ok(found.map(|(d, exp)| match d.as_deref() {
        Some("approve") => State::Approved,
        Some("deny") => State::Denied,
        Some(_) => State::Expired,
        None if exp <= now as i64 => State::Expired,
        None => State::Waiting,
    }))
}

/// Marks every undecided request expired: at bunker start, no one waits on them any
/// more (their requests died with the process that asked).
pub fn abandon_all(conn: &mut Connection, now: u64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE bunker_pending SET decision = 'expired', decided_at = ?1 WHERE decision IS NULL",
        [now as i64],
    )
}

#[cfg(test)]
mod tests;
