//! ECDH through co-signers: one `ecdh-request` to every online co-signer; each
//! `ecdh-share` (encrypted to the transport key) has its DLEQ proof checked on arrival,
//! and the first t valid shares are combined.

use std::collections::BTreeMap;
use std::time::Instant;

use nostr::PublicKey;

use super::{Cosigners, Excluded, Heard, Result, ONLINE_FOR};
use crate::bunker::method::Method;
use crate::ceremony::ecdh::{self, EcdhShare, SharedX};
use crate::ceremony::MemberId;
use crate::envelope::payload::cosign::{EcdhRequestPayload, EcdhSharePayload};
use crate::envelope::{Checked, Round};

pub(super) async fn ecdh(co: &Cosigners, peer: PublicKey, method: Method) -> Result<SharedX> {
    let what = format!("compute the shared key for {method}");
    let label = method.as_str();
    let t = co.t();
    let deadline = Instant::now() + co.budget;
    let mut news = co.door.subscribe(&co.ceremony.id);
    let mut excluded = Excluded::default();
    let seats = online(co).await?;
    if seats.len() < t {
        return Err(co.give_up(&what, &excluded, std::iter::empty(), seats.len()));
    }
    let context: [u8; 32] = rand::random();
    let payload = EcdhRequestPayload {
        group: co.group.npub.clone(),
        peer: peer.to_hex(),
        context: hex::encode(context),
        signers: seats.clone(),
        method: label.to_owned(),
    };
    let mut asked = co
        .send(co.seal(Round::EcdhRequest, &payload)?, seats)
        .await?;
    let (public, roster) = (&co.group.public_key_package, &co.group.roster);
    let mut valid: BTreeMap<MemberId, EcdhShare> = BTreeMap::new();
    let mut progress = Instant::now();
    loop {
        for heard in co.heard(&mut asked, Round::EcdhShare).await? {
            progress = Instant::now();
            match heard {
                Heard::Refused(seat, why) => {
                    let why = format!("{} refused: {why}", co.name(seat));
                    co.exclude(label, &mut excluded, seat, why);
                }
                Heard::Answer(seat, c) => match open(co, &c, &asked.rid) {
                    None => {
                        let why = format!("{} sent an unreadable ECDH share", co.name(seat));
                        co.exclude(label, &mut excluded, seat, why);
                    }
                    Some(share) => {
                        if ecdh::verify_share(public, roster, seat, &peer, &context, &share).is_ok()
                        {
                            co.observe(asked.asked_at.elapsed());
                            valid.insert(seat, share);
                        } else {
                            let why = format!(
                                "{} sent an invalid ECDH share (its DLEQ proof does not verify)",
                                co.name(seat)
                            );
                            co.exclude(label, &mut excluded, seat, why);
                        }
                    }
                },
            }
        }
        if valid.len() >= t {
            let first: BTreeMap<MemberId, EcdhShare> = valid.into_iter().take(t).collect();
            co.left_behind(label, std::iter::once(&asked), co.hedge());
            return Ok(ecdh::combine(public, roster, &peer, &context, &first)?);
        }
        let silent = asked.silent().count();
        let until = deadline.min(progress + co.stall);
        if valid.len() + silent < t || Instant::now() >= until {
            return Err(co.give_up(&what, &excluded, std::iter::once(&asked), valid.len()));
        }
        co.news(&mut news, until).await;
    }
}

/// Decrypts a co-signer's ECDH share (encrypted to the transport key) to request `rid`.
fn open(co: &Cosigners, c: &Checked, rid: &str) -> Option<EcdhShare> {
    let p: EcdhSharePayload = c.payload(None).ok()?;
    if p.request != rid {
        return None;
    }
    let json = zeroize::Zeroizing::new(
        crate::conversation::pairs::decrypt(&co.transport, &c.event.pubkey, &p.share).ok()?,
    );
    serde_json::from_str(&json).ok()
}

/// Seats that fetched or posted recently, best first.
async fn online(co: &Cosigners) -> Result<Vec<MemberId>> {
    let posted = co.last_posted().await?;
    let now = crate::bunker::unix_now() as i64;
    let presence = co.door.presence(&co.ceremony.id);
    let seats: Vec<MemberId> = co
        .group
        .roster
        .ids()
        .filter(|&seat| !co.group.has_left(seat))
        .filter(|&seat| {
            let recent_post = posted
                .iter()
                .any(|(s, at)| *s == seat && now - at < ONLINE_FOR.as_secs() as i64);
            let npub = co.group.roster.member(seat).map(|m| m.npub);
            let polling = presence.iter().any(|(pk, s)| {
                Some(*pk) == npub && (s.polling > 0 || s.last.elapsed() < ONLINE_FOR)
            });
            recent_post || polling
        })
        .collect();
    co.rank(seats).await
}
