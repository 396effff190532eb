//! The roster: who takes part, with which threshold, for what. Agreed before any key
//! material exists; its hash is bound into every package.

use nostr::{FromBech32, PublicKey, ToBech32};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{frost::Identifier, Error, Result};

/// A member's position in the roster, starting at 1. It is also the FROST identifier.
pub type MemberId = u16;

pub const ROSTER_VERSION: u8 = 1;
/// More members than this makes every round quadratic in a way no operator wants.
pub const MAX_MEMBERS: usize = 255;
/// A purpose is a sentence or a short paragraph for people to compare; more is a sign
/// of abuse (a server storing rosters for anyone), not of use.
pub const MAX_PURPOSE_BYTES: usize = 1024;
/// Roster JSON larger than this is refused unread. The largest valid roster (255
/// members with 32-character names, a dealer, a purpose of escaped characters), pretty
/// printed, is under 48 KiB.
pub const MAX_JSON_BYTES: usize = 64 << 10;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub name: String,
    #[serde(with = "npub_serde")]
    pub npub: PublicKey,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    pub version: u8,
    /// 128 random bits, hex: names this ceremony in every package.
    pub ceremony_id: String,
    pub purpose: String,
    pub threshold: u16,
    /// Present for trusted-dealer rosters: the identity that deals the shares.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_npub_serde"
    )]
    pub dealer: Option<PublicKey>,
    pub members: Vec<Member>,
}

impl Roster {
    /// Builds and validates a roster with a fresh random ceremony id.
    pub fn new(
        purpose: &str,
        threshold: u16,
        members: Vec<Member>,
        dealer: Option<PublicKey>,
        rng: &mut impl rand::RngCore,
    ) -> Result<Self> {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let roster = Roster {
            version: ROSTER_VERSION,
            ceremony_id: hex::encode(id),
            purpose: purpose.to_owned(),
            threshold,
            dealer,
            members,
        };
        roster.validate()?;
        Ok(roster)
    }

    /// Parses and validates a roster from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_JSON_BYTES {
            return Err(Error::InvalidRoster(format!(
                "it is {} bytes; a roster is at most {MAX_JSON_BYTES} bytes of JSON",
                bytes.len()
            )));
        }
        let roster: Roster =
            serde_json::from_slice(bytes).map_err(|e| Error::InvalidRoster(e.to_string()))?;
        roster.validate()?;
        Ok(roster)
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("roster serializes")
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidRoster(m));
        if self.version != ROSTER_VERSION {
            return bad(format!(
                "version {} is not supported (expected {ROSTER_VERSION})",
                self.version
            ));
        }
        if self.ceremony_id.len() != 32 || hex::decode(&self.ceremony_id).is_err() {
            return bad("ceremony_id must be 32 hex characters (128 bits)".into());
        }
        if self.purpose.len() > MAX_PURPOSE_BYTES {
            return bad(format!(
                "the purpose is {} bytes; at most {MAX_PURPOSE_BYTES} are allowed",
                self.purpose.len()
            ));
        }
        let n = self.members.len();
        if !(2..=MAX_MEMBERS).contains(&n) {
            return bad(format!(
                "a roster needs 2 to {MAX_MEMBERS} members, this one has {n}"
            ));
        }
        if self.threshold < 2 || self.threshold as usize > n {
            return bad(format!(
                "threshold {} is impossible with {n} members (need 2 <= t <= n)",
                self.threshold
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for m in &self.members {
            if !valid_name(&m.name) {
                return bad(format!(
                    "member name {:?} must be 1-32 characters of a-z, 0-9, '-' or '_'",
                    m.name
                ));
            }
            if !names.insert(m.name.as_str()) {
                return bad(format!("member name {:?} appears twice", m.name));
            }
        }
        Ok(())
    }

    pub fn n(&self) -> u16 {
        self.members.len() as u16
    }

    /// Member ids, 1..=n, in roster order.
    pub fn ids(&self) -> impl Iterator<Item = MemberId> {
        1..=self.n()
    }

    pub fn member(&self, id: MemberId) -> Option<&Member> {
        self.members.get((id as usize).checked_sub(1)?)
    }

    /// The name of a member id, or a placeholder for an id outside the roster.
    pub fn name(&self, id: MemberId) -> String {
        self.member(id)
            .map(|m| m.name.clone())
            .unwrap_or_else(|| format!("member #{id} (not in roster)"))
    }

    /// Every member id held by `npub` (one identity may hold several seats).
    pub fn ids_of(&self, npub: &PublicKey) -> Vec<MemberId> {
        self.ids()
            .filter(|&i| self.members[i as usize - 1].npub == *npub)
            .collect()
    }

    /// Every key holding at least `threshold` seats, with those seats: such a key can
    /// sign alone, so for it the threshold is no protection (the CI layout does this on
    /// purpose; anyone else should never see it).
    pub fn keys_signing_alone(&self) -> Vec<(PublicKey, Vec<MemberId>)> {
        let mut out: Vec<(PublicKey, Vec<MemberId>)> = vec![];
        for m in &self.members {
            if out.iter().any(|(k, _)| *k == m.npub) {
                continue;
            }
            let seats = self.ids_of(&m.npub);
            if seats.len() >= self.threshold as usize {
                out.push((m.npub, seats));
            }
        }
        out
    }

    pub fn id_by_name(&self, name: &str) -> Option<MemberId> {
        self.ids()
            .find(|&i| self.members[i as usize - 1].name == name)
    }

    /// The FROST identifier of a member id.
    pub fn identifier(id: MemberId) -> Identifier {
        Identifier::try_from(id).expect("member ids start at 1")
    }

    /// Maps a FROST identifier back to a member id of this roster.
    pub fn id_of_identifier(&self, ident: &Identifier) -> Option<MemberId> {
        self.ids().find(|&i| Self::identifier(i) == *ident)
    }

    /// SHA-256 over the canonical serialization, domain-separated.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"passport roster v1\0");
        h.update(serde_json::to_vec(self).expect("roster serializes"));
        h.finalize().into()
    }

    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash())
    }

    /// A short fingerprint of the hash for comparing rosters out of band (80 bits).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.hash())
    }
}

