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
mod once;

pub use once::Burned;
use once::TOMBSTONE;

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
    /// A sealer backend's own error (a PKCS#11 token's), kept whole for the exit code.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync + 'static>),
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
    /// The concrete sealer, for a backend that offers more (a token's attestation).
    fn as_any(&self) -> &dyn std::any::Any;
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
    /// Whether this sealer's key lives in this process once unlocked (an age identity),
    /// so that keeping what it unsealed in memory exposes nothing the key itself does
    /// not. A token's key never leaves the token: there each unseal is an operation of
    /// the token (and a line of the audit log), which a copy in memory would bypass.
    fn key_in_memory(&self) -> bool {
        false
    }
}

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

fn from_top(e: fsutil::Error) -> Error {
    match e {
        fsutil::Error::Io { path, source } => Error::Io { path, source },
        fsutil::Error::Refused { path, detail } => Error::Io {
            path: path.into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, detail),
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
        let blob = self.sealed(name)?;
        self.sealer.unseal(name, context, &blob)
    }

    /// The sealed blob of `name`, as [`Keystore::get_bound`] reads it (same refusals).
    pub fn sealed(&self, name: &str) -> Result<Vec<u8>> {
        self.read_live(name, &self.path(name))
    }

    /// Opens a blob read by [`Keystore::sealed`].
    pub fn unseal_bound(
        &self,
        name: &str,
        context: &str,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.sealer.unseal(name, context, blob)
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
