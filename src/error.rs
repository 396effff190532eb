//! The one error type the binary maps to exit codes.
//!
//! Layer errors (ceremony, envelope, keystore) convert into it. Every message is a
//! sentence that says what went wrong and, where it can, what to do next. No variant
//! ever carries secret material.

use std::path::PathBuf;

/// Stable process exit codes (documented in `passport(1)`).
pub mod exit {
    pub const OK: i32 = 0;
    /// Anything not covered below: I/O, missing home, missing group.
    pub const FAILURE: i32 = 1;
    /// Command-line usage error (clap's own code).
    pub const USAGE: i32 = 2;
    /// A file or package was malformed, forged, misaddressed or otherwise rejected.
    pub const REJECTED: i32 = 3;
    /// Packages from some members have not arrived yet; try again later.
    pub const INCOMPLETE: i32 = 4;
    /// The operation was refused: consent declined, nonce already used, would overwrite.
    pub const REFUSED: i32 = 5;
    /// The keystore could not be unlocked: wrong passphrase or identity.
    pub const LOCKED: i32 = 6;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Ceremony(#[from] crate::ceremony::Error),
    #[error(transparent)]
    Envelope(#[from] crate::envelope::Error),
    #[error(transparent)]
    Keystore(#[from] crate::keystore::Error),
    #[error(transparent)]
    Hsm(#[from] crate::hsm::Error),
    #[error(transparent)]
    Serve(#[from] crate::serve::Error),
    #[error(transparent)]
    Audit(crate::audit::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not valid {what}: {detail}")]
    Malformed {
        path: String,
        what: &'static str,
        detail: String,
    },
    #[error("no passport home at {0}; run `passport init` first (or pass --home)")]
    NoHome(PathBuf),
    #[error("a passport home already exists at {0}; pick another --home")]
    HomeExists(PathBuf),
    #[error("{0}")]
    Incomplete(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Invalid(String),
    /// A `--via` server or relay could not be reached or answered oddly.
    #[error("{0}")]
    Transport(String),
    /// A backup's identity or passphrase does not open it (exit 6, like a keystore).
    #[error("{0}")]
    BackupLocked(String),
    /// Another process holds this home's lock.
    #[error("{0}")]
    Busy(String),
    /// Something the user named is not in the home (a group): exit 1 in the exit-code
    /// table, like a missing home, not a usage error.
    #[error("{0}")]
    NotFound(String),
}

/// A backup's errors, in the exit-code groups they always had.
impl From<crate::backup::Error> for Error {
    fn from(e: crate::backup::Error) -> Self {
        use crate::backup::Error as B;
        match e {
            B::File(f) => f.into(),
            B::Usage(m) => Error::Invalid(m),
            B::Rejected(m) => Error::Rejected(m),
            B::Locked(m) => Error::BackupLocked(m),
            B::Malformed { path, what, detail } => Error::Malformed { path, what, detail },
        }
    }
}

/// A home's errors, in the exit-code groups they always had.
impl From<crate::home::Error> for Error {
    fn from(e: crate::home::Error) -> Self {
        use crate::home::Error as H;
        match e {
            H::NoHome(p) => Error::NoHome(p),
            H::HomeExists(p) => Error::HomeExists(p),
            H::File(f) => f.into(),
            H::Keystore(k) => Error::Keystore(k),
            H::Ceremony(c) => Error::Ceremony(c),
            H::Audit(a) => a.into(),
            H::Hsm(h) => Error::Hsm(h),
            H::Malformed { path, what, detail } => Error::Malformed { path, what, detail },
            H::Busy { .. } => Error::Busy(e.to_string()),
            H::NoSuchGroup { .. } | H::UnknownGroup { .. } | H::ShareGone { .. } => {
                Error::NotFound(e.to_string())
            }
            H::SeveralGroups { .. }
            | H::NoGroupYet
            | H::ChooseGroup { .. }
            | H::TooFewShares { .. } => Error::Invalid(e.to_string()),
            H::OtherGroupFile { .. }
            | H::ShareHeld { .. }
            | H::Retired { .. }
            | H::Pending { .. }
            | H::Declined
            | H::NotPassphrase => Error::Refused(e.to_string()),
            H::ForeignShare { .. } => Error::Rejected(e.to_string()),
        }
    }
}

/// The transport's typed errors, in the exit-code groups they always had.
impl From<crate::transport::Error> for Error {
    fn from(e: crate::transport::Error) -> Self {
        use crate::transport::{Error as T, ViaError};
        match e {
            T::Net(ViaError::Refused { status, .. })
                if (400..500).contains(&status) && status != 429 =>
            {
                Error::Rejected(e.to_string())
            }
            T::File(f) => f.into(),
            T::Net(_) | T::Runtime(_) | T::OutageTimeout { .. } => Error::Transport(e.to_string()),
            T::Package { .. } | T::OtherRequest { .. } | T::Equivocation { .. } => {
                Error::Rejected(e.to_string())
            }
            T::Exists(_) => Error::Refused(e.to_string()),
            T::Timeout { .. } => Error::Incomplete(e.to_string()),
            T::NotAUrl { .. }
            | T::Scheme { .. }
            | T::NoUrl
            | T::Mixed
            | T::OtherCeremony { .. }
            | T::Unbound => Error::Invalid(e.to_string()),
        }
    }
}

impl From<crate::transport::ViaError> for Error {
    fn from(e: crate::transport::ViaError) -> Self {
        crate::transport::Error::Net(e).into()
    }
}

/// How a `run` command's wait reads a step's error.
impl crate::transport::Retryable for Error {
    fn retry(&self) -> crate::transport::Retry {
        use crate::transport::Retry;
        match self {
            Error::Ceremony(crate::ceremony::Error::Incomplete { missing, .. }) => {
                Retry::Missing(missing.clone())
            }
            Error::Transport(e) => Retry::Outage(e.clone()),
            _ => Retry::Stop,
        }
    }
}

impl From<crate::fsutil::Error> for Error {
    fn from(e: crate::fsutil::Error) -> Self {
        use crate::fsutil::Error as F;
        match e {
            F::Io { path, source } => Error::Io { path, source },
            F::Refused { path, detail } => Error::Malformed {
                path,
                what: "input",
                detail,
            },
        }
    }
}

impl From<crate::audit::Error> for Error {
    fn from(e: crate::audit::Error) -> Self {
        match e {
            // Named like every other file error.
            crate::audit::Error::Io { path, source } => Error::Io { path, source },
            e => Error::Audit(e),
        }
    }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The exit code this error maps to.
    pub fn exit_code(&self) -> i32 {
        use crate::ceremony::Error as C;
        use crate::keystore::Error as K;
        match self {
            Error::Ceremony(C::Incomplete { .. }) | Error::Incomplete(_) => exit::INCOMPLETE,
            Error::Ceremony(_)
            | Error::Envelope(_)
            | Error::Malformed { .. }
            | Error::Rejected(_) => exit::REJECTED,
            Error::Keystore(K::Locked(_)) | Error::BackupLocked(_) => exit::LOCKED,
            Error::Keystore(K::NonceConsumed(_) | K::OnceGone(_) | K::Exposed { .. })
            | Error::Refused(_)
            | Error::HomeExists(_) => exit::REFUSED,
            Error::Keystore(K::Tampered(_)) | Error::Keystore(K::Audit(_)) => exit::REJECTED,
            Error::Keystore(k) if crate::hsm::Error::of(k).is_some() => {
                hsm_exit(crate::hsm::Error::of(k).expect("just checked"))
            }
            Error::Hsm(h) => hsm_exit(h),
            Error::Invalid(_)
            | Error::Audit(crate::audit::Error::FakeTime(_) | crate::audit::Error::Unwritable(_)) => {
                exit::USAGE
            }
            Error::Audit(_) => exit::REJECTED,
            Error::Serve(e) if e.is_usage() => exit::USAGE,
            _ => exit::FAILURE,
        }
    }

    /// A short machine-readable name for `--json` error objects.
    pub fn kind(&self) -> &'static str {
        match self.exit_code() {
            exit::REJECTED => "rejected",
            exit::INCOMPLETE => "incomplete",
            exit::REFUSED => "refused",
            exit::LOCKED => "locked",
            exit::USAGE => "usage",
            _ => "failure",
        }
    }
}

/// A token's errors in the exit-code groups.
fn hsm_exit(e: &crate::hsm::Error) -> i32 {
    use crate::hsm::Error as H;
    match e {
        H::WrongPin { .. } | H::PinLocked { .. } | H::NoPin { .. } => exit::LOCKED,
        H::UnsafeKey { .. } | H::WrongToken { .. } | H::Tampered { .. } => exit::REJECTED,
        H::NotThisToken { .. } | H::V1Refused { .. } | H::BadStatement(_) => exit::REJECTED,
        H::BadUri { .. } | H::NoMechanism { .. } => exit::USAGE,
        H::KeysExist { .. } => exit::REFUSED,
        _ => exit::FAILURE,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
