//! Judging a parsed package against a roster (ceremony, roster, sender, round) and
//! opening its payload.

use nostr::{Event, Keys, PublicKey};
use serde::de::DeserializeOwned;

use super::{short_npub, Binding, Error, Meta, Result, Round};
use crate::ceremony::{MemberId, Roster};

/// A package checked against a roster.
pub struct Checked {
    pub event: Event,
    pub meta: Meta,
    /// The sender's seat (members only).
    pub from: Option<MemberId>,
    /// How to name the sender in messages.
    pub sender: String,
}

/// Who may sign a package.
pub enum Sender<'a> {
    /// A roster member, who must hold the seat in the `member` tag.
    Member,
    /// A specific key (the dealer).
    Key(&'a PublicKey, &'a str),
    /// Anyone (a signing coordinator; members judge the request itself).
    Anyone,
}

/// Checks ceremony, roster, round and sender of a parsed package, in that order, so
/// the first complaint is the most useful one.
pub fn check(
    roster: &Roster,
    event: Event,
    meta: Meta,
    expected: Round,
    sender: Sender<'_>,
) -> Result<Checked> {
    Bound::new(roster).check(event, meta, expected, sender)
}

/// A roster with its binding computed once: the roster hash serializes the whole roster
/// (a bech32 encoding per member), so a loop over many packages checks against this.
pub struct Bound<'a> {
    roster: &'a Roster,
    binding: Binding,
}

impl<'a> Bound<'a> {
    pub fn new(roster: &'a Roster) -> Self {
        Bound {
            roster,
            binding: Binding::of(roster),
        }
    }

    /// With a binding the caller computed before for this roster (`Binding::of`), e.g.
    /// serve's stored roster hash, which it would otherwise recompute for every post.
    pub fn with_binding(roster: &'a Roster, binding: Binding) -> Self {
        debug_assert_eq!(binding, Binding::of(roster), "a binding of another roster");
        Bound { roster, binding }
    }

    /// [`check`], against this roster.
    pub fn check(
        &self,
        event: Event,
        meta: Meta,
        expected: Round,
        sender: Sender<'_>,
    ) -> Result<Checked> {
        let (roster, expected_binding) = (self.roster, &self.binding);
        let signer = || short_npub(&event.pubkey);
        let known = roster.ids_of(&event.pubkey);
        let name = match (&sender, known.first()) {
            (Sender::Key(pk, label), _) if **pk == event.pubkey => (*label).to_owned(),
            (_, Some(&id)) => roster.name(id),
            _ => signer(),
        };
        if meta.binding.ceremony != expected_binding.ceremony {
            return Err(Error::WrongCeremony {
                from: name,
                got: meta.binding.ceremony.clone(),
                expected: expected_binding.ceremony.clone(),
            });
        }
        if meta.binding.roster_hash != expected_binding.roster_hash {
            return Err(Error::WrongRoster {
                from: name,
                got: crate::ceremony::roster::fingerprint(&hash_from_hex(
                    &meta.binding.roster_hash,
                )),
                expected: roster.fingerprint(),
            });
        }
        let from = match sender {
            Sender::Member => {
                let seat = meta.member.ok_or(Error::MissingTag {
                    from: name.clone(),
                    tag: "member",
                })?;
                if known.is_empty() {
                    return Err(Error::NotMember(signer()));
                }
                match roster.member(seat) {
                    Some(m) if m.npub == event.pubkey => Some(seat),
                    Some(m) => {
                        return Err(Error::WrongSeat {
                            seat: m.name.clone(),
                            signer: name,
                        })
                    }
                    None => {
                        return Err(Error::WrongSeat {
                            seat: format!("seat #{seat}"),
                            signer: name,
                        })
                    }
                }
            }
            Sender::Key(pk, label) => {
                if *pk != event.pubkey {
                    return Err(Error::WrongSeat {
                        seat: label.to_owned(),
                        signer: name,
                    });
                }
                meta.member
            }
            Sender::Anyone => meta
                .member
                .filter(|&s| roster.member(s).is_some_and(|m| m.npub == event.pubkey)),
        };
        let name = match from {
            Some(seat) => roster.name(seat),
            None => name,
        };
        if meta.round != expected {
            return Err(Error::WrongRound {
                from: name,
                got: meta.round.describe(),
                expected: expected.describe(),
            });
        }
        Ok(Checked {
            event,
            meta,
            from,
            sender: name,
        })
    }
}

fn hash_from_hex(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(b) = hex::decode(s) {
        let n = b.len().min(32);
        out[..n].copy_from_slice(&b[..n]);
    }
    out
}

impl Checked {
    /// True when the package is addressed to `pk` in seat `seat`.
    pub fn is_for(&self, pk: &PublicKey, seat: MemberId) -> bool {
        matches!(&self.meta.to, Some((p, s)) if p == pk && *s == seat)
    }

    /// Fails unless the package is addressed to `keys` in seat `seat`.
    pub fn require_for(&self, roster: &Roster, keys: &Keys, seat: MemberId) -> Result<()> {
        if self.is_for(&keys.public_key(), seat) {
            return Ok(());
        }
        let to = match &self.meta.to {
            Some((_, s)) => roster.name(*s),
            None => "everyone".into(),
        };
        Err(Error::NotForMe {
            from: self.sender.clone(),
            to,
        })
    }

    /// The payload: decrypted with `keys` for confidential rounds, then parsed.
    pub fn payload<T: DeserializeOwned>(&self, keys: Option<&Keys>) -> Result<T> {
        let json = if self.meta.encrypted {
            let keys = keys.ok_or_else(|| Error::Decrypt {
                from: self.sender.clone(),
                detail: "no identity key available".into(),
            })?;
            crate::conversation::pairs::decrypt(keys, &self.event.pubkey, &self.event.content)
                .map_err(|e| Error::Decrypt {
                    from: self.sender.clone(),
                    detail: e.to_string(),
                })?
        } else {
            self.event.content.clone()
        };
        let json = zeroize::Zeroizing::new(json);
        serde_json::from_str(&json).map_err(|e| Error::Payload {
            from: self.sender.clone(),
            detail: e.to_string(),
        })
    }
}
