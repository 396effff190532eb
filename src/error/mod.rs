//! The one error type the binary maps to exit codes.
//!
//! Layer errors (ceremony, envelope, keystore) convert into it. Every message is a
//! sentence that says what went wrong and, where it can, what to do next. No variant
//! ever carries secret material.

use std::path::PathBuf;

pub mod backup;
pub mod dkg;
pub mod lifecycle;
pub mod operator;
pub mod round;
pub mod sign;
pub mod token;

pub use backup::BackupError;
pub use dkg::DkgError;
pub use lifecycle::LifecycleError;
pub use operator::OperatorError;
pub use round::RoundError;
pub use sign::SignError;
pub use token::TokenError;

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
    /// A home's own errors (no such group, a share held or gone, busy, …).
    #[error(transparent)]
    Home(crate::home::Error),
    /// A transport's errors that are not a file's (a server or relay, a timeout, …).
    #[error(transparent)]
    Net(crate::transport::Error),
    /// A backup's own errors (a recipient, a damaged backup, a wrong key).
    #[error(transparent)]
    Backup(crate::backup::Error),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Dkg(#[from] DkgError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Backups(#[from] BackupError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error(transparent)]
    Round(#[from] RoundError),
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
}

/// A backup's errors: files and malformed input read like everyone else's.
impl From<crate::backup::Error> for Error {
    fn from(e: crate::backup::Error) -> Self {
        use crate::backup::Error as B;
        match e {
            B::File(f) => f.into(),
            B::Malformed { path, what, detail } => Error::Malformed { path, what, detail },
            e => Error::Backup(e),
        }
    }
}

/// A home's errors: the ones shared with other layers unwrap into theirs.
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
            e => Error::Home(e),
        }
    }
}

/// The transport's errors: a file's read like every other file's.
impl From<crate::transport::Error> for Error {
    fn from(e: crate::transport::Error) -> Self {
        match e {
            crate::transport::Error::File(f) => f.into(),
            e => Error::Net(e),
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
            Error::Net(e) if e.is_outage() => Retry::Outage(e.to_string()),
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
            Error::Ceremony(C::Incomplete { .. }) => exit::INCOMPLETE,
            Error::Ceremony(_) | Error::Envelope(_) | Error::Malformed { .. } => exit::REJECTED,
            Error::Keystore(K::Locked(_)) => exit::LOCKED,
            Error::Keystore(K::NonceConsumed(_) | K::OnceGone(_) | K::Exposed { .. })
            | Error::HomeExists(_) => exit::REFUSED,
            Error::Keystore(K::Tampered(_)) | Error::Keystore(K::Audit(_)) => exit::REJECTED,
            Error::Keystore(k) if crate::hsm::Error::of(k).is_some() => {
                hsm_exit(crate::hsm::Error::of(k).expect("just checked"))
            }
            Error::Hsm(h) => hsm_exit(h),
            Error::Audit(crate::audit::Error::FakeTime(_) | crate::audit::Error::Unwritable(_)) => {
                exit::USAGE
            }
            Error::Audit(_) => exit::REJECTED,
            Error::Serve(e) if e.is_usage() => exit::USAGE,
            Error::Home(e) => home_exit(e),
            Error::Net(e) => transport_exit(e),
            Error::Backup(e) => backup::backup_exit(e),
            Error::Sign(e) => e.exit_code(),
            Error::Dkg(e) => e.exit_code(),
            Error::Lifecycle(e) => e.exit_code(),
            Error::Backups(e) => e.exit_code(),
            Error::Token(e) => e.exit_code(),
            Error::Operator(e) => e.exit_code(),
            Error::Round(e) => e.exit_code(),
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

/// A home's errors in the exit-code groups they always had.
fn home_exit(e: &crate::home::Error) -> i32 {
    use crate::home::Error as H;
    match e {
        H::SeveralGroups { .. }
        | H::NoGroupYet
        | H::ChooseGroup { .. }
        | H::TooFewShares { .. } => exit::USAGE,
        H::OtherGroupFile { .. }
        | H::ShareHeld { .. }
        | H::Retired { .. }
        | H::Pending { .. }
        | H::Declined
        | H::NotPassphrase
        | H::HomeExists(_) => exit::REFUSED,
        H::ForeignShare { .. } | H::Malformed { .. } | H::Ceremony(_) => exit::REJECTED,
        // Busy, no such group, a share gone: exit 1, like a missing home.
        _ => exit::FAILURE,
    }
}

/// The transport's errors in the exit-code groups they always had.
fn transport_exit(e: &crate::transport::Error) -> i32 {
    use crate::transport::Error as T;
    match e {
        _ if e.is_outage() => exit::FAILURE,
        T::Net(_) | T::Package { .. } | T::OtherRequest { .. } | T::Equivocation { .. } => {
            exit::REJECTED
        }
        T::Exists(_) => exit::REFUSED,
        T::Timeout { .. } => exit::INCOMPLETE,
        T::NotAUrl { .. }
        | T::Scheme { .. }
        | T::NoUrl
        | T::Mixed
        | T::OtherCeremony { .. }
        | T::Unbound => exit::USAGE,
        _ => exit::FAILURE,
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
