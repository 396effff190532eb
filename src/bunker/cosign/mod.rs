//! The co-signer backend: the bunker coordinates `passport cosign` agents through serve's
//! own package store (the group roster's ceremony).
//!
//! Signing: pick t co-signers with unused commitments (connected ones first), seal a
//! `sign-request` with the transport key, insert it, and wait (on the store's waiters)
//! for their `sign-share`s or `sign-refusal`s. ECDH: the same with an `ecdh-request` to
//! t connected co-signers, whose `ecdh-share`s are NIP-44 encrypted to the transport
//! key. A refusal, silence past the per-attempt timeout, or a bad share (named by
//! `signing::aggregate` or the DLEQ check in `ecdh::combine`) excludes that co-signer and
//! the request is retried with another, until the bunker's own deadline; the error that
//! ends it names who refused, who did not answer and who cheated.

mod ecdh;
mod sign;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nostr::{Event, Keys, PublicKey, UnsignedEvent};

use super::backend::{Backend, BoxFut, Error, Result};
use super::method::Method;
use crate::ceremony::ecdh::SharedX;
use crate::ceremony::MemberId;
use crate::envelope::payload::cosign::RefusalPayload;
use crate::envelope::{self, Binding, Checked, Draft, Round, Sender};
use crate::group::Group;
use crate::serve::door::{self, Ceremony, Door};

/// Default time one co-signer has to answer one request.
pub const DEFAULT_COSIGNER_TIMEOUT: Duration = Duration::from_secs(10);
/// A co-signer that fetched or posted within this long counts as online (for ECDH).
const ONLINE_FOR: Duration = Duration::from_secs(180);
/// A co-signer that failed a request is asked last for this long.
const SUSPECT_FOR: Duration = Duration::from_secs(120);
/// How many recent commitment packages are searched for unused commitments.
const COMMIT_WINDOW: usize = 1000;
/// The bunker's own deadline ends this much before the request timeout, so its error
/// (naming co-signers) goes out instead of a bare timeout.
const MARGIN: Duration = Duration::from_millis(1500);

pub struct Cosigners {
    door: Door,
    transport: Keys,
    group: Group,
    ceremony: Ceremony,
    per_attempt: Duration,
    budget: Duration,
    /// Seats that refused, timed out or cheated recently, and when.
    suspects: Mutex<HashMap<MemberId, Instant>>,
}

/// What one attempt got back.
#[derive(Default)]
struct Answers {
    replies: BTreeMap<MemberId, Checked>,
    refusals: BTreeMap<MemberId, String>,
}

impl Cosigners {
    /// Finds (or registers) the group roster's ceremony in serve's store.
    pub async fn new(
        door: Door,
        transport: Keys,
        group: Group,
        per_attempt: Duration,
        request_timeout: Duration,
    ) -> Result<Cosigners> {
        let ceremony = door.ceremony_for(&group.roster).await?;
        Ok(Cosigners {
            door,
            transport,
            group,
            ceremony,
            per_attempt,
            budget: request_timeout
                .saturating_sub(MARGIN)
                .max(Duration::from_secs(1)),
            suspects: Mutex::new(HashMap::new()),
        })
    }

    fn name(&self, seat: MemberId) -> String {
        self.group.roster.name(seat)
    }

    fn suspect(&self, seat: MemberId) {
        let mut s = self.suspects.lock().unwrap_or_else(|p| p.into_inner());
        s.insert(seat, Instant::now());
    }

