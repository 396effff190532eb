//! Signing with t shares this home holds alone (the CI layout, and the bunker's local
//! backend). The nonces live only in memory (for the one call, or made ahead by a home
//! that remembers its shares): nothing to burn, and nothing written to leak.

use std::collections::BTreeMap;

use super::*;
use crate::ceremony::signing;

impl Home {
    /// Signs what `message` builds with the first t active seats of `group`, asking
    /// `consent` (with the chosen seats) after the shares are loaded and before any is
    /// used. Returns the BIP-340 signature and the seats that made it.
    pub fn sign_alone<E: From<Error>>(
        &self,
        group: &Group,
        message: impl FnOnce() -> std::result::Result<Vec<u8>, E>,
        consent: impl FnOnce(&[MemberId]) -> bool,
    ) -> std::result::Result<([u8; 64], Vec<MemberId>), E> {
        let roster = &group.roster;
        let seats = self.active_seats(group)?;
        if seats.len() < roster.threshold as usize {
            return Err(Error::TooFewShares {
                held: seats.len(),
                npub: group.npub.clone(),
                needed: roster.threshold,
            }
            .into());
        }
        let message = message()?;
        let chosen: Vec<MemberId> = seats.into_iter().take(roster.threshold as usize).collect();
        let mut keys = BTreeMap::new();
        let mut nonces = BTreeMap::new();
        let mut commitments = BTreeMap::new();
        for &s in &chosen {
            let key = self.share(group, s)?;
            let (n, c) = self.nonces_for(&Self::share_name(group, s), &key);
            keys.insert(s, key);
            nonces.insert(s, n);
            commitments.insert(s, c);
        }
        let package =
            signing::signing_package(roster, &commitments, &message).map_err(Error::from)?;
        if !consent(&chosen) {
            return Err(Error::Declined.into());
        }
        let mut shares = BTreeMap::new();
        for s in &chosen {
            let share = signing::sign(&package, &nonces[s], &keys[s]).map_err(Error::from)?;
            shares.insert(*s, share);
        }
        let sig = signing::aggregate(roster, &package, &shares, &group.public_key_package)
            .map_err(Error::from)?;
        Ok((sig, chosen))
    }
}
