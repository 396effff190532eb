//! The co-signers' unused commitments as the bunker knows them, in memory.
//!
//! Each `sign-commit` package is read from serve's store once, when it arrives (by store
//! sequence number), not on every wake-up of every request: a store that has served many
//! requests holds thousands of them, and parsing them all each time a package arrived
//! made co-signed requests slow under concurrency. A commitment leaves the pool when a
//! request takes it, under the pool's lock, so concurrent requests never pick the same
//! one; the store's `cosign_used` table (marked before a request goes out) stays the
//! record that survives a restart, and is what a fresh pool is checked against.

use std::collections::{BTreeMap, BTreeSet};

use nostr::{Event, JsonUtil};
use tokio::sync::Mutex;

use super::{Cosigners, Error, Result};
use crate::bunker::store;
use crate::ceremony::MemberId;
use crate::envelope::payload::sign::{CommitEntry, CommitPayload};
use crate::envelope::Round;
use crate::serve::door;

/// Store rows read per query.
const PAGE: usize = 1000;

#[derive(Default)]
pub(super) struct Pool(Mutex<Open>);

/// A commitment taken from the pool, with its expiry (to put it back unused).
pub(super) type Taken = (CommitEntry, u64);

#[derive(Default)]
struct Open {
    /// The store's sequence number read up to.
    since: i64,
    /// By seat: unused commitments with their expiry, oldest first.
    by_seat: BTreeMap<MemberId, Vec<Taken>>,
}

impl Pool {
    /// The seats with an unused, unexpired commitment, after reading what arrived.
    pub(super) async fn available(&self, co: &Cosigners) -> Result<BTreeSet<MemberId>> {
        let mut open = self.0.lock().await;
        open.read_new(co).await?;
        let now = crate::clock::now();
        // Expired commitments are refused by their signers: never pick one.
        for list in open.by_seat.values_mut() {
            list.retain(|(_, expires)| now < *expires);
        }
        Ok(open
            .by_seat
            .iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(seat, _)| *seat)
            .collect())
    }

    /// Takes the newest commitment of each of `seats` out of the pool; `None` (nothing
    /// taken) when one of them has none left.
    pub(super) async fn take(&self, seats: &[MemberId]) -> Option<BTreeMap<MemberId, Taken>> {
        let mut open = self.0.lock().await;
        if seats
            .iter()
            .any(|s| open.by_seat.get(s).is_none_or(|l| l.is_empty()))
        {
            return None;
        }
        Some(
            seats
                .iter()
                .map(|s| {
                    let t = open.by_seat.get_mut(s).and_then(Vec::pop).expect("checked");
                    (*s, t)
                })
                .collect(),
        )
    }

    /// Puts back commitments a request took but did not use.
    pub(super) async fn put_back(&self, entries: BTreeMap<MemberId, Taken>) {
        let mut open = self.0.lock().await;
        for (seat, t) in entries {
            open.by_seat.entry(seat).or_default().push(t);
        }
    }
}

impl Open {
    /// Reads the `sign-commit` packages stored since the last call.
    async fn read_new(&mut self, co: &Cosigners) -> Result<()> {
        loop {
            let (cid, since) = (co.ceremony.id.clone(), self.since);
            let npub = co.group.npub.clone();
            let (last, full, fresh) = co
                .door
                .db()
                .read(move |c| {
                    let rows = door::of_round_since(c, &cid, Round::SignCommit, since, PAGE)?;
                    let last = rows.last().map(|r| r.0);
                    let full = rows.len() == PAGE;
                    let mut entries = vec![];
                    for (_, seat, json) in rows {
                        // Serve checked these packages when it stored them.
                        let Ok(ev) = Event::from_json(&json) else {
                            continue;
                        };
                        let Ok(p) = serde_json::from_str::<CommitPayload>(&ev.content) else {
                            continue;
                        };
                        if seat == 0 || p.group != npub {
                            continue;
                        }
                        let expires = p.expires_at(&ev);
                        entries.extend(p.commitments.into_iter().map(|e| (seat, e, expires)));
                    }
                    // Used before (by this bunker before a restart, or a re-published
                    // package): never offered again.
                    let keys: Vec<(u16, String)> =
                        entries.iter().map(|(s, e, _)| (*s, e.id.clone())).collect();
                    let used = store::used_commitments(c, &cid, &keys)?;
                    entries.retain(|(s, e, _)| !used.contains(&(*s, e.id.clone())));
                    Ok((last, full, entries))
                })
                .await
                .map_err(Error::from)?;
            let Some(last) = last else {
                return Ok(());
            };
            self.since = last;
            for (seat, e, expires) in fresh {
                let list = self.by_seat.entry(seat).or_default();
                // A re-published package repeats commitments the pool may hold already.
                if !list.iter().any(|(x, _)| x.id == e.id) {
                    list.push((e, expires));
                }
            }
            if !full {
                return Ok(());
            }
        }
    }
}
