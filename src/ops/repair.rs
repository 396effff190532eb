//! `passport repair step1|step2|finish`: t or more helpers restore a member's lost
//! share over files, without anyone learning it.
//!
//! - `step1`, by each helper: one delta per helper (itself included), each NIP-44
//!   encrypted to the helper it is for;
//! - `step2`, by each helper: the deltas it received summed into one sigma, encrypted
//!   to the lost member;
//! - `finish`, by the lost member (its home still has its identity key): the sigmas
//!   summed into the share, checked against the seat's verifying share in the group's
//!   public key package, then stored.
//!
//! Packages are bound to a repair roster derived from the group roster, the current
//! public key package, the lost seat and the helper set (see
//! [`crate::ceremony::repair::binding_roster`]); every step names the lost member and
//! the helpers, so all parties state what they agreed to.

use std::collections::BTreeMap;

use nostr::Event;
use serde::{Deserialize, Serialize};

use super::refresh::{package_fingerprint, LifecycleReport};
use super::rounds::{self, Delivery, Seat};
use super::Addressed;
use super::{collect, pick_seat, Exchange, Want};
use crate::ceremony::{repair, MemberId, Roster};
use crate::envelope::payload::repair::{DeltaPayload, SigmaPayload};
use crate::envelope::{self, Binding, Checked, Draft, Round};
use crate::error::{LifecycleError, Result};
use crate::group::Group;
use crate::home::{GroupState, Home, Status};

/// Per-helper progress (public: the packages are encrypted).
#[derive(Serialize, Deserialize)]
pub struct RepairState {
    pub roster: Roster,
    pub group: String,
    pub lost: MemberId,
    pub helpers: Vec<MemberId>,
    pub seat: MemberId,
    pub deltas_sent: Vec<(String, Event)>,
    #[serde(default)]
    pub sigma_sent: Option<(String, Event)>,
}

/// A repair as every party states it: group, lost seat, helpers, binding roster.
struct Plan {
    group: Group,
    lost: MemberId,
    helpers: Vec<MemberId>,
    roster: Roster,
}

fn plan(group: Group, lost: MemberId, helpers: &str) -> Result<Plan> {
    let helpers =
        repair::parse_helpers(&group.roster, lost, helpers).map_err(LifecycleError::Plan)?;
    // A seat that left at a refresh has no verifying share to repair towards, and none
    // to help with.
    if let Some(&s) = std::iter::once(&lost)
        .chain(&helpers)
        .find(|&&s| group.has_left(s))
    {
        return Err(LifecycleError::LeftAtRefresh {
            member: group.roster.name(s),
            npub: group.npub,
        }
        .into());
    }
    let roster = repair::binding_roster(&group.roster, &group.public_key_package, lost, &helpers)?;
    Ok(Plan {
        group,
        lost,
        helpers,
        roster,
    })
}

fn lost_seat(group: &Group, lost: &str) -> Result<MemberId> {
    group.roster.id_by_name(lost).ok_or_else(|| {
        LifecycleError::NotAMember {
            name: lost.to_owned(),
            npub: group.npub.clone(),
        }
        .into()
    })
}

/// Where a helper keeps its repair progress (a repair keeps no secrets between steps:
/// each step's packages are sealed as soon as they are made).
fn place<'h>(home: &'h Home, p: &Plan, seat: MemberId) -> Seat<'h> {
    let (g, id) = (p.group.id(), &p.roster.ceremony_id);
    Seat::new(
        home,
        format!("repair/{g}/{id}.{seat}.json"),
        format!("repair/{g}.{id}.{seat}"),
    )
}

/// The helper seat this home acts as.
fn helper_seat(home: &Home, p: &Plan, member: Option<&str>) -> Result<MemberId> {
    let mine: Vec<MemberId> = home
        .active_seats(&p.group)?
        .into_iter()
        .filter(|s| p.helpers.contains(s))
        .collect();
    pick_seat(
        &p.group.roster,
        &mine,
        member,
        "among this repair's helpers with a share of this group",
    )
}

fn report(step: &'static str, p: &Plan, seat: MemberId, delivery: Delivery) -> LifecycleReport {
    LifecycleReport {
        step,
        member: p.group.roster.name(seat),
        group: p.group.npub.clone(),
        ceremony: p.roster.ceremony_id.clone(),
        delivery,
        public_key_package: None,
        stale_backups: None,
    }
}

