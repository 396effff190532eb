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
use std::fmt;

use k256::elliptic_curve::group::prime::PrimeCurveAffine;
use k256::elliptic_curve::ops::{LinearCombination, Reduce};
use k256::elliptic_curve::point::AffineCoordinates;
use k256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, EncodedPoint, FieldBytes, ProjectivePoint, Scalar, U256};
use nostr::PublicKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::frost::keys::{KeyPackage, PublicKeyPackage};
use super::lagrange::{identifier_scalar, lagrange_at_zero};
use super::{Error, MemberId, Result, Roster};

/// Tag of the DLEQ challenge hash.
pub const DLEQ_TAG: &str = "passport/ecdh-dleq/v1";
/// Tag of the hedged nonce derivation.
pub const NONCE_TAG: &str = "passport/ecdh-dleq/nonce/v1";

/// A SEC1 compressed secp256k1 point as carried on the wire (hex in JSON). Any 33 bytes
/// deserialize; whether they are a point is checked where the share is verified, so the
/// sender of a malformed one can be named.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Point(pub [u8; 33]);

impl Point {
    fn of(p: &ProjectivePoint) -> Option<Self> {
        let affine = p.to_affine();
        if bool::from(affine.is_identity()) {
            return None;
        }
        let encoded = affine.to_encoded_point(true);
        encoded.as_bytes().try_into().ok().map(Point)
    }

    /// The point, or `None` unless these are 33 bytes of a compressed encoding
    /// (prefix 02 or 03) of a point on the curve. The identity has no such encoding.
    fn decode(&self) -> Option<ProjectivePoint> {
        if !matches!(self.0[0], 0x02 | 0x03) {
            return None;
        }
        let encoded = EncodedPoint::from_bytes(self.0).ok()?;
        let affine: AffinePoint = Option::from(AffinePoint::from_encoded_point(&encoded))?;
        if bool::from(affine.is_identity()) {
            return None;
        }
        Some(ProjectivePoint::from(affine))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Point({})", self.to_hex())
    }
}

impl Serialize for Point {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        hex_array::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        hex_array::deserialize(d).map(Point)
    }
}

/// A DLEQ proof that log_G(Y_i) = log_P(Z_i): commitments A1 = k·G, A2 = k·P and the
/// response s = k + c·s_i.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DleqProof {
    pub a1: Point,
    pub a2: Point,
    #[serde(with = "hex_array")]
    pub s: [u8; 32],
}

impl fmt::Debug for DleqProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DleqProof")
            .field("a1", &self.a1)
            .field("a2", &self.a2)
            .field("s", &hex::encode(self.s))
            .finish()
    }
}

/// One member's contribution: Z_i = s_i·P and its proof. Public: safe to transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcdhShare {
    pub point: Point,
    pub proof: DleqProof,
}

/// The 32-byte ECDH x-coordinate: a secret. Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SharedX([u8; 32]);

impl SharedX {
    /// Wraps an x-coordinate computed elsewhere (e.g. a single-key ECDH).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SharedX(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SharedX {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedX(<redacted>)")
    }
}

/// Member `key`'s ECDH share for `peer`, with its DLEQ proof bound to the group, the
/// member's seat and `context` (the request it answers).
pub fn share(
    key: &KeyPackage,
    peer: &PublicKey,
    context: &[u8],
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<EcdhShare> {
    let (p, p_bytes) = lift_peer(peer)?;
    let secret = signing_scalar(key)?;
    let z = Zeroizing::new(p * *secret);
    let z_bytes = Point::of(&z).ok_or_else(|| Error::Frost("s_i·P is the identity".into()))?;
    let y_bytes = serialize_share(key.verifying_share().serialize())?;
    let ctx = Context::new(key.verifying_key(), key.identifier(), context)?;

    let k = {
        let mut fresh = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *fresh);
        let secret_bytes = Zeroizing::new(key.signing_share().serialize());
        let digest = Zeroizing::new(tagged_hash(
            NONCE_TAG,
            &[
                &fresh[..],
                &secret_bytes,
                &y_bytes.0,
                &p_bytes.0,
                &z_bytes.0,
                &ctx.bytes,
            ],
        ));
        Zeroizing::new(<Scalar as Reduce<U256>>::reduce_bytes(
            FieldBytes::from_slice(&digest[..]),
        ))
    };
    if bool::from(k.is_zero()) {
        return Err(Error::Frost("DLEQ nonce is zero".into()));
    }
    let a1 = Point::of(&(ProjectivePoint::GENERATOR * *k))
        .ok_or_else(|| Error::Frost("DLEQ commitment is the identity".into()))?;
    let a2 = Point::of(&(p * *k))
        .ok_or_else(|| Error::Frost("DLEQ commitment is the identity".into()))?;
    let c = challenge(&y_bytes, &p_bytes, &z_bytes, &a1, &a2, &ctx);
    let cs = Zeroizing::new(c * *secret);
    let s = *k + *cs;
    Ok(EcdhShare {
        point: z_bytes,
        proof: DleqProof {
            a1,
            a2,
            s: s.to_repr().into(),
        },
    })
}

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

