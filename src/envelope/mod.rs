//! Round packages as signed Nostr events.
//!
//! Every package that crosses a boundary is a kind-7707 event signed by the sender's
//! identity key. Tags bind it to a ceremony (`c`), a roster hash (`roster`), a round
//! (`round`), the sender's seat (`member`) and, for addressed packages, the recipient
//! (`p` + `to`). Confidential rounds carry NIP-44 v2 ciphertext in `content`.
//! A regular (not ephemeral) kind, so relays keep packages until members fetch them.

use nostr::nips::nip44;
use nostr::{Event, EventBuilder, JsonUtil, Keys, Kind, PublicKey, Tag, ToBech32};
use serde::{de::DeserializeOwned, Serialize};

use crate::ceremony::{MemberId, Roster};

pub mod payload;

pub const PACKAGE_KIND: u16 = 7707;
pub const FORMAT_VERSION: &str = "1";
/// Packages larger than this are refused before parsing (a DKG round-1 package for
/// 255 members is well under 64 KiB).
pub const MAX_PACKAGE_BYTES: usize = 4 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    DealerShare,
    Dkg1,
    Dkg2,
    DkgAgree,
    SignCommit,
    SignRequest,
    SignShare,
    RefreshOne,
    RefreshTwo,
    RepairDelta,
    RepairSigma,
    /// A co-signer declines a signing or ECDH request (payload `{request, reason}`).
    SignRefusal,
    /// The bunker asks t co-signers for s_i·P (payload `{group, peer, context, signers, method}`).
    EcdhRequest,
    /// A co-signer's s_i·P with its DLEQ proof, NIP-44 encrypted inside the payload to the
    /// request's author (payload `{request, share}`).
    EcdhShare,
    /// A member's own share, NIP-44 encrypted to the member who will reconstruct the key
    /// with `recover-nsec` (payload [`payload::handover::Payload`]).
    ShareHandover,
}

impl Round {
    pub const ALL: [Round; 15] = [
        Round::DealerShare,
        Round::Dkg1,
        Round::Dkg2,
        Round::DkgAgree,
        Round::SignCommit,
        Round::SignRequest,
        Round::SignShare,
        Round::RefreshOne,
        Round::RefreshTwo,
        Round::RepairDelta,
        Round::RepairSigma,
        Round::SignRefusal,
        Round::EcdhRequest,
        Round::EcdhShare,
        Round::ShareHandover,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Round::DealerShare => "dealer-share",
            Round::Dkg1 => "dkg-1",
            Round::Dkg2 => "dkg-2",
            Round::DkgAgree => "dkg-agree",
            Round::SignCommit => "sign-commit",
            Round::SignRequest => "sign-request",
            Round::SignShare => "sign-share",
            Round::RefreshOne => "refresh-1",
            Round::RefreshTwo => "refresh-2",
            Round::RepairDelta => "repair-delta",
            Round::RepairSigma => "repair-sigma",
            Round::SignRefusal => "sign-refusal",
            Round::EcdhRequest => "ecdh-request",
            Round::EcdhShare => "ecdh-share",
            Round::ShareHandover => "share-handover",
        }
    }

    pub fn parse(s: &str) -> Option<Round> {
        Round::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Rounds whose payload carries secret material and is NIP-44 encrypted.
    pub fn confidential(self) -> bool {
        matches!(
            self,
            Round::DealerShare
                | Round::Dkg2
                | Round::RefreshTwo
                | Round::RepairDelta
                | Round::RepairSigma
                | Round::ShareHandover
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            Round::DealerShare => "dealer share package",
            Round::Dkg1 => "DKG round-1 package",
            Round::Dkg2 => "DKG round-2 package",
            Round::DkgAgree => "DKG agreement package",
            Round::SignCommit => "signing commitment package",
            Round::SignRequest => "signing request",
            Round::SignShare => "signature share package",
            Round::RefreshOne => "refresh round-1 package",
            Round::RefreshTwo => "refresh round-2 package",
            Round::RepairDelta => "repair delta package",
            Round::RepairSigma => "repair sigma package",
            Round::SignRefusal => "refusal",
            Round::EcdhRequest => "ECDH request",
            Round::EcdhShare => "ECDH share package",
            Round::ShareHandover => "share hand-over package (for recover-nsec)",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a passport package: {0}")]
    NotAPackage(String),
    #[error("package is larger than {MAX_PACKAGE_BYTES} bytes; refusing to parse it")]
    TooLarge,
    #[error(
        "forged or tampered package: the event id or signature claimed by {claimed} does not verify"
    )]
    BadSignature {
        /// Who the package claims to be from (unverified).
        claimed: String,
        signer: PublicKey,
    },
    #[error("package from {from} uses format version {got}; this passport reads version {FORMAT_VERSION}")]
    Version { from: String, got: String },
    #[error("package from {from} has no valid {tag:?} tag")]
    MissingTag { from: String, tag: &'static str },
    #[error("package signed by {0}, who is not a member of this roster")]
    NotMember(String),
    #[error(
        "package claims to come from {seat} but is signed by {signer}, who does not hold that seat"
    )]
    WrongSeat { seat: String, signer: String },
    #[error("package from {from} belongs to ceremony {got}, not to this ceremony ({expected})")]
    WrongCeremony {
        from: String,
        got: String,
        expected: String,
    },
    #[error("package from {from} binds roster {got}, not this roster ({expected}): the members disagree on the roster")]
    WrongRoster {
        from: String,
        got: String,
        expected: String,
    },
    #[error("package from {from} is a {got}, expected a {expected}")]
    WrongRound {
        from: String,
        got: &'static str,
        expected: &'static str,
    },
    #[error("package from {from} is addressed to {to}, not to you")]
    NotForMe { from: String, to: String },
    #[error("package from {from} cannot be decrypted with your identity key: {detail}")]
    Decrypt { from: String, detail: String },
    #[error("package from {from} carries an invalid payload: {detail}")]
    Payload { from: String, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a package belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub ceremony: String,
    pub roster_hash: String,
}

