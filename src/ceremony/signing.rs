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

/// Checks one member's signature share against its verifying share, before any
/// aggregation: a robust coordinator (ROAST) must judge each share as it arrives, so
/// that a cheater is excluded at once and the honest shares of the session still count.
/// This is frost-core's `verify_signature_share` (the check `aggregate` makes when it
/// names culprits, with the ciphersuite's BIP-340 even-y preprocessing).
pub fn verify_share(
    roster: &Roster,
    package: &SigningPackage,
    member: MemberId,
    share: &SignatureShare,
    public: &PublicKeyPackage,
) -> Result<()> {
    let ident = Roster::identifier(member);
    let problem = || {
        Error::culprit(
            roster,
            member,
            "sent an invalid signature share (wrong share, stale key, or tampering)",
        )
    };
    let verifying = public.verifying_shares().get(&ident).ok_or_else(problem)?;
    frost_core::verify_signature_share(ident, verifying, share, package, public.verifying_key())
        .map_err(|_| problem())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::{dealer, Member};
    use nostr::Keys;
    use rand::rngs::OsRng;

    /// `verify_share` accepts exactly the shares `aggregate` accepts, for keys of both
    /// y parities (the -tr ciphersuite negates shares of an odd-y key): a wrong share is
    /// refused and names its member, and the t good shares still aggregate to a
    /// BIP-340 signature libsecp256k1 accepts.
    #[test]
    fn each_share_is_judged_as_aggregate_judges_it() {
        let mut parities = [false, false];
        for round in 0..40 {
            let members = (1..=3)
                .map(|i| Member {
                    name: format!("m{i}"),
                    npub: Keys::generate().public_key(),
                })
                .collect();
            let roster = Roster::new("verify", 2, members, None, &mut OsRng).unwrap();
            let dealt = dealer::deal(&roster, None, &mut OsRng).unwrap();
            let keys: BTreeMap<MemberId, KeyPackage> = dealt
                .shares
                .into_iter()
                .map(|(i, s)| (i, KeyPackage::try_from(s).unwrap()))
                .collect();
            let odd = dealt.public.verifying_key().serialize().unwrap()[0] == 3;
            parities[odd as usize] = true;
            let signers = [1u16, 3];
            let mut nonces = BTreeMap::new();
            let mut commitments = BTreeMap::new();
            for s in signers {
                let (n, c) = commit(&keys[&s], &mut OsRng);
                nonces.insert(s, n);
                commitments.insert(s, c);
            }
            let msg = [round as u8; 32];
            let package = signing_package(&roster, &commitments, &msg).unwrap();
            let mut shares = BTreeMap::new();
            for s in signers {
                let share = sign(&package, &nonces[&s], &keys[&s]).unwrap();
                verify_share(&roster, &package, s, &share, &dealt.public).unwrap();
                shares.insert(s, share);
            }
            // m1's share offered as m3's: refused, naming m3.
            let wrong = shares[&1];
            let e = verify_share(&roster, &package, 3, &wrong, &dealt.public).unwrap_err();
            assert!(
                matches!(&e, Error::Culprit { seats, member, .. } if seats == &[3] && member == "m3"),
                "{e}"
            );
            // A seat outside the key package is refused too.
            assert!(verify_share(&roster, &package, 9, &wrong, &dealt.public).is_err());
            let sig = aggregate(&roster, &package, &shares, &dealt.public).unwrap();
            let pk = nostr::secp256k1::XOnlyPublicKey::from_slice(&crate::ceremony::group_xonly(
                &dealt.public,
            ))
            .unwrap();
            let sig = nostr::secp256k1::schnorr::Signature::from_slice(&sig).unwrap();
            nostr::secp256k1::Secp256k1::verification_only()
                .verify_schnorr(&sig, &nostr::secp256k1::Message::from_digest(msg), &pk)
                .expect("libsecp256k1 accepts the aggregate");
            if parities == [true, true] && round >= 4 {
                break;
            }
        }
        assert_eq!(parities, [true, true], "both key parities were tried");
    }
}
