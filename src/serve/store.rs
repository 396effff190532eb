//! Queries over ceremonies and packages. Each write is one immediate transaction (a
//! savepoint in the write thread's batch), so the checks it depends on (duplicates,
//! conflicts, prerequisites) cannot race.

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

pub use super::queries::{fetch, last_posted, recent_of_round, replies, sent_counts, Fetch, Found};

use super::db::Db;
use crate::ceremony::Roster;
use crate::envelope::Round;

#[derive(Clone, Debug)]
pub struct Ceremony {
    /// The server's unguessable id (not the roster's ceremony id).
    pub id: String,
    pub roster: Roster,
    pub roster_hash: String,
    pub state: String,
}

pub const OPEN: &str = "open";
pub const AGREED: &str = "agreed";

/// A roster's ceremony on this server, found or made.
pub struct Registered {
    pub ceremony: Ceremony,
    pub created: bool,
    /// Other rosters registered under the same ceremony id. The id is public (every
    /// package carries it), so anyone may register a roster of their own under it; each
    /// roster gets its own ceremony, and packages bound to one roster never reach another.
    pub others: u64,
}

fn roster_from_column(text: String) -> rusqlite::Result<Roster> {
    Roster::from_json(text.as_bytes()).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn ceremony_where(
    conn: &Connection,
    column: &str,
    value: &str,
) -> rusqlite::Result<Option<Ceremony>> {
    let sql = format!("SELECT id, roster, roster_hash, state FROM ceremonies WHERE {column} = ?1");
    // Statements cached per connection: this runs for every request.
    let row = conn
        .prepare_cached(&sql)?
        .query_row([value], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .optional()?;
    row.map(|(id, roster, roster_hash, state)| {
        Ok(Ceremony {
            roster: parsed_roster(&id, &roster_hash, roster)?,
            id,
            roster_hash,
            state,
        })
    })
    .transpose()
}

/// Rosters already parsed, by server id and roster hash. Every request loads its
/// ceremony, and parsing a roster checks each member's npub (a bech32 decode and a
/// square root for the x-only key): at 50 members that was a fifth of serve's CPU under
/// load (perf, `scripts/bench-serve.sh`). A stored roster never changes; the cache is
/// bounded and starts over when full.
static ROSTERS: std::sync::LazyLock<Mutex<HashMap<(String, String), Roster>>> =
    std::sync::LazyLock::new(Mutex::default);
const ROSTERS_KEPT: usize = 1024;

fn parsed_roster(id: &str, hash: &str, text: String) -> rusqlite::Result<Roster> {
    let key = (id.to_owned(), hash.to_owned());
    if let Some(r) = ROSTERS.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(r.clone());
    }
    let roster = roster_from_column(text)?;
    let mut kept = ROSTERS.lock().unwrap_or_else(|p| p.into_inner());
    if kept.len() >= ROSTERS_KEPT {
        kept.clear();
    }
    kept.insert(key, roster.clone());
    Ok(roster)
}

/// The ceremony with server id `id`.
pub fn load(conn: &Connection, id: &str) -> rusqlite::Result<Option<Ceremony>> {
    ceremony_where(conn, "id", id)
}

/// The ceremony registered for exactly this roster (ceremony id and roster hash).
pub fn find(conn: &mut Connection, roster: &Roster) -> rusqlite::Result<Option<Registered>> {
    find_in(conn, &roster.ceremony_id, &roster.hash_hex())
}

fn find_in(conn: &Connection, ceremony: &str, hash: &str) -> rusqlite::Result<Option<Registered>> {
    let id: Option<String> = conn
        .query_row(
            "SELECT id FROM ceremonies WHERE ceremony = ?1 AND roster_hash = ?2",
            [ceremony, hash],
            |r| r.get(0),
        )
        .optional()?;
    let Some(id) = id else { return Ok(None) };
    let Some(c) = ceremony_where(conn, "id", &id)? else {
        return Ok(None);
    };
    let others = others(conn, ceremony, hash)?;
    Ok(Some(Registered {
        ceremony: c,
        created: false,
        others,
    }))
}

fn others(conn: &Connection, ceremony: &str, hash: &str) -> rusqlite::Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM ceremonies WHERE ceremony = ?1 AND roster_hash != ?2",
        [ceremony, hash],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
}

