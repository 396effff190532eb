//! Errors of backups of shares and identities, passphrases.
//!
//! Each variant is one thing that went wrong, with the values the message needs; the
//! exit code of each is decided here, beside it.

use super::exit;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {}

impl BackupError {
    pub(super) fn exit_code(&self) -> i32 {
        let _ = exit::OK;
        match *self {}
    }
}

/// A backup layer's errors in the exit-code groups they always had.
pub(super) fn backup_exit(e: &crate::backup::Error) -> i32 {
    use crate::backup::Error as B;
    match e {
        B::Usage(_) => exit::USAGE,
        B::Rejected(_) | B::Malformed { .. } => exit::REJECTED,
        B::Locked(_) => exit::LOCKED,
        B::File(_) => exit::FAILURE,
    }
}
