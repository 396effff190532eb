//! The bunker's tables in serve's database, created by the bunker itself through the
//! door's database handle: authorized clients, single-use connect secrets (stored as
//! SHA-256, so reading the database does not yield a usable secret), and the signing
//! commitments the co-signer backend has put into a request (so no commitment is ever
//! offered twice, across restarts), and the requests counted against a grant in the
//! last [`crate::bunker::service`] dedupe window (so none is counted twice, across
//! restarts).
//!
//! Databases made before the bunker owned these tables got them as serve's schema
//! versions 2 and 3; the statements are the same, so both kinds look alike.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use crate::serve::door::Db;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS bunker_clients (
    pubkey     TEXT PRIMARY KEY,
    grant_json TEXT NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    label      TEXT,
    meta_json  TEXT
);
CREATE TABLE IF NOT EXISTS bunker_secrets (
    secret_hash TEXT PRIMARY KEY,
    grant_json  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER
);
CREATE TABLE IF NOT EXISTS cosign_used (
    ceremony_id   TEXT NOT NULL,
    seat          INTEGER NOT NULL,
    commitment_id TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    used_at       INTEGER NOT NULL,
    PRIMARY KEY (ceremony_id, seat, commitment_id)
);
CREATE TABLE IF NOT EXISTS bunker_answered (
    pubkey     TEXT NOT NULL,
    request_id TEXT NOT NULL,
    keep_until INTEGER NOT NULL,
    PRIMARY KEY (pubkey, request_id)
);
CREATE INDEX IF NOT EXISTS bunker_answered_by_expiry ON bunker_answered (keep_until);
";

/// Columns added to a table after databases with it existed: `CREATE TABLE IF NOT
/// EXISTS` leaves those alone, so each is added where missing.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    // What a client says about itself (name, url, image): a display hint only.
    ("bunker_clients", "meta_json", "TEXT"),
];

/// Creates the bunker's tables and columns where missing (one transaction).
pub fn create_tables(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = Db::write_tx(conn)?;
    tx.execute_batch(TABLES)?;
    tx.execute_batch(super::approval::TABLE)?;
    tx.execute_batch(super::console::TABLES)?;
    for (table, column, ty) in ADDED_COLUMNS {
        let present = tx
            .prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?
            .exists(params![table, column])?;
        if !present {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"))?;
        }
    }
    tx.commit()
}

/// Records that a counted request was answered; false when it already was (within its
/// keep time). Expired records go first, so the table holds one window of requests.
pub fn first_answer(
    conn: &Connection,
    request: &super::policy::RequestKey<'_>,
    now: u64,
) -> rusqlite::Result<bool> {
    conn.execute(
        "DELETE FROM bunker_answered WHERE keep_until < ?1",
        params![now as i64],
    )?;
    let added = conn.execute(
        "INSERT OR IGNORE INTO bunker_answered (pubkey, request_id, keep_until) \
         VALUES (?1, ?2, ?3)",
        params![request.pubkey, request.id, request.keep_until as i64],
    )?;
    Ok(added == 1)
}

/// Keeps what a client says about itself beside its grant (a display hint; nothing
/// reads it to decide). Empty: the hint kept before stays.
pub fn set_client_meta(
    conn: &mut Connection,
    pubkey: &str,
    meta: &super::nostrconnect::ClientMeta,
) -> rusqlite::Result<()> {
    if meta.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_string(meta).expect("hints serialize");
    conn.execute(
        "UPDATE bunker_clients SET meta_json = ?2 WHERE pubkey = ?1",
        params![pubkey, json],
    )?;
    Ok(())
}

/// Opens serve's database at `path` with the bunker's tables in it.
pub async fn open(path: &Path) -> Result<Db, crate::serve::Error> {
    let db = Db::open(path)?;
    db.call(create_tables).await?;
    Ok(db)
}

