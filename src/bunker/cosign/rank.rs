//! Which co-signers to ask first: not failed lately, connected now, most recently active.

use std::collections::HashMap;

use super::{Cosigners, Result, SUSPECT_FOR};
use crate::ceremony::MemberId;
use crate::serve::door;

impl Cosigners {
    /// When each seat of the roster last had a package accepted, for those that did.
    pub(super) async fn last_posted(&self) -> Result<Vec<(MemberId, i64)>> {
        let cid = self.ceremony.id.clone();
        let seats: Vec<MemberId> = self.group.roster.ids().collect();
        Ok(self
            .door
            .db()
            .read(move |c| door::last_posted(c, &cid, &seats))
            .await?)
    }

    /// `seats` ordered best first: not recently failed, polling now, most recently active.
    pub(super) async fn rank(&self, seats: Vec<MemberId>) -> Result<Vec<MemberId>> {
        Ok(self
            .rank_marked(seats)
            .await?
            .into_iter()
            .map(|k| k.0)
            .collect())
    }

    /// [`Cosigners::rank`], each seat with whether it failed a request recently.
    pub(super) async fn rank_marked(&self, seats: Vec<MemberId>) -> Result<Vec<(MemberId, bool)>> {
        let posted: HashMap<MemberId, i64> = self.last_posted().await?.into_iter().collect();
        let presence = self.door.presence(&self.ceremony.id);
        let now_unix = crate::bunker::unix_now() as i64;
        let suspects = self
            .suspects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut keyed: Vec<(bool, bool, i64, MemberId)> = seats
            .into_iter()
            .map(|seat| {
                let npub = self.group.roster.member(seat).map(|m| m.npub);
                let polling = presence
                    .iter()
                    .any(|(pk, s)| Some(*pk) == npub && s.polling > 0);
                let last = posted.get(&seat).copied().unwrap_or(i64::MIN);
                // Suspicion lifts when the co-signer posts something after failing.
                let failed = suspects.get(&seat).is_some_and(|t| {
                    t.elapsed() < SUSPECT_FOR && last < now_unix - t.elapsed().as_secs() as i64
                });
                (failed, polling, last, seat)
            })
            .collect();
        // Not failed first, then connected now, then most recent poster, then lowest seat.
        keyed.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(b.1.cmp(&a.1))
                .then(b.2.cmp(&a.2))
                .then(a.3.cmp(&b.3))
        });
        Ok(keyed.into_iter().map(|k| (k.3, k.0)).collect())
    }
}
