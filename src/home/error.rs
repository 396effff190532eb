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
    #[error("{} is in use by {holder}; waited {secs:.0} s. Let it finish (or stop it), then run this again", .root.display())]
    Busy {
        root: PathBuf,
        holder: String,
        secs: f64,
    },
    #[error("no group {query:?} in this home; `passport group list` shows them")]
    NoSuchGroup { query: String },
    #[error("group {query} is not known to this home; import its group file with `passport group import`")]
    UnknownGroup { query: String },
    #[error("{query:?} matches several groups; give more of it")]
    SeveralGroups { query: String },
    #[error("this home holds no group yet; create one (keygen or dkg) first")]
    NoGroupYet,
    #[error("this home holds {count} groups; choose one with --group")]
    ChooseGroup { count: usize },
    #[error("this home already holds a different group file for {npub} (another roster or another deal of the same key); nothing was written")]
    OtherGroupFile { npub: String },
    #[error("this home already holds {member}'s share of {npub}")]
    ShareHeld { member: String, npub: String },
    #[error("this home has no share of {npub} for {member} (its sealed file is gone): restore it with `passport backup restore` or ask t members for a `passport repair`")]
    ShareGone { npub: String, member: String },
    #[error("the share held for {member} does not belong to group {npub}")]
    ForeignShare { member: String, npub: String },
    #[error(
        "group {npub} is retired in this home: its shares were destroyed (`passport group retire`)"
    )]
    Retired { npub: String },
    #[error("group {npub} is pending: its DKG has not been confirmed by every member (`passport dkg confirm`)")]
    Pending { npub: String },
    #[error("this home holds {held} share(s) of {npub}; signing alone needs {needed} (use the sign commit/request/share/aggregate rounds)")]
    TooFewShares {
        held: usize,
        npub: String,
        needed: u16,
    },
    #[error("signing declined")]
    Declined,
    #[error("this home's keystore is not protected by a passphrase")]
    NotPassphrase,
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::File(fsutil::Error::io(path, source))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
