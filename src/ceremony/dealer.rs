//! Trusted-dealer key generation: a fresh key, or a split of an existing nsec.
//!
//! Neither path is taproot-tweaked, so a split nsec keeps its npub.

use std::collections::BTreeMap;

use super::frost::keys::{self, IdentifierList, KeyPackage, PublicKeyPackage, SecretShare};
use super::frost::SigningKey;
use super::{group_xonly, Error, MemberId, Result, Roster};

/// The dealer's output: one secret share per member and the public key package.
pub struct Dealt {
    pub shares: BTreeMap<MemberId, SecretShare>,
    pub public: PublicKeyPackage,
}

/// Deals shares for every roster member. With `existing`, splits that key.
pub fn deal(
    roster: &Roster,
    existing: Option<&SigningKey>,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<Dealt> {
    let ids: Vec<_> = roster.ids().map(Roster::identifier).collect();
    let list = IdentifierList::Custom(&ids);
    let (n, t) = (roster.n(), roster.threshold);
    let (shares, public) = match existing {
        Some(key) => keys::split(key, n, t, list, rng),
        None => keys::generate_with_dealer(n, t, list, &mut *rng),
    }
    .map_err(Error::frost)?;
    let shares = shares
        .into_iter()
        .map(|(ident, share)| {
            let id = roster
                .id_of_identifier(&ident)
                .expect("dealt to roster ids");
            (id, share)
        })
        .collect();
    Ok(Dealt { shares, public })
}

/// A member's checks on a dealt share before keeping it: the share verifies against the
/// dealer's commitment, matches the public key package, and carries the roster's
/// threshold. Returns the key package to store.
pub fn accept_share(
    roster: &Roster,
    member: MemberId,
    share: SecretShare,
    public: &PublicKeyPackage,
    expected_group: &[u8; 32],
) -> Result<KeyPackage> {
    let name = roster.name(member);
    let culprit = |problem: String| Error::Culprit {
        seats: vec![],
        member: "dealer".into(),
        problem,
    };
    if *share.identifier() != Roster::identifier(member) {
        return Err(culprit(format!("the share is not for {name}'s seat")));
    }
    let coeffs = share.commitment().coefficients().len();
    if coeffs != roster.threshold as usize {
        return Err(culprit(format!(
            "the share was dealt for threshold {coeffs}, the roster says {}",
            roster.threshold
        )));
    }
    let key = KeyPackage::try_from(share).map_err(|e| {
        culprit(format!(
            "the share does not verify against its commitment: {e}"
        ))
    })?;
    if public.verifying_shares().len() != roster.members.len() {
        return Err(culprit(format!(
            "the public key package has {} members, the roster {}",
            public.verifying_shares().len(),
            roster.members.len()
        )));
    }
    match public.verifying_shares().get(key.identifier()) {
        Some(vs) if vs == key.verifying_share() => {}
        _ => {
            return Err(culprit(format!(
                "{name}'s verifying share does not match the public key package"
            )))
        }
    }
    if key.verifying_key() != public.verifying_key() || group_xonly(public) != *expected_group {
        return Err(culprit(
            "the group key does not match the public key package".into(),
        ));
    }
    if *key.min_signers() != roster.threshold {
        return Err(culprit(format!(
            "the share is for threshold {}, the roster says {}",
            key.min_signers(),
            roster.threshold
        )));
    }
    // Our own share is on the committed polynomial; the other members' verifying shares
    // in the package must be on it too, or the group could not sign.
    super::lagrange::check_public_package(public, roster)
        .map_err(|e| culprit(format!("the public key package is inconsistent: {e}")))?;
    Ok(key)
}
