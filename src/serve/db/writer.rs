//! The write thread: every [`Db::relaxed`] and [`Db::durably`] write, and every
//! durability barrier, goes to one thread that runs what has queued up meanwhile as one
//! transaction (each write in a savepoint of its own) and commits it once: group commit.
//! Under load that is one commit and at most one fsync for a batch of concurrent
//! requests, where each used to cost a commit of its own on a blocking-pool thread, a
//! thread switch there and back, and a second commit for the barrier (measured by perf,
//! 2026-12-03: a quarter of serve's CPU was the scheduler).
//!
//! A write's result reaches its caller only after the batch committed, so what is
//! acknowledged is in the WAL (it survives kill -9), and with `synchronous=FULL` when any
//! write of the batch asked for it, on disk.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// Writes taken into one transaction at most: bounds a batch's latency and the time the
/// connection is held.
const MAX_BATCH: usize = 256;

/// What a write hands back once it has run: told how its batch's commit went, it
/// answers its caller.
pub(super) type Deliver = Box<dyn FnOnce(Result<Ticket, String>) + Send>;

/// What a write did, as far as its batch is concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    /// It wrote what its caller acknowledges: it gets a ticket.
    Wrote,
    /// It wrote nothing that needs waiting for.
    Nothing,
    /// It failed: whatever it wrote is undone.
    Failed,
}

/// A write to run on the connection inside the batch's transaction.
pub(super) type Run = Box<dyn FnOnce(&mut Connection) -> (Effect, Deliver) + Send>;

/// A queued write.
pub(super) struct Job {
    pub run: Run,
    /// Commit this batch with `synchronous=FULL`.
    pub durable: bool,
}

/// A committed write's place in line, for [`super::Db::durable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(pub(super) u64);

impl Ticket {
    /// Nothing was written: nothing to wait for.
    pub const NONE: Ticket = Ticket(0);
}

/// How far the writes have got: tickets given, and up to which of them a FULL commit
/// has made durable.
#[derive(Default)]
pub(super) struct Progress {
    pub committed: AtomicU64,
    pub durable: AtomicU64,
    /// Batches run, committed or not.
    pub batches: AtomicU64,
    /// What `/metrics` shows of the write thread.
    pub stats: Stats,
}

/// Counts for `/metrics`: batches by how they committed, the writes they held, and the
/// time spent in their COMMITs (a FULL one is where the fsync is).
#[derive(Default)]
pub(super) struct Stats {
    pub full: AtomicU64,
    pub normal: AtomicU64,
    pub writes: AtomicU64,
    pub full_commit_us: AtomicU64,
    pub normal_commit_us: AtomicU64,
}

/// Starts the write thread on `conn`; it ends when every sender is dropped.
pub(super) fn start(
    conn: Arc<Mutex<Connection>>,
    progress: Arc<Progress>,
) -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("passport-db-writer".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                // The lock first, then what queued meanwhile: writes that came while
                // another call held the connection join this batch. A panic while it
                // was held left no half-done transaction, so a poisoned lock is usable.
                let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(j) => batch.push(j),
                        Err(_) => break,
                    }
                }
                run_batch(&mut guard, batch, &progress);
            }
        })?;
    Ok(tx)
}

fn run_batch(conn: &mut Connection, batch: Vec<Job>, progress: &Progress) {
    progress.batches.fetch_add(1, Ordering::SeqCst);
    let stats = &progress.stats;
    stats
        .writes
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    let durable = batch.iter().any(|j| j.durable);
    let mut delivers: Vec<(Effect, Deliver)> = Vec::with_capacity(batch.len());
    let outcome = (|| -> rusqlite::Result<()> {
        if !durable {
            conn.prepare_cached("PRAGMA synchronous = NORMAL")?
                .execute([])?;
        }
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        for job in batch {
            conn.prepare_cached("SAVEPOINT job")?.execute([])?;
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (job.run)(conn)));
            let Ok((effect, deliver)) = ran else {
                // Its caller sees its answer dropped, an error; the rest go on.
                conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
                continue;
            };
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back (an I/O error, a full
                // disk): the batch so far is lost, so none of it may be acknowledged.
                delivers.push((effect, deliver));
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some("the write transaction was rolled back".into()),
                ));
            }
            if effect == Effect::Failed {
                conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
            }
            conn.prepare_cached("RELEASE job")?.execute([])?;
            delivers.push((effect, deliver));
        }
        if durable {
            // A FULL commit that wrote nothing syncs nothing: the barrier row makes
            // sure this one does, so it covers every earlier relaxed commit.
            conn.prepare_cached(super::durable::BARRIER_WRITE)?
                .execute([])?;
        }
        let started = std::time::Instant::now();
        conn.prepare_cached("COMMIT")?.execute([])?;
        let us = started.elapsed().as_micros() as u64;
        let (n, t) = match durable {
            true => (&stats.full, &stats.full_commit_us),
            false => (&stats.normal, &stats.normal_commit_us),
        };
        n.fetch_add(1, Ordering::Relaxed);
        t.fetch_add(us, Ordering::Relaxed);
        Ok(())
    })();
    if outcome.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    if !durable {
        // Everything else on this connection commits FULL.
        let _ = conn
            .prepare_cached("PRAGMA synchronous = FULL")
            .and_then(|mut s| s.execute([]));
    }
    match outcome {
        Ok(()) => {
            let tickets: Vec<Ticket> = delivers
                .iter()
                .map(|(effect, _)| match effect {
                    Effect::Wrote => Ticket(progress.committed.fetch_add(1, Ordering::SeqCst) + 1),
                    Effect::Nothing | Effect::Failed => Ticket::NONE,
                })
                .collect();
            if durable {
                // FULL, and it wrote (the barrier): its fsync covers every earlier
                // commit too. Only this thread gives tickets, so `committed` is this
                // batch's last (or an earlier batch's, when this one gave none).
                let upto = progress.committed.load(Ordering::SeqCst);
                progress.durable.fetch_max(upto, Ordering::SeqCst);
            }
            for ((_, deliver), t) in delivers.into_iter().zip(tickets) {
                deliver(Ok(t));
            }
        }
        Err(e) => {
            let e = e.to_string();
            for (_, deliver) in delivers {
                deliver(Err(e.clone()));
            }
        }
    }
}
