//! Threshold ECDH: the shared secret x(sk·P) between the group secret sk and a peer's
//! public key P, without reconstructing sk.
//!
//! Each share holder i returns Z_i = s_i·P (s_i its signing share) with a DLEQ proof
//! that log_G(Y_i) = log_P(Z_i), Y_i being its verifying share in the public key
//! package. The combiner checks every proof, naming a member whose share fails, and
//! interpolates Z = Σ λ_i·Z_i over the participating seats; x(Z) is the shared secret.
//!
//! P is the peer's x-only Nostr key lifted with even y, as NIP-04 and NIP-44 do. The
//! group's Nostr key is the x-only form of the verifying key, untweaked; when the
//! verifying key has odd y, BIP-340's effective secret is -sk, and x(-sk·P) = x(sk·P),
//! so the x-coordinate is the peer's ECDH result either way.
//!
//! # DLEQ proof (Chaum–Pedersen, Fiat–Shamir)
//!
//! Points are SEC1 compressed (33 bytes), scalars 32 bytes big-endian.
//!
//! - Nonce, hedged: k = int(H_nonce(rand32 ‖ s_i ‖ Y_i ‖ P ‖ Z_i ‖ ctx)) mod n, with
//!   rand32 fresh from the caller's CSPRNG and H_nonce the tagged hash with tag
//!   [`NONCE_TAG`].
//! - A1 = k·G, A2 = k·P.
//! - c = int(H_dleq(G ‖ Y_i ‖ P ‖ Z_i ‖ A1 ‖ A2 ‖ ctx)) mod n, H_dleq the tagged hash with
//!   tag [`DLEQ_TAG`].
//! - s = k + c·s_i mod n. The proof is (A1, A2, s).
//! - Verification recomputes c and checks s·G = A1 + c·Y_i and s·P = A2 + c·Z_i.
//!
//! ctx = group verifying key (33 bytes, SEC1 compressed, with its parity) ‖ member's
//! FROST identifier (32 bytes; seat i is the integer i) ‖ len(context) as u64 big-endian
//! ‖ context, where `context` is the caller's request binding (e.g. the request id).
//!
//! A tagged hash is BIP-340's: H_tag(x) = SHA-256(SHA-256(tag) ‖ SHA-256(tag) ‖ x).

use std::collections::BTreeMap;

use k256::elliptic_curve::group::prime::PrimeCurveAffine;
use k256::elliptic_curve::point::AffineCoordinates;
use k256::{ProjectivePoint, Scalar};
use nostr::PublicKey;
use zeroize::{Zeroize, Zeroizing};

use super::frost::keys::{KeyPackage, PublicKeyPackage};
use super::lagrange::{identifier_scalar, lagrange_at_zero};
use super::{Error, MemberId, Result, Roster};

mod dleq;
mod wire;

pub use dleq::share;
pub use wire::{DleqProof, EcdhShare, Point, SharedX};

use dleq::{check, lift_peer, signing_scalar};

/// Tag of the DLEQ challenge hash.
pub const DLEQ_TAG: &str = "passport/ecdh-dleq/v1";
/// Tag of the hedged nonce derivation.
pub const NONCE_TAG: &str = "passport/ecdh-dleq/nonce/v1";

/// Checks `member`'s share for `peer` and `context` against its verifying share in
/// `public`. A bad proof or a malformed point names the member.
pub fn verify_share(
    public: &PublicKeyPackage,
    roster: &Roster,
    member: MemberId,
    peer: &PublicKey,
    context: &[u8],
    share: &EcdhShare,
) -> Result<()> {
    let (p, p_bytes) = lift_peer(peer)?;
    check(public, roster, member, &p, &p_bytes, context, share)
        .map(|_| ())
        .map_err(|problem| Error::culprit(roster, member, problem))
}

/// Combines ECDH shares into the shared x-coordinate.
///
/// Needs at least t shares. Every share given is verified first; if any fails, the
/// error names all members whose shares failed and nothing is combined (drop them and
/// ask another member). Of the verified shares, the t of the lowest seats are
/// interpolated: any t valid shares give the same point.
pub fn combine(
    public: &PublicKeyPackage,
    roster: &Roster,
    peer: &PublicKey,
    context: &[u8],
    shares: &BTreeMap<MemberId, EcdhShare>,
) -> Result<SharedX> {
    check_threshold(public, roster)?;
    let held: Vec<MemberId> = shares.keys().copied().collect();
    require_threshold(roster, &held, "ECDH share")?;
    let (p, p_bytes) = lift_peer(peer)?;
    let mut points = BTreeMap::new();
    let mut culprits: Vec<(MemberId, String)> = Vec::new();
    for (&id, share) in shares {
        match check(public, roster, id, &p, &p_bytes, context, share) {
            Ok(z) => {
                points.insert(id, z);
            }
            Err(problem) => culprits.push((id, problem)),
        }
    }
    if !culprits.is_empty() {
        let mut problems: Vec<&str> = Vec::new();
        for (_, p) in &culprits {
            if !problems.contains(&p.as_str()) {
                problems.push(p);
            }
        }
        let problem = problems.join("; ");
        return Err(Error::culprits(
            roster,
            culprits.iter().map(|(s, _)| *s).collect(),
            problem,
        ));
    }
    interpolate_x(&points, roster.threshold as usize)
}