// --- internals ------------------------------------------------------------------------

/// The DLEQ context: group verifying key ‖ identifier ‖ u64 len ‖ caller context.
struct Context {
    bytes: Vec<u8>,
}

impl Context {
    fn new(
        group: &super::frost::VerifyingKey,
        ident: &super::frost::Identifier,
        context: &[u8],
    ) -> Result<Self> {
        let group = group.serialize().map_err(Error::frost)?;
        let ident = ident.serialize();
        let mut bytes = Vec::with_capacity(group.len() + ident.len() + 8 + context.len());
        bytes.extend_from_slice(&group);
        bytes.extend_from_slice(&ident);
        bytes.extend_from_slice(&(context.len() as u64).to_be_bytes());
        bytes.extend_from_slice(context);
        Ok(Context { bytes })
    }
}

/// Verifies one share; on success returns Z_i. The error is the problem, for the
/// caller to attach the member's name to.
fn check(
    public: &PublicKeyPackage,
    roster: &Roster,
    member: MemberId,
    p: &ProjectivePoint,
    p_bytes: &Point,
    context: &[u8],
    share: &EcdhShare,
) -> std::result::Result<ProjectivePoint, String> {
    if roster.member(member).is_none() {
        return Err("sent an ECDH share but holds no seat in this roster".into());
    }
    let ident = Roster::identifier(member);
    let vs = public
        .verifying_shares()
        .get(&ident)
        .ok_or("has no verifying share in the public key package")?;
    let y_bytes = serialize_share(vs.serialize()).map_err(|e| e.to_string())?;
    let y = y_bytes
        .decode()
        .ok_or("has a malformed verifying share in the public key package")?;
    let ctx = Context::new(public.verifying_key(), &ident, context).map_err(|e| e.to_string())?;

    let z = share
        .point
        .decode()
        .ok_or("sent an ECDH share that is not a valid curve point (or is the identity)")?;
    let malformed = "sent an ECDH share with a malformed DLEQ proof";
    let a1 = share.proof.a1.decode().ok_or(malformed)?;
    let a2 = share.proof.a2.decode().ok_or(malformed)?;
    let s: Scalar = Option::from(Scalar::from_repr(share.proof.s.into())).ok_or(malformed)?;

    let c = challenge(
        &y_bytes,
        p_bytes,
        &share.point,
        &share.proof.a1,
        &share.proof.a2,
        &ctx,
    );
    // s·G − c·Y_i = A1 and s·P − c·Z_i = A2, each as one double-scalar multiplication.
    let ok_g = ProjectivePoint::lincomb(&ProjectivePoint::GENERATOR, &s, &y, &-c) == a1;
    let ok_p = ProjectivePoint::lincomb(p, &s, &z, &-c) == a2;
    if ok_g && ok_p {
        Ok(z)
    } else {
        Err(
            "sent an ECDH share whose DLEQ proof does not verify (wrong share, stale key, \
             another peer or request, or tampering)"
                .into(),
        )
    }
}

