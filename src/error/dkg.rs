//! Errors of distributed and dealt key generation (dkg, keygen).
//!
//! Each variant is one thing that went wrong, with the values the message needs; the
//! exit code of each is decided here, beside it.

use super::exit;

#[derive(Debug, thiserror::Error)]
pub enum DkgError {
    // --- dkg rounds
    /// A step run before the one it builds on.
    #[error("run `passport dkg {before}` before {step}")]
    OutOfOrder {
        before: &'static str,
        step: &'static str,
    },
    #[error("{member} has not started this DKG; run `passport dkg round1` first")]
    NotStarted { member: String },
    #[error("this roster differs from the one round 1 was run with")]
    OtherRoster,
    #[error("this roster names a dealer; use `passport keygen` for it")]
    DealerRoster,
    #[error("agreement package from {sender} carries no valid hash")]
    NoAgreementHash { sender: String },
    #[error("`dkg run` needs --via URL (a serve URL or relays)")]
    RunNeedsVia,

    // --- keygen: the dealer splits (short npubs)
    #[error("the roster names {dealer} as dealer, not this home ({me})")]
    NotTheDealer { dealer: String, me: String },
    #[error(
        "this is a DKG roster (no dealer); use `passport dkg`, or write a roster with --dealer"
    )]
    NoDealer,
    #[error("the key to split is not a valid nsec or 64-hex secret key")]
    BadSecretKey,
    /// The file given as the key to split (as displayed) is not UTF-8.
    #[error("{file}: not text")]
    NotText { file: String },
    #[error("split produced a different npub; refusing to write shares")]
    SplitChangedNpub,
    #[error(
        "this home already dealt roster {fingerprint} (ceremony {ceremony}) as group {group}; \
         dealing it again would make a second key under the same ceremony; write a new roster \
         (`passport roster new`) to deal again"
    )]
    AlreadyDealt {
        fingerprint: String,
        ceremony: String,
        group: String,
    },

    // --- keygen import: a member takes its dealt share (`file` as the user gave it)
    #[error("this roster has no dealer; dealer packages cannot belong to it")]
    NoDealerToImport,
    #[error("give the package file or --via URL")]
    NoPackage,
    #[error("{file}: {source}")]
    DealerPackage {
        file: String,
        #[source]
        source: crate::envelope::Error,
    },
    #[error("{file}: the package is addressed to a seat you do not hold")]
    NotYourSeat { file: String },
    #[error("{file}: the dealer's group file carries a different roster")]
    DealerOtherRoster { file: String },
    #[error("{file}: {source}")]
    DealtShare {
        file: String,
        #[source]
        source: crate::ceremony::Error,
    },
}

impl DkgError {
    pub(super) fn exit_code(&self) -> i32 {
        use DkgError as D;
        match self {
            // Steps in the wrong order, a roster for the other workflow, a bad key or
            // missing argument: the command line needs changing.
            D::OutOfOrder { .. }
            | D::NotStarted { .. }
            | D::DealerRoster
            | D::RunNeedsVia
            | D::NotTheDealer { .. }
            | D::NoDealer
            | D::BadSecretKey
            | D::NotText { .. }
            | D::NoDealerToImport
            | D::NoPackage => exit::USAGE,
            // A package or state that does not fit: forged, equivocated, misaddressed.
            D::OtherRoster
            | D::NoAgreementHash { .. }
            | D::SplitChangedNpub
            | D::DealerPackage { .. }
            | D::NotYourSeat { .. }
            | D::DealerOtherRoster { .. }
            | D::DealtShare { .. } => exit::REJECTED,
            // Would do something that must happen once.
            D::AlreadyDealt { .. } => exit::REFUSED,
        }
    }
}
