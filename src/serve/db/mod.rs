//! SQLite state: ceremonies, packages (with a monotonic `seq` cursor) and the NIP-98
//! replay cache. WAL with `synchronous=FULL`, so a package acknowledged to a client
//! survives kill -9 and power loss; signing and ECDH rounds survive kill -9 only
//! ([`super::store::fsynced`] says why that is safe). Writes that acknowledge something
//! go to one write thread that commits them in batches ([`writer`]); other calls run on
//! the blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, TransactionBehavior};

use super::Error;

mod durable;
mod writer;
pub use durable::Ticket;

/// Bumped with every schema change; `open` refuses databases from a newer passport.
pub const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = "
CREATE TABLE ceremonies (
    id          TEXT PRIMARY KEY,
    ceremony    TEXT NOT NULL UNIQUE,
    roster_hash TEXT NOT NULL,
    roster      TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'open',
    created_at  INTEGER NOT NULL
);
CREATE TABLE packages (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    ceremony_id TEXT NOT NULL REFERENCES ceremonies(id),
    event_id    TEXT NOT NULL UNIQUE,
    round       TEXT NOT NULL,
    sender      TEXT NOT NULL,
    seat        INTEGER NOT NULL,
    to_pubkey   TEXT,
    to_seat     INTEGER NOT NULL,
    reference   TEXT NOT NULL,
    event       TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX packages_by_ceremony ON packages (ceremony_id, seq);
CREATE INDEX packages_by_slot ON packages (ceremony_id, sender, seat, round, to_seat, reference);
CREATE TABLE auth_seen (
    replay_key TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX auth_seen_by_expiry ON auth_seen (expires_at);
";

// Versions 2 and 3 created the NIP-46 bunker's tables (clients, connect secrets, used
// commitments). The bunker owns them now and creates them itself (`bunker::store`), so
// those steps do nothing here; the version numbers stay what databases already carry.

/// Version 4: ceremonies are keyed by ceremony id *and* roster hash. The ceremony id is
/// public, so with it alone unique, whoever registered it first (with a roster of its
/// own) locked the real members out. SQLite cannot drop a column's UNIQUE, so the table
/// is rebuilt (https://www.sqlite.org/lang_altertable.html#otheralter); foreign keys
/// are off meanwhile (`PRAGMA foreign_keys` is a no-op inside a transaction).
const SCHEMA_V4: &str = "
CREATE TABLE ceremonies_v4 (
    id          TEXT PRIMARY KEY,
    ceremony    TEXT NOT NULL,
    roster_hash TEXT NOT NULL,
    roster      TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'open',
    created_at  INTEGER NOT NULL,
    UNIQUE (ceremony, roster_hash)
);
INSERT INTO ceremonies_v4 (id, ceremony, roster_hash, roster, state, created_at)
    SELECT id, ceremony, roster_hash, roster, state, created_at FROM ceremonies;
DROP TABLE ceremonies;
ALTER TABLE ceremonies_v4 RENAME TO ceremonies;
";

/// One shared connection for writes: SQLite serializes writers anyway, and one
/// connection keeps `seq` order equal to commit order. Reads that are most requests'
/// work (a ceremony's roster, fetches) take read-only connections of their own, which
/// WAL lets run beside the writer, so a long-poll's look does not queue behind posts.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    readers: Arc<[Mutex<Connection>]>,
    path: PathBuf,
    /// The write thread ([`writer`]): relaxed and durable writes, batched.
    writer: std::sync::mpsc::Sender<writer::Job>,
    progress: Arc<writer::Progress>,
}

/// Read-only connections: one per core of the 2-core machines passport runs on, and
/// one more for a reader that waits on the disk.
const READERS: usize = 3;

impl Db {
    /// Opens (creating if needed) the database: directory 0700, file 0600.
    pub fn open(path: &Path) -> Result<Db, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fsutil::private_dir(dir).map_err(|e| Error::Db(e.to_string()))?;
        }
        create_private(path)?;
        let conn = Connection::open(path).map_err(|e| db_error(path, e))?;
        init(&conn).map_err(|e| db_error(path, e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| db_error(path, e))?;
        if version > SCHEMA_VERSION {
            return Err(Error::Db(format!(
                "{}: schema version {version} is newer than this passport understands \
                 ({SCHEMA_VERSION}); upgrade passport",
                path.display()
            )));
        }
        let readers = (0..READERS)
            .map(|_| {
                let c = Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                stable_plans(&c)?;
                Ok(Mutex::new(c))
            })
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| db_error(path, e))?;
        let conn = Arc::new(Mutex::new(conn));
        let progress = Arc::<writer::Progress>::default();
        let writer = writer::start(Arc::clone(&conn), Arc::clone(&progress)).map_err(|e| {
            Error::Db(format!(
                "{}: cannot start its write thread: {e}",
                path.display()
            ))
        })?;
        Ok(Db {
            conn,
            readers: readers.into(),
            path: path.to_owned(),
            writer,
            progress,
        })
    }

    /// Runs a read-only `f` on the blocking pool with a free reader connection (any, if
    /// all are busy). It sees every commit made before it starts.
    pub async fn read<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let guard = readers
                .iter()
                .find_map(|r| r.try_lock().ok())
                .unwrap_or_else(|| readers[0].lock().unwrap_or_else(|p| p.into_inner()));
            f(&guard).map_err(|e| db_error(&path, e))
        })
        .await
        .map_err(|e| Error::Db(format!("database task failed: {e}")))?
    }

    /// Runs a short read-only `f` (a lookup by key that touches a few hot pages) right
    /// here when a reader connection is free, else on the blocking pool as [`Db::read`]
    /// does: two thread switches fewer per request, which perf showed were a sixth of
    /// serve's CPU under load.
    pub async fn lookup<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        // The guard must not live across the await below (the future stays Send).
        let f = match self.readers.iter().find_map(|r| r.try_lock().ok()) {
            Some(guard) => return f(&guard).map_err(|e| db_error(&self.path, e)),
            None => f,
        };
        self.read(f).await
    }

    /// Runs `f` on the blocking pool with the connection.
    pub async fn call<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves no half-done transaction (dropping
            // a transaction rolls it back), so a poisoned lock is still usable.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard).map_err(|e| db_error(&path, e))
        })
        .await
        .map_err(|e| Error::Db(format!("database task failed: {e}")))?
    }

    /// The write thread's counts so far, for `/metrics`.
    pub fn write_stats(&self) -> WriteStats {
        let s = &self.progress.stats;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        WriteStats {
            full_batches: get(&s.full),
            normal_batches: get(&s.normal),
            writes: get(&s.writes),
            full_commit_seconds: get(&s.full_commit_us) as f64 / 1e6,
            normal_commit_seconds: get(&s.normal_commit_us) as f64 / 1e6,
        }
    }

    /// Starts a write transaction that takes the write lock up front; inside the write
    /// thread's batch (already a transaction), a savepoint of it.
    pub fn write_tx(conn: &mut Connection) -> rusqlite::Result<WriteTx<'_>> {
        match conn.is_autocommit() {
            true => conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map(WriteTx::Own),
            false => conn.savepoint().map(WriteTx::Nested),
        }
    }
}

