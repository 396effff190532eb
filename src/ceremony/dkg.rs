//! Distributed key generation (ZF FROST parts 1-3) plus the agreement round: every
//! member signs the hash of the public key package it computed, and the group is
//! active only when all n hashes are present and equal.

use std::collections::BTreeMap;

use super::frost::keys::dkg::{self, round1, round2};
use super::frost::keys::{KeyPackage, PublicKeyPackage};
use super::frost::Identifier;
use super::{Error, MemberId, Result, Roster};

/// Re-keys a per-seat map by FROST identifier (shared with refresh).
pub(crate) fn by_identifier<T: Clone>(map: &BTreeMap<MemberId, T>) -> BTreeMap<Identifier, T> {
    map.iter()
        .map(|(&id, p)| (Roster::identifier(id), p.clone()))
        .collect()
}

/// Fails with `Incomplete`, naming them, unless every other member is in `got`.
pub(crate) fn require_all<T>(
    roster: &Roster,
    me: MemberId,
    got: &BTreeMap<MemberId, T>,
    what: &str,
) -> Result<()> {
    require_from(roster, roster.ids().filter(|&i| i != me), got, what)
}

/// Fails with `Incomplete`, naming them, unless every member in `expected` is in `got`.
pub(crate) fn require_from<T>(
    roster: &Roster,
    expected: impl IntoIterator<Item = MemberId>,
    got: &BTreeMap<MemberId, T>,
    what: &str,
) -> Result<()> {
    let missing: Vec<String> = expected
        .into_iter()
        .filter(|i| !got.contains_key(i))
        .map(|i| roster.name(i))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Incomplete {
            what: what.into(),
            missing,
        })
    }
}

/// Part 1 for member `me`: the secret to keep and the package to broadcast.
pub fn part1(
    roster: &Roster,
    me: MemberId,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<(round1::SecretPackage, round1::Package)> {
    dkg::part1(Roster::identifier(me), roster.n(), roster.threshold, rng).map_err(Error::frost)
}

/// Checks a round-1 package's shape against the roster (the threshold it was made for).
pub fn check_round1(roster: &Roster, from: MemberId, package: &round1::Package) -> Result<()> {
    let t = package.commitment().coefficients().len();
    if t != roster.threshold as usize {
        return Err(Error::culprit(
            roster,
            from,
            format!(
                "round-1 package was made for threshold {t}, the roster says {}",
                roster.threshold
            ),
        ));
    }
    Ok(())
}

/// Part 2: needs every other member's round-1 package. Returns the secret to keep and
/// one round-2 package per other member.
pub fn part2(
    roster: &Roster,
    me: MemberId,
    secret: round1::SecretPackage,
    received: &BTreeMap<MemberId, round1::Package>,
) -> Result<(round2::SecretPackage, BTreeMap<MemberId, round2::Package>)> {
    require_all(roster, me, received, "round-1 packages")?;
    for (&from, p) in received {
        check_round1(roster, from, p)?;
    }
    let (secret, out) = dkg::part2(secret, &by_identifier(received)).map_err(|e| {
        super::name_culprits(
            roster,
            e,
            "sent an invalid round-1 package (proof of knowledge)",
        )
    })?;
    let out = out
        .into_iter()
        .map(|(ident, p)| (roster.id_of_identifier(&ident).expect("roster ids"), p))
        .collect();
    Ok((secret, out))
}

/// Part 3: the long-lived share and the group's public key package.
pub fn part3(
    roster: &Roster,
    me: MemberId,
    secret: &round2::SecretPackage,
    round1: &BTreeMap<MemberId, round1::Package>,
    round2: &BTreeMap<MemberId, round2::Package>,
) -> Result<(KeyPackage, PublicKeyPackage)> {
    require_all(roster, me, round2, "round-2 packages")?;
    dkg::part3(secret, &by_identifier(round1), &by_identifier(round2)).map_err(|e| {
        super::name_culprits(roster, e, "sent an invalid round-2 package (secret share)")
    })
}

/// The agreement check: all n members (including `me`) reported the same hash.
pub fn check_agreement(
    roster: &Roster,
    mine: &[u8; 32],
    reported: &BTreeMap<MemberId, [u8; 32]>,
) -> Result<()> {
    let missing: Vec<String> = roster
        .ids()
        .filter(|i| !reported.contains_key(i))
        .map(|i| roster.name(i))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Incomplete {
            what: "agreement packages".into(),
            missing,
        });
    }
    let differing: Vec<MemberId> = reported
        .iter()
        .filter(|(_, h)| *h != mine)
        .map(|(&i, _)| i)
        .collect();
    if differing.is_empty() {
        Ok(())
    } else {
        Err(Error::culprits(
            roster,
            differing,
            "computed a different public key package; the DKG failed and must be rerun with a \
             new roster",
        ))
    }
}