    /// `seats` ordered best first: not recently failed, polling now, most recently active.
    async fn rank(&self, seats: Vec<MemberId>) -> Result<Vec<MemberId>> {
        let cid = self.ceremony.id.clone();
        let posted: HashMap<MemberId, i64> = self
            .door
            .db()
            .call(move |c| door::last_posted(c, &cid))
            .await?
            .into_iter()
            .collect();
        let presence = self.door.presence(&self.ceremony.id);
        let now_unix = super::unix_now() as i64;
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
        Ok(keyed.into_iter().map(|k| k.3).collect())
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

    /// Inserts `request` and collects answers from `chosen` until all answered, one
    /// refused, or `until`.
    async fn ask(
        &self,
        request: &Event,
        chosen: &[MemberId],
        answer: Round,
        until: Instant,
    ) -> Result<Answers> {
        let mut news = self.door.subscribe(&self.ceremony.id);
        let mut since = self.door.insert_own(&self.ceremony, request).await?;
        let rid = request.id.to_hex();
        let mut got = Answers::default();
        loop {
            let (cid, r) = (self.ceremony.id.clone(), rid.clone());
            let rows = self
                .door
                .db()
                .call(move |c| door::replies(c, &cid, &r, since))
                .await?;
            for (seq, json) in rows {
                since = since.max(seq);
                let Ok((ev, meta)) = envelope::parse(json.as_bytes()) else {
                    continue;
                };
                let round = meta.round;
                let Ok(c) = envelope::check(&self.group.roster, ev, meta, round, Sender::Member)
                else {
                    continue;
                };
                let Some(seat) = c.from.filter(|s| chosen.contains(s)) else {
                    continue;
                };
                if round == Round::SignRefusal {
                    let reason = c
                        .payload::<RefusalPayload>(None)
                        .map_or_else(|e| format!("unreadable refusal ({e})"), |p| p.reason);
                    got.refusals.insert(seat, clip(&reason));
                } else if round == answer {
                    got.replies.insert(seat, c);
                }
            }
            if !got.refusals.is_empty() || got.replies.len() == chosen.len() {
                return Ok(got);
            }
            let wait = tokio::time::Instant::from_std(until);
            match tokio::time::timeout_at(wait, news.changed()).await {
                Ok(Ok(())) => {}
                _ => return Ok(got),
            }
        }
    }

    /// Tells the operator (serve's stderr) why a co-signer is being replaced.
    fn log(&self, what: &str, excluded: &BTreeMap<MemberId, String>, seats: &[MemberId]) {
        for s in seats {
            if let Some(why) = excluded.get(s) {
                // `why` may quote a co-signer's refusal: escaped, one line.
                tracing::warn!(
                    "passport serve: bunker: {what}: {}; asking another co-signer",
                    crate::untrusted::one_line(why)
                );
            }
        }
    }

    /// Records what an attempt's refusals and silences say about each co-signer.
    fn note_failures(
        &self,
        got: &Answers,
        chosen: &[MemberId],
        waited: Duration,
        excluded: &mut BTreeMap<MemberId, String>,
    ) {
        for (&seat, reason) in &got.refusals {
            excluded.insert(seat, format!("{} refused: {reason}", self.name(seat)));
            self.suspect(seat);
        }
        if got.refusals.is_empty() {
            for &seat in chosen.iter().filter(|s| !got.replies.contains_key(s)) {
                excluded.insert(
                    seat,
                    format!(
                        "{} did not answer within {:.0} s",
                        self.name(seat),
                        waited.as_secs_f64().round()
                    ),
                );
                self.suspect(seat);
            }
        }
    }

    /// Marks the members a culprit error names (comma-separated names) as cheaters.
    fn blame(
        &self,
        seats: &[MemberId],
        what: &str,
        excluded: &mut BTreeMap<MemberId, String>,
    ) -> bool {
        for &seat in seats {
            excluded.insert(seat, format!("{} {what}", self.group.roster.name(seat)));
            self.suspect(seat);
        }
        !seats.is_empty()
    }

    fn give_up(&self, what: &str, excluded: &BTreeMap<MemberId, String>, left: usize) -> Error {
        let t = self.group.roster.threshold as usize;
        let mut reasons: Vec<String> = excluded.values().cloned().collect();
        reasons.push(format!(
            "{t} co-signers are needed and only {left} other{} available",
            if left == 1 { " is" } else { "s are" }
        ));
        Error::GaveUp {
            what: what.to_owned(),
            reasons,
        }
    }

    /// Asks co-signers for `job` until t answers combine, excluding (and suspecting)
    /// each one that refuses, stays silent past the per-attempt timeout or sends a bad
    /// share, until none are left or the bunker's own deadline passes.
    async fn run<J: Job>(&self, mut job: J) -> Result<J::Output> {
        let deadline = Instant::now() + self.budget;
        let t = self.group.roster.threshold as usize;
        let mut excluded: BTreeMap<MemberId, String> = BTreeMap::new();
        loop {
            let mut ranked = job.candidates(self).await?;
            ranked.retain(|s| !excluded.contains_key(s));
            if ranked.len() < t || Instant::now() >= deadline {
                return Err(self.give_up(&job.what(), &excluded, ranked.len()));
            }
            let chosen: Vec<MemberId> = ranked.into_iter().take(t).collect();
            let Some(request) = job.request(self, &chosen).await? else {
                continue;
            };
            let started = Instant::now();
            let until = deadline.min(started + self.per_attempt);
            let got = self.ask(&request, &chosen, J::ANSWER, until).await?;
            if !got.refusals.is_empty() || got.replies.len() < t {
                self.note_failures(&got, &chosen, started.elapsed(), &mut excluded);
                self.log(job.label(), &excluded, &chosen);
                continue;
            }
            let mut shares = BTreeMap::new();
            for (&seat, c) in &got.replies {
                match job.open(self, c, &request) {
                    Some(s) => {
                        shares.insert(seat, s);
                    }
                    None => {
                        let what = J::UNREADABLE;
                        excluded.insert(seat, format!("{} {what}", self.name(seat)));
                        self.suspect(seat);
                    }
                }
            }
            if shares.len() < t {
                continue;
            }
            match job.combine(self, &shares) {
                Ok(x) => return Ok(x),
                Err(Error::Ceremony(crate::ceremony::Error::Culprit { seats, .. }))
                    if self.blame(&seats, J::INVALID, &mut excluded) =>
                {
                    self.log(job.label(), &excluded, &chosen);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// What differs between asking co-signers for a signature and for an ECDH share; the
/// rest (choosing, asking, blaming, retrying, giving up) is [`Cosigners::run`].
trait Job: Send {
    type Share: Send;
    type Output;
    /// The round co-signers answer with.
    const ANSWER: Round;
    /// "… sent an unreadable signature share".
    const UNREADABLE: &'static str;
    /// "… sent an invalid signature share", for the seats a combine blames.
    const INVALID: &'static str;
    /// For the final error: "the co-signers could not {what}".
    fn what(&self) -> String;
    /// For the operator's log.
    fn label(&self) -> &str;
    /// Seats that could be asked now, best first.
    fn candidates<'a>(&'a mut self, co: &'a Cosigners) -> BoxFut<'a, Result<Vec<MemberId>>>;
    /// The request for `chosen`, or `None` to choose again.
    fn request<'a>(
        &'a mut self,
        co: &'a Cosigners,
        chosen: &'a [MemberId],
    ) -> BoxFut<'a, Result<Option<Event>>>;
    /// A co-signer's answer to `request`, if it is readable.
    fn open(&self, co: &Cosigners, answer: &Checked, request: &Event) -> Option<Self::Share>;
    /// The result from t shares (a culprit error names the seats to blame).
    fn combine(
        &self,
        co: &Cosigners,
        shares: &BTreeMap<MemberId, Self::Share>,
    ) -> Result<Self::Output>;
}

/// Bounds a co-signer's reason before it goes into a reply.
fn clip(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).take(300).collect();
    s
}

impl Backend for Cosigners {
    fn sign(&self, unsigned: UnsignedEvent) -> BoxFut<'_, Result<Event>> {
        Box::pin(self.run(sign::SignJob::new(unsigned)))
    }

    fn ecdh(&self, peer: PublicKey, method: Method) -> BoxFut<'_, Result<SharedX>> {
        Box::pin(self.run(ecdh::EcdhJob::new(peer, method)))
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
