//! The co-signer backend: the bunker coordinates `passport cosign` agents through serve's
//! own package store (the group roster's ceremony).
//!
//! Both operations are robust in the sense of ROAST (Ruffing, Ronge, Jin,
//! Schneider-Bensch, Schröder: "ROAST: Robust Asynchronous Schnorr Threshold
//! Signatures", CCS 2022, eprint 2022/550): the bunker never waits out a timeout while
//! t co-signers are honest and responsive.
//!
//! - Signing ([`sign`]): a co-signer is *ready* when it has an unused commitment and is in
//!   no open session of this request. Whenever t are ready, a new FROST session starts
//!   with them (a `sign-request` whose commitments are marked used first, all or none).
//!   Each `sign-share` is checked alone on arrival (`signing::verify_share`); a valid one
//!   makes its co-signer ready again (with its next pooled commitment), an invalid share
//!   or a refusal excludes it for this request. The first session with t valid shares
//!   gives the signature. A session that cannot finish holds at least one co-signer that
//!   never becomes ready again, so at most n − t + 1 sessions start.
//! - ECDH ([`ecdh`]): one `ecdh-request` to every online co-signer; the first t shares
//!   whose DLEQ proofs verify are combined.
//!
//! `--cosigner-timeout` is no per-attempt wait: it bounds how long the bunker goes on
//! waiting when nothing can progress (fewer than t ready and no answer coming), before
//! it gives up and names who refused, who did not answer and who cheated. Co-signers
//! that did not answer are asked last for a while ([`Cosigners::rank`]).

pub mod bridge;
mod ecdh;
mod hedge;
mod pool;
mod rank;
mod sign;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nostr::{Event, Keys, PublicKey, UnsignedEvent};
use tokio::sync::watch;

use super::backend::{Backend, BoxFut, Error, Result};
use super::method::Method;
use crate::ceremony::ecdh::SharedX;
use crate::ceremony::MemberId;
use crate::envelope::payload::cosign::RefusalPayload;
use crate::envelope::{self, Binding, Checked, Draft, Round, Sender};
use crate::group::Group;
use crate::serve::door::{self, Ceremony, Door};
use hedge::{hedge_of, HEDGE_SAMPLES};

/// Default time the bunker waits with nothing progressing before it gives up.
pub const DEFAULT_COSIGNER_TIMEOUT: Duration = Duration::from_secs(10);
/// A co-signer that fetched or posted within this long counts as online (for ECDH).
const ONLINE_FOR: Duration = Duration::from_secs(180);
/// A co-signer seen fetching within this long is connected (it may publish commitments).
const CONNECTED: Duration = Duration::from_secs(15);
/// A co-signer that failed a request is asked last for this long.
const SUSPECT_FOR: Duration = Duration::from_secs(120);
/// The bunker's own deadline ends this much before the request timeout, so its error
/// (naming co-signers) goes out instead of a bare timeout.
const MARGIN: Duration = Duration::from_millis(1500);

pub struct Cosigners {
    door: Door,
    transport: Keys,
    group: Group,
    ceremony: Ceremony,
    stall: Duration,
    budget: Duration,
    /// Seats that refused, timed out or cheated recently, and when.
    suspects: Mutex<HashMap<MemberId, Instant>>,
    /// The most recent times a co-signer took to answer a session (for the hedge delay).
    answer_times: Mutex<VecDeque<Duration>>,
    pool: pool::Pool,
}

/// What one co-signer said to one request.
enum Heard {
    Answer(MemberId, Box<Checked>),
    Refused(MemberId, String),
}

/// A request the bunker sent and listens to.
struct Asked {
    rid: String,
    /// The store's sequence number read up to.
    since: i64,
    seats: Vec<MemberId>,
    asked_at: Instant,
    /// Seats that answered or refused this request.
    heard: BTreeSet<MemberId>,
}

impl Asked {
    /// Seats asked that have said nothing yet.
    fn silent(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.seats
            .iter()
            .copied()
            .filter(|s| !self.heard.contains(s))
    }
}

/// Who is out of this request, and why (for the final error and the log).
#[derive(Default)]
struct Excluded(BTreeMap<MemberId, String>);

