//! Preprocessed nonces and their commitments, defended against rollback (a copied or
//! restored home signing twice with one nonce):
//!
//! - every nonce records when it was made and until when it may be used, and both the
//!   signer and the coordinator refuse it after that ([`Record`], [`package_expires`]);
//! - a coordinator records each commitment it hands out durably, before the request
//!   leaves, and never hands one out twice ([`claim`]);
//! - `sign commit --discard-all` burns every outstanding nonce ([`discard_all`]).
//!
//! With a token keystore the token itself is also the ledger (see `hsm::once`).

use std::collections::BTreeSet;

use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::Report;
use crate::ceremony::frost::round1::SigningNonces;
use crate::ceremony::MemberId;
use crate::error::{Error, Result, SignError};
use crate::group::Group;
use crate::home::Home;
use crate::keystore;

pub use crate::envelope::payload::sign::{
    package_expires, DEFAULT_VALID_FOR, MAX_VALID_FOR, MIN_VALID_FOR,
};

/// Format of a sealed nonce: magic, created_at and expires_at (u64 big-endian, unix
/// seconds), then the FROST signing nonces.
const MAGIC: &[u8] = b"passport-nonce v2\n";

/// What this home keeps about one preprocessed nonce.
pub struct Record {
    pub created_at: u64,
    pub expires_at: u64,
    pub nonces: SigningNonces,
}

impl Record {
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>> {
        let n = Zeroizing::new(
            self.nonces
                .serialize()
                .map_err(crate::ceremony::Error::frost)?,
        );
        let mut out = Zeroizing::new(Vec::with_capacity(MAGIC.len() + 16 + n.len()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.created_at.to_be_bytes());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        out.extend_from_slice(&n);
        Ok(out)
    }

    pub fn decode(name: &str, bytes: &[u8]) -> Result<Record> {
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            return Err(SignError::NonceUndated { name: name.into() }.into());
        };
        let tampered = || Error::from(keystore::Error::Tampered(name.into()));
        if rest.len() < 16 {
            return Err(tampered());
        }
        let (times, n) = rest.split_at(16);
        let created_at = u64::from_be_bytes(times[..8].try_into().expect("8 bytes"));
        let expires_at = u64::from_be_bytes(times[8..].try_into().expect("8 bytes"));
        let nonces = SigningNonces::deserialize(n).map_err(|_| tampered())?;
        Ok(Record {
            created_at,
            expires_at,
            nonces,
        })
    }

