//! Which packages a ceremony accepts, judged without the database: signature and tags
//! (`envelope::parse`), ceremony, roster and sender (`envelope::check`), the round's
//! fitness for this roster, and the recipient. Each refusal maps to one API error.

use nostr::JsonUtil;

use super::error::ApiError;
use super::problem::{Bad, Misaddressed, Misround, NotCarried, Outsider};
use super::store::{Ceremony, NewPackage, Requires};
use crate::ceremony::Roster;
use crate::envelope::{self, Binding, Bound, Error as E, Round, Sender};

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
#[cfg(test)]
pub fn judge(roster: &Roster, body: &[u8]) -> Result<Judged, ApiError> {
    judge_from(roster, body, false)
}

/// Checks `body` as a package for `roster`; `internal` when the server itself (its
/// bunker) made it, which alone may issue ECDH requests.
#[cfg(test)]
pub fn judge_from(roster: &Roster, body: &[u8], internal: bool) -> Result<Judged, ApiError> {
    judge_bound(&Bound::new(roster), roster, body, internal)
}

/// [`judge_from`] for a stored ceremony: its roster hash is the one stored with it.
pub fn judge_stored(c: &Ceremony, body: &[u8], internal: bool) -> Result<Judged, ApiError> {
    let binding = Binding {
        ceremony: c.roster.ceremony_id.clone(),
        roster_hash: c.roster_hash.clone(),
    };
    let bound = Bound::with_binding(&c.roster, binding);
    judge_bound(&bound, &c.roster, body, internal)
}

