//! Single-use secrets (signing nonces): stored once, consumed durably, burned in bulk,
//! and with a token keystore bound to a one-time token object (the nonce ledger, see
//! `hsm::once`). A crash may lose a nonce, never reuse one.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{from_top, Error, Keystore, Result};
use crate::fsutil;

/// What [`Keystore::burn_all`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Burned {
    /// Single-use secrets burned in this home.
    pub burned: usize,
    /// One-time token objects destroyed.
    pub destroyed: usize,
    /// One-time token objects still to destroy (the token could not be reached).
    pub pending: usize,
}

pub(super) const TOMBSTONE: &[u8] = b"passport-consumed v1\n";
/// One file per one-time object still to destroy: named by its id, holding the name.
pub(super) const PENDING: &str = "pending-destroy";

impl Keystore {
    /// Stores a single-use secret (see [`Sealer::seal_once`]); never overwrites, and
    /// refuses a name that was consumed before.
    pub fn put_once(&self, name: &str, secret: &[u8]) -> Result<()> {
        let path = self.path(name);
        if path.exists() || self.consumed_path(&path).exists() {
            return Err(Error::Exists {
                what: "single-use secret",
                name: name.into(),
            });
        }
        let blob = self.sealer.seal_once(name, "", secret)?;
        fsutil::write_atomic(&path, &blob, false).map_err(|e| {
            // Leave no object behind for a blob that was never stored.
            if let Some(id) = self.sealer.once_id(&blob) {
                let _ = self.sealer.destroy_once(name, &id);
            }
            from_top(e)
        })
    }

    /// Opens a single-use secret without consuming it. A secret whose one-time object is
    /// gone (used by another copy of this home) is burned here too.
    pub fn get_once(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        let path = self.path(name);
        let blob = self.read_live(name, &path)?;
        match self.sealer.unseal_once(name, "", &blob) {
            Err(Error::OnceGone(n)) => {
                if let Ok(Some(id)) = self.burn_file(name) {
                    self.clear_pending(&id);
                }
                Err(Error::OnceGone(n))
            }
            r => r,
        }
    }

    /// Consumes a single-use secret durably: after this returns, no process can use it
    /// again, even after a crash. The rename is the lock: of two racing processes only one
    /// wins. The directory is synced, then the sealed bytes are overwritten by a tombstone.
    /// With a ledger, the one-time object is destroyed too, and this call must be the one
    /// that destroyed it: if another copy of the home got there first, it refuses.
    pub fn consume(&self, name: &str) -> Result<()> {
        let Some(id) = self.burn_file(name)? else {
            return Ok(());
        };
        let destroyed = self.sealer.destroy_once(name, &id)?;
        self.clear_pending(&id);
        // Objects a crash or an unreachable token left behind, while the token is at hand.
        let _ = self.finish_pending();
        if destroyed {
            Ok(())
        } else {
            Err(Error::OnceGone(name.into()))
        }
    }

