//! Errors of a group's life after keygen: refresh, repair, handover, recover, retire.
//!
//! Each variant is one thing that went wrong, with the values the message needs; the
//! exit code of each is decided here, beside it.

use super::exit;
use crate::ceremony::{self, share::Misfit, MemberId};

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    // --- shared by refresh and repair
    /// A later step on a seat whose first step (`passport {workflow} {first}`) never ran.
    #[error("{member} has not started this {workflow}; run `passport {workflow} {first}` first")]
    NotStarted {
        member: String,
        workflow: &'static str,
        first: &'static str,
    },
    #[error("{name:?} is not a member of group {npub}")]
    NotAMember { name: String, npub: String },
    /// Leavers, helpers or a refresh id the ceremony does not accept.
    #[error("{0}")]
    Plan(#[source] ceremony::Error),
    #[error("give --group (a group this home knows) or --group-file")]
    NoGroup,
    /// A `run` command (`command`) without a transport.
    #[error("`{command}` needs --via URL (a serve URL or relays)")]
    NeedsVia { command: String },

    // --- refresh
    #[error("{member} is leaving at this refresh, so it takes no part in it; the others run it")]
    LeaverRuns { member: String },
    #[error("run `passport refresh round2` before finish")]
    FinishBeforeRound2,
    #[error(
        "{sender} used different refresh round-1 packages than you did: someone equivocated or \
         a package was forged; abort this refresh (nothing was stored)"
    )]
    OtherView { sender: String },
    #[error("the refresh changed the group npub; refusing it")]
    NpubChanged,
    /// The group file (as displayed) was replaced by something else meanwhile.
    #[error("{file} changed since this refresh started (another refresh?); not replacing it")]
    GroupFileChanged { file: String },
    #[error(
        "--refresh-id must be 32 hex characters (128 random bits, e.g. `openssl rand -hex 16`), \
         agreed by all members; got {id:?}"
    )]
    BadRefreshId { id: String },
    #[error("the saved state of refresh {rid} does not belong to this seat and group")]
    OtherState { rid: String },
    /// A later step's `--without` differs from round 1's (`leaving`: the names round 1 had).
    #[error(
        "this refresh was started without {}; a later step cannot change who leaves",
        leavers(.leaving)
    )]
    LeaversChanged { leaving: Vec<String> },

    // --- repair
    #[error("{member} left group {npub} at a refresh; it can neither be repaired nor help")]
    LeftAtRefresh { member: String, npub: String },
    /// `round` is the package's round as described to users.
    #[error("{sender} sent a {round} but is not a helper of this repair")]
    NotAHelper { sender: String, round: &'static str },
    #[error(
        "the delta from {sender} to itself ({got}) is not the one this home made; it was forged \
         or made by another home"
    )]
    OwnDeltaForged { sender: String, got: String },
    /// `--group` with `--group-file` is not an npub.
    #[error("{0}")]
    GroupNpub(#[source] ceremony::Error),
    #[error("{file} is the group file of {npub}, not of {query}")]
    GroupFileOf {
        file: String,
        npub: String,
        query: String,
    },
    #[error(
        "this home already holds a different group file for {npub}; repair with `--group \
         {npub}` or remove the stale one first"
    )]
    StaleGroupFile { npub: String },
    /// `repair run --group` names a group this home does not hold.
    #[error(
        "{0}; a lost member whose home lost the group file too gives --group-file FILE (any \
         member's copy)"
    )]
    GroupNotHere(#[source] crate::home::Error),
    #[error(
        "--group-file is for the lost member's home, and this home is not {lost} (its npub is \
         not {lost}'s); a helper names the group with --group"
    )]
    NotTheLost { lost: String },
    #[error(
        "this home holds {lost}'s seat and helper seats ({}); run the steps one at a time: \
         `repair step1|step2 --member NAME` as a helper, `repair finish --member {lost}` for \
         {lost}",
        .helping.join(", ")
    )]
    LostAndHelper { lost: String, helping: Vec<String> },
    #[error(
        "this home is neither one of this repair's helpers with a share of {npub} ({}) nor the \
         lost member {lost}",
        .helpers.join(", ")
    )]
    NeitherRole {
        npub: String,
        helpers: Vec<String>,
        lost: String,
    },

    // --- handover (recover-nsec send-share and --share)
    #[error("{to:?} is neither a member's name nor an npub of this roster")]
    NoSuchRecipient { to: String },
    /// `npub` is short.
    #[error("{npub} is not a member of this roster; a share is only handed to a member")]
    RecipientNotMember { npub: String },
    #[error(
        "{member} is this home's own identity: recover-nsec here uses this home's shares directly"
    )]
    HandToSelf { member: String },
    // A hand-over package that is not one for this home (`file` as the user gave it,
    // `sender` the member who made it).
    #[error("{file}: {source}")]
    HandoverPackage {
        file: String,
        #[source]
        source: crate::envelope::Error,
    },
    #[error("{file}: {sender}'s share is handed to {to}, not to this home")]
    HandedToOther {
        file: String,
        sender: String,
        to: String,
    },
    #[error("{file}: {sender}'s share names no recipient")]
    NoRecipient { file: String, sender: String },
    /// `group` and `seat` as the package states them; `npub` the group it should be of.
    #[error(
        "{file}: {sender}'s package carries a share of {group} seat {seat}, not {sender}'s share \
         of {npub}"
    )]
    OtherShare {
        file: String,
        sender: String,
        group: String,
        seat: MemberId,
        npub: String,
    },
    #[error("{file}: {sender}'s key package is not hex")]
    KeyNotHex { file: String, sender: String },
    #[error("{file}: {sender}'s key package does not parse: {source}")]
    KeyUnparsable {
        file: String,
        sender: String,
        #[source]
        source: ceremony::frost::Error,
    },
    #[error(
        "{file}: {sender}'s share does not belong to {npub}: {misfit} (a share from before a \
         refresh is stale)"
    )]
    NotOfGroup {
        file: String,
        sender: String,
        npub: String,
        misfit: Misfit,
    },

    // --- recover-nsec
    #[error(
        "{have} share(s) of {npub} at hand ({}); reconstruction needs {t}. {} more of {} must \
         run `passport recover-nsec send-share --group {npub} --to {me}` and give you the file \
         (then pass it with --share)",
        names_or_none(.held),
        .t - .have,
        .others.join(", ")
    )]
    TooFewToRecover {
        npub: String,
        have: usize,
        t: usize,
        /// Names of the seats at hand and of those still missing.
        held: Vec<String>,
        others: Vec<String>,
        /// The name the others hand their shares to.
        me: String,
    },
    #[error("{file} exists; the key is only ever written to a new file")]
    KeyFileExists { file: String },
    #[error("reconstruction produced an invalid key")]
    InvalidKey,
    #[error("the reconstructed key does not match {npub}; a share is wrong or stale (nothing was written)")]
    WrongKey { npub: String },
    #[error("NIP-49 encryption failed: {0}")]
    Ncryptsec(#[source] nostr::nips::nip49::Error),
    #[error("-o - writes the key to stdout, which --json uses for its report; use one of them")]
    KeyToStdoutAndJson,
    #[error("refusing to print the secret key to a terminal; pipe it (-o - | …) or name a new file with -o")]
    KeyToTerminal,
    #[error("PASSPORT_NCRYPTSEC_PASSPHRASE is empty")]
    EmptyPassphraseEnv,
    #[error("no ncryptsec passphrase: set PASSPORT_NCRYPTSEC_PASSPHRASE or run in a terminal")]
    NoPassphrase,

    // --- typed consent (recover-nsec, group retire)
    /// No terminal to confirm in; `what` is the first line of the warning.
    #[error("this cannot be undone; confirm in a terminal or pass {flag} ({what})")]
    NotConfirmable { flag: String, what: String },
    #[error("not confirmed; nothing was done")]
    NotConfirmed,
    /// The terminal prompt failed (the prompt library's own words).
    #[error("{reason}")]
    Prompt { reason: String },

    // --- retire
    #[error("group {npub} is already retired in this home")]
    AlreadyRetired { npub: String },
}