fn challenge(y: &Point, p: &Point, z: &Point, a1: &Point, a2: &Point, ctx: &Context) -> Scalar {
    let g = ProjectivePoint::GENERATOR
        .to_affine()
        .to_encoded_point(true);
    let digest = tagged_hash(
        DLEQ_TAG,
        &[g.as_bytes(), &y.0, &p.0, &z.0, &a1.0, &a2.0, &ctx.bytes],
    );
    <Scalar as Reduce<U256>>::reduce_bytes(FieldBytes::from_slice(&digest))
}

/// BIP-340 tagged hash: SHA-256(SHA-256(tag) ‖ SHA-256(tag) ‖ parts…).
fn tagged_hash(tag: &str, parts: &[&[u8]]) -> [u8; 32] {
    let tag = Sha256::digest(tag.as_bytes());
    let mut h = Sha256::new();
    h.update(tag);
    h.update(tag);
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

/// The peer's x-only key lifted with even y, and its compressed encoding.
fn lift_peer(peer: &PublicKey) -> Result<(ProjectivePoint, Point)> {
    let mut bytes = [0u8; 33];
    bytes[0] = 0x02;
    bytes[1..].copy_from_slice(peer.as_bytes());
    let point = Point(bytes);
    let p = point.decode().ok_or_else(|| {
        Error::Mismatch(format!(
            "peer key {} is not an x-coordinate on secp256k1",
            peer.to_hex()
        ))
    })?;
    Ok((p, point))
}

/// The member's signing share as a scalar, zeroized on drop.
fn signing_scalar(key: &KeyPackage) -> Result<Zeroizing<Scalar>> {
    let bytes = Zeroizing::new(key.signing_share().serialize());
    if bytes.len() != 32 {
        return Err(Error::Frost("signing share is not 32 bytes".into()));
    }
    let scalar: Option<Scalar> = Scalar::from_repr(*FieldBytes::from_slice(&bytes)).into();
    let scalar = Zeroizing::new(
        scalar.ok_or_else(|| Error::Frost("signing share is not a canonical scalar".into()))?,
    );
    if bool::from(scalar.is_zero()) {
        return Err(Error::Frost("signing share is zero".into()));
    }
    Ok(scalar)
}

fn serialize_share(bytes: std::result::Result<Vec<u8>, super::frost::Error>) -> Result<Point> {
    let bytes = bytes.map_err(Error::frost)?;
    bytes
        .as_slice()
        .try_into()
        .map(Point)
        .map_err(|_| Error::Frost("verifying share is not 33 bytes".into()))
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
    Ok(SharedX(out))
}

/// Fixed-length byte arrays as lowercase hex strings.
mod hex_array {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(&s, &mut out).map_err(|e| {
            serde::de::Error::custom(format!("expected {} hex characters: {e}", 2 * N))
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::{dealer, Member};
    use nostr::Keys;
    use rand::rngs::OsRng;

    struct Group {
        roster: Roster,
        keys: BTreeMap<MemberId, KeyPackage>,
        public: PublicKeyPackage,
    }

    fn group(t: u16, n: u16) -> Group {
        let members = (1..=n)
            .map(|i| Member {
                name: format!("m{i}"),
                npub: Keys::generate().public_key(),
            })
            .collect();
        let roster = Roster::new("ecdh", t, members, None, &mut OsRng).unwrap();
        let dealt = dealer::deal(&roster, None, &mut OsRng).unwrap();
        let keys = dealt
            .shares
            .into_iter()
            .map(|(i, s)| (i, KeyPackage::try_from(s).unwrap()))
            .collect();
        Group {
            roster,
            keys,
            public: dealt.public,
        }
    }

    fn group_pk(g: &Group) -> PublicKey {
        PublicKey::from_slice(&crate::ceremony::group_xonly(&g.public)).unwrap()
    }

    #[test]
    fn tagged_hash_is_bip340_style() {
        // SHA-256(SHA-256(tag) ‖ SHA-256(tag) ‖ msg), computed independently.
        let t = Sha256::digest(b"passport/ecdh-dleq/v1");
        let mut buf = t.to_vec();
        buf.extend_from_slice(&t);
        buf.extend_from_slice(b"abc");
        let want: [u8; 32] = Sha256::digest(&buf).into();
        assert_eq!(tagged_hash(DLEQ_TAG, &[b"a", b"bc"]), want);
    }

    #[test]
    fn lagrange_interpolates_a_line() {
        // f(x) = 5 + 3x: f(1) = 8, f(3) = 14; interpolating at 0 gives 5.
        let xs = [Scalar::from(1u64), Scalar::from(3u64)];
        let ys = [Scalar::from(8u64), Scalar::from(14u64)];
        let f0 =
            lagrange_at_zero(&xs, 0).unwrap() * ys[0] + lagrange_at_zero(&xs, 1).unwrap() * ys[1];
        assert_eq!(f0, Scalar::from(5u64));
    }

    #[test]
    fn identifier_scalar_is_the_seat() {
        assert_eq!(identifier_scalar(7).unwrap(), Scalar::from(7u64));
    }

    #[test]
    fn share_roundtrips_through_json_as_hex() {
        let g = group(2, 3);
        let peer = Keys::generate().public_key();
        let s = share(&g.keys[&1], &peer, b"req", &mut OsRng).unwrap();
        let json = serde_json::to_value(s).unwrap();
        assert_eq!(json["point"].as_str().unwrap(), s.point.to_hex());
        assert_eq!(json["point"].as_str().unwrap().len(), 66);
        assert_eq!(json["proof"]["a1"].as_str().unwrap().len(), 66);
        assert_eq!(json["proof"]["a2"].as_str().unwrap().len(), 66);
        assert_eq!(json["proof"]["s"].as_str().unwrap().len(), 64);
        let back: EcdhShare = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, s);
        // Wrong lengths and unknown fields are refused at parse time.
        let mut short = json.clone();
        short["point"] = "02ab".into();
        assert!(serde_json::from_value::<EcdhShare>(short).is_err());
        let mut extra = json;
        extra["proof"]["x"] = "00".into();
        assert!(serde_json::from_value::<EcdhShare>(extra).is_err());
    }

    #[test]
    fn share_verifies_and_combines() {
        let g = group(2, 3);
        let peer = Keys::generate();
        let mut shares = BTreeMap::new();
        for id in [1, 3] {
            let s = share(&g.keys[&id], &peer.public_key(), b"req", &mut OsRng).unwrap();
            verify_share(&g.public, &g.roster, id, &peer.public_key(), b"req", &s).unwrap();
            shares.insert(id, s);
        }
        let x = combine(&g.public, &g.roster, &peer.public_key(), b"req", &shares).unwrap();
        let want = nostr::util::generate_shared_key(peer.secret_key(), &group_pk(&g)).unwrap();
        assert_eq!(x.as_bytes(), &want);
    }

    #[test]
    fn proofs_differ_each_time_but_point_does_not() {
        let g = group(2, 3);
        let peer = Keys::generate().public_key();
        let a = share(&g.keys[&2], &peer, b"req", &mut OsRng).unwrap();
        let b = share(&g.keys[&2], &peer, b"req", &mut OsRng).unwrap();
        assert_eq!(a.point, b.point);
        assert_ne!(a.proof, b.proof);
    }

    #[test]
    fn share_for_a_seat_not_in_the_roster_is_named() {
        let g = group(2, 3);
        let peer = Keys::generate().public_key();
        let s = share(&g.keys[&1], &peer, b"req", &mut OsRng).unwrap();
        let e = verify_share(&g.public, &g.roster, 9, &peer, b"req", &s).unwrap_err();
        assert!(e.to_string().contains("member #9"), "{e}");
    }

    #[test]
    fn threshold_mismatch_between_roster_and_package_is_refused() {
        let g = group(3, 4);
        let mut roster = g.roster.clone();
        roster.threshold = 2;
        let peer = Keys::generate().public_key();
        let keys: Vec<&KeyPackage> = g.keys.values().collect();
        let e = local(&keys, &g.public, &roster, &peer).unwrap_err();
        assert!(matches!(e, Error::Mismatch(_)), "{e}");
    }

    #[test]
    fn shared_x_debug_is_redacted() {
        let x = SharedX::from_bytes([0xab; 32]);
        let d = format!("{x:?}");
        assert!(!d.contains("ab"), "{d}");
        assert!(d.contains("redacted"));
    }
}
