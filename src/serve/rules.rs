//! Which packages a ceremony accepts, judged without the database: signature and tags
//! (`envelope::parse`), ceremony, roster and sender (`envelope::check`), the round's
//! fitness for this roster, and the recipient. Each refusal maps to one API error.

use nostr::JsonUtil;

use super::error::ApiError;
use super::store::{NewPackage, Requires};
use crate::ceremony::Roster;
use crate::envelope::{self, Error as E, Round, Sender};

/// A package that passed every check the store does not need to make.
pub struct Judged {
    pub package: NewPackage,
    pub requires: Requires,
    /// One package per sender, round, recipient and reference.
    pub unique: bool,
    /// The sender by roster name, for messages.
    pub sender: String,
}

/// Checks `body` as a package for `roster`, posted over HTTP.
pub fn judge(roster: &Roster, body: &[u8]) -> Result<Judged, ApiError> {
    judge_from(roster, body, false)
}

/// Checks `body` as a package for `roster`; `internal` when the server itself (its
/// bunker) made it, which alone may issue ECDH requests.
pub fn judge_from(roster: &Roster, body: &[u8], internal: bool) -> Result<Judged, ApiError> {
    let (event, meta) = envelope::parse(body).map_err(|e| match e {
        E::TooLarge => ApiError::TooLarge {
            limit: envelope::MAX_PACKAGE_BYTES,
        },
        // `parse` refuses a confidential round that is not encrypted to a recipient.
        E::Payload { .. } => ApiError::WrongRecipient(e.to_string()),
        other => ApiError::Malformed(envelope::name_claimed(other, roster).to_string()),
    })?;
    let round = meta.round;
    let dealer = roster.dealer;
    let sender = match (round, &dealer) {
        (Round::DealerShare, Some(d)) => Sender::Key(d, "dealer"),
        (Round::SignRequest | Round::EcdhRequest, _) => Sender::Anyone,
        // A dealer share without a dealer is judged as a member's, then refused below
        // as the wrong round: ceremony and membership complaints come first.
        _ => Sender::Member,
    };
    let signer = event.pubkey;
    let checked = envelope::check(roster, event, meta, round, sender).map_err(|e| match e {
        E::WrongCeremony { .. } | E::WrongRoster { .. } => ApiError::WrongCeremony(e.to_string()),
        E::NotMember(_) | E::WrongSeat { .. } => ApiError::NotAMember(e.to_string()),
        // No seat claimed by a key outside the roster: say who is not a member.
        E::MissingTag { tag: "member", .. } if roster.ids_of(&signer).is_empty() => {
            ApiError::NotAMember(E::NotMember(envelope::short_npub(&signer)).to_string())
        }
        E::WrongRound { .. } => ApiError::WrongRound(e.to_string()),
        other => ApiError::Malformed(other.to_string()),
    })?;
    let name = checked.sender.clone();
    let wrong_round = |why: String| {
        Err(ApiError::WrongRound(format!(
            "{name} sent a {}, but {why}",
            round.describe()
        )))
    };
    match round {
        Round::DealerShare if dealer.is_none() => {
            return wrong_round("this roster has no dealer".into())
        }
        Round::Dkg1 | Round::Dkg2 | Round::DkgAgree if dealer.is_some() => {
            return wrong_round("this roster has a dealer, so it runs no DKG".into())
        }
        Round::EcdhRequest if !internal => {
            return wrong_round(
                "only the bunker inside `passport serve` issues ECDH requests".into(),
            )
        }
        _ => {}
    }
    let requires = match round {
        Round::Dkg2 | Round::DkgAgree => Requires::OwnDkg1,
        Round::SignShare => match &checked.meta.reference {
            Some(r) => Requires::Request(r.clone()),
            None => return wrong_round("it names no signing request (`e` tag)".into()),
        },
        Round::SignRefusal => match &checked.meta.reference {
            Some(r) => Requires::RequestOf(r.clone(), &[Round::SignRequest, Round::EcdhRequest]),
            None => return wrong_round("it names no request (`e` tag)".into()),
        },
        Round::EcdhShare => match &checked.meta.reference {
            Some(r) => Requires::RequestOf(r.clone(), &[Round::EcdhRequest]),
            None => return wrong_round("it names no ECDH request (`e` tag)".into()),
        },
        _ => Requires::Nothing,
    };
    if let Some((pk, seat)) = &checked.meta.to {
        match roster.member(*seat) {
            Some(m) if m.npub == *pk => {}
            Some(m) => {
                return Err(ApiError::WrongRecipient(format!(
                    "{name}'s {} is addressed to seat {seat} ({}) but encrypted for {}, \
                     which is not {}'s key",
                    round.describe(),
                    m.name,
                    envelope::short_npub(pk),
                    m.name
                )))
            }
            None => {
                return Err(ApiError::WrongRecipient(format!(
                    "{name}'s {} is addressed to seat {seat}, which is not in the roster",
                    round.describe()
                )))
            }
        }
    }
    let event = &checked.event;
    // Only a seat the signer really holds counts as the sender's seat.
    let seat = checked
        .from
        .filter(|&s| roster.member(s).is_some_and(|m| m.npub == event.pubkey))
        .unwrap_or(0);
    let package = NewPackage {
        event_id: event.id.to_hex(),
        round,
        sender: event.pubkey.to_hex(),
        seat,
        to_pubkey: checked.meta.to.as_ref().map(|(pk, _)| pk.to_hex()),
        to_seat: checked.meta.to.as_ref().map_or(0, |(_, s)| *s),
        reference: checked.meta.reference.clone(),
        event_json: event.as_json(),
    };
    Ok(Judged {
        package,
        requires,
        unique: !matches!(
            round,
            Round::SignCommit | Round::SignRequest | Round::EcdhRequest
        ),
        sender: name,
    })
}
