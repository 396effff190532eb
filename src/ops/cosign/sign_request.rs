//! Answering a `sign-request` that uses one of this seat's pooled commitments.

use std::time::Instant;

use nostr::Event;

use super::{Agent, Answered, Approver};
use crate::ceremony::frost::round2::SignatureShare;
use crate::envelope::payload::sign::{RequestPeek, SharePayload};
use crate::envelope::Round;
use crate::error::{exit, Error, Result};
use crate::events::Message;
use crate::ops::input_of;
use crate::ops::sign::{self, Consent, Summary};
use crate::transport::Via;

impl Agent<'_> {
    pub(super) fn on_sign_request(
        &mut self,
        ev: &Event,
        approver: &mut dyn Approver,
        via: &mut Via,
    ) -> Result<Option<Answered>> {
        // Every agent sees every request; only those naming one of our open commitments
        // are worth checking (the rest are another seat's, or answered before a restart).
        let mine = serde_json::from_str::<RequestPeek>(&ev.content)
            .ok()
            .and_then(|p| p.commitment_ids.get(&self.seat).cloned())
            .filter(|c| self.home.keystore().exists(&self.nonce(c)));
        let Some(cid) = mine else {
            return Ok(None);
        };
        let input = input_of(ev, &format!("request {}", &ev.id.to_hex()[..12]))?;
        // Our group, as loaded at start: a request for another one is refused.
        let req = match sign::check_request(None, Some(&self.group), &input) {
            Ok(r) => r,
            Err(e) => {
                // A bad request that names one of our open commitments: burn it (the
                // coordinator counts it as used) and say why, instead of going silent.
                self.discard(&cid)?;
                let reason = format!("{} cannot use this request: {e}", self.name);
                self.publish_refusal(via, ev, &reason)?;
                return Ok(Some(self.answered(ev, "sign_event", None, Some(reason))));
            }
        };
        if !req.signers.contains(&self.seat) {
            // Names our commitment, but not us among its signers: not ours to answer.
            return Ok(None);
        }
        if Self::stale(ev) {
            self.discard(&cid)?;
            return Ok(None);
        }
        let kind = match &req.payload.message {
            Message::Event { event } => Some(event.kind.as_u16()),
            Message::Raw { .. } => None,
        };
        let mut refusal = self.common_policy(&ev.pubkey, "sign_event");
        if refusal.is_none() {
            if let Some(kinds) = &self.opts.policy.kinds {
                refusal = match kind {
                    Some(k) if kinds.contains(&k) => None,
                    Some(k) => Some(format!(
                        "{}'s policy does not allow kind {k} (allowed: {})",
                        self.name,
                        kinds
                            .iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    None => Some(format!(
                        "{}'s policy allows only event kinds, not raw messages",
                        self.name
                    )),
                };
            }
        }
        if refusal.is_none() {
            let mut consent = |s: &Summary| approver.sign(s);
            let consent: Consent<'_> = &mut consent;
            match sign::make_share(self.home, &req, self.seat, consent) {
                Ok(share) => {
                    let share = if self.opts.corrupt_for_testing {
                        corrupt(share)
                    } else {
                        share
                    };
                    let payload = SharePayload {
                        request: ev.id.to_hex(),
                        share,
                    };
                    self.publish(via, Round::SignShare, ev, &payload)?;
                    self.recent.push_back(Instant::now());
                    return Ok(Some(self.answered(ev, "sign_event", kind, None)));
                }
                // Declined, or the commitment is used, gone or expired: the answer is no.
                Err(e @ Error::Sign(_)) if e.exit_code() == exit::REFUSED => {
                    refusal = Some(format!("{}'s operator declined", self.name));
                }
                Err(e) => refusal = Some(format!("{} cannot sign: {e}", self.name)),
            }
        }
        let reason = refusal.unwrap_or_default();
        self.discard(&cid)?;
        self.publish_refusal(via, ev, &reason)?;
        Ok(Some(self.answered(ev, "sign_event", kind, Some(reason))))
    }
}

/// Test only: a different, valid-looking signature share.
fn corrupt(share: SignatureShare) -> SignatureShare {
    let mut bytes = share.serialize();
    for i in (0..bytes.len()).rev() {
        bytes[i] ^= 1;
        if let Ok(s) = SignatureShare::deserialize(&bytes) {
            return s;
        }
        bytes[i] ^= 1;
    }
    share
}
