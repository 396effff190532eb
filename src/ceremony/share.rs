//! Does a key package belong to a seat of a group? The checks every path that takes a
//! share from outside (a backup, a handed-over share) must make before using it.

use frost_secp256k1_tr::keys::{KeyPackage, PublicKeyPackage, VerifyingShare};

use super::{MemberId, Roster};

/// Why a key package is not the share of a seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Misfit {
    #[error("the key package is for another seat")]
    Seat,
    #[error("the key package's signing share does not match its verifying share")]
    SigningShare,
    #[error("the share's verifying share is not that seat's in the group's public key package")]
    VerifyingShare,
    #[error("the key package names another group key or threshold")]
    Group,
}

/// Checks that `key` is seat `seat`'s share of the group `public` with threshold `t`:
/// its identifier, its secret against its own verifying share (s·G = Y_i), that verifying
/// share against the group's, and the group key and threshold.
pub fn fits(
    key: &KeyPackage,
    public: &PublicKeyPackage,
    t: u16,
    seat: MemberId,
) -> Result<(), Misfit> {
    let ident = Roster::identifier(seat);
    if *key.identifier() != ident {
        return Err(Misfit::Seat);
    }
    if VerifyingShare::from(*key.signing_share()) != *key.verifying_share() {
        return Err(Misfit::SigningShare);
    }
    if public.verifying_shares().get(&ident) != Some(key.verifying_share()) {
        return Err(Misfit::VerifyingShare);
    }
    if key.verifying_key() != public.verifying_key() || *key.min_signers() != t {
        return Err(Misfit::Group);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::frost;

    fn dealt() -> (Vec<KeyPackage>, PublicKeyPackage) {
        let mut rng = rand::thread_rng();
        let (shares, public) = frost::keys::generate_with_dealer(
            3,
            2,
            frost::keys::IdentifierList::Custom(&[1u16, 2, 3].map(Roster::identifier)),
            &mut rng,
        )
        .unwrap();
        let keys = [1u16, 2, 3]
            .iter()
            .map(|&s| KeyPackage::try_from(shares[&Roster::identifier(s)].clone()).unwrap())
            .collect();
        (keys, public)
    }

    #[test]
    fn a_seat_share_fits_and_others_do_not() {
        let (keys, public) = dealt();
        assert_eq!(fits(&keys[0], &public, 2, 1), Ok(()));
        assert_eq!(fits(&keys[0], &public, 2, 2), Err(Misfit::Seat));
        assert_eq!(fits(&keys[0], &public, 3, 1), Err(Misfit::Group));
        let (_, other) = dealt();
        assert_eq!(fits(&keys[0], &other, 2, 1), Err(Misfit::VerifyingShare));
        // Seat 1's identifier and verifying share with seat 2's secret.
        let forged = KeyPackage::new(
            *keys[0].identifier(),
            *keys[1].signing_share(),
            *keys[0].verifying_share(),
            *keys[0].verifying_key(),
            2,
        );
        assert_eq!(fits(&forged, &public, 2, 1), Err(Misfit::SigningShare));
    }
}
