//! Errors of shares on PKCS#11 tokens: hsm commands and resealing.
//!
//! Each variant is one thing that went wrong, with the values the message needs; the
//! exit code of each is decided here, beside it.

use std::path::PathBuf;

use super::exit;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    // --- hsm init, attest and migrate: what the user asked of a token
    #[error("token {uri} (through {}) does not offer {}; passport cannot seal or attest with it", .module.display(), .missing.join(", "))]
    MissingMechanisms {
        uri: String,
        module: PathBuf,
        missing: Vec<String>,
    },
    #[error(
        "this home's keystore is not in a token; run `passport hsm migrate --to pkcs11:…` first"
    )]
    NotInToken,
    #[error("this home's keystore is not in a token; name one with --to pkcs11:…")]
    MigrateNeedsTarget,
    #[error("--challenge must be at least 8 bytes of hex, chosen by the verifier")]
    BadChallenge,

    // --- hsm migrate into the token the home already uses
    #[error("token {label} has no key-derivation key yet, so its blobs cannot move to format v2; run `passport hsm init --token {uri}` to add one, then migrate")]
    NoKdk { label: String, uri: String },
    #[error("this home's secrets are already sealed by that token in format v2")]
    AlreadyV2,

    // --- what a token, a statement or a log returned
    #[error(
        "{name}: the new keystore did not return the sealed secret intact; nothing was changed"
    )]
    NotIntact { name: String },
    /// An attestation statement that does not verify (the reason is the hsm layer's).
    #[error("{}: {reason}", .path.display())]
    BadStatement { path: PathBuf, reason: String },
    /// `audit verify` found the log broken (or unreadable).
    #[error(transparent)]
    AuditLog(crate::audit::Error),
}

impl TokenError {
    pub(super) fn exit_code(&self) -> i32 {
        use TokenError as T;
        match self {
            // The command line asks for something this home or token cannot do.
            T::MissingMechanisms { .. }
            | T::NotInToken
            | T::MigrateNeedsTarget
            | T::BadChallenge => exit::USAGE,
            // Nothing to do, or not yet possible: the home is left as it is.
            T::NoKdk { .. } | T::AlreadyV2 => exit::REFUSED,
            // A secret, statement or log that does not check out.
            T::NotIntact { .. } | T::BadStatement { .. } | T::AuditLog(_) => exit::REJECTED,
        }
    }
}