impl Cosigners {
    /// Finds (or registers) the group roster's ceremony in serve's store.
    pub async fn new(
        door: Door,
        transport: Keys,
        group: Group,
        stall: Duration,
        request_timeout: Duration,
    ) -> Result<Cosigners> {
        let ceremony = door.ceremony_for(&group.roster).await?;
        Ok(Cosigners {
            door,
            transport,
            group,
            ceremony,
            stall,
            budget: request_timeout
                .saturating_sub(MARGIN)
                .max(Duration::from_secs(1)),
            suspects: Mutex::new(HashMap::new()),
            answer_times: Mutex::new(VecDeque::new()),
            pool: pool::Pool::default(),
        })
    }

    fn t(&self) -> usize {
        self.group.roster.threshold as usize
    }

    fn name(&self, seat: MemberId) -> String {
        self.group.roster.name(seat)
    }

    fn suspect(&self, seat: MemberId) {
        let mut s = self.suspects.lock().unwrap_or_else(|p| p.into_inner());
        s.insert(seat, Instant::now());
    }

    /// Records how long a co-signer took to answer a session.
    fn observe(&self, took: Duration) {
        let mut a = self.answer_times.lock().unwrap_or_else(|p| p.into_inner());
        if a.len() == HEDGE_SAMPLES {
            a.pop_front();
        }
        a.push_back(took);
    }

    /// How long a live session is left alone before another one starts beside it: three
    /// times the median answer time of late (a hedged request, as in Dean and Barroso,
    /// "The Tail at Scale", CACM 2013), within [25 ms, 1 s]. Plain ROAST starts the next
    /// session as soon as any t co-signers are ready, so with all of them healthy nearly
    /// every request ran two sessions and the co-signers did twice the work; the hedge
    /// keeps ROAST's bound (a session that cannot finish still holds a co-signer that
    /// never gets ready again) at the cost of at most this delay when one hangs, and
    /// [`Cosigners::rank`] asks the silent one last afterwards.
    fn hedge(&self) -> Duration {
        let a = self.answer_times.lock().unwrap_or_else(|p| p.into_inner());
        hedge_of(a.iter().copied().collect())
    }

    /// Seats that could still take part in this request: not excluded, and asked already,
    /// holding an unused commitment, or connected now (an agent that will publish more).
    fn hopeful(&self, excluded: &Excluded, asked_or_ready: &BTreeSet<MemberId>) -> usize {
        let presence = self.door.presence(&self.ceremony.id);
        self.group
            .roster
            .ids()
            .filter(|&s| !self.group.has_left(s) && !excluded.0.contains_key(&s))
            .filter(|&s| {
                let npub = self.group.roster.member(s).map(|m| m.npub);
                asked_or_ready.contains(&s)
                    || presence.iter().any(|(pk, seen)| {
                        Some(*pk) == npub && (seen.polling > 0 || seen.last.elapsed() < CONNECTED)
                    })
            })
            .count()
    }

