//! The public group file: everything a member or coordinator needs to know about a
//! threshold key, and nothing secret.

use nostr::{PublicKey, ToBech32};
use serde::{Deserialize, Serialize};

use crate::ceremony::frost::keys::PublicKeyPackage;
use crate::ceremony::{self, Roster};

pub const GROUP_VERSION: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Dealer,
    Dkg,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub version: u8,
    /// The group's Nostr public key (x-only key of the public key package).
    pub npub: String,
    pub origin: Origin,
    pub roster: Roster,
    pub public_key_package: PublicKeyPackage,
    /// Seats that left at a refresh (`refresh … --without`): still in the roster, so
    /// every other seat keeps its number and FROST identifier, but with no share and no
    /// verifying share any more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left: Vec<ceremony::MemberId>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a passport group file: {0}")]
    Parse(String),
    #[error("group file is inconsistent: {0}")]
    Inconsistent(String),
}

impl Group {
    pub fn new(roster: Roster, public: PublicKeyPackage, origin: Origin) -> Self {
        let pk = PublicKey::from_slice(&ceremony::group_xonly(&public)).expect("x-only key");
        Group {
            version: GROUP_VERSION,
            npub: pk.to_bech32().expect("bech32"),
            origin,
            roster,
            public_key_package: public,
            left: vec![],
        }
    }

    /// The seats that hold a share: the roster's, without those that left.
    pub fn seats(&self) -> Vec<ceremony::MemberId> {
        self.roster
            .ids()
            .filter(|s| !self.left.contains(s))
            .collect()
    }

    /// True when `seat` left the group at a refresh.
    pub fn has_left(&self, seat: ceremony::MemberId) -> bool {
        self.left.contains(&seat)
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let g: Group = serde_json::from_slice(bytes).map_err(|e| Error::Parse(e.to_string()))?;
        g.validate()?;
        Ok(g)
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("group serializes")
    }

    fn validate(&self) -> Result<(), Error> {
        if self.version != GROUP_VERSION {
            return Err(Error::Parse(format!(
                "version {} is not supported",
                self.version
            )));
        }
        self.roster
            .validate()
            .map_err(|e| Error::Inconsistent(e.to_string()))?;
        let expected = Group::new(
            self.roster.clone(),
            self.public_key_package.clone(),
            self.origin,
        );
        if expected.npub != self.npub {
            return Err(Error::Inconsistent(
                "npub does not match the public key package".into(),
            ));
        }
        let shares = self.public_key_package.verifying_shares();
        if self.left.iter().any(|&s| self.roster.member(s).is_none()) {
            return Err(Error::Inconsistent(
                "a seat that left is not in the roster".into(),
            ));
        }
        let seats = self.seats();
        let all_seats = seats
            .iter()
            .all(|&id| shares.contains_key(&Roster::identifier(id)));
        if shares.len() != seats.len() || !all_seats {
            return Err(Error::Inconsistent(
                "the public key package does not cover exactly the roster's members (without those that left)".into(),
            ));
        }
        if seats.len() < self.roster.threshold as usize {
            return Err(Error::Inconsistent(
                "fewer seats hold a share than the threshold".into(),
            ));
        }
        if self
            .public_key_package
            .min_signers()
            .is_some_and(|t| t != self.roster.threshold)
        {
            return Err(Error::Inconsistent(
                "threshold differs from the roster".into(),
            ));
        }
        Ok(())
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_slice(&self.xonly()).expect("validated")
    }

    pub fn xonly(&self) -> [u8; 32] {
        ceremony::group_xonly(&self.public_key_package)
    }

    /// Directory-safe id: the x-only key in hex.
    pub fn id(&self) -> String {
        hex::encode(self.xonly())
    }
}
