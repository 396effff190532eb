//! Where secrets live. Storage (names, files, atomic consumption) is shared; how a
//! secret is sealed is a [`Sealer`]: age to the home's keystore key today, a PKCS#11
//! token later. Sealed blobs are bound to their name so one cannot be swapped for another.
//!
//! Single-use secrets (preprocessed nonces) are consumed by renaming `<name>.sealed` to
//! `<name>.consumed` (the rename is the lock) and overwriting that with a tombstone. A
//! sealer with a ledger (a token) also makes each one depend on a one-time object it
//! destroys on consumption, so a copy of the home cannot open it either. Objects still to
//! be destroyed (after a crash, or while the token was unreachable) are listed in
//! `pending-destroy/`, one file per object.

pub mod file;

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::fsutil;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot unlock the keystore: {0}")]
    Locked(String),
    #[error("nonce {0} was already used; a nonce is never used twice. Ask for fresh commitments (`passport sign commit`)")]
    NonceConsumed(String),
    #[error("nonce {0} was already used or discarded by another copy of this home (a restored snapshot or a copied directory): its one-time object on the token is gone, so nothing can be signed with it. Nothing was signed; ask for fresh commitments (`passport sign commit`)")]
    OnceGone(String),
    #[error("no {0} in this keystore")]
    Missing(String),
    #[error("sealed secret {0} is damaged or was moved from another slot; refusing to use it")]
    Tampered(String),
    #[error("{what} {name} already exists in this keystore; refusing to overwrite it")]
    Exists { what: &'static str, name: String },
    #[error(transparent)]
    Hsm(#[from] crate::hsm::Error),
    #[error("token operation refused because it cannot be audited: {0}")]
    Audit(String),
    #[error("{} is open to other users (mode {mode:04o}); a keystore must be private to its owner. If the home was copied without `cp -p`, run `chmod -R go-rwx` on it and consider who else could have read it", .path.display())]
    Exposed { path: PathBuf, mode: u32 },
    #[error("keystore I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Seals and unseals secret bytes. `label` is the secret's name and `context` what it
/// belongs to (for shares: group, member, t/n); both must match on unseal.
pub trait Sealer: Send + Sync {
    fn seal(&self, label: &str, context: &str, plaintext: &[u8]) -> Result<Vec<u8>>;
    fn unseal(&self, label: &str, context: &str, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// A short description for messages and attestation ("age", "pkcs11:token=…").
    fn describe(&self) -> String;
    /// The token behind this sealer, for attestation.
    fn pkcs11(&self) -> Option<&crate::hsm::seal::Pkcs11Sealer> {
        None
    }
    /// Seals a single-use secret. A sealer with a ledger makes the blob depend on a
    /// one-time object that [`Sealer::destroy_once`] removes, in every copy of the home at
    /// once; without one (age files) this is plain sealing.
    fn seal_once(&self, label: &str, context: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.seal(label, context, plaintext)
    }
    /// Opens a blob made by [`Sealer::seal_once`]; [`Error::OnceGone`] when its one-time
    /// object was destroyed.
    fn unseal_once(&self, label: &str, context: &str, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.unseal(label, context, blob)
    }
    /// The one-time object a blob depends on (readable without unlocking).
    fn once_id(&self, _blob: &[u8]) -> Option<String> {
        None
    }
    /// Destroys one-time object `id`: true if this call destroyed it, false if it was gone.
    fn destroy_once(&self, _label: &str, _id: &str) -> Result<bool> {
        Ok(true)
    }
    /// Whether consumed single-use secrets are also recorded outside the home.
    fn keeps_ledger(&self) -> bool {
        false
    }
}

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

const TOMBSTONE: &[u8] = b"passport-consumed v1\n";
/// One file per one-time object still to destroy: named by its id, holding the name.
const PENDING: &str = "pending-destroy";

/// The permission bits of `path` when group or others have any access to it.
pub fn exposed(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Reads a sealed blob, refusing (as `PermissionDenied`) one that others could read:
/// a blob is only as safe as its sealing, and a copy made by someone else is a
/// snapshot of our nonces.
fn read_private(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            return Err(std::io::ErrorKind::PermissionDenied.into());
        }
    }
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    Ok(buf)
}

/// A directory of sealed secrets.
pub struct Keystore {
    dir: PathBuf,
    sealer: Box<dyn Sealer>,
}

fn from_top(e: crate::Error) -> Error {
    match e {
        crate::Error::Io { path, source } => Error::Io { path, source },
        other => Error::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}

impl Keystore {
    /// Opens the keystore in `dir`, first tombstoning what a crash left half-consumed.
    pub fn new(dir: PathBuf, sealer: Box<dyn Sealer>) -> Self {
        let ks = Keystore { dir, sealer };
        ks.sweep();
        ks
    }

    pub fn sealer(&self) -> &dyn Sealer {
        self.sealer.as_ref()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every sealed secret's name (live ones; consumed nonces are not secrets).
    pub fn all_names(&self) -> Result<Vec<String>> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
            for e in std::fs::read_dir(dir)? {
                let p = e?.path();
                if p.is_dir() {
                    walk(base, &p, out)?;
                } else if let Some(rel) = p.strip_prefix(base).ok().and_then(|r| r.to_str()) {
                    if let Some(name) = rel.strip_suffix(".sealed") {
                        out.push(name.to_owned());
                    }
                }
            }
            Ok(())
        }
        let mut out = vec![];
        walk(&self.dir, &self.dir, &mut out).map_err(|e| Error::Io {
            path: self.dir.clone(),
            source: e,
        })?;
        out.sort();
        Ok(out)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.sealed"))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.path(name).exists()
    }

    /// Stores a secret. Refuses to replace an existing one unless `overwrite`.
    pub fn put(&self, name: &str, secret: &[u8], overwrite: bool) -> Result<()> {
        self.put_bound(name, "", secret, overwrite)
    }

    /// Stores a secret bound to `context` (the same context is needed to read it).
    pub fn put_bound(
        &self,
        name: &str,
        context: &str,
        secret: &[u8],
        overwrite: bool,
    ) -> Result<()> {
        let path = self.path(name);
        if !overwrite && path.exists() {
            return Err(Error::Exists {
                what: "secret",
                name: name.into(),
            });
        }
        let blob = self.sealer.seal(name, context, secret)?;
        fsutil::write_atomic(&path, &blob, overwrite).map_err(from_top)
    }

    /// Unseals a secret without consuming it.
    pub fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        self.get_bound(name, "")
    }

    /// Unseals a secret stored with [`Keystore::put_bound`].
    pub fn get_bound(&self, name: &str, context: &str) -> Result<Zeroizing<Vec<u8>>> {
        let path = self.path(name);
        let blob = self.read_live(name, &path)?;
        self.sealer.unseal(name, context, &blob)
    }

    fn consumed_path(&self, path: &Path) -> PathBuf {
        path.with_extension("consumed")
    }

    /// Stores a serde value as a secret (the JSON never leaves zeroizing memory).
    pub fn put_json<T: serde::Serialize>(
        &self,
        name: &str,
        value: &T,
        overwrite: bool,
    ) -> Result<()> {
        let bytes = Zeroizing::new(serde_json::to_vec(value).expect("secrets serialize"));
        self.put(name, &bytes, overwrite)
    }

    /// Stores the secret of a ceremony step that, by the caller's state file (read under
    /// the home lock), has not been taken yet. A secret already under that name is then an
    /// orphan of a crash between storing it and saving the state, before any package made
    /// from it left: it is removed, and the new one is created no-clobber, so a writer
    /// that raced us anyway fails instead of silently replacing ours.
    pub fn put_json_step<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<()> {
        self.remove(name)?;
        self.put_json(name, value, false)
    }

    /// Unseals a secret stored with [`Keystore::put_json`].
    pub fn get_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let bytes = self.get(name)?;
        serde_json::from_slice(&bytes).map_err(|_| Error::Tampered(name.into()))
    }

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

    fn read_live(&self, name: &str, path: &Path) -> Result<Vec<u8>> {
        let blob = match read_private(path) {
            Ok(b) => b,
            Err(e)
                if e.kind() == std::io::ErrorKind::PermissionDenied && exposed(path).is_some() =>
            {
                return Err(Error::Exposed {
                    mode: exposed(path).unwrap_or_default(),
                    path: path.into(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if self.consumed_path(path).exists() {
                    return Err(Error::NonceConsumed(name.into()));
                }
                return Err(Error::Missing(name.into()));
            }
            Err(e) => {
                return Err(Error::Io {
                    path: path.into(),
                    source: e,
                })
            }
        };
        if blob.starts_with(TOMBSTONE) {
            return Err(Error::NonceConsumed(name.into()));
        }
        Ok(blob)
    }

    /// Consumes a single-use secret durably: after this returns, no process can use it
    /// again, even after a crash. The rename is the lock: of two racing processes only one
    /// wins. The sealed bytes are then overwritten by a tombstone and the directory synced.
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
        fsutil::write_atomic(&consumed, TOMBSTONE, true).map_err(from_top)?;
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
    fn sweep(&self) {
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

    /// Deletes a secret (used when a ceremony step makes it obsolete).
    pub fn remove(&self, name: &str) -> Result<()> {
        let path = self.path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                if let Some(dir) = path.parent() {
                    fsutil::sync_dir(dir).map_err(from_top)?;
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io { path, source: e }),
        }
    }

    /// Names of live (unconsumed) secrets under a prefix directory, sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let dir = self.dir.join(prefix);
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => {
                return Err(Error::Io {
                    path: dir,
                    source: e,
                })
            }
        };
        let mut out = vec![];
        for entry in rd {
            let entry = entry.map_err(|e| Error::Io {
                path: dir.clone(),
                source: e,
            })?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = file.strip_suffix(".sealed") {
                out.push(format!("{prefix}/{stem}"));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The binding of a sealed secret: what it is and what it belongs to. Used as the
/// frame of age-sealed secrets and as AES-GCM associated data in a token.
pub(crate) fn binding(label: &str, context: &str) -> String {
    format!("passport-secret v1\n{label}\n{context}\n")
}

/// Frames a secret with its binding so a blob cannot be moved to another name.
pub(crate) fn frame(label: &str, context: &str, secret: &[u8]) -> Zeroizing<Vec<u8>> {
    let head = binding(label, context);
    let mut v = Zeroizing::new(Vec::with_capacity(head.len() + secret.len()));
    v.extend_from_slice(head.as_bytes());
    v.extend_from_slice(secret);
    v
}

/// Inverse of [`frame`]; fails if the binding differs.
pub(crate) fn unframe(label: &str, context: &str, framed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let rest = framed
        .strip_prefix(binding(label, context).as_bytes())
        .ok_or_else(|| Error::Tampered(label.into()))?;
    Ok(Zeroizing::new(rest.to_vec()))
}