fn judge_bound(
    bound: &Bound<'_>,
    roster: &Roster,
    body: &[u8],
    internal: bool,
) -> Result<Judged, ApiError> {
    let (event, meta) = envelope::parse(body).map_err(|e| match e {
        E::TooLarge => ApiError::TooLarge {
            limit: envelope::MAX_PACKAGE_BYTES,
            of: super::error::Body::Package,
        },
        // `parse` refuses a confidential round that is not encrypted to a recipient.
        E::Payload { .. } => ApiError::WrongRecipient(Misaddressed::Package(e)),
        other => ApiError::Malformed(Bad::Package(envelope::name_claimed(other, roster))),
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
    let checked = bound
        .check(event, meta, round, sender)
        .map_err(|e| match e {
            E::WrongCeremony { .. } | E::WrongRoster { .. } => ApiError::WrongCeremony(e),
            E::NotMember(_) | E::WrongSeat { .. } => ApiError::NotAMember(Outsider::Package(e)),
            // No seat claimed by a key outside the roster: say who is not a member.
            E::MissingTag { tag: "member", .. } if roster.ids_of(&signer).is_empty() => {
                ApiError::NotAMember(Outsider::Package(E::NotMember(envelope::short_npub(
                    &signer,
                ))))
            }
            E::WrongRound { .. } => ApiError::WrongRound(Misround::Package(e)),
            other => ApiError::Malformed(Bad::Package(other)),
        })?;
    let name = checked.sender.clone();
    let wrong_round = |why: NotCarried| {
        Err(ApiError::WrongRound(Misround::NotCarried {
            sender: name.clone(),
            round: round.describe(),
            why,
        }))
    };
    match round {
        Round::DealerShare if dealer.is_none() => return wrong_round(NotCarried::NoDealer),
        Round::Dkg1 | Round::Dkg2 | Round::DkgAgree if dealer.is_some() => {
            return wrong_round(NotCarried::HasDealer)
        }
        // A whole share: handed over by file, person to person, never left on a server.
        Round::ShareHandover => return wrong_round(NotCarried::Handover),
        Round::EcdhRequest if !internal => return wrong_round(NotCarried::EcdhOutside),
        _ => {}
    }
    let requires = match round {
        Round::Dkg2 | Round::DkgAgree => Requires::OwnDkg1,
        Round::SignShare => match &checked.meta.reference {
            Some(r) => Requires::Request(r.clone()),
            None => return wrong_round(NotCarried::NoSigningRequest),
        },
        Round::SignRefusal => match &checked.meta.reference {
            Some(r) => Requires::RequestOf(r.clone(), &[Round::SignRequest, Round::EcdhRequest]),
            None => return wrong_round(NotCarried::NoRequest),
        },
        Round::EcdhShare => match &checked.meta.reference {
            Some(r) => Requires::RequestOf(r.clone(), &[Round::EcdhRequest]),
            None => return wrong_round(NotCarried::NoEcdhRequest),
        },
        _ => Requires::Nothing,
    };
    if let Some((pk, seat)) = &checked.meta.to {
        match roster.member(*seat) {
            Some(m) if m.npub == *pk => {}
            Some(m) => {
                return Err(ApiError::WrongRecipient(Misaddressed::OtherKey {
                    sender: name,
                    round: round.describe(),
                    seat: *seat,
                    member: m.name.clone(),
                    key: envelope::short_npub(pk),
                }))
            }
            None => {
                return Err(ApiError::WrongRecipient(Misaddressed::NoSuchSeat {
                    sender: name,
                    round: round.describe(),
                    seat: *seat,
                }))
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

#[cfg(test)]
mod tests {
    use nostr::{JsonUtil, Keys};
    use serde_json::json;

    use super::*;
    use crate::ceremony::Member;
    use crate::envelope::{Binding, Draft};
    use crate::serve::db::Db;
    use crate::serve::store::{self, Inserted};

    struct Fixture {
        roster: Roster,
        alice: Keys,
        bob: Keys,
        bunker: Keys,
    }

    fn fixture() -> Fixture {
        let (alice, bob, bunker) = (Keys::generate(), Keys::generate(), Keys::generate());
        let members = vec![
            Member {
                name: "alice".into(),
                npub: alice.public_key(),
            },
            Member {
                name: "bob".into(),
                npub: bob.public_key(),
            },
        ];
        let roster = Roster::new("t", 2, members, None, &mut rand::rngs::OsRng).expect("roster");
        Fixture {
            roster,
            alice,
            bob,
            bunker,
        }
    }

    fn package(
        f: &Fixture,
        keys: &Keys,
        round: Round,
        seat: Option<u16>,
        e: Option<&str>,
    ) -> Vec<u8> {
        envelope::seal(
            keys,
            Draft {
                binding: &Binding::of(&f.roster),
                round,
                from: seat,
                to: None,
                reference: e.map(str::to_owned),
                // Distinct content, so two packages never share an event id.
                payload: &json!({"request": e, "reason": "no", "n": rand::random::<u64>()}),
            },
        )
        .expect("seal")
        .as_json()
        .into_bytes()
    }

    fn wrong_round(r: Result<Judged, ApiError>) -> String {
        match r {
            Err(e @ ApiError::WrongRound(_)) => e.to_string(),
            Err(e) => panic!("expected wrong-round, got {e}"),
            Ok(_) => panic!("expected wrong-round, got accepted"),
        }
    }

    #[test]
    fn ecdh_requests_come_only_from_the_server_itself() {
        let f = fixture();
        let req = package(&f, &f.bunker, Round::EcdhRequest, None, None);
        let msg = wrong_round(judge(&f.roster, &req));
        assert!(msg.contains("only the bunker"), "{msg}");
        // Nor may a member post one over HTTP.
        let req = package(&f, &f.alice, Round::EcdhRequest, Some(1), None);
        wrong_round(judge(&f.roster, &req));
        let j = judge_from(&f.roster, &req, true).expect("the server's own");
        assert!(!j.unique);
        assert!(matches!(j.requires, Requires::Nothing));
    }

    #[test]
    fn answers_must_name_their_request() {
        let f = fixture();
        for round in [Round::SignRefusal, Round::EcdhShare] {
            let p = package(&f, &f.alice, round, Some(1), None);
            let msg = wrong_round(judge(&f.roster, &p));
            assert!(msg.contains("`e` tag"), "{msg}");
        }
        let p = package(&f, &f.alice, Round::EcdhShare, Some(1), Some("ab12"));
        let j = judge(&f.roster, &p).expect("judged");
        assert!(j.unique);
        assert!(matches!(j.requires, Requires::RequestOf(ref r, rounds)
            if r == "ab12" && rounds == [Round::EcdhRequest]));
        // A refusal from a key outside the roster is refused.
        let p = package(&f, &f.bunker, Round::SignRefusal, Some(1), Some("ab12"));
        assert!(matches!(judge(&f.roster, &p), Err(ApiError::NotAMember(_))));
    }

    #[test]
    fn every_key_making_round_is_fsynced() {
        for round in Round::ALL {
            let key_making = !matches!(
                round,
                Round::SignCommit
                    | Round::SignRequest
                    | Round::SignShare
                    | Round::SignRefusal
                    | Round::EcdhRequest
                    | Round::EcdhShare
            );
            assert_eq!(store::fsynced(round), key_making, "{round:?}");
        }
    }

    #[tokio::test]
    async fn store_links_answers_to_requests_and_tracks_used_commitments() {
        let f = fixture();
        let tmp = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&tmp.path().join("db.sqlite")).expect("open");
        let roster = f.roster.clone();
        let r = db
            .call(move |c| store::create(c, &roster, "00", 1))
            .await
            .expect("create");
        assert!(r.created, "new ceremony");
        let c = r.ceremony;
        let put = |body: Vec<u8>, internal: bool| {
            let (db, c, roster) = (db.clone(), c.clone(), f.roster.clone());
            async move {
                let j = judge_from(&roster, &body, internal).expect("judged");
                store::insert(&db, &c, j.package, j.requires, j.unique, 5)
                    .await
                    .expect("insert")
            }
        };
        let ecdh_req = package(&f, &f.bunker, Round::EcdhRequest, None, None);
        let rid = match put(ecdh_req.clone(), true).await {
            Inserted::Accepted(_) => envelope::parse(&ecdh_req).expect("parse").0.id.to_hex(),
            _ => panic!("accepted"),
        };
        // An ECDH share answering an unknown request, or a signing request, is missing.
        let stray = package(
            &f,
            &f.alice,
            Round::EcdhShare,
            Some(1),
            Some(&"0".repeat(64)),
        );
        assert!(matches!(put(stray, false).await, Inserted::Missing));
        let share = package(&f, &f.alice, Round::EcdhShare, Some(1), Some(&rid));
        assert!(matches!(put(share, false).await, Inserted::Accepted(_)));
        // One per sender and request.
        let again = package(&f, &f.alice, Round::EcdhShare, Some(1), Some(&rid));
        assert!(matches!(put(again, false).await, Inserted::Conflict { .. }));
        // A refusal may answer an ECDH request too.
        let no = package(&f, &f.bob, Round::SignRefusal, Some(2), Some(&rid));
        assert!(matches!(put(no, false).await, Inserted::Accepted(_)));
        let cid = c.id.clone();
        let (replies, posted) = db
            .call(move |conn| {
                Ok((
                    store::replies(conn, &cid, &rid, 0)?,
                    store::last_posted(conn, &cid, &[1, 2, 3])?,
                ))
            })
            .await
            .expect("query");
        assert_eq!(replies.len(), 2);
        // The inserts above (accepted, missing, conflicting) each committed relaxed and
        // set the connection back to synchronous=FULL.
        let sync = db
            .call(|c| c.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)))
            .await
            .expect("pragma");
        assert_eq!(sync, 2, "synchronous=FULL");
        assert_eq!(posted, vec![(1, 5), (2, 5)]);
    }
}
