//! Threshold signing: commitments, signature shares, aggregation with culprit naming.
//! Plain `round2::sign` + `aggregate`, never the `*_with_tweak` variants.

use std::collections::BTreeMap;

use super::frost::keys::{KeyPackage, PublicKeyPackage};
use super::frost::round1::{self, SigningCommitments, SigningNonces};
use super::frost::round2::{self, SignatureShare};
use super::frost::SigningPackage;
use super::{Error, MemberId, Result, Roster};

/// Round 1: a fresh nonce pair and its public commitments.
pub fn commit(
    key: &KeyPackage,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> (SigningNonces, SigningCommitments) {
    round1::commit(key.signing_share(), rng)
}

/// The coordinator's signing package over `message` from exactly t members' commitments.
pub fn signing_package(
    roster: &Roster,
    commitments: &BTreeMap<MemberId, SigningCommitments>,
    message: &[u8],
) -> Result<SigningPackage> {
    if commitments.len() != roster.threshold as usize {
        return Err(Error::Mismatch(format!(
            "a signing needs exactly {} signers, {} were chosen",
            roster.threshold,
            commitments.len()
        )));
    }
    let map = commitments
        .iter()
        .map(|(&id, c)| (Roster::identifier(id), *c))
        .collect();
    Ok(SigningPackage::new(map, message))
}

/// Round 2 for one member. The caller must already have consumed `nonces` durably.
pub fn sign(
    package: &SigningPackage,
    nonces: &SigningNonces,
    key: &KeyPackage,
) -> Result<SignatureShare> {
    round2::sign(package, nonces, key).map_err(Error::frost)
}

/// Aggregates t signature shares into a 64-byte BIP-340 signature; a bad share names
/// its member.
pub fn aggregate(
    roster: &Roster,
    package: &SigningPackage,
    shares: &BTreeMap<MemberId, SignatureShare>,
    public: &PublicKeyPackage,
) -> Result<[u8; 64]> {
    let missing: Vec<String> = package
        .signing_commitments()
        .keys()
        .filter_map(|ident| roster.id_of_identifier(ident))
        .filter(|id| !shares.contains_key(id))
        .map(|id| roster.name(id))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Incomplete {
            what: "signature shares".into(),
            missing,
        });
    }
    let map = shares
        .iter()
        .map(|(&id, s)| (Roster::identifier(id), *s))
        .collect();
    let sig = super::frost::aggregate(package, &map, public).map_err(|e| {
        super::name_culprits(
            roster,
            e,
            "sent an invalid signature share (wrong share, stale key, or tampering)",
        )
    })?;
    let bytes = sig.serialize().map_err(Error::frost)?;
    bytes
        .try_into()
        .map_err(|_| Error::Frost("aggregate signature is not 64 bytes".into()))
}