    /// Refuses a nonce past its lifetime (by this home's own record).
    pub fn check_fresh(&self, id: &str, member: &str, now: u64) -> Result<()> {
        if now < self.expires_at {
            return Ok(());
        }
        Err(SignError::CommitmentExpired {
            member: member.into(),
            id: short(id).into(),
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
        .into())
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Parses `--valid-for` (`90m`, `24h`, `7d`; bounded).
pub fn parse_valid_for(s: &str) -> Result<u64> {
    let secs = crate::bunker::policy::parse_duration(s).map_err(SignError::ValidFor)?;
    if !(MIN_VALID_FOR..=MAX_VALID_FOR).contains(&secs) {
        return Err(SignError::ValidForRange {
            given: s.into(),
            min: MIN_VALID_FOR,
            max: MAX_VALID_FOR,
        }
        .into());
    }
    Ok(secs)
}

/// Said by `backup` and `hsm migrate`: why a restored copy of a home is dangerous.
pub const SNAPSHOT_WARNING: &str = "never restore a home from a snapshot or an old copy and sign with it: its preprocessed nonces may already be used, and two signature shares from one nonce reveal the share. After any restore run `passport sign commit --discard-all` (see README, \"Nonces and snapshots\")";

// --- the coordinator's record of handed-out commitments -------------------------------

/// One file per commitment handed out, named by a hash of (seat, id) so that a
/// member-chosen id never becomes a path.
fn claim_rel(group: &Group, seat: MemberId, id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"passport-commitment-claim v1\0");
    h.update(seat.to_string().as_bytes());
    h.update(b"\0");
    h.update(id.as_bytes());
    format!(
        "sign/{}/used/{}",
        group.id(),
        hex::encode(&h.finalize()[..16])
    )
}

/// The commitment ids recorded by passport versions that kept one list per group.
pub fn legacy_used(home: &Home, group: &Group) -> Result<BTreeSet<String>> {
    Ok(home
        .read_state(&format!("sign/{}/used-commitments.json", group.id()))?
        .unwrap_or_default())
}

/// Whether this home already handed out `seat`'s commitment `id`.
pub fn is_claimed(home: &Home, group: &Group, seat: MemberId, id: &str) -> bool {
    home.state_path(&claim_rel(group, seat, id)).exists()
}

/// Records durably that `seat`'s commitment `id` goes out in `request`. The file is
/// created no-clobber (link(2)) and synced, so of two coordinators racing in one home only
/// one can claim a commitment, and a restart still knows it.
pub fn claim(home: &Home, group: &Group, seat: MemberId, id: &str, request: &str) -> Result<()> {
    let path = home.state_path(&claim_rel(group, seat, id));
    let record = serde_json::json!({ "seat": seat, "commitment": id, "request": request });
    match crate::fsutil::write_atomic(&path, record.to_string().as_bytes(), false) {
        Err(crate::fsutil::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            Err(SignError::CommitmentTaken {
                member: group.roster.name(seat),
                id: short(id).into(),
            }
            .into())
        }
        r => Ok(r?),
    }
}

// --- sign commit --discard-all ----------------------------------------------------------

#[derive(Serialize)]
pub struct DiscardReport {
    /// Outstanding nonces burned in this home.
    pub discarded: usize,
    /// One-time token objects destroyed (token keystores).
    pub token_objects_destroyed: usize,
    /// Groups (npub, or key hex when the group file is gone) whose nonces were burned.
    pub groups: Vec<String>,
    pub keystore: String,
}

impl Report for DiscardReport {
    fn human(&self) -> String {
        let mut s = format!(
            "discarded {} outstanding nonce(s) of this home; their commitments can never be used",
            self.discarded
        );
        if self.token_objects_destroyed > 0 {
            s.push_str(&format!(
                "\n  destroyed {} one-time object(s) on {}",
                self.token_objects_destroyed, self.keystore
            ));
        }
        for g in &self.groups {
            s.push_str(&format!("\n  group {g}"));
        }
        s.push_str("\n  commit again (`passport sign commit`) before the next signing");
        s
    }
}

/// Burns every outstanding nonce of this home (of one group, or one seat of it), e.g.
/// after restoring the home from a snapshot.
pub fn discard_all(
    home: &Home,
    group: Option<&str>,
    member: Option<&str>,
) -> Result<DiscardReport> {
    let filter: Option<(String, Option<MemberId>)> =
        match (group, member) {
            (None, Some(_)) => return Err(SignError::MemberNeedsGroup.into()),
            (None, None) => None,
            (Some(g), m) => {
                let group = home.find_group(g)?;
                let seat =
                    match m {
                        Some(m) => Some(group.roster.id_by_name(m).ok_or_else(|| {
                            SignError::NotMemberOf {
                                name: m.into(),
                                npub: group.npub.clone(),
                            }
                        })?),
                        None => None,
                    };
                Some((group.id(), seat))
            }
        };
    let ks = home.keystore();
    let mut names = vec![];
    let mut gids = BTreeSet::new();
    for name in ks.all_names()? {
        let Some((gid, seat)) = name
            .strip_prefix("nonces/")
            .and_then(|r| r.split_once('/'))
            .and_then(|(dir, _)| dir.rsplit_once('.'))
            .and_then(|(g, s)| Some((g.to_owned(), s.parse::<MemberId>().ok()?)))
        else {
            continue;
        };
        if let Some((want, want_seat)) = &filter {
            if *want != gid || want_seat.is_some_and(|s| s != seat) {
                continue;
            }
        }
        gids.insert(gid);
        names.push(name);
    }
    let (burned, problem) = ks.burn_all(&names)?;
    if let Some(source) = problem {
        return Err(SignError::BurnPending {
            burned: burned.burned,
            pending: burned.pending,
            source,
        }
        .into());
    }
    Ok(DiscardReport {
        discarded: burned.burned,
        token_objects_destroyed: burned.destroyed,
        groups: gids
            .into_iter()
            .map(|g| home.find_group(&g).map_or(g, |grp| grp.npub))
            .collect(),
        keystore: ks.sealer().describe(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_lifetimes_default_and_are_capped() {
        assert_eq!(package_expires(1000, None), 1000 + DEFAULT_VALID_FOR);
        assert_eq!(package_expires(1000, Some(60)), 1060);
        assert_eq!(package_expires(1000, Some(u64::MAX)), 1000 + MAX_VALID_FOR);
        assert_eq!(package_expires(u64::MAX, Some(60)), u64::MAX);
    }

    #[test]
    fn valid_for_is_parsed_and_bounded() {
        assert_eq!(parse_valid_for("24h").unwrap(), 86_400);
        assert_eq!(parse_valid_for("90m").unwrap(), 5400);
        for bad in ["0", "59s", "31d", "soon", "-1h", "99999999999999999999d"] {
            assert!(parse_valid_for(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_nonce_record_round_trips_and_legacy_bytes_are_refused() {
        use crate::ceremony::frost::keys::{generate_with_dealer, IdentifierList};
        use crate::ceremony::frost::round1;
        let mut rng = rand::rngs::OsRng;
        let (shares, _) = generate_with_dealer(3, 2, IdentifierList::Default, rng).unwrap();
        let share = shares.into_values().next().unwrap();
        let key = crate::ceremony::frost::keys::KeyPackage::try_from(share).unwrap();
        let (nonces, _) = round1::commit(key.signing_share(), &mut rng);
        let r = Record {
            created_at: 10,
            expires_at: 20,
            nonces,
        };
        let bytes = r.encode().unwrap();
        let back = Record::decode("n", &bytes).unwrap();
        assert_eq!((back.created_at, back.expires_at), (10, 20));
        assert!(back.nonces == r.nonces);
        assert!(back.check_fresh("id", "alice", 19).is_ok());
        let e = back.check_fresh("id", "alice", 20).unwrap_err().to_string();
        assert!(e.contains("expired at 1970-01-01T00:00:20Z"), "{e}");
        assert!(e.contains("valid for 10s"), "{e}");
        let legacy = r.nonces.serialize().unwrap();
        let e = Record::decode("n", &legacy).err().unwrap().to_string();
        assert!(e.contains("older passport"), "{e}");
        assert!(Record::decode("n", &bytes[..MAGIC.len() + 3]).is_err());
    }
}
