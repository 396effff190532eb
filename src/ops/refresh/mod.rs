//! `passport refresh round1|round2|finish`: proactive share refresh over files.
//!
//! Every member of an active group that holds a share takes part (`--without` leaves
//! some out: they leave the group, see [`crate::ceremony::refresh::participants`]), with
//! a refresh id (128 random bits, hex) the operators agree on out of band, like a roster. Packages are bound to a refresh
//! roster derived from the group roster, the refresh id and the hash of the current
//! public key package (see [`crate::ceremony::refresh::binding_roster`]), so packages of
//! another refresh, group or share epoch are refused.
//!
//! Round 2 packages also carry a hash of the set of round-1 packages their sender used;
//! `finish` refuses a package whose sender saw different round-1 packages (equivocation).
//! That makes every member derive the same public key package, without an extra round.
//!
//! Each step is idempotent: re-running a finished step rewrites the same packages from
//! saved state. `finish` replaces the share and the group file only after every check.

mod report;
mod state;

use std::collections::BTreeMap;

use nostr::Event;
use sha2::{Digest, Sha256};

use super::rounds::{self, Sent, Words};
use super::Addressed;
use super::{collect, Exchange, Want};
use crate::ceremony::frost::keys::dkg::{round1, round2};
use crate::ceremony::frost::keys::KeyPackage;
use crate::ceremony::{self, refresh, MemberId, Roster};
use crate::envelope::{self, Binding, Checked, Draft, Round};
use crate::error::{LifecycleError, Result};
use crate::fsutil;
use crate::group::Group;
use crate::home::{read_group_file, Home};

use crate::envelope::payload::frost_wire::Round1;
use crate::envelope::payload::refresh::RoundTwoPayload;
use report::report;
pub use report::{package_fingerprint, LifecycleReport};
pub use state::{leaving_seats, RefreshState, Stage};
use state::{normalize_id, open, resume, same_leavers};

/// How a refresh names its round-1 packages when one is refused.
const WORDS: Words = Words {
    package: "refresh round-1 package",
    ceremony: "refresh",
};

/// Round 1: commit to a random zero-constant polynomial and broadcast the commitment.
pub fn round1(
    home: &Home,
    group: &str,
    refresh_id: &str,
    member: Option<&str>,
    without: &[String],
    ex: &mut dyn Exchange,
) -> Result<LifecycleReport> {
    let rid = normalize_id(refresh_id)?;
    let (group, seat, place, st) = open(home, group, &rid, member)?;
    let leaving = leaving_seats(&group, without)?;
    if leaving.contains(&seat) {
        return Err(LifecycleError::LeaverRuns {
            member: group.roster.name(seat),
        }
        .into());
    }
    if let Some(st) = &st {
        same_leavers(st, without)?;
    }
    let name = group.roster.name(seat);
    let file = format!("refresh-1-{name}-{}.json", super::short_id(&rid));
    if let Some(st) = st {
        ex.bind(&st.roster)?;
        let d = rounds::deliver_one(ex, (&file, &st.sent.round1_sent), true)?;
        return report("refresh round 1", &st, d);
    }
    let roster = refresh::binding_roster(&group.roster, &group.public_key_package, &rid, &leaving)
        .map_err(LifecycleError::Plan)?;
    let participants = refresh::participants(&group.roster, &group.public_key_package, &leaving)
        .map_err(LifecycleError::Plan)?;
    ex.bind(&roster)?;
    // The share must be usable before anything is started.
    home.share(&group, seat)?;
    let keys = home.identity()?;
    let (secret, package) = refresh::part1(&roster, seat, &participants, &mut rand::rngs::OsRng)?;
    let event = envelope::seal(
        keys,
        Draft {
            binding: &Binding::of(&roster),
            round: Round::RefreshOne,
            from: Some(seat),
            to: None,
            reference: None,
            payload: &package,
        },
    )?;
    place.keep(1, &secret)?;
    let st = RefreshState {
        roster,
        group,
        seat,
        stage: Stage::Round1,
        sent: Sent::new(event),
        view: None,
        new_group: None,
        leaving,
    };
    place.save(&st)?;
    let d = rounds::deliver_one(ex, (&file, &st.sent.round1_sent), false)?;
    report("refresh round 1", &st, d)
}

/// Other members' round-1 packages among the inputs (see [`rounds::round1_of_others`]).
fn received_round1(
    st: &RefreshState,
    inputs: &[super::Input],
) -> Result<BTreeMap<MemberId, Checked>> {
    rounds::round1_of_others(
        &st.roster,
        st.seat,
        inputs,
        (Round::RefreshOne, Round::RefreshTwo),
        &st.sent.round1_received,
        Some(&st.sent.round1_sent),
        &WORDS,
    )
}

