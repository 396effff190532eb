//! Pure ceremony logic over `frost-secp256k1-tr`: rosters, dealer key generation, DKG,
//! signing. No files, no network, no terminal: callers bring bytes and randomness.

pub mod dealer;
pub mod dkg;
pub mod ecdh;
pub mod lagrange;
pub mod refresh;
pub mod repair;
pub mod roster;
pub mod share;
pub mod signing;

pub use frost_secp256k1_tr as frost;
pub use roster::{Member, MemberId, Roster};

/// Errors of the ceremony layer. Every variant names the member at fault where one is
/// known, so an operator knows whom to call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid roster: {0}")]
    InvalidRoster(String),
    /// `seats` are the members at fault (empty when the dealer is); `member` is their
    /// names as the operator reads them.
    #[error("{member}: {problem}")]
    Culprit {
        seats: Vec<MemberId>,
        member: String,
        problem: String,
    },
    #[error("waiting for {what} from {}; try again when they have arrived", .missing.join(", "))]
    Incomplete { what: String, missing: Vec<String> },
    #[error("{0}")]
    Mismatch(String),
    #[error("FROST: {0}")]
    Frost(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn frost(e: frost::Error) -> Self {
        Error::Frost(e.to_string())
    }

    /// Blames `seats` of `roster`, named in the message.
    pub(crate) fn culprits(
        roster: &Roster,
        seats: Vec<MemberId>,
        problem: impl Into<String>,
    ) -> Self {
        let member = seats
            .iter()
            .map(|&s| roster.name(s))
            .collect::<Vec<_>>()
            .join(", ");
        Error::Culprit {
            seats,
            member,
            problem: problem.into(),
        }
    }

    /// Blames one seat.
    pub(crate) fn culprit(roster: &Roster, seat: MemberId, problem: impl Into<String>) -> Self {
        Self::culprits(roster, vec![seat], problem)
    }
}

/// Turns a FROST error that blames identifiers into one that names roster members.
pub(crate) fn name_culprits(roster: &Roster, e: frost::Error, problem: &str) -> Error {
    let seats: Vec<MemberId> = e
        .culprits()
        .iter()
        .filter_map(|c| roster.id_of_identifier(c))
        .collect();
    if seats.is_empty() {
        Error::frost(e)
    } else {
        Error::culprits(roster, seats, format!("{problem} ({e})"))
    }
}

/// The 32-byte x-only group key (the Nostr pubkey) of a public key package.
pub fn group_xonly(public: &frost::keys::PublicKeyPackage) -> [u8; 32] {
    xonly(public.verifying_key())
}

/// The x-only form of a FROST verifying key (SEC1 compressed minus the parity byte).
pub fn xonly(key: &frost::VerifyingKey) -> [u8; 32] {
    let bytes = key
        .serialize()
        .expect("a valid verifying key always serializes");
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes[bytes.len() - 32..]);
    out
}

/// SHA-256 of a public key package's canonical serialization: what DKG agreement signs.
pub fn public_package_hash(public: &frost::keys::PublicKeyPackage) -> Result<[u8; 32]> {
    use sha2::Digest;
    let bytes = public.serialize().map_err(Error::frost)?;
    let mut h = sha2::Sha256::new();
    h.update(b"passport public key package v1\0");
    h.update(&bytes);
    Ok(h.finalize().into())
}
