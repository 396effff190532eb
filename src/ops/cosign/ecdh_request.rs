//! Answering an `ecdh-request`: s_i·P with its DLEQ proof, NIP-44 encrypted to the
//! request's author.

use std::time::Instant;

use nostr::{Event, PublicKey};

use super::{Agent, Answered, Approver, EcdhSummary, METHODS};
use crate::ceremony::ecdh;
use crate::envelope::payload::cosign::{EcdhRequestPayload, EcdhSharePayload};
use crate::envelope::{self, Round, Sender};
use crate::error::{Result, SignError};
use crate::ops::input_of;
use crate::transport::Via;

impl Agent<'_> {
    pub(super) fn on_ecdh_request(
        &mut self,
        ev: &Event,
        approver: &mut dyn Approver,
        via: &mut Via,
    ) -> Result<Option<Answered>> {
        let id = ev.id.to_hex();
        if self.answered_ecdh.contains(&id) || Self::stale(ev) {
            return Ok(None);
        }
        let input = input_of(ev, &format!("ECDH request {}", &id[..12]))?;
        let checked = envelope::check(
            &self.group.roster,
            input.event,
            input.meta,
            Round::EcdhRequest,
            Sender::Anyone,
        )?;
        let p: EcdhRequestPayload = checked.payload(None)?;
        if p.group != self.group.npub || !p.signers.contains(&self.seat) {
            return Ok(None);
        }
        if self.answered_ecdh.len() >= 256 {
            self.answered_ecdh.pop_front();
        }
        self.answered_ecdh.push_back(id.clone());
        let bad = |what| SignError::BadEcdhRequest {
            id: id[..12].to_owned(),
            what,
        };
        let peer = PublicKey::from_hex(&p.peer).map_err(|_| bad("peer key"))?;
        let context = hex::decode(&p.context).map_err(|_| bad("context"))?;
        let mut refusal = if METHODS[1..].contains(&p.method.as_str()) {
            self.common_policy(&ev.pubkey, &p.method)
        } else {
            Some(format!("{} is not an ECDH method", p.method))
        };
        if refusal.is_none() {
            let summary = EcdhSummary {
                group: self.group.npub.clone(),
                member: self.name.clone(),
                coordinator: checked.sender.clone(),
                method: p.method.clone(),
                peer: p.peer.clone(),
            };
            if !approver.ecdh(&summary) {
                refusal = Some(format!("{}'s operator declined", self.name));
            }
        }
        if let Some(reason) = refusal {
            self.publish_refusal(via, ev, &reason)?;
            return Ok(Some(self.answered(ev, &p.method, None, Some(reason))));
        }
        let key = self.home.share(&self.group, self.seat)?;
        let mut share = ecdh::share(&key, &peer, &context, &mut rand::rngs::OsRng)?;
        drop(key);
        if self.opts.corrupt_for_testing {
            share.point = share.proof.a2;
        }
        let json =
            zeroize::Zeroizing::new(serde_json::to_string(&share).map_err(SignError::EncodeShare)?);
        let sealed = crate::conversation::pairs::encrypt(&self.keys, &ev.pubkey, json.as_bytes())
            .map_err(SignError::SealShare)?;
        let payload = EcdhSharePayload {
            request: id,
            share: sealed,
        };
        self.publish(via, Round::EcdhShare, ev, &payload)?;
        self.recent.push_back(Instant::now());
        Ok(Some(self.answered(ev, &p.method, None, None)))
    }
}