impl Binding {
    pub fn of(roster: &Roster) -> Self {
        Binding {
            ceremony: roster.ceremony_id.clone(),
            roster_hash: roster.hash_hex(),
        }
    }
}

/// The routing fields of a package, read from its tags.
#[derive(Clone, Debug)]
pub struct Meta {
    pub round: Round,
    pub binding: Binding,
    /// The sender's seat, when the sender is a member.
    pub member: Option<MemberId>,
    /// The recipient's key and seat, for addressed packages.
    pub to: Option<(PublicKey, MemberId)>,
    /// A referenced package id (a signature share names its request).
    pub reference: Option<String>,
    pub encrypted: bool,
}

/// What to put in a new package.
pub struct Draft<'a, T: Serialize> {
    pub binding: &'a Binding,
    pub round: Round,
    pub from: Option<MemberId>,
    pub to: Option<(PublicKey, MemberId)>,
    pub reference: Option<String>,
    pub payload: &'a T,
}

fn tag(fields: &[&str]) -> Tag {
    Tag::parse(fields.iter().copied()).expect("non-empty tag")
}

/// Signs (and, for confidential rounds, encrypts) a package.
pub fn seal<T: Serialize>(keys: &Keys, draft: Draft<'_, T>) -> Result<Event> {
    // Confidential payloads carry secret shares: keep the plaintext in zeroizing memory.
    let json =
        zeroize::Zeroizing::new(serde_json::to_string(draft.payload).expect("payloads serialize"));
    let mut tags = vec![
        tag(&["passport", FORMAT_VERSION]),
        tag(&["c", &draft.binding.ceremony]),
        tag(&["roster", &draft.binding.roster_hash]),
        tag(&["round", draft.round.as_str()]),
    ];
    if let Some(m) = draft.from {
        tags.push(tag(&["member", &m.to_string()]));
    }
    if let Some((pk, seat)) = &draft.to {
        tags.push(tag(&["p", &pk.to_hex()]));
        tags.push(tag(&["to", &seat.to_string()]));
    }
    if let Some(r) = &draft.reference {
        tags.push(tag(&["e", r]));
    }
    let content = if draft.round.confidential() {
        let (pk, _) = draft
            .to
            .as_ref()
            .expect("confidential packages are addressed");
        tags.push(tag(&["enc", "nip44"]));
        nip44::encrypt(keys.secret_key(), pk, json.as_bytes(), nip44::Version::V2).map_err(|e| {
            Error::Payload {
                from: "you".into(),
                detail: e.to_string(),
            }
        })?
    } else {
        json.to_string()
    };
    // One identity may hold several seats, so a package can be addressed to its own
    // author's key; nostr's builder would otherwise drop that `p` tag.
    EventBuilder::new(Kind::from(PACKAGE_KIND), content)
        .allow_self_tagging()
        .tags(tags)
        .sign_with_keys(keys)
        .map_err(|e| Error::Payload {
            from: "you".into(),
            detail: e.to_string(),
        })
}

/// Short form of a key for messages: `npub1abcd…wxyz`.
pub fn short_npub(pk: &PublicKey) -> String {
    let s = pk.to_bech32().expect("bech32");
    format!("{}…{}", &s[..12], &s[s.len() - 6..])
}

