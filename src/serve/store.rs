//! Queries over ceremonies and packages. Each write is one immediate transaction, so
//! the checks it depends on (duplicates, conflicts, prerequisites) cannot race.

use rusqlite::{params, Connection, OptionalExtension};

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
    let row = conn
        .query_row(&sql, [value], |r| {
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
            id,
            roster: roster_from_column(roster)?,
            roster_hash,
            state,
        })
    })
    .transpose()
}

/// The ceremony with server id `id`.
pub fn load(conn: &mut Connection, id: &str) -> rusqlite::Result<Option<Ceremony>> {
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

/// Stores `p` unless it is a duplicate, conflicts, or lacks its prerequisite.
/// `unique` says whether a sender has one package per (round, recipient, reference).
pub fn insert(
    conn: &mut Connection,
    c: &Ceremony,
    p: &NewPackage,
    requires: &Requires,
    unique: bool,
    now: u64,
) -> rusqlite::Result<Inserted> {
    let tx = Db::write_tx(conn)?;
    if let Some(seq) = tx
        .query_row(
            "SELECT seq FROM packages WHERE event_id = ?1",
            [&p.event_id],
            |r| r.get(0),
        )
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
                .query_row(
                    "SELECT round FROM packages WHERE ceremony_id = ?1 AND event_id = ?2",
                    params![c.id, id],
                    |r| r.get(0),
                )
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
            .query_row(
                "SELECT event_id FROM packages WHERE ceremony_id = ?1 AND sender = ?2 \
                 AND seat = ?3 AND round = ?4 AND to_seat = ?5 AND reference = ?6",
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
    tx.execute(
        "INSERT INTO packages (ceremony_id, event_id, round, sender, seat, to_pubkey, \
         to_seat, reference, event, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
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
        ],
    )?;
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
    Ok(conn.query_row(sql, args, |_| Ok(())).optional()?.is_some())
}

/// Which packages a fetch returns.
pub struct Fetch {
    pub since: i64,
    /// Hex pubkey of the requester: sees broadcasts, packages to it, and its own.
    pub viewer: String,
    pub round: Option<Round>,
    pub max_count: usize,
    /// Stops adding packages past this many bytes of events (at least one is returned).
    pub max_bytes: usize,
}

/// `(seq, event JSON)` in seq order.
pub fn fetch(
    conn: &mut Connection,
    ceremony: &str,
    f: &Fetch,
) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, event FROM packages WHERE ceremony_id = ?1 AND seq > ?2 \
         AND (to_pubkey IS NULL OR to_pubkey = ?3 OR sender = ?3) \
         AND (?4 IS NULL OR round = ?4) ORDER BY seq LIMIT ?5",
    )?;
    let round = f.round.map(Round::as_str);
    let rows = stmt.query_map(
        params![ceremony, f.since, f.viewer, round, f.max_count as i64],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
    )?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for row in rows {
        let (seq, event) = row?;
        if !out.is_empty() && bytes + event.len() > f.max_bytes {
            break;
        }
        bytes += event.len();
        out.push((seq, event));
    }
    Ok(out)
}

/// How many packages of a round a seat has sent: `(seat, round, count)`.
pub type SentCount = (u16, String, u64);

/// What each seat has sent, and the ceremony's total package count.
pub fn sent_counts(
    conn: &mut Connection,
    ceremony: &str,
) -> rusqlite::Result<(Vec<SentCount>, u64)> {
    let mut stmt = conn.prepare_cached(
        "SELECT seat, round, count(*) FROM packages WHERE ceremony_id = ?1 AND seat > 0 \
         GROUP BY seat, round ORDER BY seat, round",
    )?;
    let rows = stmt
        .query_map([ceremony], |r| {
            Ok((
                r.get::<_, u16>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?
        .map(|r| r.map(|(s, round, n)| (s, round, n.max(0) as u64)))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let total: i64 = conn.query_row(
        "SELECT count(*) FROM packages WHERE ceremony_id = ?1",
        [ceremony],
        |r| r.get(0),
    )?;
    Ok((rows, total.max(0) as u64))
}

/// The newest `limit` packages of `round` in a ceremony: `(seat, received_at, event JSON)`,
/// newest first.
pub fn recent_of_round(
    conn: &mut Connection,
    ceremony: &str,
    round: Round,
    limit: usize,
) -> rusqlite::Result<Vec<(u16, i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seat, received_at, event FROM packages WHERE ceremony_id = ?1 AND round = ?2 \
         ORDER BY seq DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![ceremony, round.as_str(), limit as i64], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    rows.collect()
}

/// Packages after `since` that reference `reference` (answers to a request), in seq order.
pub fn replies(
    conn: &mut Connection,
    ceremony: &str,
    reference: &str,
    since: i64,
) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, event FROM packages WHERE ceremony_id = ?1 AND reference = ?2 \
         AND seq > ?3 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![ceremony, reference, since], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    rows.collect()
}

/// When each seat last had a package accepted: `(seat, received_at)`.
pub fn last_posted(conn: &mut Connection, ceremony: &str) -> rusqlite::Result<Vec<(u16, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seat, max(received_at) FROM packages WHERE ceremony_id = ?1 AND seat > 0 \
         GROUP BY seat",
    )?;
    let rows = stmt.query_map([ceremony], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
