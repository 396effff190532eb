//! What the round steps of every ceremony share: sealing one addressed package per
//! recipient, each with the file name members see. A step saves these in its state
//! before any leaves, so a re-run delivers exactly the same packages again
//! ([`Exchange::deliver_each`](super::Exchange::deliver_each)).

use nostr::{Event, Keys};
use serde::Serialize;

use crate::ceremony::{MemberId, Roster};
use crate::envelope::{self, Binding, Draft, Round};
use crate::error::Result;

/// One round's addressed packages for `roster`, from `from` (`None`: the dealer).
pub struct Addressed<'a> {
    pub keys: &'a Keys,
    pub roster: &'a Roster,
    pub round: Round,
    pub from: Option<MemberId>,
    /// File names are `{prefix}-{from}-to-{to}-{id}.json` (`{prefix}-{to}-{id}.json` from
    /// the dealer), `id` the first 8 digits of the ceremony or refresh id.
    pub prefix: &'a str,
    pub id: &'a str,
}

impl Addressed<'_> {
    /// Seals each `(recipient, payload)` to its recipient, in the order given.
    pub fn seal<P: Serialize>(
        &self,
        payloads: impl IntoIterator<Item = (MemberId, P)>,
    ) -> Result<Vec<(String, Event)>> {
        let binding = Binding::of(self.roster);
        let id = super::short_id(self.id);
        let mut sent = vec![];
        for (to, payload) in payloads {
            let m = self.roster.member(to).expect("a roster seat");
            let event = envelope::seal(
                self.keys,
                Draft {
                    binding: &binding,
                    round: self.round,
                    from: self.from,
                    to: Some((m.npub, to)),
                    reference: None,
                    payload: &payload,
                },
            )?;
            let name = match self.from {
                Some(f) => format!(
                    "{}-{}-to-{}-{id}.json",
                    self.prefix,
                    self.roster.name(f),
                    m.name
                ),
                None => format!("{}-{}-{id}.json", self.prefix, m.name),
            };
            sent.push((name, event));
        }
        Ok(sent)
    }
}