/// Names the claimed sender of a forged package by roster name when it is a member.
pub fn name_claimed(e: Error, roster: &Roster) -> Error {
    match e {
        Error::BadSignature { claimed, signer } => match roster.ids_of(&signer).first() {
            Some(&id) => Error::BadSignature {
                claimed: format!("{} ({claimed})", roster.name(id)),
                signer,
            },
            None => Error::BadSignature { claimed, signer },
        },
        other => other,
    }
}

/// Parses bytes as a signed package event and verifies its id and signature.
pub fn parse(bytes: &[u8]) -> Result<(Event, Meta)> {
    if bytes.len() > MAX_PACKAGE_BYTES {
        return Err(Error::TooLarge);
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| Error::NotAPackage("not UTF-8 text".into()))?;
    let event = Event::from_json(text.trim()).map_err(|e| {
        let what = if text.trim().is_empty() {
            "empty file".to_string()
        } else {
            format!("not a Nostr event ({e})")
        };
        Error::NotAPackage(what)
    })?;
    if event.kind != Kind::from(PACKAGE_KIND) {
        return Err(Error::NotAPackage(format!(
            "event kind {} is not {PACKAGE_KIND}",
            event.kind.as_u16()
        )));
    }
    let signer = short_npub(&event.pubkey);
    if event.verify().is_err() {
        return Err(Error::BadSignature {
            claimed: signer,
            signer: event.pubkey,
        });
    }
    let meta = read_meta(&event, &signer)?;
    Ok((event, meta))
}

fn tag_value<'a>(event: &'a Event, name: &str) -> Option<&'a str> {
    event.tags.iter().find_map(|t| {
        let s = t.as_slice();
        (s.len() >= 2 && s[0] == name).then(|| s[1].as_str())
    })
}

fn read_meta(event: &Event, from: &str) -> Result<Meta> {
    let missing = |tag| Error::MissingTag {
        from: from.to_owned(),
        tag,
    };
    let version = tag_value(event, "passport").ok_or_else(|| missing("passport"))?;
    if version != FORMAT_VERSION {
        return Err(Error::Version {
            from: from.to_owned(),
            got: version.to_owned(),
        });
    }
    let round = tag_value(event, "round")
        .and_then(Round::parse)
        .ok_or_else(|| missing("round"))?;
    let ceremony = tag_value(event, "c")
        .ok_or_else(|| missing("c"))?
        .to_owned();
    let roster_hash = tag_value(event, "roster")
        .ok_or_else(|| missing("roster"))?
        .to_owned();
    let member = match tag_value(event, "member") {
        Some(v) => Some(
            v.parse::<MemberId>()
                .ok()
                .filter(|&m| m >= 1)
                .ok_or_else(|| missing("member"))?,
        ),
        None => None,
    };
    let to = match tag_value(event, "p") {
        Some(p) => {
            let pk = PublicKey::from_hex(p).map_err(|_| missing("p"))?;
            let seat = tag_value(event, "to")
                .and_then(|v| v.parse::<MemberId>().ok())
                .filter(|&m| m >= 1)
                .ok_or_else(|| missing("to"))?;
            Some((pk, seat))
        }
        None => None,
    };
    let encrypted = tag_value(event, "enc") == Some("nip44");
    if round.confidential() && (!encrypted || to.is_none()) {
        return Err(Error::Payload {
            from: from.to_owned(),
            detail: format!("a {} must be encrypted to its recipient", round.describe()),
        });
    }
    Ok(Meta {
        round,
        binding: Binding {
            ceremony,
            roster_hash,
        },
        member,
        to,
        reference: tag_value(event, "e").map(str::to_owned),
        encrypted,
    })
}

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
    let signer = short_npub(&event.pubkey);
    let known = roster.ids_of(&event.pubkey);
    let name = match (&sender, known.first()) {
        (Sender::Key(pk, label), _) if **pk == event.pubkey => (*label).to_owned(),
        (_, Some(&id)) => roster.name(id),
        _ => signer.clone(),
    };
    let expected_binding = Binding::of(roster);
    if meta.binding.ceremony != expected_binding.ceremony {
        return Err(Error::WrongCeremony {
            from: name,
            got: meta.binding.ceremony.clone(),
            expected: expected_binding.ceremony,
        });
    }
    if meta.binding.roster_hash != expected_binding.roster_hash {
        return Err(Error::WrongRoster {
            from: name,
            got: crate::ceremony::roster::fingerprint(&hash_from_hex(&meta.binding.roster_hash)),
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
                return Err(Error::NotMember(signer));
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
            nip44::decrypt(keys.secret_key(), &self.event.pubkey, &self.event.content).map_err(
                |e| Error::Decrypt {
                    from: self.sender.clone(),
                    detail: e.to_string(),
                },
            )?
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
