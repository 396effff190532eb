//! Errors of a home: its directory, config, groups, shares and lock.

use std::path::PathBuf;

use crate::{audit, ceremony, fsutil, keystore};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no passport home at {0}; run `passport init` first (or pass --home)")]
    NoHome(PathBuf),
    #[error("a passport home already exists at {0}; pick another --home")]
    HomeExists(PathBuf),
    #[error(transparent)]
    File(#[from] fsutil::Error),
    #[error(transparent)]
    Keystore(#[from] keystore::Error),
    #[error(transparent)]
    Ceremony(#[from] ceremony::Error),
    #[error(transparent)]
    Audit(#[from] audit::Error),
    #[error(transparent)]
    Hsm(#[from] crate::hsm::Error),
    #[error("{path}: not valid {what}: {detail}")]
    Malformed {
        path: String,
        what: &'static str,
        detail: String,
    },
    /// Another process holds this home's lock.
    #[error("{0}")]
    Busy(String),
    /// A group (or seat) the user named is not in this home.
    #[error("{0}")]
    NotFound(String),
    /// The user must say more (which group, which seat).
    #[error("{0}")]
    Ambiguous(String),
    /// The home's state forbids it (a retired group, a share already held).
    #[error("{0}")]
    Refused(String),
    /// What the home holds does not fit together (a share of another group).
    #[error("{0}")]
    Rejected(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::File(fsutil::Error::io(path, source))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
