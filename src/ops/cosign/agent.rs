//! The agent loop: connect, keep the commitment pool full, wait for requests and hand
//! each to its answer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nostr::Event;

use super::{Agent, Approver, Finished, Note, Options, PoolState, EXPIRY_MARGIN, MAX_REQUEST_AGE};
use crate::envelope::payload::sign::CommitPeek;
use crate::envelope::{self, Round};
use crate::error::{Result, SignError};
use crate::home::Home;
use crate::ops::pick_seat;
use crate::ops::sign;
use crate::transport::{presence_event, Endpoint, Via, PRESENCE_EVERY};

/// The pool size below which commitments are made even while requests keep coming:
/// half the pool, so a burst of requests finds commitments without waiting for fsyncs.
fn low_water(pool: usize) -> usize {
    pool.div_ceil(2)
}

/// Runs the agent until `stop` flips, the timeout passes or `max_requests` are handled.
pub fn run(
    home: &Home,
    endpoint: &Endpoint,
    opts: &Options<'_>,
    approver: &mut dyn Approver,
    stop: &AtomicBool,
    note: &mut dyn FnMut(Note<'_>),
) -> Result<Finished> {
    // Serve lets only the roster and its own bunker post requests; relays carry anyone's,
    // so over relays only the named coordinator's requests are answered.
    if matches!(endpoint, Endpoint::Relays(_)) && opts.policy.coordinator.is_none() {
        return Err(SignError::CosignNeedsCoordinator.into());
    }
    if opts.pool == 0 || opts.pool > 100 {
        return Err(SignError::PoolRange.into());
    }
    let group = home.find_group(opts.group)?;
    let seat = pick_seat(
        &group.roster,
        &home.active_seats(&group)?,
        opts.member,
        "with a share of this group",
    )?;
    let name = group.roster.name(seat);
    let keys = home.identity()?.clone();
    // Requests older than MAX_REQUEST_AGE are not answered: relays need not send them.
    let since = nostr::Timestamp::from(crate::clock::now().saturating_sub(MAX_REQUEST_AGE));
    let coordinator = opts.policy.coordinator;
    let mut via = Via::connect_agent(endpoint, &keys, &group.roster, coordinator, since)?;
    via.accept_requests_from_anyone();
    for (url, why) in via.unreachable() {
        note(Note::Problem(&format!(
            "relay {url} is unreachable ({why}); going on with the others"
        )));
    }
    let state_rel = format!("cosign/{}/{seat}.json", group.id());
    let pool: PoolState = home.read_state(&state_rel)?.unwrap_or_default();
    let mut a = Agent {
        home,
        group,
        seat,
        name,
        keys,
        opts,
        state_rel,
        pool,
        recent: VecDeque::new(),
        answered_ecdh: VecDeque::new(),
    };
    // A restart re-publishes the still-open commitments instead of making new ones.
    a.prune();
    for ev in &a.pool.commits {
        via.publish(ev)?;
    }
    a.replenish(&mut via, a.opts.pool)?;
    note(Note::Ready {
        member: &a.name,
        commitments: a.pool.commits.len(),
    });
    let started = Instant::now();
    let mut done = Finished {
        group: a.group.npub.clone(),
        member: a.name.clone(),
        answered: 0,
        refused: 0,
    };
    let mut down = false;
    // On relays nobody sees us poll: say we are here now and then (see PRESENCE_KIND).
    let relays = matches!(endpoint, Endpoint::Relays(_));
    let mut beat: Option<Instant> = None;
    // When making a commitment last failed.
    let mut failed: Option<Instant> = None;
    loop {
        if stop.load(Ordering::SeqCst)
            || opts
                .max_requests
                .is_some_and(|m| done.answered + done.refused >= m)
        {
            break;
        }
        if relays && beat.is_none_or(|b| b.elapsed() >= PRESENCE_EVERY) {
            beat = Some(Instant::now());
            let sent = presence_event(&a.keys, &a.group.roster.ceremony_id)
                .and_then(|ev| via.publish(&ev).map(|_| ()));
            if let Err(e) = sent {
                note(Note::Problem(&format!("cannot say it is online: {e}")));
            }
        }
        let left = match opts.timeout {
            Some(t) => match t.checked_sub(started.elapsed()) {
                Some(l) if !l.is_zero() => l,
                _ => break,
            },
            None => Duration::from_secs(5),
        };
        // A pool short of commitments is topped up when no request is waiting (below):
        // only look, then; after a failed top-up, wait as usual before the next try.
        let retry = failed.is_none_or(|f| f.elapsed() >= Duration::from_secs(5));
        let idle = if a.pool.commits.len() < a.opts.pool && retry {
            Duration::ZERO
        } else {
            Duration::from_secs(5)
        };
        if let Err(e) = via.wait(left.min(idle)) {
            if !down {
                note(Note::Problem(&format!("{e}; retrying")));
                down = true;
            }
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        if down {
            // Serve came back (perhaps restarted): make sure our commitments are there.
            for ev in &a.pool.commits {
                let _ = via.publish(ev);
            }
            down = false;
        }
        let fresh = via.take_fresh();
        via.forget_seen();
        let quiet = fresh.is_empty();
        for ev in fresh {
            let handled = match envelope::parse(nostr::JsonUtil::as_json(&ev).as_bytes()) {
                Ok((_, meta)) if meta.round == Round::SignRequest => {
                    a.on_sign_request(&ev, approver, &mut via)
                }
                Ok((_, meta)) if meta.round == Round::EcdhRequest => {
                    a.on_ecdh_request(&ev, approver, &mut via)
                }
                _ => Ok(None),
            };
            match handled {
                Ok(Some(ans)) => {
                    if ans.outcome == "answered" {
                        done.answered += 1;
                    } else {
                        done.refused += 1;
                    }
                    note(Note::Answered(&ans));
                }
                Ok(None) => {}
                Err(e) => note(Note::Problem(&format!(
                    "request {}: {e}",
                    &ev.id.to_hex()[..12]
                ))),
            }
        }
        // Making a commitment costs fsyncs: one at a time, and only while no request
        // waits, unless the pool runs low (then the next requests need them now).
        let upto = if quiet {
            a.pool.commits.len() + 1
        } else {
            low_water(a.opts.pool)
        };
        if let Err(e) = a.replenish(&mut via, upto) {
            note(Note::Problem(&format!("cannot publish commitments: {e}")));
            failed = Some(Instant::now());
        }
        // A relay that died is named once; the SDK reconnects it meanwhile.
        for (url, why) in via.relay_trouble() {
            note(Note::Problem(&format!(
                "relay {url} did not take a package ({why}); going on with the others"
            )));
        }
    }
    via.close();
    Ok(done)
}

impl Agent<'_> {
    pub(super) fn nonce(&self, id: &str) -> String {
        sign::nonce_name(&self.group, self.seat, id)
    }

    /// Our own package, so only peeked at (see [`CommitPeek`]).
    fn peek(ev: &Event) -> Option<CommitPeek> {
        serde_json::from_str(&ev.content).ok()
    }

    /// Drops the pool's commitments whose nonces are gone, and burns those about to
    /// expire (a coordinator refuses expired ones); true if any were dropped.
    pub(super) fn prune(&mut self) -> bool {
        let (home, group, seat) = (self.home, &self.group, self.seat);
        let before = self.pool.commits.len();
        let soon = crate::clock::now() + EXPIRY_MARGIN;
        let mut stale = vec![];
        self.pool.commits.retain(|ev| {
            let Some(p) = Self::peek(ev) else {
                return false;
            };
            let expiring = p.expires_at(ev) <= soon;
            let mut ids = p.commitments.into_iter().map(|c| c.id);
            if expiring {
                stale.extend(ids);
                return false;
            }
            ids.any(|id| home.keystore().exists(&sign::nonce_name(group, seat, &id)))
        });
        for id in stale {
            let _ = self.discard(&id);
        }
        before != self.pool.commits.len()
    }

    /// Publishes new commitments until the pool holds `upto` open ones (at most
    /// `opts.pool`).
    pub(super) fn replenish(&mut self, via: &mut Via, upto: usize) -> Result<()> {
        // Unsaved changes: the prune's (each new commitment is saved as it is made).
        let mut unsaved = self.prune();
        while self.pool.commits.len() < upto.min(self.opts.pool) {
            let valid_for = crate::ops::nonce::DEFAULT_VALID_FOR;
            let (_, r) = sign::make(self.home, &self.group.npub, Some(&self.name), 1, valid_for)?;
            self.pool.commits.push(r.event);
            // Saved before it is published, so a crash never forgets a published commitment.
            self.home.write_state(&self.state_rel, &self.pool)?;
            unsaved = false;
            via.publish(self.pool.commits.last().expect("just pushed"))?;
        }
        if unsaved {
            self.home.write_state(&self.state_rel, &self.pool)?;
        }
        Ok(())
    }

    /// Burns a commitment without signing (the coordinator counts it as used).
    pub(super) fn discard(&self, id: &str) -> Result<()> {
        match self.home.keystore().consume(&self.nonce(id)) {
            Ok(()) | Err(crate::keystore::Error::NonceConsumed(_)) => Ok(()),
            Err(crate::keystore::Error::Missing(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
