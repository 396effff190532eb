//! Who may use the console: one-time login tokens (made by `passport bunker console`,
//! used by visiting the link once) and the short sessions they open, both kept in
//! serve's database as SHA-256 only, so reading the database gives neither. A session's
//! CSRF token is an HMAC of its id: nothing more to store, checked in constant time.

use hmac::{Hmac, Mac};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::serve::door::Db;

/// The tables, created with the bunker's others ([`crate::bunker::store`]).
pub const TABLES: &str = "
CREATE TABLE IF NOT EXISTS bunker_console_logins (
    token_hash TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bunker_console_sessions (
    session_hash TEXT PRIMARY KEY,
    expires_at   INTEGER NOT NULL
);
";

/// How long a login link works (seconds): long enough to open it on a phone.
pub const LOGIN_LIFETIME: u64 = 300;

/// How long a session lasts (seconds); it is not extended by use.
pub const SESSION_LIFETIME: u64 = 15 * 60;

/// A fresh secret: 256 random bits, hex.
fn secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn hash(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Stores a new login token valid until the returned time, and returns it: the link's
/// copy is the only one.
pub fn new_login(conn: &mut Connection, now: u64) -> rusqlite::Result<(String, u64)> {
    let token = secret();
    let expires = now + LOGIN_LIFETIME;
    let tx = Db::write_tx(conn)?;
    tx.execute(
        "DELETE FROM bunker_console_logins WHERE expires_at <= ?1",
        [now as i64],
    )?;
    tx.execute(
        "INSERT INTO bunker_console_logins (token_hash, expires_at) VALUES (?1, ?2)",
        params![hash(&token), expires as i64],
    )?;
    tx.commit()?;
    Ok((token, expires))
}

/// Uses up login `token` and opens a session: its id (the cookie's value), or `None`
/// when the token is unknown, used or expired.
pub fn log_in(conn: &mut Connection, token: &str, now: u64) -> rusqlite::Result<Option<String>> {
    let tx = Db::write_tx(conn)?;
    let expires: Option<i64> = tx
        .query_row(
            "DELETE FROM bunker_console_logins WHERE token_hash = ?1 RETURNING expires_at",
            [hash(token)],
            |r| r.get(0),
        )
        .optional()?;
    let session = match expires {
        Some(exp) if exp > now as i64 => {
            let id = secret();
            tx.execute(
                "DELETE FROM bunker_console_sessions WHERE expires_at <= ?1",
                [now as i64],
            )?;
            tx.execute(
                "INSERT INTO bunker_console_sessions (session_hash, expires_at) VALUES (?1, ?2)",
                params![hash(&id), (now + SESSION_LIFETIME) as i64],
            )?;
            Some(id)
        }
        _ => None,
    };
    tx.commit()?;
    Ok(session)
}

/// True when `session` is a live session.
pub fn valid(conn: &Connection, session: &str, now: u64) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM bunker_console_sessions WHERE session_hash = ?1 AND expires_at > ?2",
        params![hash(session), now as i64],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
}

/// Ends `session` (the console's Log out); ending an unknown one is no error.
pub fn log_out(conn: &mut Connection, session: &str) -> rusqlite::Result<()> {
    let tx = Db::write_tx(conn)?;
    tx.execute(
        "DELETE FROM bunker_console_sessions WHERE session_hash = ?1",
        [hash(session)],
    )?;
    tx.commit()
}

fn csrf_mac(session: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(session.as_bytes()).expect("HMAC takes any key");
    mac.update(b"passport console csrf v1");
    mac
}

/// The CSRF token of `session`'s forms.
pub fn csrf(session: &str) -> String {
    hex::encode(csrf_mac(session).finalize().into_bytes())
}

/// True when `given` is `session`'s CSRF token (compared in constant time).
pub fn csrf_ok(session: &str, given: &str) -> bool {
    match hex::decode(given) {
        Ok(bytes) => csrf_mac(session).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = Connection::open(dir.path().join("s.sqlite")).expect("db");
        crate::bunker::store::create_tables(&mut conn).expect("tables");
        (dir, conn)
    }

    #[test]
    fn a_login_token_opens_one_session_once_and_only_in_time() {
        let (_d, mut c) = db();
        let (token, exp) = new_login(&mut c, 100).expect("token");
        assert_eq!((token.len(), exp), (64, 100 + LOGIN_LIFETIME));
        // Only its hash is kept.
        let kept: String = c
            .query_row("SELECT token_hash FROM bunker_console_logins", [], |r| {
                r.get(0)
            })
            .expect("row");
        assert_ne!(kept, token);
        let s = log_in(&mut c, &token, 101).expect("db").expect("a session");
        assert!(valid(&c, &s, 101 + SESSION_LIFETIME - 1).expect("db"));
        assert!(!valid(&c, &s, 101 + SESSION_LIFETIME).expect("db"));
        assert!(!valid(&c, &token, 101).expect("db"));
        assert_eq!(log_in(&mut c, &token, 102).expect("db"), None, "used");
        assert_eq!(log_in(&mut c, "00", 102).expect("db"), None, "unknown");
        let (late, exp) = new_login(&mut c, 200).expect("token");
        assert_eq!(log_in(&mut c, &late, exp).expect("db"), None, "expired");
    }

    #[test]
    fn logging_out_ends_that_session_only() {
        let (_d, mut c) = db();
        let (a, _) = new_login(&mut c, 100).expect("token");
        let (b, _) = new_login(&mut c, 100).expect("token");
        let a = log_in(&mut c, &a, 101).expect("db").expect("a session");
        let b = log_in(&mut c, &b, 101).expect("db").expect("a session");
        log_out(&mut c, &a).expect("db");
        assert!(!valid(&c, &a, 102).expect("db"), "logged out");
        assert!(valid(&c, &b, 102).expect("db"), "another session stays");
        log_out(&mut c, &a).expect("twice is no error");
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let (a, b) = (secret(), secret());
        assert!(csrf_ok(&a, &csrf(&a)));
        assert!(!csrf_ok(&b, &csrf(&a)));
        assert!(!csrf_ok(&a, ""));
        assert!(!csrf_ok(&a, "not hex"));
        assert!(!csrf_ok(&a, &csrf(&a)[..62]));
    }
}
