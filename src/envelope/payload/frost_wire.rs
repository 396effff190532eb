//! Readers for the frost-core types that packages carry: the same JSON, the same checks
//! and the same values as frost-core's own serde, at half the cost per point.
//!
//! frost-core 3.0's serde reads each group element by first serializing the generator
//! to size its buffer, a field inversion that costs as much as decompressing the point
//! itself (callgrind, 7-of-10 signing through envelopes: 2.6 of the 5.2 G instructions
//! spent reading points). These readers decode the hex with `serdect`, as frost-core
//! does, and hand the bytes to each type's own `deserialize`. Everything else is
//! frost-core's: format version 0, the ciphersuite ID, no unknown fields, canonical
//! non-identity points, identifiers. `differential` tests pin the equivalence. Writing
//! stays with frost-core's `Serialize`.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use crate::ceremony::frost::keys::dkg::round1;
use crate::ceremony::frost::keys::VerifiableSecretSharingCommitment;
use crate::ceremony::frost::round1::{NonceCommitment, SigningCommitments};
use crate::ceremony::frost::{Identifier, Signature, SigningPackage};

/// The ciphersuite ID frost-core writes in every header.
const CIPHERSUITE: &str = "FROST-secp256k1-SHA256-TR-v1";

/// frost-core's `Header`, checked as frost-core checks it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    version: u8,
    ciphersuite: String,
}

impl Header {
    fn check<E: serde::de::Error>(&self) -> Result<(), E> {
        if self.version != 0 {
            return Err(E::custom("wrong format version, only 0 supported"));
        }
        if self.ciphersuite != CIPHERSUITE {
            return Err(E::custom("wrong ciphersuite"));
        }
        Ok(())
    }
}

/// A compressed point's 33 bytes, read from hex as frost-core reads them.
struct Point([u8; 33]);

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut buf = [0u8; 33];
        serdect::array::deserialize_hex_or_bin(&mut buf, d)?;
        Ok(Point(buf))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitmentsWire {
    header: Header,
    hiding: Point,
    binding: Point,
}

/// A member's signing commitments (`SigningCommitments`).
pub struct Commitments(pub SigningCommitments);

impl<'de> Deserialize<'de> for Commitments {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = CommitmentsWire::deserialize(d)?;
        w.header.check()?;
        let point = |p: &Point| NonceCommitment::deserialize(&p.0).map_err(D::Error::custom);
        Ok(Commitments(SigningCommitments::new(
            point(&w.hiding)?,
            point(&w.binding)?,
        )))
    }
}

/// For `#[serde(deserialize_with)]` on a `SigningCommitments` field.
pub fn commitments<'de, D: Deserializer<'de>>(d: D) -> Result<SigningCommitments, D::Error> {
    Commitments::deserialize(d).map(|c| c.0)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PackageWire {
    header: Header,
    signing_commitments: BTreeMap<Identifier, Commitments>,
    #[serde(deserialize_with = "serdect::slice::deserialize_hex_or_bin_vec")]
    message: Vec<u8>,
}

/// For `#[serde(deserialize_with)]` on a `SigningPackage` field.
pub fn signing_package<'de, D: Deserializer<'de>>(d: D) -> Result<SigningPackage, D::Error> {
    let w = PackageWire::deserialize(d)?;
    w.header.check()?;
    let commitments = w
        .signing_commitments
        .into_iter()
        .map(|(id, c)| (id, c.0))
        .collect();
    Ok(SigningPackage::new(commitments, &w.message))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Round1Wire {
    header: Header,
    commitment: Vec<Point>,
    proof_of_knowledge: Signature,
}

/// A DKG round-1 package (`keys::dkg::round1::Package`): its n-1 copies, each with t
/// coefficient commitments, are most of what a member reads in a DKG.
pub struct Round1(pub round1::Package);

impl<'de> Deserialize<'de> for Round1 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Round1Wire::deserialize(d)?;
        w.header.check()?;
        let commitment =
            VerifiableSecretSharingCommitment::deserialize(w.commitment.iter().map(|p| p.0))
                .map_err(D::Error::custom)?;
        Ok(Round1(round1::Package::new(
            commitment,
            w.proof_of_knowledge,
        )))
    }
}

#[cfg(test)]
#[path = "frost_wire_tests.rs"]
mod differential;