    /// Renames `<name>.sealed` away and tombstones it; returns the one-time object it
    /// depended on, recorded in `pending-destroy/` until it is destroyed.
    fn burn_file(&self, name: &str) -> Result<Option<String>> {
        let path = self.path(name);
        let consumed = self.consumed_path(&path);
        // Read before the rename: a concurrent open may tombstone `.consumed` at once.
        // The bytes cannot change in between, sealed files are written once, no-clobber.
        let blob = std::fs::read(&path).ok();
        match std::fs::rename(&path, &consumed) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(if consumed.exists() {
                    Error::NonceConsumed(name.into())
                } else {
                    Error::Missing(name.into())
                });
            }
            Err(e) => return Err(Error::Io { path, source: e }),
        }
        let id = blob.and_then(|b| self.sealer.once_id(&b));
        if let Some(id) = &id {
            self.add_pending(id, name)?;
        }
        // The rename is the burn, and syncing the directory makes it durable: one fsync.
        // The sealed bytes are then overwritten in place, unsynced: a crash may leave
        // them, and `sweep` tombstones what it finds. In place, because a new file (a
        // temporary, renamed over) costs an inode allocation, which in a busy nonce
        // directory was a tenth of a co-signer's CPU (perf, 2026-12-04).
        if let Some(dir) = path.parent() {
            fsutil::sync_dir(dir).map_err(from_top)?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&consumed)
            .and_then(|mut f| std::io::Write::write_all(&mut f, TOMBSTONE))
            .map_err(|source| Error::Io {
                path: consumed,
                source,
            })?;
        Ok(id)
    }

    fn pending_dir(&self) -> PathBuf {
        self.dir.join(PENDING)
    }

    fn add_pending(&self, id: &str, name: &str) -> Result<()> {
        fsutil::write_atomic(&self.pending_dir().join(id), name.as_bytes(), true).map_err(from_top)
    }

    fn clear_pending(&self, id: &str) {
        let _ = std::fs::remove_file(self.pending_dir().join(id));
    }

    /// Destroys the one-time objects listed in `pending-destroy/`; returns how many were
    /// handled. Stops at the first token error (the rest stay listed).
    pub fn finish_pending(&self) -> Result<usize> {
        let dir = self.pending_dir();
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Ok(0);
        };
        let mut done = 0;
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if id.starts_with('.') {
                continue;
            }
            let name = std::fs::read_to_string(e.path()).unwrap_or_default();
            if self.sealer.keeps_ledger() {
                self.sealer.destroy_once(name.trim(), &id)?;
            }
            self.clear_pending(&id);
            done += 1;
        }
        Ok(done)
    }

    /// How many one-time objects wait in `pending-destroy/`.
    pub fn pending(&self) -> usize {
        std::fs::read_dir(self.pending_dir()).map_or(0, |rd| {
            rd.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
    }

    /// Burns every single-use secret in `names` without using it (after restoring a home
    /// from a snapshot). Files are burned first, so this works without the token; the
    /// one-time objects are then destroyed, or stay listed as pending.
    pub fn burn_all(&self, names: &[String]) -> Result<(Burned, Option<Error>)> {
        let mut report = Burned::default();
        for n in names {
            match self.burn_file(n) {
                Ok(_) => report.burned += 1,
                // Consumed meanwhile by another process: nothing left to burn.
                Err(Error::NonceConsumed(_) | Error::Missing(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let before = self.pending();
        let problem = if before > 0 {
            self.finish_pending().err()
        } else {
            None
        };
        report.pending = self.pending();
        report.destroyed = before.saturating_sub(report.pending);
        Ok((report, problem))
    }

    /// Tombstones `.consumed` files that still hold sealed bytes: a crash (or a full
    /// disk) between the burn rename and the tombstone leaves them. They can never be
    /// used again (the name is consumed), but the secret must not stay on disk either.
    /// Best effort: a read-only home is left as it is.
    pub(super) fn sweep(&self) {
        fn walk(ks: &Keystore, dir: &Path, depth: usize) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let p = e.path();
                let Ok(ft) = e.file_type() else { continue };
                if ft.is_dir() && depth < 4 {
                    walk(ks, &p, depth + 1);
                } else if ft.is_file() && p.extension().is_some_and(|x| x == "consumed") {
                    // Tombstones are tiny; only a larger file needs reading.
                    if e.metadata()
                        .is_ok_and(|m| m.len() == TOMBSTONE.len() as u64)
                    {
                        continue;
                    }
                    let Ok(bytes) = std::fs::read(&p) else {
                        continue;
                    };
                    if bytes.starts_with(TOMBSTONE) {
                        continue;
                    }
                    if let Some(id) = ks.sealer.once_id(&bytes) {
                        let name = p
                            .strip_prefix(&ks.dir)
                            .ok()
                            .and_then(|r| r.to_str())
                            .and_then(|r| r.strip_suffix(".consumed"))
                            .unwrap_or_default()
                            .to_owned();
                        if ks.add_pending(&id, &name).is_err() {
                            continue;
                        }
                    }
                    let _ = fsutil::write_atomic(&p, TOMBSTONE, true);
                }
            }
        }
        walk(self, &self.dir.join("nonces"), 0);
    }
}