/// Creates a ceremony for `roster` under `new_id`, or finds the one for the same roster.
pub fn create(
    conn: &mut Connection,
    roster: &Roster,
    new_id: &str,
    now: u64,
) -> rusqlite::Result<Registered> {
    let tx = Db::write_tx(conn)?;
    let hash = roster.hash_hex();
    if let Some(existing) = find_in(&tx, &roster.ceremony_id, &hash)? {
        return Ok(existing);
    }
    // The canonical form, so the stored roster hashes to `roster_hash` whatever the
    // formatting of the posted one.
    let json = serde_json::to_string(roster)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.execute(
        "INSERT INTO ceremonies (id, ceremony, roster_hash, roster, state, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![new_id, roster.ceremony_id, hash, json, OPEN, now as i64],
    )?;
    let others = others(&tx, &roster.ceremony_id, &hash)?;
    tx.commit()?;
    Ok(Registered {
        ceremony: Ceremony {
            id: new_id.to_owned(),
            roster: roster.clone(),
            roster_hash: hash,
            state: OPEN.to_owned(),
        },
        created: true,
        others,
    })
}

/// A checked package, reduced to what the store indexes.
pub struct NewPackage {
    pub event_id: String,
    pub round: Round,
    /// Signer's pubkey, hex.
    pub sender: String,
    /// The signer's seat, 0 when the signer holds none (the dealer, a coordinator).
    pub seat: u16,
    pub to_pubkey: Option<String>,
    pub to_seat: u16,
    pub reference: Option<String>,
    pub event_json: String,
}

