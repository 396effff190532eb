//! The ECDH share as it travels: points and scalars as fixed-length hex, and the secret
//! x-coordinate that is never printed.

use std::fmt;

use k256::elliptic_curve::group::prime::PrimeCurveAffine;
use k256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use k256::{AffinePoint, EncodedPoint, ProjectivePoint};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A SEC1 compressed secp256k1 point as carried on the wire (hex in JSON). Any 33 bytes
/// deserialize; whether they are a point is checked where the share is verified, so the
/// sender of a malformed one can be named.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Point(pub [u8; 33]);

impl Point {
    pub(super) fn of(p: &ProjectivePoint) -> Option<Self> {
        let affine = p.to_affine();
        if bool::from(affine.is_identity()) {
            return None;
        }
        let encoded = affine.to_encoded_point(true);
        encoded.as_bytes().try_into().ok().map(Point)
    }

    /// The point, or `None` unless these are 33 bytes of a compressed encoding
    /// (prefix 02 or 03) of a point on the curve. The identity has no such encoding.
    pub(super) fn decode(&self) -> Option<ProjectivePoint> {
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