fn leavers(names: &[String]) -> String {
    if names.is_empty() {
        "anyone leaving".to_owned()
    } else {
        names.join(",")
    }
}

fn names_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

impl LifecycleError {
    pub(super) fn exit_code(&self) -> i32 {
        use LifecycleError as L;
        match self {
            // Arguments that cannot work: steps out of order, names not in the group,
            // the wrong home for a role, a missing transport or passphrase.
            L::NotStarted { .. }
            | L::NotAMember { .. }
            | L::Plan(_)
            | L::NoGroup
            | L::NeedsVia { .. }
            | L::LeaverRuns { .. }
            | L::FinishBeforeRound2
            | L::BadRefreshId { .. }
            | L::LeaversChanged { .. }
            | L::LeftAtRefresh { .. }
            | L::GroupNpub(_)
            | L::NotTheLost { .. }
            | L::LostAndHelper { .. }
            | L::NeitherRole { .. }
            | L::NoSuchRecipient { .. }
            | L::RecipientNotMember { .. }
            | L::HandToSelf { .. }
            | L::Ncryptsec(_)
            | L::KeyToStdoutAndJson
            | L::EmptyPassphraseEnv
            | L::NoPassphrase
            | L::Prompt { .. } => exit::USAGE,
            // Packages, state or results that do not fit: forged, equivocated, foreign.
            L::OtherView { .. }
            | L::NpubChanged
            | L::OtherState { .. }
            | L::NotAHelper { .. }
            | L::OwnDeltaForged { .. }
            | L::GroupFileOf { .. }
            | L::HandoverPackage { .. }
            | L::HandedToOther { .. }
            | L::NoRecipient { .. }
            | L::OtherShare { .. }
            | L::KeyNotHex { .. }
            | L::KeyUnparsable { .. }
            | L::NotOfGroup { .. }
            | L::InvalidKey
            | L::WrongKey { .. } => exit::REJECTED,
            // Would overwrite, repeat or give up custody without consent.
            L::GroupFileChanged { .. }
            | L::StaleGroupFile { .. }
            | L::KeyFileExists { .. }
            | L::KeyToTerminal
            | L::NotConfirmable { .. }
            | L::NotConfirmed
            | L::AlreadyRetired { .. } => exit::REFUSED,
            // Not enough shares yet: others must hand theirs over.
            L::TooFewToRecover { .. } => exit::INCOMPLETE,
            // A group this home does not hold: exit 1, like a missing home.
            L::GroupNotHere(_) => exit::FAILURE,
        }
    }
}
