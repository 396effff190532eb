//! Taking a round's packages from what an exchange holds: one checked package per
//! member, other rounds skipped, a member's second different package refused.

use std::collections::BTreeMap;

use super::{Error, Input, Result};
use crate::ceremony::{MemberId, Roster};
use crate::envelope::{self, Checked, Round, Sender};

/// What to collect from a set of inputs.
pub struct Want<'a> {
    pub round: Round,
    /// Only packages addressed to this key and seat.
    pub for_me: Option<(&'a nostr::Keys, MemberId)>,
    /// Only packages referencing this event id (signature shares name their request).
    pub reference: Option<&'a str>,
    /// Other rounds the same command also reads: named files of these rounds are
    /// skipped here instead of being rejected as the wrong round.
    pub also: &'a [Round],
}

/// Collects one package per member for a round. Every package of this ceremony is
/// checked; other rounds are skipped. A second, different package from the same member
/// is an error: someone equivocated or a package was forged.
pub fn collect(
    roster: &Roster,
    inputs: &[Input],
    want: Want<'_>,
) -> Result<BTreeMap<MemberId, Checked>> {
    let mut got: BTreeMap<MemberId, Checked> = BTreeMap::new();
    let bound = envelope::Bound::new(roster);
    for input in inputs {
        let rejected = |e: envelope::Error| Error::Package {
            at: input.path.clone(),
            source: e,
        };
        // Packages of other rounds of this ceremony are skipped, unless named on the
        // command line by mistake; another ceremony's package is always an error. The
        // check below then names the sender and the mismatch.
        let foreign = input.meta.binding.ceremony != roster.ceremony_id;
        let misnamed = input.explicit && !want.also.contains(&input.meta.round);
        if input.meta.round != want.round && !foreign && !misnamed {
            continue;
        }
        let checked = bound
            .check(
                input.event.clone(),
                input.meta.clone(),
                want.round,
                Sender::Member,
            )
            .map_err(rejected)?;
        if let Some((keys, seat)) = want.for_me {
            if !checked.is_for(&keys.public_key(), seat) {
                if input.explicit {
                    checked.require_for(roster, keys, seat).map_err(rejected)?;
                }
                continue;
            }
        }
        if let Some(r) = want.reference {
            if checked.meta.reference.as_deref() != Some(r) {
                if input.explicit {
                    return Err(Error::OtherRequest {
                        at: input.path.clone(),
                        sender: checked.sender.clone(),
                        request: r[..16.min(r.len())].to_owned(),
                    });
                }
                continue;
            }
        }
        let from = checked.from.expect("member packages have a seat");
        match got.get(&from) {
            Some(prev) if prev.event.id == checked.event.id => {}
            Some(prev) => {
                return Err(Error::Equivocation {
                    at: input.path.clone(),
                    sender: checked.sender.clone(),
                    round: want.round.describe(),
                    first: prev.event.id.to_hex()[..12].to_owned(),
                    second: checked.event.id.to_hex()[..12].to_owned(),
                });
            }
            None => {
                got.insert(from, checked);
            }
        }
    }
    Ok(got)
}