    fn seal<T: serde::Serialize>(&self, round: Round, payload: &T) -> Result<Event> {
        envelope::seal(
            &self.transport,
            Draft {
                binding: &Binding::of(&self.group.roster),
                round,
                from: None,
                to: None,
                reference: None,
                payload,
            },
        )
        .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Inserts `request` for `seats` into the store, where their agents find it.
    async fn send(&self, request: Event, seats: Vec<MemberId>) -> Result<Asked> {
        let since = self.door.insert_own(&self.ceremony, &request).await?;
        Ok(Asked {
            rid: request.id.to_hex(),
            since,
            seats,
            asked_at: Instant::now(),
            heard: BTreeSet::new(),
        })
    }

    /// The new answers (of round `answer`) and refusals to `asked` from its seats.
    async fn heard(&self, asked: &mut Asked, answer: Round) -> Result<Vec<Heard>> {
        let (cid, rid, since) = (self.ceremony.id.clone(), asked.rid.clone(), asked.since);
        let rows = self
            .door
            .db()
            .read(move |c| door::replies(c, &cid, &rid, since))
            .await?;
        let mut out = vec![];
        let bound = envelope::Bound::new(&self.group.roster);
        for (seq, json) in rows {
            asked.since = asked.since.max(seq);
            let Ok((ev, meta)) = envelope::parse(json.as_bytes()) else {
                continue;
            };
            let round = meta.round;
            let Ok(c) = bound.check(ev, meta, round, Sender::Member) else {
                continue;
            };
            let Some(seat) = c.from.filter(|s| asked.seats.contains(s)) else {
                continue;
            };
            if asked.heard.contains(&seat) || (round != answer && round != Round::SignRefusal) {
                continue;
            }
            asked.heard.insert(seat);
            if round == Round::SignRefusal {
                let reason = c
                    .payload::<RefusalPayload>(None)
                    .map_or_else(|e| format!("unreadable refusal ({e})"), |p| p.reason);
                out.push(Heard::Refused(seat, clip(&reason)));
            } else {
                out.push(Heard::Answer(seat, Box::new(c)));
            }
        }
        Ok(out)
    }

    /// Waits for anything new in the ceremony, until `until`; false when it passed.
    async fn news(&self, news: &mut watch::Receiver<i64>, until: Instant) -> bool {
        let wait = tokio::time::Instant::from_std(until);
        matches!(
            tokio::time::timeout_at(wait, news.changed()).await,
            Ok(Ok(()))
        )
    }

    /// Excludes `seat` from this request for `why` (which names it), tells the operator
    /// and asks it last for a while.
    fn exclude(&self, what: &str, excluded: &mut Excluded, seat: MemberId, why: String) {
        // `why` may quote a co-signer's refusal: escaped, one line.
        tracing::warn!(
            "passport serve: bunker: {what}: {}; asking another co-signer",
            crate::untrusted::one_line(&why)
        );
        excluded.0.insert(seat, why);
        self.suspect(seat);
    }

    /// After a success: the co-signers asked more than `late` ago that did not answer are
    /// asked last for a while, and the operator is told (merely slower than the fastest t,
    /// or in a session started after the one that signed, is no failure).
    fn left_behind<'a>(&self, what: &str, open: impl Iterator<Item = &'a Asked>, late: Duration) {
        let mut seen = BTreeSet::new();
        for a in open.filter(|a| a.asked_at.elapsed() > late) {
            for seat in a.silent().filter(|s| seen.insert(*s)) {
                tracing::warn!(
                    "passport serve: bunker: {what}: {} has not answered ({:.1} s); done without it",
                    self.name(seat),
                    a.asked_at.elapsed().as_secs_f64()
                );
                self.suspect(seat);
            }
        }
    }

    /// The error that ends a request: who is out and why, who did not answer, and how
    /// many co-signers were left.
    fn give_up<'a>(
        &self,
        what: &str,
        excluded: &Excluded,
        open: impl Iterator<Item = &'a Asked>,
        left: usize,
    ) -> Error {
        let mut reasons: Vec<String> = excluded.0.values().cloned().collect();
        let mut seen = BTreeSet::new();
        for a in open {
            for seat in a.silent() {
                if !excluded.0.contains_key(&seat) && seen.insert(seat) {
                    self.suspect(seat);
                    reasons.push(format!(
                        "{} did not answer within {:.0} s",
                        self.name(seat),
                        a.asked_at.elapsed().as_secs_f64().round()
                    ));
                }
            }
        }
        let t = self.t();
        reasons.push(format!(
            "{t} co-signers are needed and only {left} other{} available",
            if left == 1 { " is" } else { "s are" }
        ));
        Error::GaveUp {
            what: what.to_owned(),
            reasons,
        }
    }
}

/// Bounds a co-signer's reason before it goes into a reply.
fn clip(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).take(300).collect();
    s
}

impl Backend for Cosigners {
    fn sign(&self, unsigned: UnsignedEvent) -> BoxFut<'_, Result<Event>> {
        Box::pin(sign::sign(self, unsigned))
    }

    fn ecdh(&self, peer: PublicKey, method: Method) -> BoxFut<'_, Result<SharedX>> {
        Box::pin(ecdh::ecdh(self, peer, method))
    }

    fn asks(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!(
            "co-signers of {} ({}-of-{}) via this server",
            self.group.npub,
            self.group.roster.threshold,
            self.group.roster.n()
        )
    }
}