/// What must already be in the ceremony before a package is accepted.
pub enum Requires {
    Nothing,
    /// The sender's own `dkg-1` from the same seat.
    OwnDkg1,
    /// An accepted `sign-request` with this event id.
    Request(String),
    /// An accepted package of one of these rounds with this event id (a refusal answers
    /// a signing or an ECDH request; an ECDH share answers an ECDH request).
    RequestOf(String, &'static [Round]),
}

impl Requires {
    /// The referenced request, if any.
    pub fn reference(&self) -> Option<&str> {
        match self {
            Requires::Request(r) | Requires::RequestOf(r, _) => Some(r),
            _ => None,
        }
    }
}

pub enum Inserted {
    Accepted(i64),
    /// The same event was accepted before, at this seq.
    Duplicate(i64),
    /// The sender already has a different package in this slot.
    Conflict {
        existing: String,
    },
    Missing,
}

/// Whether a package of `round` is fsynced before it is acknowledged.
///
/// Signing and ECDH rounds (commitments, requests, shares, refusals) commit with
/// `synchronous=NORMAL`: in WAL mode that survives kill -9 of serve (the WAL is written
/// before the commit returns) and loses only the last commits on power loss or a kernel
/// crash. Such a loss costs a retry, never safety: a nonce is consumed in its member's
/// keystore before its share leaves, and the bunker's record of used commitments
/// (`bunker::store::mark_used`) stays `FULL`. The bunker's co-signed request waited on
/// three of these fsyncs in a row. Key-making rounds (DKG, dealer shares, refresh,
/// repair, handover) stay `FULL`: acknowledged means on disk.
pub fn fsynced(round: Round) -> bool {
    !matches!(
        round,
        Round::SignCommit
            | Round::SignRequest
            | Round::SignShare
            | Round::SignRefusal
            | Round::EcdhRequest
            | Round::EcdhShare
    )
}

/// Stores `p` unless it is a duplicate, conflicts, or lacks its prerequisite, and
/// returns once that outcome may be acknowledged. `unique` says whether a sender has one
/// package per (round, recipient, reference).
///
/// The insert goes to the write thread, which commits it with the other writes queued
/// meanwhile (group commit): relaxed ([`Db::relaxed`]), or for a round that is
/// [`fsynced`], in a batch that commits with `synchronous=FULL` ([`Db::durably`]), one
/// fsync for the batch. A duplicate waits for such a commit too.
pub async fn insert(
    db: &Db,
    c: &Ceremony,
    p: NewPackage,
    requires: Requires,
    unique: bool,
    now: u64,
) -> Result<Inserted, super::Error> {
    let durable = fsynced(p.round);
    let c = c.clone();
    let write = move |conn: &mut Connection| {
        let r = insert_tx(conn, &c, &p, &requires, unique, now)?;
        let stored = matches!(r, Inserted::Accepted(_) | Inserted::Duplicate(_));
        Ok((r, stored))
    };
    match durable {
        true => db.durably(write).await,
        false => Ok(db.relaxed(write).await?.0),
    }
}

fn insert_tx(
    conn: &mut Connection,
    c: &Ceremony,
    p: &NewPackage,
    requires: &Requires,
    unique: bool,
    now: u64,
) -> rusqlite::Result<Inserted> {
    let tx = Db::write_tx(conn)?;
    if let Some(seq) = tx
        .prepare_cached("SELECT seq FROM packages WHERE event_id = ?1")?
        .query_row([&p.event_id], |r| r.get(0))
        .optional()?
    {
        return Ok(Inserted::Duplicate(seq));
    }
    let present = match requires {
        Requires::Nothing => true,
        Requires::OwnDkg1 => exists(
            &tx,
            "SELECT 1 FROM packages WHERE ceremony_id = ?1 AND round = 'dkg-1' \
             AND sender = ?2 AND seat = ?3",
            params![c.id, p.sender, p.seat],
        )?,
        Requires::Request(id) => exists(
            &tx,
            "SELECT 1 FROM packages WHERE ceremony_id = ?1 AND round = 'sign-request' \
             AND event_id = ?2",
            params![c.id, id],
        )?,
        Requires::RequestOf(id, rounds) => {
            let round: Option<String> = tx
                .prepare_cached(
                    "SELECT round FROM packages WHERE ceremony_id = ?1 AND event_id = ?2",
                )?
                .query_row(params![c.id, id], |r| r.get(0))
                .optional()?;
            round.is_some_and(|r| rounds.iter().any(|x| x.as_str() == r))
        }
    };
    if !present {
        return Ok(Inserted::Missing);
    }
    let reference = p.reference.clone().unwrap_or_default();
    if unique {
        let existing: Option<String> = tx
            .prepare_cached(
                "SELECT event_id FROM packages WHERE ceremony_id = ?1 AND sender = ?2 \
                 AND seat = ?3 AND round = ?4 AND to_seat = ?5 AND reference = ?6",
            )?
            .query_row(
                params![
                    c.id,
                    p.sender,
                    p.seat,
                    p.round.as_str(),
                    p.to_seat,
                    reference
                ],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(existing) = existing {
            return Ok(Inserted::Conflict { existing });
        }
    }
    tx.prepare_cached(
        "INSERT INTO packages (ceremony_id, event_id, round, sender, seat, to_pubkey, \
         to_seat, reference, event, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        c.id,
        p.event_id,
        p.round.as_str(),
        p.sender,
        p.seat,
        p.to_pubkey,
        p.to_seat,
        reference,
        p.event_json,
        now as i64
    ])?;
    let seq = tx.last_insert_rowid();
    if p.round == Round::DkgAgree && c.roster.dealer.is_none() {
        let agreed: i64 = tx.query_row(
            "SELECT count(DISTINCT seat) FROM packages WHERE ceremony_id = ?1 \
             AND round = 'dkg-agree' AND seat > 0",
            [&c.id],
            |r| r.get(0),
        )?;
        if agreed >= i64::from(c.roster.n()) {
            tx.execute(
                "UPDATE ceremonies SET state = ?2 WHERE id = ?1",
                params![c.id, AGREED],
            )?;
        }
    }
    tx.commit()?;
    Ok(Inserted::Accepted(seq))
}

fn exists(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(args, |_| Ok(()))
        .optional()?
        .is_some())
}
