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

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nostr::nips::nip44;
use nostr::{Event, JsonUtil, Keys, PublicKey};

use super::backend::{Backend, BoxFut, Error, Result};
use super::method::Method;
use super::store;
use crate::ceremony::ecdh::{self, EcdhShare, SharedX};
use crate::ceremony::{signing, MemberId};
use crate::envelope::payload::cosign::{EcdhRequestPayload, EcdhSharePayload, RefusalPayload};
use crate::envelope::payload::sign::{CommitEntry, CommitPayload, RequestPayload, SharePayload};
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

    /// The newest unused commitment of each seat.
    async fn available(&self) -> Result<BTreeMap<MemberId, CommitEntry>> {
        let cid = self.ceremony.id.clone();
        let npub = self.group.npub.clone();
        self.door
            .db()
            .call(move |c| {
                let rows = door::recent_of_round(c, &cid, Round::SignCommit, COMMIT_WINDOW)?;
                let mut entries: Vec<(MemberId, CommitEntry)> = vec![];
                let now = crate::clock::now();
                for (seat, _, json) in rows {
                    // Serve checked these packages when it stored them.
                    let Ok(ev) = Event::from_json(&json) else {
                        continue;
                    };
                    let Ok(p) = serde_json::from_str::<CommitPayload>(&ev.content) else {
                        continue;
                    };
                    // Expired commitments are refused by their signers: never pick one.
                    if seat == 0 || p.group != npub || now >= p.expires_at(&ev) {
                        continue;
                    }
                    entries.extend(p.commitments.into_iter().map(|e| (seat, e)));
                }
                let keys: Vec<(u16, String)> =
                    entries.iter().map(|(s, e)| (*s, e.id.clone())).collect();
                let used = store::used_commitments(c, &cid, &keys)?;
                let mut out = BTreeMap::new();
                for (seat, e) in entries {
                    if !used.contains(&(seat, e.id.clone())) {
                        out.entry(seat).or_insert(e);
                    }
                }
                Ok(out)
            })
            .await
            .map_err(Error::from)
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
                eprintln!(
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

    async fn sign_event(&self, template: Vec<u8>) -> Result<Event> {
        let deadline = Instant::now() + self.budget;
        let group = &self.group;
        let roster = &group.roster;
        let t = roster.threshold as usize;
        let unsigned = crate::events::from_template(
            &template,
            &group.public_key(),
            nostr::Timestamp::now(),
        )
        .map_err(Error::signer)?;
        let message = crate::events::Message::Event {
            event: unsigned.clone(),
        };
        let mut excluded: BTreeMap<MemberId, String> = BTreeMap::new();
        loop {
            let mut avail = self.available().await?;
            avail.retain(|s, _| !excluded.contains_key(s));
            let ranked = self.rank(avail.keys().copied().collect()).await?;
            if ranked.len() < t || Instant::now() >= deadline {
                return Err(self.give_up("sign", &excluded, ranked.len()));
            }
            let chosen: Vec<MemberId> = ranked.into_iter().take(t).collect();
            let commitments = chosen.iter().map(|s| (*s, avail[s].commitments)).collect();
            let ids: BTreeMap<MemberId, String> =
                chosen.iter().map(|s| (*s, avail[s].id.clone())).collect();
            let package = signing::signing_package(roster, &commitments, &message.bytes())?;
            let payload = RequestPayload {
                group: group.npub.clone(),
                message: message.clone(),
                signing_package: package.clone(),
                commitment_ids: ids.clone(),
            };
            let request = self.seal(Round::SignRequest, &payload)?;
            let (cid, rid) = (self.ceremony.id.clone(), request.id.to_hex());
            let used: Vec<(u16, String)> = ids.into_iter().collect();
            let fresh = self
                .door
                .db()
                .call(move |c| store::mark_used(c, &cid, &used, &rid, super::unix_now()))
                .await?;
            if !fresh {
                // Another request took one of these commitments first: pick again.
                continue;
            }
            let started = Instant::now();
            let until = deadline.min(started + self.per_attempt);
            let got = self.ask(&request, &chosen, Round::SignShare, until).await?;
            if !got.refusals.is_empty() || got.replies.len() < t {
                self.note_failures(&got, &chosen, started.elapsed(), &mut excluded);
                self.log("sign_event", &excluded, &chosen);
                continue;
            }
            let mut shares = BTreeMap::new();
            for (&seat, c) in &got.replies {
                match c.payload::<SharePayload>(None) {
                    Ok(p) if p.request == request.id.to_hex() => {
                        shares.insert(seat, p.share);
                    }
                    _ => {
                        excluded.insert(
                            seat,
                            format!("{} sent an unreadable signature share", self.name(seat)),
                        );
                    }
                }
            }
            if shares.len() < t {
                continue;
            }
            match signing::aggregate(roster, &package, &shares, &group.public_key_package) {
                Ok(sig) => {
                    // events::finish checks the signature with libsecp256k1.
                    return crate::events::finish_aggregate(unsigned, &sig).map_err(Error::signer);
                }
                Err(crate::ceremony::Error::Culprit { seats, .. })
                    if self.blame(&seats, "sent an invalid signature share", &mut excluded) =>
                {
                    self.log("sign_event", &excluded, &chosen);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Seats that fetched or posted recently, best first.
    async fn online(&self) -> Result<Vec<MemberId>> {
        let cid = self.ceremony.id.clone();
        let posted = self
            .door
            .db()
            .call(move |c| door::last_posted(c, &cid))
            .await?;
        let now = super::unix_now() as i64;
        let presence = self.door.presence(&self.ceremony.id);
        let seats: Vec<MemberId> = self
            .group
            .roster
            .ids()
            .filter(|&seat| !self.group.has_left(seat))
            .filter(|&seat| {
                let recent_post = posted
                    .iter()
                    .any(|(s, at)| *s == seat && now - at < ONLINE_FOR.as_secs() as i64);
                let npub = self.group.roster.member(seat).map(|m| m.npub);
                let polling = presence.iter().any(|(pk, s)| {
                    Some(*pk) == npub && (s.polling > 0 || s.last.elapsed() < ONLINE_FOR)
                });
                recent_post || polling
            })
            .collect();
        self.rank(seats).await
    }

    async fn ecdh_with(&self, peer: PublicKey, method: Method) -> Result<SharedX> {
        let deadline = Instant::now() + self.budget;
        let roster = &self.group.roster;
        let t = roster.threshold as usize;
        let mut excluded: BTreeMap<MemberId, String> = BTreeMap::new();
        loop {
            let mut ranked = self.online().await?;
            ranked.retain(|s| !excluded.contains_key(s));
            if ranked.len() < t || Instant::now() >= deadline {
                return Err(self.give_up(
                    &format!("compute the shared key for {method}"),
                    &excluded,
                    ranked.len(),
                ));
            }
            let chosen: Vec<MemberId> = ranked.into_iter().take(t).collect();
            let context: [u8; 32] = rand::random();
            let payload = EcdhRequestPayload {
                group: self.group.npub.clone(),
                peer: peer.to_hex(),
                context: hex::encode(context),
                signers: chosen.clone(),
                method: method.as_str().to_owned(),
            };
            let request = self.seal(Round::EcdhRequest, &payload)?;
            let started = Instant::now();
            let until = deadline.min(started + self.per_attempt);
            let got = self.ask(&request, &chosen, Round::EcdhShare, until).await?;
            if !got.refusals.is_empty() || got.replies.len() < t {
                self.note_failures(&got, &chosen, started.elapsed(), &mut excluded);
                self.log(method.as_str(), &excluded, &chosen);
                continue;
            }
            let mut shares = BTreeMap::new();
            for (&seat, c) in &got.replies {
                match self.open_share(c, &request) {
                    Some(s) => {
                        shares.insert(seat, s);
                    }
                    None => {
                        excluded.insert(
                            seat,
                            format!("{} sent an unreadable ECDH share", self.name(seat)),
                        );
                        self.suspect(seat);
                    }
                }
            }
            if shares.len() < t {
                continue;
            }
            match ecdh::combine(
                &self.group.public_key_package,
                roster,
                &peer,
                &context,
                &shares,
            ) {
                Ok(x) => return Ok(x),
                Err(crate::ceremony::Error::Culprit { seats, .. })
                    if self.blame(
                        &seats,
                        "sent an invalid ECDH share (its DLEQ proof does not verify)",
                        &mut excluded,
                    ) =>
                {
                    self.log(method.as_str(), &excluded, &chosen);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Decrypts a co-signer's ECDH share (encrypted to the transport key).
    fn open_share(&self, c: &Checked, request: &Event) -> Option<EcdhShare> {
        let p: EcdhSharePayload = c.payload(None).ok()?;
        if p.request != request.id.to_hex() {
            return None;
        }
        let json = zeroize::Zeroizing::new(
            nip44::decrypt(self.transport.secret_key(), &c.event.pubkey, &p.share).ok()?,
        );
        serde_json::from_str(&json).ok()
    }
}

/// Bounds a co-signer's reason before it goes into a reply.
fn clip(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).take(300).collect();
    s
}

impl Backend for Cosigners {
    fn sign(&self, template: Vec<u8>) -> BoxFut<'_, Result<Event>> {
        Box::pin(self.sign_event(template))
    }

    fn ecdh(&self, peer: PublicKey, method: Method) -> BoxFut<'_, Result<SharedX>> {
        Box::pin(self.ecdh_with(peer, method))
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
