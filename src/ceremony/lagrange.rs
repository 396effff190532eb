//! Lagrange interpolation over secp256k1 scalars, shared by threshold ECDH and by the
//! check that a group's verifying shares lie on one polynomial. (frost-core keeps its
//! own `compute_lagrange_coefficient` private.)

use k256::elliptic_curve::sec1::FromEncodedPoint;
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, EncodedPoint, FieldBytes, ProjectivePoint, Scalar};

use super::frost::keys::PublicKeyPackage;
use super::{Error, MemberId, Result, Roster};

/// λ_i(x) = Π_{j≠i} (x − x_j) / (x_i − x_j).
pub(crate) fn lagrange_at(xs: &[Scalar], i: usize, x: Scalar) -> Result<Scalar> {
    let mut num = Scalar::ONE;
    let mut den = Scalar::ONE;
    for (j, xj) in xs.iter().enumerate() {
        if j != i {
            num *= x - xj;
            den *= xs[i] - xj;
        }
    }
    let inv: Option<Scalar> = den.invert().into();
    inv.map(|inv| num * inv)
        .ok_or_else(|| Error::Frost("duplicate identifiers in interpolation".into()))
}

/// λ_i(0).
pub(crate) fn lagrange_at_zero(xs: &[Scalar], i: usize) -> Result<Scalar> {
    lagrange_at(xs, i, Scalar::ZERO)
}

/// The scalar of a seat's FROST identifier (seat i is the integer i).
pub(crate) fn identifier_scalar(id: MemberId) -> Result<Scalar> {
    let bytes = Roster::identifier(id).serialize();
    if bytes.len() != 32 {
        return Err(Error::Frost("identifier is not 32 bytes".into()));
    }
    Option::from(Scalar::from_repr(*FieldBytes::from_slice(&bytes)))
        .ok_or_else(|| Error::Frost("identifier is not a canonical scalar".into()))
}

/// Checks that the verifying shares of `public` are the points of one polynomial of
/// degree t−1 whose value at 0 is the group's verifying key: any t members can then
/// sign, and no seat's share is off the line. The first t seats fix the polynomial;
/// every other seat is interpolated from them and compared.
pub fn check_public_package(public: &PublicKeyPackage, roster: &Roster) -> Result<()> {
    let t = roster.threshold as usize;
    let mut points = Vec::with_capacity(roster.members.len());
    // Seats without a verifying share left at a refresh; which ones may is the group
    // file's business (`Group::left`), checked where it is parsed.
    for id in roster.ids() {
        let Some(share) = public.verifying_shares().get(&Roster::identifier(id)) else {
            continue;
        };
        let point = decode(share.serialize()).ok_or_else(|| {
            Error::Mismatch(format!(
                "{}'s verifying share is not a point",
                roster.name(id)
            ))
        })?;
        points.push((id, identifier_scalar(id)?, point));
    }
    if points.len() < t {
        return Err(Error::Mismatch(
            "fewer verifying shares than the threshold".into(),
        ));
    }
    let (basis, rest) = points.split_at(t);
    let xs: Vec<Scalar> = basis.iter().map(|p| p.1).collect();
    let at = |x: Scalar| -> Result<ProjectivePoint> {
        let mut sum = ProjectivePoint::IDENTITY;
        for (i, p) in basis.iter().enumerate() {
            sum += p.2 * lagrange_at(&xs, i, x)?;
        }
        Ok(sum)
    };
    let key = decode(public.verifying_key().serialize())
        .ok_or_else(|| Error::Mismatch("the group key is not a point".into()))?;
    if at(Scalar::ZERO)? != key {
        let names: Vec<String> = basis.iter().map(|p| roster.name(p.0)).collect();
        return Err(Error::Mismatch(format!(
            "the verifying shares of {} do not interpolate to the group key",
            names.join(", ")
        )));
    }
    for (id, x, y) in rest {
        if at(*x)? != *y {
            return Err(Error::Mismatch(format!(
                "{}'s verifying share is not on the group's polynomial",
                roster.name(*id)
            )));
        }
    }
    Ok(())
}

/// A SEC1-encoded point as FROST serializes elements.
fn decode(bytes: std::result::Result<Vec<u8>, super::frost::Error>) -> Option<ProjectivePoint> {
    let encoded = EncodedPoint::from_bytes(bytes.ok()?).ok()?;
    Option::<AffinePoint>::from(AffinePoint::from_encoded_point(&encoded)).map(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lagrange_interpolates_a_line() {
        // y = 3 + 2x through (1, 5) and (2, 7): y(0) = 3, y(5) = 13.
        let xs = [Scalar::from(1u64), Scalar::from(2u64)];
        let ys = [Scalar::from(5u64), Scalar::from(7u64)];
        let y = |x: Scalar| {
            lagrange_at(&xs, 0, x).unwrap() * ys[0] + lagrange_at(&xs, 1, x).unwrap() * ys[1]
        };
        assert_eq!(y(Scalar::ZERO), Scalar::from(3u64));
        assert_eq!(y(Scalar::from(5u64)), Scalar::from(13u64));
    }
}
