//! Round packages as signed Nostr events.
//!
//! Every package that crosses a boundary is a kind-7707 event signed by the sender's
//! identity key. Tags bind it to a ceremony (`c`), a roster hash (`roster`), a round
//! (`round`), the sender's seat (`member`) and, for addressed packages, the recipient
//! (`p` + `to`). Confidential rounds carry NIP-44 v2 ciphertext in `content`.
//! A regular (not ephemeral) kind, so relays keep packages until members fetch them.

use nostr::{PublicKey, ToBech32};

use crate::ceremony::{MemberId, Roster};

mod check;
mod parse;
pub mod payload;
mod round;
mod seal;

pub use check::{check, Bound, Checked, Sender};
pub use parse::{parse, saved_meta};
pub use round::Round;
pub use seal::{seal, Draft};

pub const PACKAGE_KIND: u16 = 7707;
pub const FORMAT_VERSION: &str = "1";
/// Packages larger than this are refused before parsing (a DKG round-1 package for
/// 255 members is well under 64 KiB).
pub const MAX_PACKAGE_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a passport package: {0}")]
    NotAPackage(String),
    #[error("package is larger than {MAX_PACKAGE_BYTES} bytes; refusing to parse it")]
    TooLarge,
    #[error(
        "forged or tampered package: the event id or signature claimed by {claimed} does not verify"
    )]
    BadSignature {
        /// Who the package claims to be from (unverified).
        claimed: String,
        signer: PublicKey,
    },
    #[error("package from {from} uses format version {got}; this passport reads version {FORMAT_VERSION}")]
    Version { from: String, got: String },
    #[error("package from {from} has no valid {tag:?} tag")]
    MissingTag { from: String, tag: &'static str },
    #[error("package signed by {0}, who is not a member of this roster")]
    NotMember(String),
    #[error(
        "package claims to come from {seat} but is signed by {signer}, who does not hold that seat"
    )]
    WrongSeat { seat: String, signer: String },
    #[error("package from {from} belongs to ceremony {got}, not to this ceremony ({expected})")]
    WrongCeremony {
        from: String,
        got: String,
        expected: String,
    },
    #[error("package from {from} binds roster {got}, not this roster ({expected}): the members disagree on the roster")]
    WrongRoster {
        from: String,
        got: String,
        expected: String,
    },
    #[error("package from {from} is a {got}, expected a {expected}")]
    WrongRound {
        from: String,
        got: &'static str,
        expected: &'static str,
    },
    #[error("package from {from} is addressed to {to}, not to you")]
    NotForMe { from: String, to: String },
    #[error("package from {from} cannot be decrypted with your identity key: {detail}")]
    Decrypt { from: String, detail: String },
    #[error("package from {from} carries an invalid payload: {detail}")]
    Payload { from: String, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a package belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub ceremony: String,
    pub roster_hash: String,
}

impl Binding {
    pub fn of(roster: &Roster) -> Self {
        Binding {
            ceremony: roster.ceremony_id.clone(),
            roster_hash: roster.hash_hex(),
        }
    }
}

/// The routing fields of a package, read from its tags.
#[derive(Clone, Debug)]
pub struct Meta {
    pub round: Round,
    pub binding: Binding,
    /// The sender's seat, when the sender is a member.
    pub member: Option<MemberId>,
    /// The recipient's key and seat, for addressed packages.
    pub to: Option<(PublicKey, MemberId)>,
    /// A referenced package id (a signature share names its request).
    pub reference: Option<String>,
    pub encrypted: bool,
}

/// Short form of a key for messages: `npub1abcd…wxyz`.
pub fn short_npub(pk: &PublicKey) -> String {
    let s = pk.to_bech32().expect("bech32");
    format!("{}…{}", &s[..12], &s[s.len() - 6..])
}

/// Names the claimed sender of a forged package by roster name when it is a member.
pub fn name_claimed(e: Error, roster: &Roster) -> Error {
    match e {
        Error::BadSignature { claimed, signer } => match roster.ids_of(&signer).first() {
            Some(&id) => Error::BadSignature {
                claimed: format!("{} ({claimed})", roster.name(id)),
                signer,
            },
            None => Error::BadSignature { claimed, signer },
        },
        other => other,
    }
}
