//! `passport cosign --via URL`: a co-signer agent for the bunker inside `passport serve`.
//!
//! It keeps a pool of single-commitment `sign-commit` packages on serve, long-polls the
//! group's ceremony, and answers requests that name its seat: a `sign-request` that uses
//! one of its open commitments gets a `sign-share` (the nonce is burnt durably first), an
//! `ecdh-request` gets an `ecdh-share` whose s_i·P and DLEQ proof are NIP-44 encrypted to
//! the request's author. Either may instead get a `sign-refusal` with the reason, when the
//! agent's policy (coordinator, kinds, methods, rate, the operator's approval) says no.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nostr::nips::nip44;
use nostr::{Event, Keys, PublicKey, Timestamp};
use serde::{Deserialize, Serialize};

use super::sign::{self, Consent, Summary};
use super::{input_of, pick_seat};
use crate::ceremony::frost::round2::SignatureShare;
use crate::ceremony::{ecdh, MemberId};
use crate::envelope::payload::cosign::{EcdhRequestPayload, EcdhSharePayload, RefusalPayload};
use crate::envelope::payload::sign::{CommitPayload, RequestPayload, SharePayload};
use crate::envelope::{self, Binding, Draft, Round, Sender};
use crate::error::{Error, Result};
use crate::events::Message;
use crate::group::Group;
use crate::home::Home;
use crate::transport::{Endpoint, Via};

/// Requests older than this (by their `created_at`) are not answered: their coordinator
/// has given up on them.
pub const MAX_REQUEST_AGE: u64 = 120;

/// Pooled commitments are replaced this long before they expire, so a coordinator never
/// picks one that expires while the request is on its way.
const EXPIRY_MARGIN: u64 = 600;

/// The ECDH methods a co-signer may serve; `sign_event` is the signing method.
pub const METHODS: [&str; 5] = [
    "sign_event",
    "nip44_encrypt",
    "nip44_decrypt",
    "nip04_encrypt",
    "nip04_decrypt",
];

/// What the operator is asked before an ECDH contribution.
#[derive(Clone, Debug, Serialize)]
pub struct EcdhSummary {
    pub group: String,
    pub member: String,
    pub coordinator: String,
    pub method: String,
    pub peer: String,
}

/// The agent's own rules, checked before anything is computed.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Only these coordinators' requests are answered.
    pub coordinator: Option<PublicKey>,
    /// Event kinds it signs [default: any]; raw messages are refused when set.
    pub kinds: Option<Vec<u16>>,
    /// Methods it serves [default: all of [`METHODS`]].
    pub methods: Option<Vec<String>>,
    /// Answers (not refusals) per minute.
    pub rate_per_min: Option<u32>,
}

/// Asks the operator (interactive approval); `false` refuses.
pub trait Approver {
    fn sign(&mut self, s: &Summary) -> bool;
    fn ecdh(&mut self, s: &EcdhSummary) -> bool;
}

pub struct Options<'a> {
    pub group: &'a str,
    pub member: Option<&'a str>,
    pub pool: usize,
    pub policy: Policy,
    /// Stop after this long [default: run until stopped].
    pub timeout: Option<Duration>,
    /// Stop after this many answered or refused requests.
    pub max_requests: Option<u64>,
    /// Test only: send wrong signature shares and ECDH points.
    pub corrupt_for_testing: bool,
}

/// One request handled.
#[derive(Clone, Debug, Serialize)]
pub struct Answered {
    pub member: String,
    pub request: String,
    /// `sign_event` or an ECDH method.
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<u16>,
    /// `answered` or `refused`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub coordinator: String,
}

/// What a run did, when it stops.
#[derive(Clone, Debug, Serialize)]
pub struct Finished {
    pub group: String,
    pub member: String,
    pub answered: u64,
    pub refused: u64,
}

