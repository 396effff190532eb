//! The agent's own rules (coordinator, methods, rate, request age) and the packages it
//! answers with: a share or a refusal that says why.

use std::time::{Duration, Instant};

use nostr::{Event, PublicKey, Timestamp};
use serde::Serialize;

use super::{Agent, Answered, MAX_REQUEST_AGE};
use crate::envelope::payload::cosign::RefusalPayload;
use crate::envelope::{self, Binding, Draft, Round};
use crate::error::Result;
use crate::transport::Via;

impl Agent<'_> {
    pub(super) fn stale(ev: &Event) -> bool {
        Timestamp::now().as_secs() > ev.created_at.as_secs() + MAX_REQUEST_AGE
    }

    /// The rate and coordinator rules shared by both request kinds: a refusal reason.
    pub(super) fn common_policy(
        &mut self,
        coordinator: &PublicKey,
        method: &str,
    ) -> Option<String> {
        let p = &self.opts.policy;
        if let Some(want) = &p.coordinator {
            if want != coordinator {
                return Some(format!(
                    "{} only answers coordinator {}, not {}",
                    self.name,
                    envelope::short_npub(want),
                    envelope::short_npub(coordinator)
                ));
            }
        }
        if let Some(m) = &p.methods {
            if !m.iter().any(|x| x == method) {
                return Some(format!(
                    "{}'s policy does not allow {method} (allowed: {})",
                    self.name,
                    m.join(", ")
                ));
            }
        }
        if let Some(per_min) = p.rate_per_min {
            let now = Instant::now();
            while self
                .recent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
            {
                self.recent.pop_front();
            }
            if self.recent.len() >= per_min as usize {
                return Some(format!(
                    "{} has answered {per_min} request(s) in the last minute, its limit",
                    self.name
                ));
            }
        }
        None
    }

    pub(super) fn publish_refusal(
        &self,
        via: &mut Via,
        request: &Event,
        reason: &str,
    ) -> Result<()> {
        let payload = RefusalPayload {
            request: request.id.to_hex(),
            reason: reason.to_owned(),
        };
        self.publish(via, Round::SignRefusal, request, &payload)
    }

    pub(super) fn publish<T: Serialize>(
        &self,
        via: &mut Via,
        round: Round,
        request: &Event,
        payload: &T,
    ) -> Result<()> {
        let ev = envelope::seal(
            &self.keys,
            Draft {
                binding: &Binding::of(&self.group.roster),
                round,
                from: Some(self.seat),
                to: None,
                reference: Some(request.id.to_hex()),
                payload,
            },
        )?;
        via.publish(&ev)?;
        Ok(())
    }

    pub(super) fn answered(
        &self,
        request: &Event,
        method: &str,
        kind: Option<u16>,
        refusal: Option<String>,
    ) -> Answered {
        Answered {
            member: self.name.clone(),
            request: request.id.to_hex(),
            method: method.to_owned(),
            kind,
            outcome: if refusal.is_some() {
                "refused"
            } else {
                "answered"
            },
            reason: refusal,
            coordinator: envelope::short_npub(&request.pubkey),
        }
    }
}
