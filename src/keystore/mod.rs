//! Where secrets live. Storage (names, files, atomic consumption) is shared; how a
//! secret is sealed is a [`Sealer`]: age to the home's keystore key today, a PKCS#11
//! token later. Sealed blobs are bound to their name so one cannot be swapped for another.

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
    #[error("no {0} in this keystore")]
    Missing(String),
    #[error("sealed secret {0} is damaged or was moved from another slot; refusing to use it")]
    Tampered(String),
    #[error("{what} {name} already exists in this keystore; refusing to overwrite it")]
    Exists { what: &'static str, name: String },
    #[error("keystore I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Seals and unseals secret bytes. `label` is the secret's name and must match on unseal.
pub trait Sealer: Send + Sync {
    fn seal(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>>;
    fn unseal(&self, label: &str, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

const TOMBSTONE: &[u8] = b"passport-consumed v1\n";

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
    pub fn new(dir: PathBuf, sealer: Box<dyn Sealer>) -> Self {
        Keystore { dir, sealer }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.sealed"))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.path(name).exists()
    }

    /// Stores a secret. Refuses to replace an existing one unless `overwrite`.
    pub fn put(&self, name: &str, secret: &[u8], overwrite: bool) -> Result<()> {
        let path = self.path(name);
        if !overwrite && path.exists() {
            return Err(Error::Exists {
                what: "secret",
                name: name.into(),
            });
        }
        let blob = self.sealer.seal(name, secret)?;
        fsutil::write_atomic(&path, &blob, overwrite).map_err(from_top)
    }

    /// Unseals a secret without consuming it.
    pub fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        let path = self.path(name);
        let blob = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if self.consumed_path(&path).exists() {
                    return Err(Error::NonceConsumed(name.into()));
                }
                return Err(Error::Missing(name.into()));
            }
            Err(e) => return Err(Error::Io { path, source: e }),
        };
        if blob.starts_with(TOMBSTONE) {
            return Err(Error::NonceConsumed(name.into()));
        }
        self.sealer.unseal(name, &blob)
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

    /// Unseals a secret stored with [`Keystore::put_json`].
    pub fn get_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let bytes = self.get(name)?;
        serde_json::from_slice(&bytes).map_err(|_| Error::Tampered(name.into()))
    }

    /// Consumes a single-use secret durably: after this returns, no process can use it
    /// again, even after a crash. The rename is the lock: of two racing processes only one
    /// wins. The sealed bytes are then overwritten by a tombstone and the directory synced.
    pub fn consume(&self, name: &str) -> Result<()> {
        let path = self.path(name);
        let consumed = self.consumed_path(&path);
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
        fsutil::write_atomic(&consumed, TOMBSTONE, true).map_err(from_top)
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

/// Frames a secret with its label so a blob cannot be moved to another name.
pub(crate) fn frame(label: &str, secret: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(label.len() + secret.len() + 24));
    v.extend_from_slice(b"passport-secret v1\n");
    v.extend_from_slice(label.as_bytes());
    v.push(b'\n');
    v.extend_from_slice(secret);
    v
}

/// Inverse of [`frame`]; fails if the label differs.
pub(crate) fn unframe(label: &str, framed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let head = b"passport-secret v1\n";
    let rest = framed
        .strip_prefix(head.as_slice())
        .and_then(|r| r.strip_prefix(label.as_bytes()))
        .and_then(|r| r.strip_prefix(b"\n".as_slice()))
        .ok_or_else(|| Error::Tampered(label.into()))?;
    Ok(Zeroizing::new(rest.to_vec()))
}