/// Committed write batches (FULL: fsynced; NORMAL: in the WAL), the writes they
/// held, and the time their COMMITs took.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WriteStats {
    pub full_batches: u64,
    pub normal_batches: u64,
    pub writes: u64,
    pub full_commit_seconds: f64,
    pub normal_commit_seconds: f64,
}

/// A write transaction of its own, or a savepoint in the write thread's batch: either
/// commits with [`WriteTx::commit`] and rolls back when dropped.
pub enum WriteTx<'c> {
    Own(rusqlite::Transaction<'c>),
    Nested(rusqlite::Savepoint<'c>),
}

impl WriteTx<'_> {
    pub fn commit(self) -> rusqlite::Result<()> {
        match self {
            WriteTx::Own(t) => t.commit(),
            WriteTx::Nested(s) => s.commit(),
        }
    }
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            WriteTx::Own(t) => t,
            WriteTx::Nested(s) => s,
        }
    }
}

/// Statements each connection keeps prepared.
const STATEMENT_CACHE: usize = 64;

/// Keeps a cached statement's plan when its parameters change. The bundled SQLite is
/// built with `SQLITE_ENABLE_STAT4`, under which a statement whose parameters meet an
/// index is compiled again each time they are bound to new values, in case the
/// statistics favour another plan; serve has no statistics (it never runs ANALYZE), so
/// that was a full parse and plan per query, a tenth of serve's CPU time under load.
/// The query planner stability guarantee turns it off
/// (https://www.sqlite.org/c3ref/c_dbconfig_defensive.html#sqlitedbconfigenableqpsg).
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    // rusqlite keeps 16 cached statements by default; the write connection's come near
    // that with a DKG post alone (the write thread's 8, an insert's 5, NIP-98's 2) and
    // pass it with the bunker's, and an evicted one is parsed and planned again.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(|_| ())
}

fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::Db(format!("{}: {e}", path.display()))
}

#[cfg(unix)]
fn create_private(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |e| Error::Io {
        path: path.to_owned(),
        source: e,
    };
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    // An existing file may have been created with looser permissions; SQLite gives its
    // -wal and -shm files the database file's mode.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io)
}

#[cfg(not(unix))]
fn create_private(_: &Path) -> Result<(), Error> {
    Ok(())
}

fn init(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    stable_plans(conn)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == 0 {
        conn.execute_batch(&format!("BEGIN; {SCHEMA} PRAGMA user_version = 1; COMMIT;"))?;
    }
    if version < 3 {
        conn.pragma_update(None, "user_version", 3)?;
    }
    if version < 4 {
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        let rebuilt = conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_V4} PRAGMA user_version = 4; COMMIT;"
        ));
        if rebuilt.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        conn.pragma_update(None, "foreign_keys", "ON")?;
        rebuilt?;
    }
    // A table older passports ignore: no version bump.
    conn.execute_batch(durable::BARRIER)?;
    // When each seat last posted (the co-signer backend ranks by it): an index that
    // older databases gain here; nothing else changes, so no new schema version.
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS packages_by_seat_time ON packages (ceremony_id, seat, received_at)",
    )?;
    Ok(())
}

/// Records a NIP-98 auth (its signature) until `expires_at`; false when already seen.
pub fn remember_auth(
    conn: &mut Connection,
    replay_key: &str,
    now: u64,
    expires_at: u64,
) -> rusqlite::Result<bool> {
    let tx = Db::write_tx(conn)?;
    tx.prepare_cached("DELETE FROM auth_seen WHERE expires_at < ?1")?
        .execute(params![now as i64])?;
    let fresh = tx
        .prepare_cached("INSERT OR IGNORE INTO auth_seen (replay_key, expires_at) VALUES (?1, ?2)")?
        .execute(params![replay_key, expires_at as i64])?
        == 1;
    tx.commit()?;
    Ok(fresh)
}

/// Answers when the database does.
pub fn ping(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.query_row("SELECT count(*) FROM ceremonies", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|_| ())
}

/// `(label, count)` rows of a grouped count query.
pub fn counts(conn: &mut Connection, sql: &str) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    rows.map(|r| r.map(|(k, v)| (k, v.max(0) as u64))).collect()
}

#[cfg(test)]
mod tests;