/// Which of `(seat, commitment id)` the in-process coordinator has already used.
pub fn used_commitments(
    conn: &Connection,
    ceremony: &str,
    candidates: &[(u16, String)],
) -> rusqlite::Result<HashSet<(u16, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT 1 FROM cosign_used WHERE ceremony_id = ?1 AND seat = ?2 AND commitment_id = ?3",
    )?;
    let mut out = HashSet::new();
    for (seat, id) in candidates {
        if stmt
            .query_row(params![ceremony, seat, id], |_| Ok(()))
            .optional()?
            .is_some()
        {
            out.insert((*seat, id.clone()));
        }
    }
    Ok(out)
}

/// Records commitments as used by `request`, all or none: false (nothing recorded) when
/// any of them was used before.
pub fn mark_used(
    conn: &mut Connection,
    ceremony: &str,
    used: &[(u16, String)],
    request: &str,
    now: u64,
) -> rusqlite::Result<bool> {
    let tx = Db::write_tx(conn)?;
    for (seat, id) in used {
        let n = tx.execute(
            "INSERT OR IGNORE INTO cosign_used (ceremony_id, seat, commitment_id, request_id, \
             used_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![ceremony, seat, id, request, now as i64],
        )?;
        if n == 0 {
            return Ok(false);
        }
    }
    tx.commit()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tables_come_to_new_and_old_databases_alike() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("db.sqlite");
        let db = open(&path).await.expect("open");
        let count = |db: Db| async move {
            db.call(|c| {
                c.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name IN \
                     ('bunker_clients', 'bunker_secrets', 'cosign_used')",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .await
            .expect("query")
        };
        assert_eq!(count(db.clone()).await, 3);
        // Opening again (tables present, rows kept) changes nothing.
        db.call(|c| {
            c.execute(
                "INSERT INTO bunker_clients (pubkey, grant_json, created_at) VALUES ('a', '{}', 1)",
                [],
            )
        })
        .await
        .expect("insert");
        drop(db);
        let db = open(&path).await.expect("reopen");
        assert_eq!(count(db.clone()).await, 3);
        let n = db
            .call(|c| {
                c.query_row("SELECT count(*) FROM bunker_clients", [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .await
            .expect("rows");
        assert_eq!(n, 1);
    }

    #[test]
    fn a_database_from_before_the_hint_column_gets_it_and_keeps_its_clients() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut c = Connection::open(tmp.path().join("old.sqlite")).expect("open");
        // bunker_clients as databases made before the hint column have it.
        c.execute_batch(
            "CREATE TABLE bunker_clients (pubkey TEXT PRIMARY KEY, grant_json TEXT NOT NULL, \
             uses INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, label TEXT); \
             INSERT INTO bunker_clients (pubkey, grant_json, created_at, label) \
             VALUES ('aa', '{}', 1, 'old');",
        )
        .expect("old schema");
        create_tables(&mut c).expect("migrate");
        create_tables(&mut c).expect("twice changes nothing");
        let meta = crate::bunker::nostrconnect::ClientMeta {
            name: Some("App".into()),
            ..Default::default()
        };
        set_client_meta(&mut c, "aa", &meta).expect("set");
        set_client_meta(&mut c, "aa", &Default::default()).expect("empty keeps");
        let all = crate::bunker::policy::list(&mut c).expect("list");
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].label.as_deref(), Some("old"));
        assert_eq!(all[0].meta, Some(meta));
    }

    #[tokio::test]
    async fn commitments_are_used_all_or_none_and_never_twice() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let db = open(&tmp.path().join("db.sqlite")).await.expect("open");
        let (first, second, used) = db
            .call(move |conn| {
                let a = vec![(1, "c1".to_owned()), (2, "c2".to_owned())];
                let b = vec![(1, "c3".to_owned()), (2, "c2".to_owned())];
                let first = mark_used(conn, "cid", &a, "r1", 9)?;
                let second = mark_used(conn, "cid", &b, "r2", 9)?;
                let probe = vec![(1, "c1".to_owned()), (1, "c3".to_owned())];
                Ok((first, second, used_commitments(conn, "cid", &probe)?))
            })
            .await
            .expect("mark");
        assert!(first);
        assert!(!second, "c2 was used by r1");
        assert!(used.contains(&(1, "c1".to_owned())));
        assert!(
            !used.contains(&(1, "c3".to_owned())),
            "nothing of r2 was recorded"
        );
    }
}