/// The shared x-coordinate for a home holding at least t of the group's key packages:
/// s_i·P for each, interpolated as [`combine`] does (no proofs: nothing crosses a trust
/// boundary). The t packages of the lowest seats are used.
pub fn local(
    keys: &[&KeyPackage],
    public: &PublicKeyPackage,
    roster: &Roster,
    peer: &PublicKey,
) -> Result<SharedX> {
    check_threshold(public, roster)?;
    let mut seats = BTreeMap::new();
    for key in keys {
        let id = roster.id_of_identifier(key.identifier()).ok_or_else(|| {
            Error::Mismatch("a key package's identifier is not a seat of this roster".into())
        })?;
        if key.verifying_key() != public.verifying_key() {
            return Err(Error::Mismatch(format!(
                "{}'s key package belongs to another group",
                roster.name(id)
            )));
        }
        if public.verifying_shares().get(key.identifier()) != Some(key.verifying_share()) {
            return Err(Error::Mismatch(format!(
                "{}'s key package does not match the public key package (a stale share?)",
                roster.name(id)
            )));
        }
        if seats.insert(id, *key).is_some() {
            return Err(Error::Mismatch(format!(
                "{}'s key package was given twice",
                roster.name(id)
            )));
        }
    }
    let held: Vec<MemberId> = seats.keys().copied().collect();
    require_threshold(roster, &held, "key package")?;
    let (p, _) = lift_peer(peer)?;
    let t = roster.threshold as usize;
    let mut points = BTreeMap::new();
    for (&id, key) in seats.iter().take(t) {
        let secret = signing_scalar(key)?;
        points.insert(id, p * *secret);
    }
    let x = interpolate_x(&points, t);
    for z in points.values_mut() {
        z.zeroize();
    }
    x
}

/// The public key package's threshold, where it records one, must be the roster's:
/// interpolating fewer points than the real threshold gives a wrong secret that no
/// proof would catch.
fn check_threshold(public: &PublicKeyPackage, roster: &Roster) -> Result<()> {
    match public.min_signers() {
        Some(m) if m != roster.threshold => Err(Error::Mismatch(format!(
            "the public key package is for threshold {m}, the roster says {}",
            roster.threshold
        ))),
        _ => Ok(()),
    }
}

/// `Incomplete` unless `held` has at least t seats: says how many more are needed and
/// from whom they could come.
fn require_threshold(roster: &Roster, held: &[MemberId], what: &str) -> Result<()> {
    let t = roster.threshold as usize;
    if held.len() >= t {
        return Ok(());
    }
    let more = t - held.len();
    Err(Error::Incomplete {
        what: format!(
            "{more} more {what}{} (threshold {t}, {} at hand) from any of the others",
            if more == 1 { "" } else { "s" },
            held.len()
        ),
        missing: roster
            .ids()
            .filter(|i| !held.contains(i))
            .map(|i| roster.name(i))
            .collect(),
    })
}

/// Σ λ_i·Z_i over the first `t` seats of `points` (Lagrange at 0), as an x-coordinate.
fn interpolate_x(points: &BTreeMap<MemberId, ProjectivePoint>, t: usize) -> Result<SharedX> {
    let chosen: Vec<(MemberId, ProjectivePoint)> =
        points.iter().take(t).map(|(&i, z)| (i, *z)).collect();
    let xs: Vec<Scalar> = chosen
        .iter()
        .map(|&(i, _)| identifier_scalar(i))
        .collect::<Result<_>>()?;
    let mut sum = Zeroizing::new(ProjectivePoint::IDENTITY);
    for (i, (_, z)) in chosen.iter().enumerate() {
        let lambda = lagrange_at_zero(&xs, i)?;
        *sum += *z * lambda;
    }
    let affine = Zeroizing::new(sum.to_affine());
    if bool::from(affine.is_identity()) {
        return Err(Error::Frost(
            "the combined ECDH point is the identity".into(),
        ));
    }
    let mut x = affine.x();
    let mut out = [0u8; 32];
    out.copy_from_slice(&x);
    x.as_mut_slice().zeroize();
    Ok(SharedX::from_bytes(out))
}

#[cfg(test)]
mod tests;
