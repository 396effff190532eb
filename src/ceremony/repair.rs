//! Share repair (ZF FROST repairable threshold scheme): t or more helpers restore a
//! member's lost share without anyone learning it or the group key. Each helper splits
//! its Lagrange-weighted share into random deltas, one per helper; each helper sums
//! the deltas it received into a sigma for the lost member, who sums the sigmas.
//!
//! Packages are bound to a *repair roster*: the group roster with a ceremony id derived
//! from the public key package, the lost seat and the helper set, so deltas and sigmas
//! of another repair (other helpers, another member, another share epoch) are refused.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::frost::keys::repairable::{self, Delta, Sigma};
use super::frost::keys::{KeyPackage, PublicKeyPackage};
use super::{Error, MemberId, Result, Roster};

/// Parses `--helpers a,b,c` and checks the lost member and helper set.
pub fn parse_helpers(roster: &Roster, lost: MemberId, list: &str) -> Result<Vec<MemberId>> {
    let mut helpers = vec![];
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id = roster
            .id_by_name(name)
            .ok_or_else(|| Error::InvalidRoster(format!("helper {name:?} is not in the roster")))?;
        if id == lost {
            return Err(Error::InvalidRoster(format!(
                "{name} is the member being repaired; it cannot be its own helper"
            )));
        }
        if helpers.contains(&id) {
            return Err(Error::InvalidRoster(format!(
                "helper {name} is named twice"
            )));
        }
        helpers.push(id);
    }
    if helpers.len() < roster.threshold as usize {
        return Err(Error::InvalidRoster(format!(
            "a repair needs at least {} helpers (the threshold), {} were named",
            roster.threshold,
            helpers.len()
        )));
    }
    helpers.sort_unstable();
    Ok(helpers)
}

/// The roster a repair's packages are bound to.
pub fn binding_roster(
    roster: &Roster,
    public: &PublicKeyPackage,
    lost: MemberId,
    helpers: &[MemberId],
) -> Result<Roster> {
    let pkg = super::public_package_hash(public)?;
    let mut h = Sha256::new();
    h.update(b"passport repair v1\0");
    h.update(roster.hash());
    h.update(pkg);
    h.update(lost.to_be_bytes());
    for id in helpers {
        h.update(id.to_be_bytes());
    }
    let digest: [u8; 32] = h.finalize().into();
    let mut r = roster.clone();
    r.ceremony_id = hex::encode(&digest[..16]);
    r.dealer = None;
    let purpose = |by: String| {
        format!(
            "repair of {}'s share of group key {} by {by} (public key package {})",
            roster.name(lost),
            hex::encode(super::group_xonly(public)),
            hex::encode(pkg)
        )
    };
    let names = helpers
        .iter()
        .map(|&i| roster.name(i))
        .collect::<Vec<_>>()
        .join(",");
    r.purpose = purpose(names);
    // Many helpers do not fit a roster's purpose; the ceremony id binds them anyway.
    if r.purpose.len() > super::roster::MAX_PURPOSE_BYTES {
        r.purpose = purpose(format!("{} helpers", helpers.len()));
    }
    r.validate()?;
    Ok(r)
}

/// Step 1 for one helper: one delta per helper (itself included).
pub fn part1(
    helpers: &[MemberId],
    key: &KeyPackage,
    lost: MemberId,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<BTreeMap<MemberId, Delta>> {
    let idents: Vec<_> = helpers.iter().map(|&i| Roster::identifier(i)).collect();
    let out = repairable::repair_share_part1::<super::frost::Secp256K1Sha256TR, _>(
        &idents,
        key,
        rng,
        Roster::identifier(lost),
    )
    .map_err(Error::frost)?;
    Ok(helpers
        .iter()
        .map(|&i| (i, out[&Roster::identifier(i)]))
        .collect())
}

/// Step 2 for one helper: needs a delta from every helper.
pub fn part2(
    roster: &Roster,
    helpers: &[MemberId],
    deltas: &BTreeMap<MemberId, Delta>,
) -> Result<Sigma> {
    super::dkg::require_from(roster, helpers.iter().copied(), deltas, "repair deltas")?;
    let list: Vec<Delta> = helpers.iter().map(|i| deltas[i]).collect();
    Ok(repairable::repair_share_part2(&list))
}

/// Step 3 for the lost member: needs a sigma from every helper; the result must match
/// the seat's verifying share in the public key package.
pub fn part3(
    roster: &Roster,
    public: &PublicKeyPackage,
    lost: MemberId,
    helpers: &[MemberId],
    sigmas: &BTreeMap<MemberId, Sigma>,
) -> Result<KeyPackage> {
    super::dkg::require_from(roster, helpers.iter().copied(), sigmas, "repair sigmas")?;
    let list: Vec<Sigma> = helpers.iter().map(|i| sigmas[i]).collect();
    let key = repairable::repair_share_part3(&list, Roster::identifier(lost), public)
        .map_err(Error::frost)?;
    if public.verifying_shares().get(key.identifier()) != Some(key.verifying_share()) {
        return Err(Error::Mismatch(format!(
            "the repaired share does not match {}'s verifying share in the public key package: \
             one of the helpers ({}) used a wrong or stale share or sent a wrong value; nothing \
             was stored",
            roster.name(lost),
            helpers
                .iter()
                .map(|&i| roster.name(i))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::Member;

    #[test]
    fn many_helpers_still_make_a_valid_roster() {
        let members = (0..40)
            .map(|i| Member {
                name: format!("member-with-a-long-name-{i:0>8}"),
                npub: nostr::Keys::generate().public_key(),
            })
            .collect();
        let roster = Roster::new("big", 30, members, None, &mut rand::rngs::OsRng).expect("roster");
        let dealt =
            crate::ceremony::dealer::deal(&roster, None, &mut rand::rngs::OsRng).expect("deal");
        let few: Vec<MemberId> = (2..=31).collect();
        let r = binding_roster(&roster, &dealt.public, 1, &few).expect("30 helpers");
        assert!(r.purpose.contains("by 30 helpers"), "{}", r.purpose);
        assert!(r.purpose.len() <= crate::ceremony::roster::MAX_PURPOSE_BYTES);
        // Another helper set is another ceremony, though the purpose reads the same.
        let other: Vec<MemberId> = (3..=32).collect();
        let o = binding_roster(&roster, &dealt.public, 1, &other).expect("30 helpers");
        assert_ne!(o.ceremony_id, r.ceremony_id);
    }
}
