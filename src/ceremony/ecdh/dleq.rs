//! The DLEQ proof of one member's share: its hedged nonce, the challenge, and the check
//! the combiner runs before anything is interpolated.

use k256::elliptic_curve::ops::{LinearCombination, Reduce};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::PrimeField;
use k256::{FieldBytes, ProjectivePoint, Scalar, U256};
use nostr::PublicKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{DleqProof, EcdhShare, Point, DLEQ_TAG, NONCE_TAG};
use crate::ceremony::frost::keys::{KeyPackage, PublicKeyPackage};
use crate::ceremony::{Error, MemberId, Result, Roster};

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

/// The DLEQ context: group verifying key ‖ identifier ‖ u64 len ‖ caller context.
struct Context {
    bytes: Vec<u8>,
}

impl Context {
    fn new(
        group: &crate::ceremony::frost::VerifyingKey,
        ident: &crate::ceremony::frost::Identifier,
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
pub(super) fn check(
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
pub(super) fn tagged_hash(tag: &str, parts: &[&[u8]]) -> [u8; 32] {
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
pub(super) fn lift_peer(peer: &PublicKey) -> Result<(ProjectivePoint, Point)> {
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
pub(super) fn signing_scalar(key: &KeyPackage) -> Result<Zeroizing<Scalar>> {
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

fn serialize_share(
    bytes: std::result::Result<Vec<u8>, crate::ceremony::frost::Error>,
) -> Result<Point> {
    let bytes = bytes.map_err(Error::frost)?;
    bytes
        .as_slice()
        .try_into()
        .map(Point)
        .map_err(|_| Error::Frost("verifying share is not 33 bytes".into()))
}
