//! Errors of the operator's own commands: serve, bunker, sessions, prompts, rosters and options.
//!
//! Each variant is one thing that went wrong, with the values the message needs; the
//! exit code of each is decided here, beside it.

use std::path::PathBuf;

use super::exit;

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    // --- the command line and its options
    /// clap's own message (the `--json` form of a parse error).
    #[error("{0}")]
    CommandLine(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("--via-timeout must be at least 1 second")]
    ViaTimeoutZero,
    /// `--valid-for`, `--expires`.
    #[error("{flag}: {source}")]
    BadDuration {
        flag: &'static str,
        #[source]
        source: crate::bunker::policy::BadDuration,
    },
    #[error("--methods: {0}")]
    UnknownMethod(#[source] crate::bunker::method::UnknownMethod),
    /// The QR code library's reason (it is the CLI's only).
    #[error("cannot draw a QR code: {0}")]
    Qr(String),
    #[error("demo --hsm needs SoftHSM2 (Debian package softhsm2); libsofthsm2.so was not found")]
    NoSoftHsm,

    // --- seats and rosters
    #[error("{name:?} is not a member of this roster")]
    NotAMember { name: String },
    #[error("this home cannot act as {name} {what}")]
    CannotActAs { name: String, what: String },
    #[error("this home holds no seat {what}")]
    NoSeat { what: String },
    #[error("this home holds several seats {what} ({}); choose one with --member", .names.join(", "))]
    SeveralSeats { what: String, names: Vec<String> },
    #[error("--member {spec:?}: expected NAME=NPUB")]
    MemberSpec { spec: String },
    #[error("{} exists; roster new never replaces a roster (members compare its fingerprint); choose another -o or move it away", .path.display())]
    RosterExists { path: PathBuf },
    #[error("{npub} holds {seats} of the {n} seats ({}), enough to sign alone with threshold {threshold}; pass --allow-shared-seats if that is intended (the CI layout)", .names.join(", "))]
    SignsAlone {
        npub: String,
        seats: usize,
        n: u16,
        names: Vec<String>,
        threshold: u16,
    },

    // --- passphrases, consent and an imported key
    #[error("{env} is empty")]
    EmptyPassphraseEnv { env: String },
    #[error("{}: {source}", .path.display())]
    PassphraseFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: the passphrase file is empty", .path.display())]
    PassphraseFileEmpty { path: PathBuf },
    #[error("no new passphrase: set {env}, pass {flag}, or run in a terminal")]
    NoNewPassphrase { env: String, flag: String },
    /// The terminal prompt's own reason (dialoguer's, the CLI's only).
    #[error("{0}")]
    Prompt(String),
    #[error(
        "no terminal to ask for consent; review the request (`passport inspect`) and pass --yes"
    )]
    NoConsentTerminal,
    #[error("{}: not an nsec, a 64-hex secret key or an ncryptsec", .path.display())]
    NotASecretKey { path: PathBuf },
    #[error("--restore-identity needs the key that opens it: --backup-identity FILE or --backup-passphrase")]
    RestoreNeedsKey,

    // --- the session agent (`passport unlock`, `lock`, `agent`)
    #[error("this home's keystore is unlocked by an age identity file, which costs no scrypt: there is nothing for `passport unlock` to keep unlocked")]
    UnlockIdentityFile,
    #[error("this home's secrets are sealed by a PKCS#11 token, which costs no scrypt: there is nothing for `passport unlock` to keep unlocked")]
    UnlockPkcs11,
    #[error("`passport agent` is started by `passport unlock`; run that instead")]
    AgentByHand,
    #[error("{} can be changed by other users (mode {mode:04o}), who could replace a session agent's socket there; `chmod 700` it first", .root.display())]
    HomeWritable { root: PathBuf, mode: u32 },
    #[error("another `passport unlock` or `passport lock` of {} is running; let it finish", .root.display())]
    UnlockBusy { root: PathBuf },
    /// What the agent said or why it cannot be trusted (another user's, garbage).
    #[error(transparent)]
    Agent(crate::agent::Error),

    // --- the bunker and its relays
    #[error("{input:?} is not a public key (npub or hex): {source}")]
    NotAPublicKey {
        input: String,
        #[source]
        source: nostr::key::Error,
    },
    #[error("{npub} is not an authorized client")]
    NotAClient { npub: String },
    #[error("not a nostrconnect:// URI: {0}")]
    NotNostrConnect(#[source] crate::bunker::nostrconnect::BadUri),
    #[error("no terminal to accept the permissions the client asks for; pass --accept-perms to grant them, or give the grant with --methods/--kinds")]
    NoPermsTerminal,
    #[error("the client's permissions were not accepted; nothing was granted")]
    PermsDeclined,
    #[error("--ask: {0} is always allowed and never waits for the operator")]
    NotAskable(String),
    #[error(
        "no request {id:?} waits for the operator; `passport bunker pending` lists those that do"
    )]
    NoPending { id: String },
    #[error("request {id} was already approved or denied")]
    PendingDecided { id: String },
    #[error("request {id} expired before it was decided (the client was told); nothing was done")]
    PendingExpired { id: String },
    /// The bunker's own errors, whole (starting it, its relays, its store).
    #[error(transparent)]
    Bunker(crate::bunker::Error),
    #[error(transparent)]
    ConnectReply(crate::bunker::rpc::ReplyError),
    #[error("relay {relay}: {source}")]
    Relay {
        relay: String,
        #[source]
        source: nostr_sdk::client::Error,
    },
    #[error("cannot reach {}: {source}", .relays.join(", "))]
    Unreachable {
        relays: Vec<String>,
        #[source]
        source: nostr_sdk::client::Error,
    },
    #[error("no relay of {} accepted the connect reply", .relays.join(", "))]
    ReplyNotAccepted { relays: Vec<String> },
}

