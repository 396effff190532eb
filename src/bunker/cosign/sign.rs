//! Signing through co-signers: t seats with unused commitments, a `sign-request`
//! whose commitments are marked used first (all or none), `sign-share`s aggregated.

use std::collections::BTreeMap;

use nostr::{Event, JsonUtil, UnsignedEvent};

use super::{BoxFut, Cosigners, Error, Job, Result, COMMIT_WINDOW};
use crate::bunker::store;
use crate::ceremony::{frost, signing, MemberId};
use crate::envelope::payload::sign::{CommitEntry, CommitPayload, RequestPayload, SharePayload};
use crate::envelope::{Checked, Round};
use crate::events::Message;
use crate::serve::door;

pub(super) struct SignJob {
    unsigned: UnsignedEvent,
    message: Message,
    /// The commitments of the last candidates.
    avail: BTreeMap<MemberId, CommitEntry>,
    /// The signing package of the last request.
    package: Option<frost::SigningPackage>,
}

impl SignJob {
    pub(super) fn new(unsigned: UnsignedEvent) -> SignJob {
        let message = Message::Event {
            event: unsigned.clone(),
        };
        SignJob {
            unsigned,
            message,
            avail: BTreeMap::new(),
            package: None,
        }
    }
}

impl Job for SignJob {
    type Share = frost::round2::SignatureShare;
    type Output = Event;
    const ANSWER: Round = Round::SignShare;
    const UNREADABLE: &'static str = "sent an unreadable signature share";
    const INVALID: &'static str = "sent an invalid signature share";

    fn what(&self) -> String {
        "sign".into()
    }

    fn label(&self) -> &str {
        "sign_event"
    }

    fn candidates<'a>(&'a mut self, co: &'a Cosigners) -> BoxFut<'a, Result<Vec<MemberId>>> {
        Box::pin(async move {
            self.avail = available(co).await?;
            co.rank(self.avail.keys().copied().collect()).await
        })
    }

    fn request<'a>(
        &'a mut self,
        co: &'a Cosigners,
        chosen: &'a [MemberId],
    ) -> BoxFut<'a, Result<Option<Event>>> {
        Box::pin(async move {
            let group = &co.group;
            let commitments = chosen
                .iter()
                .map(|s| (*s, self.avail[s].commitments))
                .collect();
            let ids: BTreeMap<MemberId, String> = chosen
                .iter()
                .map(|s| (*s, self.avail[s].id.clone()))
                .collect();
            let package =
                signing::signing_package(&group.roster, &commitments, &self.message.bytes())?;
            let payload = RequestPayload {
                group: group.npub.clone(),
                message: self.message.clone(),
                signing_package: package.clone(),
                commitment_ids: ids.clone(),
            };
            let request = co.seal(Round::SignRequest, &payload)?;
            let (cid, rid) = (co.ceremony.id.clone(), request.id.to_hex());
            let used: Vec<(u16, String)> = ids.into_iter().collect();
            let now = crate::bunker::unix_now();
            let fresh = co
                .door
                .db()
                .call(move |c| store::mark_used(c, &cid, &used, &rid, now))
                .await?;
            // Not fresh: another request took one of these commitments first.
            self.package = Some(package);
            Ok(fresh.then_some(request))
        })
    }

    fn open(&self, _: &Cosigners, answer: &Checked, request: &Event) -> Option<Self::Share> {
        match answer.payload::<SharePayload>(None) {
            Ok(p) if p.request == request.id.to_hex() => Some(p.share),
            _ => None,
        }
    }

    fn combine(&self, co: &Cosigners, shares: &BTreeMap<MemberId, Self::Share>) -> Result<Event> {
        let package = self
            .package
            .as_ref()
            .ok_or_else(|| Error::Internal("no signing package".into()))?;
        let group = &co.group;
        let sig = signing::aggregate(&group.roster, package, shares, &group.public_key_package)?;
        // events::finish_aggregate checks the signature with libsecp256k1.
        crate::events::finish_aggregate(self.unsigned.clone(), &sig).map_err(Error::signer)
    }
}

/// The newest unused commitment of each seat.
async fn available(co: &Cosigners) -> Result<BTreeMap<MemberId, CommitEntry>> {
    let cid = co.ceremony.id.clone();
    let npub = co.group.npub.clone();
    co.door
        .db()
        .call(move |c| {
            let rows = door::recent_of_round(c, &cid, Round::SignCommit, COMMIT_WINDOW)?;
            let mut entries: Vec<(MemberId, CommitEntry)> = vec![];
            let now = crate::clock::now();
            for (seat, _, json) in rows {
                // Serve checked these packages when it stored them.
                let Ok(ev) = Event::from_json(&json) else {
                    continue;
                };
                let Ok(p) = serde_json::from_str::<CommitPayload>(&ev.content) else {
                    continue;
                };
                // Expired commitments are refused by their signers: never pick one.
                if seat == 0 || p.group != npub || now >= p.expires_at(&ev) {
                    continue;
                }
                entries.extend(p.commitments.into_iter().map(|e| (seat, e)));
            }
            let keys: Vec<(u16, String)> =
                entries.iter().map(|(s, e)| (*s, e.id.clone())).collect();
            let used = store::used_commitments(c, &cid, &keys)?;
            let mut out = BTreeMap::new();
            for (seat, e) in entries {
                if !used.contains(&(seat, e.id.clone())) {
                    out.entry(seat).or_insert(e);
                }
            }
            Ok(out)
        })
        .await
        .map_err(Error::from)
}
