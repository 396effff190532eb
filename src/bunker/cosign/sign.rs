//! Signing through co-signers, ROAST over FROST (see the module above): sessions start
//! whenever t co-signers are ready, each share is judged on arrival, the first session
//! with t valid shares signs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use nostr::{Event, UnsignedEvent};

use super::{Asked, Cosigners, Error, Excluded, Heard, Result};
use crate::bunker::store;
use crate::ceremony::{frost, signing, MemberId};
use crate::envelope::payload::sign::{RequestPayload, SharePayload};
use crate::envelope::Round;
use crate::events::Message;

const WHAT: &str = "sign_event";

/// One FROST session: t co-signers, their commitments, the shares judged valid so far.
struct Session {
    asked: Asked,
    package: frost::SigningPackage,
    shares: BTreeMap<MemberId, frost::round2::SignatureShare>,
}

pub(super) async fn sign(co: &Cosigners, unsigned: UnsignedEvent) -> Result<Event> {
    let message = Message::Event {
        event: unsigned.clone(),
    };
    let bytes = message.bytes();
    let t = co.t();
    let deadline = Instant::now() + co.budget;
    // Subscribed before the first request goes in, so no answer can slip past.
    let mut news = co.door.subscribe(&co.ceremony.id);
    let mut excluded = Excluded::default();
    let mut sessions: Vec<Session> = vec![];
    // Seats in an open session that have not answered it (ROAST: not ready).
    let mut busy: BTreeSet<MemberId> = BTreeSet::new();
    let mut progress = Instant::now();
    loop {
        // Start a session whenever t co-signers are ready.
        let avail = co.pool.available(co).await?;
        let ready: Vec<MemberId> = avail
            .iter()
            .copied()
            .filter(|s| !busy.contains(s) && !excluded.0.contains_key(s))
            .collect();
        let ranked = co.rank_marked(ready).await?;
        let ready: Vec<MemberId> = ranked.iter().map(|k| k.0).collect();
        // A live session (no member out) younger than the hedge delay is left to finish
        // first: with everyone healthy one session signs, instead of a second one for
        // every co-signer that answers before its partner.
        let hedge = co.hedge();
        let hold = sessions
            .iter()
            .filter(|s| s.asked.seats.iter().all(|m| !excluded.0.contains_key(m)))
            .map(|s| s.asked.asked_at + hedge)
            .max()
            .filter(|at| *at > Instant::now());
        // A session that would hold a co-signer that failed lately (silent, say) waits a
        // hedge delay for the others' next commitments first: under load the healthy
        // ones are often just busy, and a hung one would cost a hedge anyway.
        let suspect_in = ranked.iter().take(t).any(|k| k.1);
        let hold =
            hold.or_else(|| Some(progress + hedge).filter(|at| suspect_in && *at > Instant::now()));
        if ready.len() >= t && hold.is_none() {
            let chosen: Vec<MemberId> = ready[..t].to_vec();
            if let Some(s) = start(co, &message, &bytes, chosen).await? {
                busy.extend(s.asked.seats.iter().copied());
                sessions.push(s);
                progress = Instant::now();
            }
            // Started, or another request took a commitment first: look again.
            continue;
        }
        // Fewer than t ready, or holding off: wait for answers or new commitments (concurrent requests
        // may have taken every pooled one; agents publish more as they answer), unless
        // nothing can help any more or nothing has happened for the stall bound.
        let until = deadline.min(progress + co.stall);
        let mut could: BTreeSet<MemberId> = busy.clone();
        could.extend(avail.iter().copied());
        if co.hopeful(&excluded, &could) < t || Instant::now() >= until {
            let mut out = Excluded(excluded.0.clone());
            for seat in co.group.roster.ids() {
                let idle = !busy.contains(&seat) && !avail.contains(&seat);
                if idle && !co.group.has_left(seat) && !out.0.contains_key(&seat) {
                    let why = format!("{} has no unused commitment", co.name(seat));
                    out.0.insert(seat, why);
                }
            }
            let open = sessions.iter().map(|s| &s.asked);
            return Err(co.give_up("sign", &out, open, ready.len()));
        }
        let until = hold.map_or(until, |h| h.min(until));
        co.news(&mut news, until).await;
        for s in &mut sessions {
            for heard in co.heard(&mut s.asked, Round::SignShare).await? {
                progress = Instant::now();
                match heard {
                    Heard::Refused(seat, why) => {
                        busy.remove(&seat);
                        let why = format!("{} refused: {why}", co.name(seat));
                        co.exclude(WHAT, &mut excluded, seat, why);
                    }
                    Heard::Answer(seat, c) => {
                        busy.remove(&seat);
                        co.observe(s.asked.asked_at.elapsed());
                        let share = match c.payload::<SharePayload>(None) {
                            Ok(p) if p.request == s.asked.rid => p.share,
                            _ => {
                                let why =
                                    format!("{} sent an unreadable signature share", co.name(seat));
                                co.exclude(WHAT, &mut excluded, seat, why);
                                continue;
                            }
                        };
                        let public = &co.group.public_key_package;
                        let roster = &co.group.roster;
                        if signing::verify_share(roster, &s.package, seat, &share, public).is_err()
                        {
                            let why = format!("{} sent an invalid signature share", co.name(seat));
                            co.exclude(WHAT, &mut excluded, seat, why);
                            continue;
                        }
                        s.shares.insert(seat, share);
                    }
                }
            }
        }
        if let Some(done) = sessions.iter().position(|s| s.shares.len() == t) {
            let s = &sessions[done];
            let group = &co.group;
            let sig = signing::aggregate(
                &group.roster,
                &s.package,
                &s.shares,
                &group.public_key_package,
            )?;
            // Silent in a session older than the one that signed: left behind.
            let late = s.asked.asked_at.elapsed();
            co.left_behind(WHAT, sessions.iter().map(|s| &s.asked), late);
            // events::finish_aggregate checks the signature with libsecp256k1.
            return crate::events::finish_aggregate(unsigned, &sig).map_err(Error::signer);
        }
    }
}