fn view_hash(own: &Event, seat: MemberId, received: &BTreeMap<MemberId, Event>) -> String {
    let mut all: BTreeMap<MemberId, &Event> = received.iter().map(|(&k, e)| (k, e)).collect();
    all.insert(seat, own);
    let mut h = Sha256::new();
    h.update(b"passport refresh round-1 view v1\0");
    for (id, ev) in all {
        h.update(id.to_be_bytes());
        h.update(ev.id.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Round-1 payloads of the given packages, each checked for this refresh.
fn round1_payloads(
    roster: &Roster,
    events: &BTreeMap<MemberId, Event>,
) -> Result<BTreeMap<MemberId, round1::Package>> {
    let got: BTreeMap<MemberId, round1::Package> =
        rounds::saved_payloads::<Round1>(roster, events)?
            .into_iter()
            .map(|(k, p)| (k, p.0))
            .collect();
    for (&k, p) in &got {
        refresh::check_round1(roster, k, p)?;
    }
    Ok(got)
}

/// Round 2: check everyone's round-1 package, send each member its encrypted share.
pub fn round2(
    home: &Home,
    group: &str,
    refresh_id: &str,
    member: Option<&str>,
    without: &[String],
    ex: &mut dyn Exchange,
) -> Result<LifecycleReport> {
    let (rid, _group, seat, place, mut st) = resume(home, group, refresh_id, member, without)?;
    ex.bind(&st.roster)?;
    if st.stage >= Stage::Round2 {
        let d = rounds::deliver(ex, &st.sent.round2_sent, true)?;
        return report("refresh round 2", &st, d);
    }
    let roster = st.roster.clone();
    let inputs = ex.inputs(&roster)?;
    let got = received_round1(&st, &inputs)?;
    let events: BTreeMap<MemberId, Event> = got.into_iter().map(|(k, c)| (k, c.event)).collect();
    let packages = round1_payloads(&roster, &events)?;
    let keys = home.identity()?;
    let secret: round1::SecretPackage = place.secret(1)?;
    let (secret2, outgoing) =
        refresh::part2(&roster, seat, &st.participants()?, secret, &packages)?;
    let view = view_hash(&st.sent.round1_sent, seat, &events);
    let sent = Addressed {
        keys,
        roster: &roster,
        round: Round::RefreshTwo,
        from: Some(seat),
        prefix: "refresh-2",
        id: &rid,
    }
    .seal(outgoing.into_iter().map(|(to, package)| {
        let view = view.clone();
        (to, RoundTwoPayload { view, package })
    }))?;
    place.keep(2, &secret2)?;
    st.sent.round1_received = events;
    st.view = Some(view);
    st.sent.round2_sent = sent;
    st.stage = Stage::Round2;
    place.save(&st)?;
    place.forget(1)?;
    let d = rounds::deliver(ex, &st.sent.round2_sent, false)?;
    report("refresh round 2", &st, d)
}

/// Finish: derive the refreshed share and public key package (same group key), then
/// replace this seat's share and the home's group file.
pub fn finish(
    home: &Home,
    group: &str,
    refresh_id: &str,
    member: Option<&str>,
    without: &[String],
    ex: &mut dyn Exchange,
) -> Result<LifecycleReport> {
    let (_rid, _current, seat, place, mut st) = resume(home, group, refresh_id, member, without)?;
    match st.stage {
        Stage::Finished => return report("refresh finish", &st, rounds::deliver(ex, &[], true)?),
        Stage::Round1 => return Err(LifecycleError::FinishBeforeRound2.into()),
        Stage::Finishing => {}
        Stage::Round2 => {
            let roster = st.roster.clone();
            let inputs = ex.inputs(&roster)?;
            received_round1(&st, &inputs)?; // equivocation check on anything present
            let keys = home.identity()?;
            let got2 = collect(
                &roster,
                &inputs,
                Want {
                    round: Round::RefreshTwo,
                    for_me: Some((keys, seat)),
                    reference: None,
                    also: &[Round::RefreshOne],
                },
            )?;
            let view = st.view.clone().expect("round 2 saved the view");
            let mut r2 = BTreeMap::new();
            for (&from, c) in &got2 {
                let p: RoundTwoPayload = c.payload(Some(keys))?;
                if p.view != view {
                    return Err(LifecycleError::OtherView {
                        sender: c.sender.clone(),
                    }
                    .into());
                }
                r2.insert(from, p.package);
            }
            let r1 = round1_payloads(&roster, &st.sent.round1_received)?;
            let secret: round2::SecretPackage = place.secret(2)?;
            let old_key = home.share(&st.group, seat)?;
            let (key, public) = refresh::part3(
                &roster,
                seat,
                &st.participants()?,
                &secret,
                &r1,
                &r2,
                &st.group.public_key_package,
                &old_key,
            )?;
            let mut new_group = Group::new(st.group.roster.clone(), public, st.group.origin);
            new_group.left = st.group.left.iter().chain(&st.leaving).copied().collect();
            new_group.left.sort_unstable();
            if new_group.npub != st.group.npub {
                return Err(LifecycleError::NpubChanged.into());
            }
            let bytes = zeroize::Zeroizing::new(key.serialize().map_err(ceremony::Error::frost)?);
            home.keystore().put(&place.name("key"), &bytes, true)?;
            st.new_group = Some(new_group);
            st.stage = Stage::Finishing;
            place.save(&st)?;
        }
    }
    apply(home, &place, &mut st)?;
    report("refresh finish", &st, rounds::deliver(ex, &[], false)?)
}

/// Replaces share and group file with the refreshed ones (re-runnable after a crash).
fn apply(home: &Home, place: &rounds::Seat, st: &mut RefreshState) -> Result<()> {
    let seat = st.seat;
    let new_group = st.new_group.clone().expect("finishing has the new group");
    let key_name = place.name("key");
    let bytes = home.keystore().get(&key_name)?;
    let key = KeyPackage::deserialize(&bytes)
        .map_err(|_| crate::keystore::Error::Tampered(key_name.clone()))?;
    let path = home
        .root
        .join("groups")
        .join(new_group.id())
        .join("group.json");
    let on_disk = read_group_file(&path)?;
    if on_disk.public_key_package != new_group.public_key_package {
        if on_disk.public_key_package != st.group.public_key_package {
            return Err(LifecycleError::GroupFileChanged {
                file: path.display().to_string(),
            }
            .into());
        }
        fsutil::write_atomic(&path, new_group.to_json_pretty().as_bytes(), true)?;
    }
    home.store_share(&new_group, seat, &key, true)?;
    // The share must now read back and match the new group file.
    home.share(&new_group, seat)?;
    st.stage = Stage::Finished;
    place.save(st)?;
    home.keystore().remove(&key_name)?;
    place.forget(2)?;
    Ok(())
}
