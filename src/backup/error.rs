//! Errors of backups: what a backup, manifest or recipient list is, and whether the key
//! given opens it.

use crate::fsutil;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    File(#[from] fsutil::Error),
    /// A recipient, identity or option the user gave that cannot be used.
    #[error("{0}")]
    Usage(String),
    /// A backup or manifest that is damaged, forged or of another member.
    #[error("{0}")]
    Rejected(String),
    /// The identity or passphrase does not open the backup.
    #[error("{0}")]
    Locked(String),
    #[error("{path}: not valid {what}: {detail}")]
    Malformed {
        path: String,
        what: &'static str,
        detail: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
