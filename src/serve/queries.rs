//! Read-only queries over a ceremony's packages: fetches for members, counts for the
//! status page, and what the co-signer backend asks through the door.

use rusqlite::{params, Connection};

use crate::envelope::Round;

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
pub fn fetch(conn: &Connection, ceremony: &str, f: &Fetch) -> rusqlite::Result<Vec<(i64, String)>> {
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
