//! Errors of signing: sign commit/request/share/aggregate/run, nonces, verify, inspect, co-signers.
//!
//! Each variant is one thing that went wrong, with the values the message needs; the
//! exit code of each is decided here, beside it. Paths are named as the user gave them
//! (`path`/`name`: the file or package name already displayed).

use std::path::PathBuf;

use super::exit;
use crate::clock::{date, span};

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    // --- sign commit and the nonces it keeps
    #[error("--count must be between 1 and 10000")]
    CountRange,
    #[error("a commitment lifetime must be between {} and {}", span(*.min), span(*.max))]
    LifetimeRange { min: u64, max: u64 },
    #[error("--valid-for: {0}")]
    ValidFor(#[source] crate::bunker::limits::BadDuration),
    #[error("--valid-for must be between {} and {}, not {given}", span(*.min), span(*.max))]
    ValidForRange { given: String, min: u64, max: u64 },
    #[error("nonce {name} was made by an older passport that did not record when, so it cannot be shown to be within its lifetime; it is not used. Burn it with `passport sign commit --discard-all` and commit again")]
    NonceUndated { name: String },
    #[error("{member}'s commitment {id} expired at {} (made {}, valid for {}); an expired commitment is never used, so a restored copy of a home cannot reuse it. It was discarded; ask {member} for fresh commitments (`passport sign commit`)", date(*.expires_at), date(*.created_at), span(.expires_at.saturating_sub(*.created_at)))]
    CommitmentExpired {
        member: String,
        /// Shortened, as shown.
        id: String,
        created_at: u64,
        expires_at: u64,
    },
    #[error("{member}'s commitment {id} was already handed out by this coordinator (another request took it just now); a commitment is never used twice")]
    CommitmentTaken { member: String, id: String },
    #[error("--member needs --group with --discard-all")]
    MemberNeedsGroup,
    #[error("{name:?} is not a member of group {npub}")]
    NotMemberOf { name: String, npub: String },
    #[error("burned {burned} nonce(s) in this home, but {pending} one-time object(s) on the token could not be destroyed yet ({source}); they stay listed and are destroyed by the next `passport sign commit --discard-all` or signing with the token at hand")]
    BurnPending {
        burned: usize,
        pending: usize,
        #[source]
        source: crate::keystore::Error,
    },

    // --- sign request: what to sign, whose commitments, which signers
    /// A template or raw message that is not one (the events layer says why).
    #[error(transparent)]
    Message(crate::events::Error),
    #[error("give --event FILE or --message HEX")]
    NoMessage,
    /// A package that does not check (`path`: the file or package it came from).
    #[error("{path}: {source}")]
    Package {
        path: String,
        #[source]
        source: crate::envelope::Error,
    },
    #[error("{path}: commitments from {sender} are for another group")]
    CommitsForOtherGroup { path: String, sender: String },
    #[error("{path}: {sender} left the group at a refresh and holds no share of it any more")]
    CommitsFromLeaver { path: String, sender: String },
    #[error("{name:?} is not a member of this group")]
    NotMember { name: String },
    #[error("{name} left the group at a refresh and can no longer sign for it")]
    SignerLeft { name: String },
    #[error("no usable commitments from {}: {}; ask for fresh ones (`passport sign commit`)", .missing.join(", "), .reasons.join("; "))]
    NoUsableCommitments {
        missing: Vec<String>,
        reasons: Vec<String>,
    },
    #[error("choose exactly {threshold} signers")]
    SignerCount { threshold: u16 },

    // --- sign share: checking a request, then the member's own commitment
    #[error("{path}: this is a {got}, not a signing request")]
    NotARequestRound { path: String, got: &'static str },
    #[error("{path}: not a signing request: {source}")]
    NotARequest {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("give --group-file or a home that knows the group")]
    NoGroupSource,
    #[error("{path}: the request is for {requested}, not {npub}")]
    RequestForOtherGroup {
        path: String,
        requested: String,
        npub: String,
    },
    #[error("{path}: the event to sign is not authored by the group key")]
    EventNotByGroup { path: String },
    #[error("{path}: the signing package signs something other than the event shown; refusing (coordinator {coordinator})")]
    PackageMismatch { path: String, coordinator: String },
    #[error("{path}: the request names a signer outside the roster")]
    SignerOutsideRoster { path: String },
    #[error("{path}: no commitment id for {member}")]
    NoCommitmentId { path: String, member: String },
    #[error("{path}: the request names {member} as a signer, who left the group at a refresh")]
    RequestNamesLeaver { path: String, member: String },
    #[error("{path}: a request needs exactly {threshold} signers")]
    RequestSignerCount { path: String, threshold: u16 },
    #[error("the request names no commitment for {member}")]
    NoCommitmentFor { member: String },
    #[error("{member}'s commitment {id} for {npub} was already used; a commitment is never used twice. Ask for fresh commitments (`passport sign commit`)")]
    CommitmentUsed {
        member: String,
        id: String,
        npub: String,
    },
    #[error("this home holds no {member}'s commitment {id} for {npub}: it was made by another home, or discarded (`sign commit --discard-all`)")]
    CommitmentUnknown {
        member: String,
        id: String,
        npub: String,
    },
    #[error("{member}'s commitment {id} for {npub} was already used or discarded by another copy of this home (a restored snapshot or a copied directory): its one-time object on the token is gone. Nothing was signed; ask for fresh commitments (`passport sign commit`)")]
    CommitmentGone {
        member: String,
        id: String,
        npub: String,
    },
    #[error("the request's commitment for {member} is not the one this home made under id {id}; refusing")]
    CommitmentMismatch { member: String, id: String },
    #[error("signing declined; no nonce was used")]
    Declined,

    // --- sign aggregate
    #[error("{sender} sent a share but was not asked to sign this request")]
    ShareFromNonSigner { sender: String },
    #[error("{sender}'s share names another request")]
    ShareForOtherRequest { sender: String },
    #[error("aggregate signature failed libsecp256k1 verification: {reason}")]
    Unverified { reason: String },

    // --- sign run and sign over --via
    #[error("--request {id:?}: with --via give the request's event id (at least 8 hex digits)")]
    RequestId { id: String },
    #[error("no signing request {id} has arrived yet; check the id or retry later")]
    RequestNotYet { id: String },
    #[error("{count} requests start with {id}; give more digits")]
    RequestIdAmbiguous { count: usize, id: String },
    #[error("no signing request is waiting for this home yet; retry later")]
    NoRequestYet,
    #[error("--via needs a URL")]
    ViaNeedsUrl,
    #[error("with --via, name the group with --group NPUB")]
    ViaNeedsGroup,
    #[error("`sign run` needs --via URL (a serve URL or relays)")]
    RunNeedsVia,
    #[error("{}: the file exists; pass --force to replace it", .path.display())]
    WouldReplace { path: PathBuf },

    // --- verify and inspect: signatures and signed files
    #[error("{name}: valid signature, but by {signer} and not the expected {expected}")]
    WrongSigner {
        name: String,
        signer: String,
        expected: String,
    },
    #[error("{name}: the event id does not match its content (tampered)")]
    EventTampered { name: String },
    #[error("{name}: the BIP-340 signature does not verify")]
    BadSignature { name: String },
    #[error("{name}: {reason}")]
    RawUnverified { name: String, reason: String },
    #[error("{name}: not a valid Nostr event: {reason}")]
    NotAnEvent { name: String, reason: String },
    #[error("{name}: not a valid Nostr event: its id is not the hash of its content (tampered or miscomputed)")]
    EventIdNotHash { name: String },
    #[error("{name}: not a valid Nostr event: its BIP-340 signature does not verify")]
    EventSignatureBad { name: String },
    #[error("{name}: identity-backup manifest content is not valid: {source}")]
    IdentityManifest {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{name}: not a valid raw signature: {reason}")]
    NotARawSignature { name: String, reason: String },
    #[error("{name}: not a valid attestation statement: {reason}")]
    NotAStatement { name: String, reason: String },

    // --- cosign: the co-signer agent
    #[error(
        "cosign --via ws(s)://… needs --coordinator NPUB (the bunker's key, in its bunker:// URI): relays carry anyone's requests"
    )]
    CosignNeedsCoordinator,
    #[error("--pool must be between 1 and 100")]
    PoolRange,
    #[error("--methods: {method:?} is not one of {}", .known.join(", "))]
    UnknownMethod {
        method: String,
        known: &'static [&'static str],
    },
    #[error("--coordinator {given:?}: {source}")]
    BadCoordinator {
        given: String,
        #[source]
        source: nostr::key::Error,
    },
    #[error("cannot start the signal watcher: {0}")]
    SignalWatcher(#[source] std::io::Error),
    #[error("cannot watch signals: {0}")]
    WatchSignals(#[source] std::io::Error),
    #[error("ECDH request {id}: bad {what}")]
    BadEcdhRequest { id: String, what: &'static str },
    /// The ECDH share does not serialize (never expected).
    #[error(transparent)]
    EncodeShare(serde_json::Error),
    #[error("cannot encrypt the ECDH share: {0}")]
    SealShare(#[source] crate::conversation::Error),
}

impl SignError {
    pub(super) fn exit_code(&self) -> i32 {
        use SignError as S;
        match self {
            // The command line asks for something impossible or incomplete.
            S::CountRange
            | S::LifetimeRange { .. }
            | S::ValidFor(_)
            | S::ValidForRange { .. }
            | S::MemberNeedsGroup
            | S::NotMemberOf { .. }
            | S::Message(_)
            | S::NoMessage
            | S::NotMember { .. }
            | S::SignerLeft { .. }
            | S::SignerCount { .. }
            | S::NoGroupSource
            | S::RequestId { .. }
            | S::RequestIdAmbiguous { .. }
            | S::ViaNeedsUrl
            | S::ViaNeedsGroup
            | S::RunNeedsVia
            | S::CosignNeedsCoordinator
            | S::PoolRange
            | S::UnknownMethod { .. }
            | S::BadCoordinator { .. }
            | S::SignalWatcher(_)
            | S::WatchSignals(_)
            | S::EncodeShare(_)
            | S::SealShare(_) => exit::USAGE,
            // A package, request, share or signature that does not hold up.
            S::Package { .. }
            | S::CommitsForOtherGroup { .. }
            | S::CommitsFromLeaver { .. }
            | S::NotARequest { .. }
            | S::NotARequestRound { .. }
            | S::RequestForOtherGroup { .. }
            | S::EventNotByGroup { .. }
            | S::PackageMismatch { .. }
            | S::SignerOutsideRoster { .. }
            | S::NoCommitmentId { .. }
            | S::RequestNamesLeaver { .. }
            | S::RequestSignerCount { .. }
            | S::NoCommitmentFor { .. }
            | S::CommitmentMismatch { .. }
            | S::ShareFromNonSigner { .. }
            | S::ShareForOtherRequest { .. }
            | S::Unverified { .. }
            | S::WrongSigner { .. }
            | S::EventTampered { .. }
            | S::BadSignature { .. }
            | S::RawUnverified { .. }
            | S::NotAnEvent { .. }
            | S::EventIdNotHash { .. }
            | S::EventSignatureBad { .. }
            | S::IdentityManifest { .. }
            | S::NotARawSignature { .. }
            | S::NotAStatement { .. }
            | S::BadEcdhRequest { .. } => exit::REJECTED,
            // A commitment is never used twice or past its lifetime; consent declined;
            // a file is not overwritten.
            S::NonceUndated { .. }
            | S::CommitmentExpired { .. }
            | S::CommitmentTaken { .. }
            | S::NoUsableCommitments { .. }
            | S::CommitmentUsed { .. }
            | S::CommitmentGone { .. }
            | S::Declined
            | S::WouldReplace { .. } => exit::REFUSED,
            // Not there yet: retry later.
            S::BurnPending { .. } | S::RequestNotYet { .. } | S::NoRequestYet => exit::INCOMPLETE,
            // Not in this home: exit 1, like a missing group.
            S::CommitmentUnknown { .. } => exit::FAILURE,
        }
    }
}
