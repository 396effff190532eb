//! Proactive share refresh (ZF FROST "refresh with DKG"): every member of the group
//! deals a random polynomial with a zero constant term; each member adds the shares it
//! receives to its old share. The group key stays the same, every share and verifying
//! share changes, and old shares no longer combine with new ones.
//!
//! Every seat holding a share takes part, except those leaving (`participants`). Packages are bound to a *refresh roster*: the group's
//! roster with the operators' refresh id as ceremony id and a purpose that names the
//! group key and the hash of the public key package being refreshed, so a package from
//! another refresh, another group or another share epoch is refused by the envelope
//! checks.

use std::collections::BTreeMap;

use super::dkg::{by_identifier, require_from};
use super::frost::keys::dkg::{round1, round2};
use super::frost::keys::{refresh, KeyPackage, PublicKeyPackage};
use super::frost::{Field, Group, Secp256K1Group, Secp256K1ScalarField};
use super::{Error, MemberId, Result, Roster};

/// Who takes part in a refresh: every seat that holds a share (a verifying share in
/// `public`), without `leaving`. frost-core lets a refresh run with fewer participants
/// than the group had (`refresh_dkg_part1` with a smaller `max_signers`); the seats left
/// out get no new share, and their old one no longer combines with the new ones.
pub fn participants(
    roster: &Roster,
    public: &PublicKeyPackage,
    leaving: &[MemberId],
) -> Result<Vec<MemberId>> {
    for &s in leaving {
        if roster.member(s).is_none()
            || !public
                .verifying_shares()
                .contains_key(&Roster::identifier(s))
        {
            return Err(Error::InvalidRoster(format!(
                "{} holds no share of this group, so it cannot leave it",
                roster.name(s)
            )));
        }
    }
    let who: Vec<MemberId> = roster
        .ids()
        .filter(|s| {
            public
                .verifying_shares()
                .contains_key(&Roster::identifier(*s))
        })
        .filter(|s| !leaving.contains(s))
        .collect();
    if who.len() < roster.threshold as usize {
        return Err(Error::InvalidRoster(format!(
            "without {}, {} seat(s) would hold a share: fewer than the threshold {}, so no one could sign",
            leaving.iter().map(|&s| roster.name(s)).collect::<Vec<_>>().join(", "),
            who.len(),
            roster.threshold
        )));
    }
    Ok(who)
}