impl super::Report for Finished {
    fn human(&self) -> String {
        format!(
            "{} stopped co-signing for {}: {} answered, {} refused",
            self.member, self.group, self.answered, self.refused
        )
    }
}

/// Events an agent reports while it runs.
pub enum Note<'a> {
    /// Connected, with this many commitments published.
    Ready {
        member: &'a str,
        commitments: usize,
    },
    Answered(&'a Answered),
    /// Something went wrong that the agent survives (serve unreachable, a bad request).
    Problem(&'a str),
}

/// Saved in the home: the commitment packages this seat has published and not used.
#[derive(Serialize, Deserialize, Default)]
struct PoolState {
    commits: Vec<Event>,
}

struct Agent<'a> {
    home: &'a Home,
    group: Group,
    seat: MemberId,
    name: String,
    keys: Keys,
    opts: &'a Options<'a>,
    state_rel: String,
    pool: PoolState,
    recent: VecDeque<Instant>,
    answered_ecdh: VecDeque<String>,
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
    if !matches!(endpoint, Endpoint::Serve(_)) {
        return Err(Error::Invalid(
            "cosign needs --via http(s)://… of the `passport serve` that runs the bunker".into(),
        ));
    }
    if opts.pool == 0 || opts.pool > 100 {
        return Err(Error::Invalid("--pool must be between 1 and 100".into()));
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
    let mut via = Via::connect(endpoint, &keys, &group.roster)?;
    via.accept_requests_from_anyone();
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
    a.replenish(&mut via)?;
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
    loop {
        if stop.load(Ordering::SeqCst)
            || opts
                .max_requests
                .is_some_and(|m| done.answered + done.refused >= m)
        {
            break;
        }
        let left = match opts.timeout {
            Some(t) => match t.checked_sub(started.elapsed()) {
                Some(l) if !l.is_zero() => l,
                _ => break,
            },
            None => Duration::from_secs(5),
        };
        if let Err(e) = via.wait(left.min(Duration::from_secs(5))) {
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
        if let Err(e) = a.replenish(&mut via) {
            note(Note::Problem(&format!("cannot publish commitments: {e}")));
        }
    }
    via.close();
    Ok(done)
}

impl Agent<'_> {
    fn nonce(&self, id: &str) -> String {
        sign::nonce_name(&self.group, self.seat, id)
    }

    fn commit_ids(ev: &Event) -> Vec<String> {
        serde_json::from_str::<CommitPayload>(&ev.content)
            .map(|p| p.commitments.into_iter().map(|c| c.id).collect())
            .unwrap_or_default()
    }

    /// Drops the pool's commitments whose nonces are gone, and burns those about to
    /// expire (a coordinator refuses expired ones); true if any were dropped.
    fn prune(&mut self) -> bool {
        let (home, group, seat) = (self.home, &self.group, self.seat);
        let before = self.pool.commits.len();
        let soon = crate::clock::now() + EXPIRY_MARGIN;
        let mut stale = vec![];
        self.pool.commits.retain(|ev| {
            let ids = Self::commit_ids(ev);
            let expiring = serde_json::from_str::<CommitPayload>(&ev.content)
                .map_or(true, |p| p.expires_at(ev) <= soon);
            if expiring {
                stale.extend(ids);
                return false;
            }
            ids.iter()
                .any(|id| home.keystore().exists(&sign::nonce_name(group, seat, id)))
        });
        for id in stale {
            let _ = self.discard(&id);
        }
        before != self.pool.commits.len()
    }

    /// Publishes new commitments until the pool holds `opts.pool` open ones.
    fn replenish(&mut self, via: &mut Via) -> Result<()> {
        let mut changed = self.prune();
        while self.pool.commits.len() < self.opts.pool {
            let r = sign::commit(self.home, &self.group.npub, Some(&self.name), 1, &mut *via)?;
            self.pool.commits.push(r.event);
            changed = true;
            // Saved after each one, so a crash never forgets a published commitment.
            self.home.write_state(&self.state_rel, &self.pool)?;
        }
        if changed {
            self.home.write_state(&self.state_rel, &self.pool)?;
        }
        Ok(())
    }

    /// Burns a commitment without signing (the coordinator counts it as used).
    fn discard(&self, id: &str) -> Result<()> {
        match self.home.keystore().consume(&self.nonce(id)) {
            Ok(()) | Err(crate::keystore::Error::NonceConsumed(_)) => Ok(()),
            Err(crate::keystore::Error::Missing(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn stale(ev: &Event) -> bool {
        Timestamp::now().as_secs() > ev.created_at.as_secs() + MAX_REQUEST_AGE
    }

    /// The rate and coordinator rules shared by both request kinds: a refusal reason.
    fn common_policy(&mut self, coordinator: &PublicKey, method: &str) -> Option<String> {
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

    fn publish_refusal(&self, via: &mut Via, request: &Event, reason: &str) -> Result<()> {
        let payload = RefusalPayload {
            request: request.id.to_hex(),
            reason: reason.to_owned(),
        };
        self.publish(via, Round::SignRefusal, request, &payload)
    }

    fn publish<T: Serialize>(
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

    fn answered(
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

    fn on_sign_request(
        &mut self,
        ev: &Event,
        approver: &mut dyn Approver,
        via: &mut Via,
    ) -> Result<Option<Answered>> {
        let input = input_of(ev, &format!("request {}", &ev.id.to_hex()[..12]))?;
        let req = match sign::check_request(Some(self.home), None, &input) {
            Ok(r) => r,
            Err(e) => {
                // A bad request that names one of our open commitments: burn it (the
                // coordinator counts it as used) and say why, instead of going silent.
                let mine = serde_json::from_str::<RequestPayload>(&ev.content)
                    .ok()
                    .and_then(|p| p.commitment_ids.get(&self.seat).cloned())
                    .filter(|c| self.home.keystore().exists(&self.nonce(c)));
                let Some(cid) = mine else { return Err(e) };
                self.discard(&cid)?;
                let reason = format!("{} cannot use this request: {e}", self.name);
                self.publish_refusal(via, ev, &reason)?;
                return Ok(Some(self.answered(ev, "sign_event", None, Some(reason))));
            }
        };
        let Some(cid) = req.payload.commitment_ids.get(&self.seat).cloned() else {
            return Ok(None);
        };
        if !req.signers.contains(&self.seat) || !self.home.keystore().exists(&self.nonce(&cid)) {
            // Not ours, or answered already (e.g. before a restart).
            return Ok(None);
        }
        if Self::stale(ev) {
            self.discard(&cid)?;
            return Ok(None);
        }
        let kind = match &req.payload.message {
            Message::Event { event } => Some(event.kind.as_u16()),
            Message::Raw { .. } => None,
        };
        let mut refusal = self.common_policy(&ev.pubkey, "sign_event");
        if refusal.is_none() {
            if let Some(kinds) = &self.opts.policy.kinds {
                refusal = match kind {
                    Some(k) if kinds.contains(&k) => None,
                    Some(k) => Some(format!(
                        "{}'s policy does not allow kind {k} (allowed: {})",
                        self.name,
                        kinds
                            .iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    None => Some(format!(
                        "{}'s policy allows only event kinds, not raw messages",
                        self.name
                    )),
                };
            }
        }
        if refusal.is_none() {
            let mut consent = |s: &Summary| approver.sign(s);
            let consent: Consent<'_> = &mut consent;
            match sign::make_share(self.home, &req, self.seat, consent) {
                Ok(share) => {
                    let share = if self.opts.corrupt_for_testing {
                        corrupt(share)
                    } else {
                        share
                    };
                    let payload = SharePayload {
                        request: ev.id.to_hex(),
                        share,
                    };
                    self.publish(via, Round::SignShare, ev, &payload)?;
                    self.recent.push_back(Instant::now());
                    return Ok(Some(self.answered(ev, "sign_event", kind, None)));
                }
                Err(Error::Refused(_)) => {
                    refusal = Some(format!("{}'s operator declined", self.name));
                }
                Err(e) => refusal = Some(format!("{} cannot sign: {e}", self.name)),
            }
        }
        let reason = refusal.unwrap_or_default();
        self.discard(&cid)?;
        self.publish_refusal(via, ev, &reason)?;
        Ok(Some(self.answered(ev, "sign_event", kind, Some(reason))))
    }

    fn on_ecdh_request(
        &mut self,
        ev: &Event,
        approver: &mut dyn Approver,
        via: &mut Via,
    ) -> Result<Option<Answered>> {
        let id = ev.id.to_hex();
        if self.answered_ecdh.contains(&id) || Self::stale(ev) {
            return Ok(None);
        }
        let input = input_of(ev, &format!("ECDH request {}", &id[..12]))?;
        let checked = envelope::check(
            &self.group.roster,
            input.event,
            input.meta,
            Round::EcdhRequest,
            Sender::Anyone,
        )?;
        let p: EcdhRequestPayload = checked.payload(None)?;
        if p.group != self.group.npub || !p.signers.contains(&self.seat) {
            return Ok(None);
        }
        if self.answered_ecdh.len() >= 256 {
            self.answered_ecdh.pop_front();
        }
        self.answered_ecdh.push_back(id.clone());
        let bad = |what: &str| Error::Rejected(format!("ECDH request {}: bad {what}", &id[..12]));
        let peer = PublicKey::from_hex(&p.peer).map_err(|_| bad("peer key"))?;
        let context = hex::decode(&p.context).map_err(|_| bad("context"))?;
        let mut refusal = if METHODS[1..].contains(&p.method.as_str()) {
            self.common_policy(&ev.pubkey, &p.method)
        } else {
            Some(format!("{} is not an ECDH method", p.method))
        };
        if refusal.is_none() {
            let summary = EcdhSummary {
                group: self.group.npub.clone(),
                member: self.name.clone(),
                coordinator: checked.sender.clone(),
                method: p.method.clone(),
                peer: p.peer.clone(),
            };
            if !approver.ecdh(&summary) {
                refusal = Some(format!("{}'s operator declined", self.name));
            }
        }
        if let Some(reason) = refusal {
            self.publish_refusal(via, ev, &reason)?;
            return Ok(Some(self.answered(ev, &p.method, None, Some(reason))));
        }
        let key = self.home.share(&self.group, self.seat)?;
        let mut share = ecdh::share(&key, &peer, &context, &mut rand::rngs::OsRng)?;
        drop(key);
        if self.opts.corrupt_for_testing {
            share.point = share.proof.a2;
        }
        let json = zeroize::Zeroizing::new(
            serde_json::to_string(&share).map_err(|e| Error::Invalid(e.to_string()))?,
        );
        let sealed = nip44::encrypt(
            self.keys.secret_key(),
            &ev.pubkey,
            json.as_bytes(),
            nip44::Version::V2,
        )
        .map_err(|e| Error::Invalid(format!("cannot encrypt the ECDH share: {e}")))?;
        let payload = EcdhSharePayload {
            request: id,
            share: sealed,
        };
        self.publish(via, Round::EcdhShare, ev, &payload)?;
        self.recent.push_back(Instant::now());
        Ok(Some(self.answered(ev, &p.method, None, None)))
    }
}

/// Test only: a different, valid-looking signature share.
fn corrupt(share: SignatureShare) -> SignatureShare {
    let mut bytes = share.serialize();
    for i in (0..bytes.len()).rev() {
        bytes[i] ^= 1;
        if let Ok(s) = SignatureShare::deserialize(&bytes) {
            return s;
        }
        bytes[i] ^= 1;
    }
    share
}
