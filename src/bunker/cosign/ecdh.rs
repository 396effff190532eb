//! ECDH through co-signers: t seats online now, an `ecdh-request` (its context fresh
//! each attempt), `ecdh-share`s encrypted to the transport key and combined with their
//! DLEQ proofs checked.

use std::collections::BTreeMap;

use nostr::nips::nip44;
use nostr::{Event, PublicKey};

use super::{BoxFut, Cosigners, Job, Result, ONLINE_FOR};
use crate::bunker::method::Method;
use crate::ceremony::ecdh::{self, EcdhShare, SharedX};
use crate::ceremony::MemberId;
use crate::envelope::payload::cosign::{EcdhRequestPayload, EcdhSharePayload};
use crate::envelope::{Checked, Round};
use crate::serve::door;

pub(super) struct EcdhJob {
    peer: PublicKey,
    method: Method,
    /// The context of the last request.
    context: [u8; 32],
}

impl EcdhJob {
    pub(super) fn new(peer: PublicKey, method: Method) -> EcdhJob {
        EcdhJob {
            peer,
            method,
            context: [0; 32],
        }
    }
}

impl Job for EcdhJob {
    type Share = EcdhShare;
    type Output = SharedX;
    const ANSWER: Round = Round::EcdhShare;
    const UNREADABLE: &'static str = "sent an unreadable ECDH share";
    const INVALID: &'static str = "sent an invalid ECDH share (its DLEQ proof does not verify)";

    fn what(&self) -> String {
        format!("compute the shared key for {}", self.method)
    }

    fn label(&self) -> &str {
        self.method.as_str()
    }

    fn candidates<'a>(&'a mut self, co: &'a Cosigners) -> BoxFut<'a, Result<Vec<MemberId>>> {
        Box::pin(online(co))
    }

    fn request<'a>(
        &'a mut self,
        co: &'a Cosigners,
        chosen: &'a [MemberId],
    ) -> BoxFut<'a, Result<Option<Event>>> {
        Box::pin(async move {
            self.context = rand::random();
            let payload = EcdhRequestPayload {
                group: co.group.npub.clone(),
                peer: self.peer.to_hex(),
                context: hex::encode(self.context),
                signers: chosen.to_vec(),
                method: self.method.as_str().to_owned(),
            };
            Ok(Some(co.seal(Round::EcdhRequest, &payload)?))
        })
    }

    /// Decrypts a co-signer's ECDH share (encrypted to the transport key).
    fn open(&self, co: &Cosigners, c: &Checked, request: &Event) -> Option<EcdhShare> {
        let p: EcdhSharePayload = c.payload(None).ok()?;
        if p.request != request.id.to_hex() {
            return None;
        }
        let json = zeroize::Zeroizing::new(
            nip44::decrypt(co.transport.secret_key(), &c.event.pubkey, &p.share).ok()?,
        );
        serde_json::from_str(&json).ok()
    }

    fn combine(&self, co: &Cosigners, shares: &BTreeMap<MemberId, EcdhShare>) -> Result<SharedX> {
        let g = &co.group;
        Ok(ecdh::combine(
            &g.public_key_package,
            &g.roster,
            &self.peer,
            &self.context,
            shares,
        )?)
    }
}

/// Seats that fetched or posted recently, best first.
async fn online(co: &Cosigners) -> Result<Vec<MemberId>> {
    let cid = co.ceremony.id.clone();
    let posted = co
        .door
        .db()
        .call(move |c| door::last_posted(c, &cid))
        .await?;
    let now = crate::bunker::unix_now() as i64;
    let presence = co.door.presence(&co.ceremony.id);
    let seats: Vec<MemberId> = co
        .group
        .roster
        .ids()
        .filter(|&seat| !co.group.has_left(seat))
        .filter(|&seat| {
            let recent_post = posted
                .iter()
                .any(|(s, at)| *s == seat && now - at < ONLINE_FOR.as_secs() as i64);
            let npub = co.group.roster.member(seat).map(|m| m.npub);
            let polling = presence.iter().any(|(pk, s)| {
                Some(*pk) == npub && (s.polling > 0 || s.last.elapsed() < ONLINE_FOR)
            });
            recent_post || polling
        })
        .collect();
    co.rank(seats).await
}