/// Senders must be helpers of this repair.
fn only_helpers(p: &Plan, got: &BTreeMap<MemberId, Checked>) -> Result<()> {
    for (from, c) in got {
        if !p.helpers.contains(from) {
            return Err(LifecycleError::NotAHelper {
                sender: c.sender.clone(),
                round: c.meta.round.describe(),
            }
            .into());
        }
    }
    Ok(())
}

/// The repair as this helper states it, its seat, and the exchange bound to its roster.
fn helper_of(
    home: &Home,
    group: &str,
    lost: &str,
    helpers: &str,
    member: Option<&str>,
    ex: &mut dyn Exchange,
) -> Result<(Plan, MemberId)> {
    let group = home.find_group(group)?;
    let lost = lost_seat(&group, lost)?;
    let p = plan(group, lost, helpers)?;
    ex.bind(&p.roster)?;
    let seat = helper_seat(home, &p, member)?;
    Ok((p, seat))
}

/// Step 1 (each helper): split this helper's contribution into one delta per helper.
pub fn step1(
    home: &Home,
    group: &str,
    lost: &str,
    helpers: &str,
    member: Option<&str>,
    ex: &mut dyn Exchange,
) -> Result<LifecycleReport> {
    let (p, seat) = helper_of(home, group, lost, helpers, member, ex)?;
    let lost = p.lost;
    let at = place(home, &p, seat);
    if let Some(st) = at.load::<RepairState>()? {
        let d = rounds::deliver(ex, &st.deltas_sent, true)?;
        return Ok(report("repair step 1", &p, seat, d));
    }
    let key = home.share(&p.group, seat)?;
    let keys = home.identity()?;
    let deltas = repair::part1(&p.helpers, &key, lost, &mut rand::rngs::OsRng)?;
    let sent = Addressed {
        keys,
        roster: &p.roster,
        round: Round::RepairDelta,
        from: Some(seat),
        prefix: "repair-delta",
        id: &p.roster.ceremony_id,
    }
    .seal(
        deltas
            .into_iter()
            .map(|(to, delta)| (to, DeltaPayload { delta })),
    )?;
    let st = RepairState {
        roster: p.roster.clone(),
        group: p.group.npub.clone(),
        lost,
        helpers: p.helpers.clone(),
        seat,
        deltas_sent: sent,
        sigma_sent: None,
    };
    at.save(&st)?;
    let d = rounds::deliver(ex, &st.deltas_sent, false)?;
    Ok(report("repair step 1", &p, seat, d))
}

/// Step 2 (each helper): sum the deltas from every helper into a sigma for the lost
/// member.
pub fn step2(
    home: &Home,
    group: &str,
    lost: &str,
    helpers: &str,
    member: Option<&str>,
    ex: &mut dyn Exchange,
) -> Result<LifecycleReport> {
    let (p, seat) = helper_of(home, group, lost, helpers, member, ex)?;
    let at = place(home, &p, seat);
    let mut st = at
        .load::<RepairState>()?
        .ok_or_else(|| LifecycleError::NotStarted {
            member: p.roster.name(seat),
            workflow: "repair",
            first: "step1",
        })?;
    if let Some((file, ev)) = &st.sigma_sent {
        let d = rounds::deliver_one(ex, (file, ev), true)?;
        return Ok(report("repair step 2", &p, seat, d));
    }
    let inputs = ex.inputs(&p.roster)?;
    let keys = home.identity()?;
    let got = collect(
        &p.roster,
        &inputs,
        Want {
            round: Round::RepairDelta,
            for_me: Some((keys, seat)),
            reference: None,
            also: &[Round::RepairSigma],
        },
    )?;
    only_helpers(&p, &got)?;
    if let Some(own) = got.get(&seat) {
        let sent = st.deltas_sent.iter().any(|(_, ev)| ev.id == own.event.id);
        if !sent {
            return Err(LifecycleError::OwnDeltaForged {
                sender: own.sender.clone(),
                got: own.event.id.to_hex()[..12].to_owned(),
            }
            .into());
        }
    }
    let mut deltas = BTreeMap::new();
    for (&from, c) in &got {
        let d: DeltaPayload = c.payload(Some(keys))?;
        deltas.insert(from, d.delta);
    }
    let sigma = repair::part2(&p.roster, &p.helpers, &deltas)?;
    let m = p.roster.member(p.lost).expect("roster seat");
    let ev = envelope::seal(
        keys,
        Draft {
            binding: &Binding::of(&p.roster),
            round: Round::RepairSigma,
            from: Some(seat),
            to: Some((m.npub, p.lost)),
            reference: None,
            payload: &SigmaPayload { sigma },
        },
    )?;
    let file = format!(
        "repair-sigma-{}-to-{}-{}.json",
        p.roster.name(seat),
        m.name,
        super::short_id(&p.roster.ceremony_id)
    );
    st.sigma_sent = Some((file, ev));
    at.save(&st)?;
    let (file, ev) = st.sigma_sent.as_ref().expect("set");
    let d = rounds::deliver_one(ex, (file, ev), false)?;
    Ok(report("repair step 2", &p, seat, d))
}