/// Groups of four hex digits over the first 10 bytes: `3f2a-91c0-7d1e-44b2-90aa`.
pub fn fingerprint(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..10])
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("hex is ascii"))
        .collect::<Vec<_>>()
        .join("-")
}

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Parses an npub (or 64-hex) public key, as typed by an operator.
pub fn parse_npub(s: &str) -> Result<PublicKey> {
    let s = s.trim();
    let parsed = if s.starts_with("npub1") {
        PublicKey::from_bech32(s).ok()
    } else {
        PublicKey::from_hex(s).ok()
    };
    let pk = parsed.ok_or_else(|| {
        Error::InvalidRoster(format!("{s:?} is not an npub or 64-hex public key"))
    })?;
    // nostr 0.44 keeps any 32 bytes as a key; one that is not an x coordinate on
    // secp256k1 could never sign, and a ceremony naming it would wait forever.
    if pk.xonly().is_err() {
        return Err(Error::InvalidRoster(format!(
            "{s:?} is not a point on secp256k1, so no one holds its secret key"
        )));
    }
    Ok(pk)
}

pub mod npub_serde {
    use super::*;
    pub fn serialize<S: serde::Serializer>(
        k: &PublicKey,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&k.to_bech32().expect("bech32 of a key"))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<PublicKey, D::Error> {
        let s = String::deserialize(d)?;
        parse_npub(&s).map_err(serde::de::Error::custom)
    }
}

pub mod opt_npub_serde {
    use super::*;
    pub fn serialize<S: serde::Serializer>(
        k: &Option<PublicKey>,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        match k {
            Some(k) => npub_serde::serialize(k, s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Option<PublicKey>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| parse_npub(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: usize) -> Vec<Member> {
        (0..n)
            .map(|i| Member {
                // The longest names allowed, distinct.
                name: format!("{i:0>32}"),
                npub: nostr::Keys::generate().public_key(),
            })
            .collect()
    }

    #[test]
    fn purpose_is_limited() {
        let ok = "é".repeat(MAX_PURPOSE_BYTES / 2);
        let mut r = Roster::new(&ok, 2, members(2), None, &mut rand::rngs::OsRng).expect("fits");
        r.purpose.push('x');
        let e = r.validate().expect_err("one byte over");
        assert!(e.to_string().contains("purpose is 1025 bytes"), "{e}");
        let e = Roster::from_json(r.to_json_pretty().as_bytes()).expect_err("over");
        assert!(e.to_string().contains("at most 1024"), "{e}");
    }

    #[test]
    fn the_largest_roster_fits_the_json_limit() {
        let dealer = Some(nostr::Keys::generate().public_key());
        // Control characters escape to six bytes each in JSON.
        let purpose = "\u{1}".repeat(MAX_PURPOSE_BYTES);
        let r = Roster::new(
            &purpose,
            2,
            members(MAX_MEMBERS),
            dealer,
            &mut rand::rngs::OsRng,
        )
        .expect("valid");
        let json = r.to_json_pretty();
        assert!(json.len() < 48 << 10, "{} bytes", json.len());
        assert_eq!(Roster::from_json(json.as_bytes()).expect("parses"), r);
    }

    #[test]
    fn oversize_json_is_refused_unread() {
        let mut big = vec![b' '; MAX_JSON_BYTES + 1];
        big[0] = b'{';
        let e = Roster::from_json(&big).expect_err("too big");
        assert!(e.to_string().contains("at most 65536 bytes"), "{e}");
    }
}