/// Seals a `sign-request` for `chosen` over their commitments and sends it, after marking
/// the commitments used (all or none); `None` when a seat has none left or one was used.
async fn start(
    co: &Cosigners,
    message: &Message,
    bytes: &[u8],
    chosen: Vec<MemberId>,
) -> Result<Option<Session>> {
    let group = &co.group;
    // Taken under the pool's lock: a concurrent request cannot pick the same ones.
    let Some(taken) = co.pool.take(&chosen).await else {
        return Ok(None);
    };
    let commitments = taken
        .iter()
        .map(|(s, (e, _))| (*s, e.commitments))
        .collect();
    let ids: BTreeMap<MemberId, String> =
        taken.iter().map(|(s, (e, _))| (*s, e.id.clone())).collect();
    let package = signing::signing_package(&group.roster, &commitments, bytes)?;
    let payload = RequestPayload {
        group: group.npub.clone(),
        message: message.clone(),
        signing_package: package.clone(),
        commitment_ids: ids.clone(),
    };
    let request = co.seal(Round::SignRequest, &payload)?;
    let (cid, rid) = (co.ceremony.id.clone(), request.id.to_hex());
    let used: Vec<(u16, String)> = ids.into_iter().collect();
    let used_keys = used.clone();
    let now = crate::bunker::unix_now();
    // Durable before the request is out: a commitment is never handed out twice, by
    // concurrent requests or after a restart.
    let fresh = co
        .door
        .db()
        .call(move |c| store::mark_used(c, &cid, &used, &rid, now))
        .await?;
    if !fresh {
        // One was used already (marked by a bunker before a restart, say): it is gone for
        // good; the others go back.
        let cid = co.ceremony.id.clone();
        let used = co
            .door
            .db()
            .read(move |c| store::used_commitments(c, &cid, &used_keys))
            .await?;
        let unused = taken
            .into_iter()
            .filter(|(s, (e, _))| !used.contains(&(*s, e.id.clone())))
            .collect();
        co.pool.put_back(unused).await;
        return Ok(None);
    }
    Ok(Some(Session {
        asked: co.send(request, chosen).await?,
        package,
        shares: BTreeMap::new(),
    }))
}