/// The group a repair's lost member names: a group file the caller read (its home lost
/// its own; a `--group` also given must be that file's npub), or a group its home holds.
pub enum Named<'a> {
    File {
        group: Box<Group>,
        /// The file as the user named it, for messages.
        file: String,
        query: Option<&'a str>,
    },
    Held(&'a str),
}

impl Named<'_> {
    /// The group, checked against the `--group` given and against what the home holds.
    pub fn resolve(&self, home: &Home) -> Result<Group> {
        let (g, file, query) = match self {
            Named::Held(q) => return Ok(home.find_group(q)?),
            Named::File { group, file, query } => (group, file, query),
        };
        if let Some(q) = query {
            let pk = crate::ceremony::roster::parse_npub(q).map_err(LifecycleError::GroupNpub)?;
            if pk != g.public_key() {
                return Err(LifecycleError::GroupFileOf {
                    file: file.clone(),
                    npub: g.npub.clone(),
                    query: (*q).to_owned(),
                }
                .into());
            }
        }
        if let Ok(held) = home.find_group(&g.npub) {
            if held.public_key_package != g.public_key_package || held.roster != g.roster {
                return Err(LifecycleError::StaleGroupFile {
                    npub: g.npub.clone(),
                }
                .into());
            }
        }
        Ok((**g).clone())
    }
}

/// Finish (the lost member): combine the sigmas, check the share against the public
/// key package, store it.
pub fn finish(
    home: &Home,
    group: &Named<'_>,
    helpers: &str,
    member: Option<&str>,
    ex: &mut dyn Exchange,
) -> Result<LifecycleReport> {
    let group = group.resolve(home)?;
    let mine = group.roster.ids_of(&home.public_key());
    let seat = pick_seat(&group.roster, &mine, member, "in this group")?;
    let p = plan(group, seat, helpers)?;
    let share_name = Home::share_name(&p.group, seat);
    let had_share = home.keystore().exists(&share_name);
    if had_share && home.share(&p.group, seat).is_ok() {
        return Ok(LifecycleReport {
            public_key_package: Some(package_fingerprint(&p.group)?),
            stale_backups: None,
            ..report("repair finish", &p, seat, rounds::deliver(ex, &[], true)?)
        });
    }
    let inputs = ex.inputs(&p.roster)?;
    let keys = home.identity()?;
    let got = collect(
        &p.roster,
        &inputs,
        Want {
            round: Round::RepairSigma,
            for_me: Some((keys, seat)),
            reference: None,
            also: &[Round::RepairDelta],
        },
    )?;
    only_helpers(&p, &got)?;
    let mut sigmas = BTreeMap::new();
    for (&from, c) in &got {
        let s: SigmaPayload = c.payload(Some(keys))?;
        sigmas.insert(from, s.sigma);
    }
    let key = repair::part3(
        &p.roster,
        &p.group.public_key_package,
        seat,
        &p.helpers,
        &sigmas,
    )?;
    // Every check passed: store group file (idempotent), share, seat.
    home.save_group(&p.group)?;
    // A share file that is still present here failed to read or to match: replace it.
    home.store_share(&p.group, seat, &key, had_share)?;
    let mut gs = home.group_state(&p.group)?.unwrap_or(GroupState {
        status: Status::Active,
        seats: Default::default(),
    });
    gs.seats.insert(seat);
    home.save_group_state(&p.group, &gs)?;
    home.share(&p.group, seat)?;
    Ok(LifecycleReport {
        public_key_package: Some(package_fingerprint(&p.group)?),
        stale_backups: None,
        ..report("repair finish", &p, seat, rounds::deliver(ex, &[], false)?)
    })
}