impl OperatorError {
    pub(super) fn exit_code(&self) -> i32 {
        use crate::agent::Error as A;
        use OperatorError as O;
        match self {
            // What the operator asked for cannot be done as asked.
            O::CommandLine(_)
            | O::Runtime(_)
            | O::ViaTimeoutZero
            | O::BadDuration { .. }
            | O::UnknownMethod(_)
            | O::Qr(_)
            | O::NoSoftHsm
            | O::NotAMember { .. }
            | O::CannotActAs { .. }
            | O::NoSeat { .. }
            | O::SeveralSeats { .. }
            | O::MemberSpec { .. }
            | O::EmptyPassphraseEnv { .. }
            | O::PassphraseFile { .. }
            | O::PassphraseFileEmpty { .. }
            | O::NoNewPassphrase { .. }
            | O::Prompt(_)
            | O::NotASecretKey { .. }
            | O::RestoreNeedsKey
            | O::UnlockIdentityFile
            | O::UnlockPkcs11
            | O::AgentByHand
            | O::NotAPublicKey { .. }
            | O::NotAClient { .. }
            | O::NotAskable(_)
            | O::NoPending { .. }
            | O::NotNostrConnect(_) => exit::USAGE,
            // A home error the bunker could not hand back whole is the operator's too.
            O::Bunker(e) if e.is_usage() || matches!(e, crate::bunker::Error::Home(_)) => {
                exit::USAGE
            }
            // Refused: it would replace, expose or go on without consent.
            O::RosterExists { .. }
            | O::SignsAlone { .. }
            | O::NoConsentTerminal
            | O::NoPermsTerminal
            | O::PermsDeclined
            | O::PendingDecided { .. }
            | O::PendingExpired { .. }
            | O::HomeWritable { .. }
            | O::Agent(A::Foreign { .. }) => exit::REFUSED,
            // An agent that answers but refuses or is not understood.
            O::Agent(A::Refusal { .. } | A::Protocol(_) | A::Unrecorded(_)) => exit::REJECTED,
            // Busy, a relay or the bunker's running: try again.
            O::UnlockBusy { .. }
            | O::Agent(_)
            | O::Bunker(_)
            | O::ConnectReply(_)
            | O::Relay { .. }
            | O::Unreachable { .. }
            | O::ReplyNotAccepted { .. } => exit::FAILURE,
        }
    }
}
