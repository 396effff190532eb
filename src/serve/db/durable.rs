//! Group commit, the callers' side: writes that acknowledge something go to the write
//! thread ([`super::writer`]), which commits what has queued up as one transaction,
//! relaxed (`synchronous=NORMAL`) unless a write of the batch must be durable.

use std::sync::atomic::Ordering;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::writer::{Deliver, Effect, Job};
use super::{db_error, Db, Error};

pub use super::writer::Ticket;

/// The row a durability barrier rewrites: a FULL commit needs something to write.
pub(super) const BARRIER: &str = "
CREATE TABLE IF NOT EXISTS durable_barrier (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
";

pub(super) const BARRIER_WRITE: &str = "INSERT INTO durable_barrier (id, n) VALUES (1, 1) \
     ON CONFLICT (id) DO UPDATE SET n = n + 1";

impl Db {
    /// Runs a write `f` on the write thread, in a batch that commits with
    /// `synchronous=NORMAL` unless another write of it needs FULL: in WAL mode the
    /// commit is in the WAL (it survives kill -9 of serve) but perhaps not yet fsynced (a
    /// power loss or kernel crash could lose it). Whatever it acknowledges waits for
    /// [`Db::durable`] with the ticket. `f` says whether it wrote anything; it may open
    /// its own transaction ([`Db::write_tx`]: a savepoint there).
    pub async fn relaxed<T, F>(&self, f: F) -> Result<(T, Ticket), Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<(T, bool)> + Send + 'static,
    {
        self.submit(false, f).await
    }

    /// Runs a write `f` like [`Db::relaxed`], and returns once it is durable: its batch
    /// commits with `synchronous=FULL`. One trip instead of `relaxed` then `durable`.
    pub async fn durably<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<(T, bool)> + Send + 'static,
    {
        Ok(self.submit(true, f).await?.0)
    }

    /// Returns once the relaxed commit `ticket` is durable: a `synchronous=FULL` commit
    /// made after it fsyncs the WAL, and SQLite recovers a WAL's transactions in order,
    /// so that commit's durability covers every earlier one
    /// (https://www.sqlite.org/wal.html, https://www.sqlite.org/pragma.html#pragma_synchronous).
    /// Concurrent callers share one such commit (group commit): their barriers queue on
    /// the write thread together and commit as one batch; a ticket that a durable
    /// batch already covered costs nothing.
    pub async fn durable(&self, ticket: Ticket) -> Result<(), Error> {
        if ticket == Ticket::NONE || self.progress.durable.load(Ordering::SeqCst) >= ticket.0 {
            return Ok(());
        }
        self.submit(true, |_| Ok(((), false))).await?;
        Ok(())
    }

    async fn submit<T, F>(&self, durable: bool, f: F) -> Result<(T, Ticket), Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<(T, bool)> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let path = self.path.clone();
        let run = move |conn: &mut Connection| -> (Effect, Deliver) {
            let r = f(conn);
            let effect = match &r {
                Ok((_, true)) => Effect::Wrote,
                Ok((_, false)) => Effect::Nothing,
                Err(_) => Effect::Failed,
            };
            let deliver: Deliver = Box::new(move |commit| {
                let answer = match (r, commit) {
                    (Err(e), _) => Err(db_error(&path, e)),
                    (Ok(_), Err(e)) => Err(Error::Db(format!("{}: {e}", path.display()))),
                    (Ok((v, _)), Ok(t)) => Ok((v, t)),
                };
                // The caller may have gone (a dropped request): nothing to tell.
                let _ = tx.send(answer);
            });
            (effect, deliver)
        };
        let job = Job {
            run: Box::new(run),
            durable,
        };
        self.writer
            .send(job)
            .map_err(|_| Error::Db("the database's write thread has stopped".into()))?;
        rx.await
            .map_err(|_| Error::Db("a database write failed without an answer".into()))?
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

    async fn count(db: &Db) -> i64 {
        db.call(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .await
            .unwrap()
    }

    fn insert(c: &mut Connection, v: i64) -> rusqlite::Result<((), bool)> {
        c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
        Ok(((), true))
    }

    async fn with_table() -> (tempfile::TempDir, Db) {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(&tmp.path().join("db.sqlite")).unwrap();
        db.call(|c| c.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)"))
            .await
            .unwrap();
        (tmp, db)
    }

    /// Holds the write connection until the returned sender is dropped or sent to, so
    /// writes queue up behind it and the write thread takes them as one batch.
    async fn hold(db: &Db) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (locked, is_locked) = oneshot::channel();
        let db = db.clone();
        let held = tokio::spawn(async move {
            db.call(move |_| {
                let _ = locked.send(());
                let _ = released.recv();
                Ok(())
            })
            .await
            .unwrap()
        });
        is_locked.await.expect("the connection is held");
        (release, held)
    }

    /// Lets every spawned task of this (current-thread) runtime run up to its first
    /// wait: each has handed its write to the write thread.
    async fn let_them_queue() {
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn one_full_commit_makes_every_earlier_relaxed_commit_durable() {
        let (_tmp, db) = with_table().await;
        let mut tickets = vec![];
        for v in 0..10 {
            let ((), t) = db.relaxed(move |c| insert(c, v)).await.unwrap();
            tickets.push(t);
        }
        assert!(tickets.windows(2).all(|w| w[0] < w[1]), "{tickets:?}");
        assert_eq!(synchronous(&db).await, 2, "back to FULL after each");
        // All ten wait at once, queued behind a held connection: their barriers are
        // one batch, one FULL commit.
        let (release, held) = hold(&db).await;
        let mut waits = tokio::task::JoinSet::new();
        for &t in &tickets {
            let db = db.clone();
            waits.spawn(async move { db.durable(t).await });
        }
        let_them_queue().await;
        drop(release);
        held.await.unwrap();
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
        // A later commit needs a barrier of its own; a durable write is its own.
        let ((), t) = db.relaxed(|c| insert(c, 10)).await.unwrap();
        db.durable(t).await.unwrap();
        assert_eq!(barriers(&db).await, 2);
        db.durably(|c| insert(c, 11)).await.unwrap();
        assert_eq!(barriers(&db).await, 3);
        assert!(db.progress.durable.load(Ordering::SeqCst) >= t.0);
        assert_eq!(count(&db).await, 12);
    }

    /// One batch: a durable write, relaxed ones, one that fails after writing, one
    /// that panics, one whose own transaction is dropped. Each caller gets its own
    /// outcome; only what succeeded is stored; the batch commits FULL once.
    #[tokio::test]
    async fn a_batch_keeps_each_write_to_itself() {
        let (_tmp, db) = with_table().await;
        let (release, held) = hold(&db).await;
        let batches = db.progress.batches.load(Ordering::SeqCst);
        let mut ok = tokio::task::JoinSet::new();
        for v in [1, 2, 3] {
            let db = db.clone();
            ok.spawn(async move { db.relaxed(move |c| insert(c, v)).await });
        }
        let durable = {
            let db = db.clone();
            tokio::spawn(async move { db.durably(|c| insert(c, 4)).await })
        };
        let failed = {
            let db = db.clone();
            tokio::spawn(async move {
                db.relaxed(|c| {
                    insert(c, 5)?;
                    insert(c, 1) // UNIQUE: fails after one row of its own
                })
                .await
            })
        };
        let panicked = {
            let db = db.clone();
            tokio::spawn(async move {
                db.relaxed(|c| -> rusqlite::Result<((), bool)> {
                    insert(c, 6)?;
                    panic!("a write that panics")
                })
                .await
            })
        };
        let dropped = {
            let db = db.clone();
            tokio::spawn(async move {
                db.relaxed(|c| {
                    let tx = Db::write_tx(c)?;
                    assert!(matches!(tx, super::super::WriteTx::Nested(_)));
                    tx.execute("INSERT INTO t (v) VALUES (7)", [])?;
                    Ok(((), false)) // not committed: undone when dropped
                })
                .await
            })
        };
        let_them_queue().await;
        drop(release);
        held.await.unwrap();
        while let Some(r) = ok.join_next().await {
            let ((), t) = r.unwrap().unwrap();
            assert_ne!(t, Ticket::NONE);
        }
        durable.await.unwrap().unwrap();
        let e = failed.await.unwrap().expect_err("the failed write fails");
        assert!(e.to_string().contains("UNIQUE"), "{e}");
        let e = panicked
            .await
            .unwrap()
            .expect_err("the panicked write fails");
        assert!(e.to_string().contains("without an answer"), "{e}");
        assert_eq!(dropped.await.unwrap().unwrap().1, Ticket::NONE);
        let stored: Vec<i64> = db
            .call(|c| {
                let mut s = c.prepare("SELECT v FROM t ORDER BY v")?;
                let rows = s.query_map([], |r| r.get(0))?;
                rows.collect()
            })
            .await
            .unwrap();
        assert_eq!(stored, vec![1, 2, 3, 4]);
        assert_eq!(db.progress.batches.load(Ordering::SeqCst), batches + 1);
        assert_eq!(barriers(&db).await, 1, "one batch, one FULL commit");
        assert_eq!(synchronous(&db).await, 2);
        // The write thread carries on after a panic.
        db.relaxed(|c| insert(c, 8)).await.unwrap();
        assert_eq!(count(&db).await, 5);
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
        assert_eq!(db.progress.committed.load(Ordering::SeqCst), 0);
    }
}
