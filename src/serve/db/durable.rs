//! Group commit: writes that acknowledge something commit relaxed and then wait for one
//! shared `synchronous=FULL` commit, so concurrent requests pay one fsync between them
//! instead of one each, and what they acknowledge is still on disk first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::Connection;

use super::{Db, Error};

/// Group commit for [`Db::relaxed`] writes: how many have committed, and up to which
/// of them a `synchronous=FULL` commit has since made durable.
#[derive(Default)]
pub(super) struct GroupCommit {
    committed: AtomicU64,
    durable: tokio::sync::Mutex<u64>,
}

/// A relaxed commit's place in line, for [`Db::durable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

impl Ticket {
    /// Nothing was written: nothing to wait for.
    pub const NONE: Ticket = Ticket(0);
}

/// The row a durability barrier rewrites: a FULL commit needs something to write.
pub(super) const BARRIER: &str = "
CREATE TABLE IF NOT EXISTS durable_barrier (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
";

impl Db {
    /// Runs a write `f` that commits with `synchronous=NORMAL`: in WAL mode the commit
    /// is in the WAL (it survives kill -9 of serve) but not yet fsynced (a power loss
    /// or kernel crash could lose it). Whatever it acknowledges waits for
    /// [`Db::durable`] with the ticket. `f` says whether it wrote anything.
    pub async fn relaxed<T, F>(&self, f: F) -> Result<(T, Ticket), Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<(T, bool)> + Send + 'static,
    {
        let group = Arc::clone(&self.group);
        self.call(move |c| {
            // Cached statements: this runs for most requests.
            c.prepare_cached("PRAGMA synchronous = NORMAL")?
                .execute([])?;
            let done = f(c);
            // Back to FULL whatever `f` did; its error comes first.
            let reset = c
                .prepare_cached("PRAGMA synchronous = FULL")
                .and_then(|mut s| s.execute([]));
            let (value, wrote) = done?;
            reset?;
            // Numbered under the connection lock, after the commit: every ticket up to
            // `committed` is in the WAL.
            let ticket = match wrote {
                true => Ticket(group.committed.fetch_add(1, Ordering::SeqCst) + 1),
                false => Ticket::NONE,
            };
            Ok((value, ticket))
        })
        .await
    }

    /// Returns once the relaxed commit `ticket` is durable: a `synchronous=FULL` commit
    /// made after it fsyncs the WAL, and SQLite recovers a WAL's transactions in order,
    /// so that commit's durability covers every earlier one
    /// (https://www.sqlite.org/wal.html, https://www.sqlite.org/pragma.html#pragma_synchronous).
    /// Concurrent callers share one such commit (group commit): whoever holds the
    /// barrier syncs everything committed so far, and the others find their ticket
    /// already covered.
    pub async fn durable(&self, ticket: Ticket) -> Result<(), Error> {
        if ticket == Ticket::NONE {
            return Ok(());
        }
        let mut durable = self.group.durable.lock().await;
        if *durable >= ticket.0 {
            return Ok(());
        }
        let upto = self.group.committed.load(Ordering::SeqCst);
        self.call(|c| {
            c.prepare_cached(
                "INSERT INTO durable_barrier (id, n) VALUES (1, 1) \
                 ON CONFLICT (id) DO UPDATE SET n = n + 1",
            )?
            .execute([])
        })
        .await?;
        *durable = upto;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn barriers(db: &Db) -> i64 {
        db.call(|c| {
            c.query_row("SELECT coalesce(max(n), 0) FROM durable_barrier", [], |r| {
                r.get(0)
            })
        })
        .await
        .unwrap()
    }

    async fn synchronous(db: &Db) -> i64 {
        db.call(|c| c.query_row("PRAGMA synchronous", [], |r| r.get(0)))
            .await
            .unwrap()
    }

    fn insert(c: &mut Connection, v: i64) -> rusqlite::Result<((), bool)> {
        c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
        Ok(((), true))
    }

    #[tokio::test]
    async fn one_full_commit_makes_every_earlier_relaxed_commit_durable() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(&tmp.path().join("db.sqlite")).unwrap();
        db.call(|c| c.execute_batch("CREATE TABLE t (v INTEGER)"))
            .await
            .unwrap();
        let mut tickets = vec![];
        for v in 0..10 {
            let ((), t) = db.relaxed(move |c| insert(c, v)).await.unwrap();
            tickets.push(t);
        }
        assert!(tickets.windows(2).all(|w| w[0] < w[1]), "{tickets:?}");
        assert_eq!(synchronous(&db).await, 2, "back to FULL after each");
        // All ten wait at once: the first syncs everything committed, the rest find
        // their ticket covered, so one barrier commit serves them all.
        let mut waits = tokio::task::JoinSet::new();
        for &t in &tickets {
            let db = db.clone();
            waits.spawn(async move { db.durable(t).await });
        }
        while let Some(r) = waits.join_next().await {
            r.unwrap().unwrap();
        }
        assert_eq!(barriers(&db).await, 1);
        // Covered tickets and writes that wrote nothing cost nothing more.
        db.durable(tickets[3]).await.unwrap();
        let ((), none) = db.relaxed(|_| Ok(((), false))).await.unwrap();
        assert_eq!(none, Ticket::NONE);
        db.durable(none).await.unwrap();
        assert_eq!(barriers(&db).await, 1);
        // A later commit needs a barrier of its own.
        let ((), t) = db.relaxed(|c| insert(c, 10)).await.unwrap();
        db.durable(t).await.unwrap();
        assert_eq!(barriers(&db).await, 2);
        let n: i64 = db
            .call(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(n, 11);
    }

    #[tokio::test]
    async fn a_failed_relaxed_write_leaves_the_connection_full_and_takes_no_ticket() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(&tmp.path().join("db.sqlite")).unwrap();
        let r = db
            .relaxed(|c| insert(c, 1)) // no table t
            .await;
        assert!(r.is_err());
        assert_eq!(synchronous(&db).await, 2);
        assert_eq!(db.group.committed.load(Ordering::SeqCst), 0);
    }
}
