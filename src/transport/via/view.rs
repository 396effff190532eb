//! The transport's view of a ceremony: what arrived, parsed once, strangers dropped.

use std::collections::BTreeMap;

use nostr::{Event, EventId, JsonUtil, PublicKey};

use crate::envelope;

/// The transport's view of the ceremony: every package seen so far, by id, parsed
/// (signature checked) once on arrival. Fetched events are sorted into it page by page,
/// so what a server or relay sends is not kept beyond what the roster's members signed.
pub(super) struct View {
    pub(super) seen: BTreeMap<EventId, (Event, envelope::Meta)>,
    /// Events dropped because they are not packages of this roster (relays carry anyone's).
    pub(super) ignored: usize,
    pub(super) allowed: Vec<PublicKey>,
    /// Also keep signing and ECDH requests signed by keys outside the roster (a bunker's
    /// transport key); serve has already checked them.
    pub(super) any_requester: bool,
    /// Keep signing and ECDH requests signed by these keys (a co-signer's coordinator,
    /// named because relays carry anyone's requests).
    pub(super) requesters: Vec<PublicKey>,
    /// Events that arrived since [`Via::take_fresh`] was last called.
    pub(super) fresh: Vec<Event>,
}

impl View {
    /// Sorts fetched events in; returns how many were new packages of the roster.
    pub(super) fn take(&mut self, events: Vec<Event>) -> usize {
        let mut new = 0;
        for ev in events {
            if self.seen.contains_key(&ev.id) {
                continue;
            }
            // Relays carry anyone's events: drop what no roster member signed rather than
            // letting a stranger abort the ceremony. Members' packages are checked later.
            let allowed = self.allowed.contains(&ev.pubkey)
                || ((self.any_requester || self.requesters.contains(&ev.pubkey))
                    && is_request(&ev));
            // `parse` checks the id and signature; what fails is dropped like a stranger's.
            let parsed = match allowed {
                true => envelope::parse(ev.as_json().as_bytes()).ok(),
                false => None,
            };
            let Some(parsed) = parsed else {
                self.ignored += 1;
                continue;
            };
            self.fresh.push(ev.clone());
            self.seen.insert(ev.id, parsed);
            new += 1;
        }
        new
    }
}

/// True for events tagged as a signing or ECDH request.
pub(super) fn is_request(ev: &Event) -> bool {
    ev.tags.iter().any(|t| {
        let s = t.as_slice();
        s.len() >= 2
            && s[0] == "round"
            && (s[1] == envelope::Round::SignRequest.as_str()
                || s[1] == envelope::Round::EcdhRequest.as_str())
    })
}