/// The roster a refresh's packages are bound to. Members leaving are named in its
/// purpose, so every participant must state the same leavers or its packages are refused.
pub fn binding_roster(
    roster: &Roster,
    public: &PublicKeyPackage,
    refresh_id: &str,
    leaving: &[MemberId],
) -> Result<Roster> {
    let id = refresh_id.trim().to_ascii_lowercase();
    if id.len() != 32 || hex::decode(&id).is_err() {
        return Err(Error::InvalidRoster(format!(
            "refresh id {refresh_id:?} must be 32 hex characters (128 random bits, e.g. \
             `openssl rand -hex 16`), agreed by all members"
        )));
    }
    if id == roster.ceremony_id {
        return Err(Error::InvalidRoster(
            "the refresh id must be fresh, not the group's key-generation ceremony id".into(),
        ));
    }
    let mut r = roster.clone();
    r.ceremony_id = id;
    r.dealer = None;
    r.purpose = format!(
        "refresh of group key {} (public key package {}, key ceremony {})",
        hex::encode(super::group_xonly(public)),
        hex::encode(super::public_package_hash(public)?),
        roster.ceremony_id
    );
    if !leaving.is_empty() {
        participants(roster, public, leaving)?;
        let mut seats = leaving.to_vec();
        seats.sort_unstable();
        seats.dedup();
        r.purpose.push_str(&format!(
            ", without {}",
            seats
                .iter()
                .map(|&s| format!("seat {s} ({})", roster.name(s)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    r.validate()?;
    Ok(r)
}

/// Part 1 for member `me`: the secret to keep and the package to broadcast.
pub fn part1(
    roster: &Roster,
    me: MemberId,
    participants: &[MemberId],
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<(round1::SecretPackage, round1::Package)> {
    let n = participants.len() as u16;
    refresh::refresh_dkg_part1(Roster::identifier(me), n, roster.threshold, rng)
        .map_err(Error::frost)
}

fn others(participants: &[MemberId], me: MemberId) -> impl Iterator<Item = MemberId> + '_ {
    participants.iter().copied().filter(move |&s| s != me)
}

/// A refresh round-1 package commits to t-1 coefficients (the constant term is zero
/// and left out).
pub fn check_round1(roster: &Roster, from: MemberId, package: &round1::Package) -> Result<()> {
    let got = package.commitment().coefficients().len();
    let want = roster.threshold as usize - 1;
    if got != want {
        return Err(Error::culprit(
            roster,
            from,
            format!(
                "refresh round-1 package commits to {got} coefficients, threshold {} needs {want} \
                 (a key-generation package, or made for another threshold)",
                roster.threshold
            ),
        ));
    }
    Ok(())
}

/// Part 2: needs every other member's round-1 package; returns the secret to keep and
/// one round-2 package per other member.
pub fn part2(
    roster: &Roster,
    me: MemberId,
    participants: &[MemberId],
    secret: round1::SecretPackage,
    received: &BTreeMap<MemberId, round1::Package>,
) -> Result<(round2::SecretPackage, BTreeMap<MemberId, round2::Package>)> {
    require_from(
        roster,
        others(participants, me),
        received,
        "refresh round-1 packages",
    )?;
    not_from_leavers(roster, participants, received)?;
    for (&from, p) in received {
        check_round1(roster, from, p)?;
    }
    let (secret, out) = refresh::refresh_dkg_part2(secret, &by_identifier(received))
        .map_err(|e| super::name_culprits(roster, e, "sent an invalid refresh round-1 package"))?;
    let out = out
        .into_iter()
        .map(|(ident, p)| (roster.id_of_identifier(&ident).expect("roster ids"), p))
        .collect();
    Ok((secret, out))
}

/// A package from a seat outside the refresh (one that is leaving) is refused by name:
/// its contribution would make the others' shares inconsistent.
fn not_from_leavers<T>(
    roster: &Roster,
    participants: &[MemberId],
    got: &BTreeMap<MemberId, T>,
) -> Result<()> {
    match got.keys().find(|s| !participants.contains(s)) {
        Some(&s) => Err(Error::culprit(
            roster,
            s,
            "sent a refresh package but is not taking part in this refresh",
        )),
        None => Ok(()),
    }
}

fn scalar_of(id: MemberId) -> Result<<Secp256K1ScalarField as Field>::Scalar> {
    let bytes: [u8; 32] = Roster::identifier(id)
        .serialize()
        .try_into()
        .map_err(|_| Error::Frost("identifier is not 32 bytes".into()))?;
    Secp256K1ScalarField::deserialize(&bytes).map_err(|e| Error::Frost(e.to_string()))
}

/// Checks one round-2 share against its sender's round-1 commitment:
/// `G·f(me) == Σ_{k=1}^{t-1} φ_k·me^k` (the constant term is the identity).
pub fn verify_round2(
    roster: &Roster,
    me: MemberId,
    from: MemberId,
    commitment: &round1::Package,
    share: &round2::Package,
) -> Result<()> {
    let culprit = |problem: &str| Error::culprit(roster, from, problem);
    let f: [u8; 32] = share
        .signing_share()
        .serialize()
        .try_into()
        .map_err(|_| culprit("sent a refresh share that is not a scalar"))?;
    let f = Secp256K1ScalarField::deserialize(&f)
        .map_err(|_| culprit("sent a refresh share that is not a scalar"))?;
    let i = scalar_of(me)?;
    let mut pow = i;
    let mut rhs = Secp256K1Group::identity();
    let coefficients = commitment
        .commitment()
        .serialize()
        .map_err(|_| culprit("sent an invalid refresh commitment"))?;
    for c in coefficients {
        let bytes: [u8; 33] = c
            .try_into()
            .map_err(|_| culprit("sent an invalid refresh commitment"))?;
        let point = Secp256K1Group::deserialize(&bytes)
            .map_err(|_| culprit("sent an invalid refresh commitment"))?;
        rhs += point * pow;
        pow *= i;
    }
    if Secp256K1Group::generator() * f != rhs {
        return Err(culprit(
            "sent a refresh share that does not match its round-1 commitment",
        ));
    }
    Ok(())
}

/// Part 3: the refreshed share and public key package. The group key must not change.
#[allow(clippy::too_many_arguments)]
pub fn part3(
    roster: &Roster,
    me: MemberId,
    participants: &[MemberId],
    secret: &round2::SecretPackage,
    round1: &BTreeMap<MemberId, round1::Package>,
    round2: &BTreeMap<MemberId, round2::Package>,
    old_public: &PublicKeyPackage,
    old_key: &KeyPackage,
) -> Result<(KeyPackage, PublicKeyPackage)> {
    require_from(
        roster,
        others(participants, me),
        round2,
        "refresh round-2 packages",
    )?;
    not_from_leavers(roster, participants, round2)?;
    for (&from, share) in round2 {
        let commitment = round1.get(&from).ok_or_else(|| {
            Error::culprit(
                roster,
                from,
                "sent a round-2 package without a round-1 package",
            )
        })?;
        verify_round2(roster, me, from, commitment, share)?;
    }
    let (key, public) = refresh::refresh_dkg_shares(
        secret,
        &by_identifier(round1),
        &by_identifier(round2),
        old_public.clone(),
        old_key.clone(),
    )
    .map_err(|e| super::name_culprits(roster, e, "sent an invalid refresh package"))?;
    if public.verifying_key() != old_public.verifying_key()
        || key.verifying_key() != old_public.verifying_key()
    {
        return Err(Error::Mismatch(
            "the refresh changed the group key; refusing it (nothing was stored)".into(),
        ));
    }
    if public.verifying_shares().get(key.identifier()) != Some(key.verifying_share()) {
        return Err(Error::Mismatch(
            "the refreshed share does not match the refreshed public key package".into(),
        ));
    }
    Ok((key, public))
}
