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

/// What a fetch found: `(seq, event JSON)` in seq order, and whether a limit cut it
/// short (more may follow at once).
#[derive(Default)]
pub struct Found {
    pub rows: Vec<(i64, String)>,
    pub more: bool,
}

pub fn fetch(conn: &Connection, ceremony: &str, f: &Fetch) -> rusqlite::Result<Found> {
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
            return Ok(Found {
                rows: out,
                more: true,
            });
        }
        bytes += event.len();
        out.push((seq, event));
    }
    let more = out.len() >= f.max_count;
    Ok(Found { rows: out, more })
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
    conn: &Connection,
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

/// When each of `seats` last had a package accepted: `(seat, received_at)`, for those
/// that ever did. One index lookup per seat (`packages_by_seat_time`), where a `GROUP
/// BY` over the ceremony read every package it ever stored on each co-signed request.
pub fn last_posted(
    conn: &Connection,
    ceremony: &str,
    seats: &[u16],
) -> rusqlite::Result<Vec<(u16, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT max(received_at) FROM packages WHERE ceremony_id = ?1 AND seat = ?2",
    )?;
    let mut out = Vec::with_capacity(seats.len());
    for &seat in seats.iter().filter(|&&s| s > 0) {
        let last: Option<i64> = stmt.query_row(params![ceremony, seat], |r| r.get(0))?;
        if let Some(t) = last {
            out.push((seat, t));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_packages(events: &[&str]) -> (tempfile::TempDir, Connection) {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db.sqlite");
        drop(crate::serve::db::Db::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.execute(
            "INSERT INTO ceremonies (id, ceremony, roster_hash, roster, created_at) \
             VALUES ('c', 'c', 'h', '{}', 0)",
            [],
        )
        .unwrap();
        for (i, e) in events.iter().enumerate() {
            c.execute(
                "INSERT INTO packages (ceremony_id, event_id, round, sender, seat, to_seat, \
                 reference, event, received_at) VALUES ('c', ?1, 'sign-commit', 's', 1, 0, '', ?2, 0)",
                params![i.to_string(), e],
            )
            .unwrap();
        }
        (tmp, c)
    }

    fn fetch_with(c: &Connection, max_count: usize, max_bytes: usize) -> Found {
        let f = Fetch {
            since: 0,
            viewer: "v".into(),
            round: None,
            max_count,
            max_bytes,
        };
        fetch(c, "c", &f).unwrap()
    }

    #[test]
    fn last_posted_is_each_seats_latest_and_uses_the_index() {
        let (_tmp, c) = with_packages(&[]);
        for (i, (seat, at)) in [(1, 10), (2, 30), (1, 20), (3, 5)].iter().enumerate() {
            c.execute(
                "INSERT INTO packages (ceremony_id, event_id, round, sender, seat, to_seat, \
                 reference, event, received_at) VALUES ('c', ?1, 'sign-commit', 's', ?2, 0, '', '{}', ?3)",
                params![format!("p{i}"), seat, at],
            )
            .unwrap();
        }
        let got = last_posted(&c, "c", &[0, 1, 2, 4]).unwrap();
        assert_eq!(got, vec![(1, 20), (2, 30)]);
        let plan: String = c
            .query_row(
                "EXPLAIN QUERY PLAN SELECT max(received_at) FROM packages \
                 WHERE ceremony_id = 'c' AND seat = 1",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("packages_by_seat_time"), "{plan}");
    }

    #[test]
    fn a_page_says_whether_a_limit_cut_it() {
        let (_tmp, c) = with_packages(&["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]);
        let all = fetch_with(&c, 10, 1 << 20);
        assert_eq!((all.rows.len(), all.more), (3, false));
        let counted = fetch_with(&c, 2, 1 << 20);
        assert_eq!((counted.rows.len(), counted.more), (2, true));
        // Bytes: the first package always, then only what fits.
        let sized = fetch_with(&c, 10, 8);
        assert_eq!((sized.rows.len(), sized.more), (1, true));
    }
}
