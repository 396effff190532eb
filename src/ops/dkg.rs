//! `passport dkg round1|round2|finish|confirm`: DKG over files, one seat at a time.
//!
//! Each step is idempotent: re-running a finished step rewrites the same packages from
//! saved state instead of computing new ones (new ones would be equivocation).

use std::collections::BTreeMap;
use std::path::Path;

use nostr::Event;
use serde::{Deserialize, Serialize};

use super::{collect, delivered_lines, load_roster, pick_seat, Exchange, Report, Want};
use crate::ceremony::frost::keys::dkg::{round1, round2};
use crate::ceremony::{self, dkg, MemberId, Roster};
use crate::envelope::{self, Binding, Draft, Round};
use crate::error::{Error, Result};
use crate::group::{Group, Origin};
use crate::home::{GroupState, Home, Status};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Round1,
    Round2,
    Finished,
    Confirmed,
}

/// Per-seat progress, public data only (secrets are in the keystore).
#[derive(Serialize, Deserialize)]
pub struct DkgState {
    pub roster: Roster,
    pub seat: MemberId,
    pub stage: Stage,
    pub round1_sent: Event,
    #[serde(default)]
    pub round1_received: BTreeMap<MemberId, Event>,
    #[serde(default)]
    pub round2_sent: Vec<(String, Event)>,
    #[serde(default)]
    pub agreement: Option<Event>,
    #[serde(default)]
    pub group: Option<String>,
}

/// The public payload of an agreement package.
#[derive(Serialize, Deserialize)]
pub struct Agreement {
    pub group: String,
    pub public_key_package_hash: String,
}

#[derive(Serialize)]
pub struct StepReport {
    pub step: &'static str,
    pub member: String,
    pub ceremony: String,
    pub packages: Vec<String>,
    #[serde(skip)]
    pub sent: bool,
    pub already_done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

impl Report for StepReport {
    fn human(&self) -> String {
        let mut s = format!(
            "{} {} for {}{}",
            self.step,
            if self.already_done {
                "was already done"
            } else {
                "done"
            },
            self.member,
            match &self.group {
                Some(g) => format!(": group {g}"),
                None => String::new(),
            }
        );
        if let Some(st) = self.status {
            s.push_str(&format!(
                " ({})",
                serde_json::to_value(st).unwrap().as_str().unwrap()
            ));
        }
        s.push_str(&delivered_lines(self.sent, &self.packages));
        s
    }
}

fn state_rel(roster: &Roster, seat: MemberId) -> String {
    format!("dkg/{}/{seat}.json", roster.ceremony_id)
}

fn secret_name(roster: &Roster, seat: MemberId, round: u8) -> String {
    format!("dkg/{}.{seat}.r{round}", roster.ceremony_id)
}

fn my_seats(home: &Home, roster: &Roster) -> Vec<MemberId> {
    roster.ids_of(&home.public_key())
}

fn load_state(home: &Home, roster: &Roster, member: Option<&str>) -> Result<DkgState> {
    let seat = pick_seat(roster, &my_seats(home, roster), member, "in this roster")?;
    home.read_state::<DkgState>(&state_rel(roster, seat))?
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{} has not started this DKG; run `passport dkg round1` first",
                roster.name(seat)
            ))
        })
        .and_then(|s| {
            if s.roster != *roster {
                Err(Error::Rejected(
                    "this roster differs from the one round 1 was run with".into(),
                ))
            } else {
                Ok(s)
            }
        })
}

fn report(
    step: &'static str,
    st: &DkgState,
    (packages, sent): (Vec<String>, bool),
    already_done: bool,
    status: Option<Status>,
) -> StepReport {
    StepReport {
        step,
        member: st.roster.name(st.seat),
        ceremony: st.roster.ceremony_id.clone(),
        packages,
        sent,
        already_done,
        group: st.group.clone(),
        status,
    }
}

/// Round 1: commit to a secret polynomial and broadcast the commitment.
pub fn round1(
    home: &Home,
    roster_path: &Path,
    member: Option<&str>,
    ex: &mut dyn Exchange,
) -> Result<StepReport> {
    let roster = load_roster(roster_path)?;
    if roster.dealer.is_some() {
        return Err(Error::Invalid(
            "this roster names a dealer; use `passport keygen` for it".into(),
        ));
    }
    let seat = pick_seat(&roster, &my_seats(home, &roster), member, "in this roster")?;
    let name = roster.name(seat);
    let file = format!("dkg-1-{name}-{}.json", super::short_id(&roster.ceremony_id));
    if let Some(st) = home.read_state::<DkgState>(&state_rel(&roster, seat))? {
        let p = ex.deliver(&file, &st.round1_sent)?;
        return Ok(report("round 1", &st, (vec![p], ex.sent()), true, None));
    }
    let keys = home.identity()?;
    let (secret, package) = dkg::part1(&roster, seat, &mut rand::rngs::OsRng)?;
    let event = envelope::seal(
        keys,
        Draft {
            binding: &Binding::of(&roster),
            round: Round::Dkg1,
            from: Some(seat),
            to: None,
            reference: None,
            payload: &package,
        },
    )?;
    home.keystore()
        .put_json_step(&secret_name(&roster, seat, 1), &secret)?;
    let st = DkgState {
        roster,
        seat,
        stage: Stage::Round1,
        round1_sent: event,
        round1_received: BTreeMap::new(),
        round2_sent: vec![],
        agreement: None,
        group: None,
    };
    home.write_state(&state_rel(&st.roster, seat), &st)?;
    let p = ex.deliver(&file, &st.round1_sent)?;
    Ok(report("round 1", &st, (vec![p], ex.sent()), false, None))
}

fn received_round1(
    st: &DkgState,
    inputs: &[super::Input],
) -> Result<BTreeMap<MemberId, envelope::Checked>> {
    let mut got = collect(
        &st.roster,
        inputs,
        Want {
            round: Round::Dkg1,
            for_me: None,
            reference: None,
            also: &[Round::Dkg2],
        },
    )?;
    got.remove(&st.seat);
    // A round-1 package that differs from the one this seat already used is equivocation.
    for (from, c) in &got {
        if let Some(prev) = st.round1_received.get(from) {
            if prev.id != c.event.id {
                return Err(Error::Rejected(format!(
                    "{} sent a different round-1 package ({}) from the one used in round 2 ({}); \
                     {} equivocated or a package was forged: abort this ceremony",
                    c.sender,
                    &c.event.id.to_hex()[..12],
                    &prev.id.to_hex()[..12],
                    c.sender
                )));
            }
        }
    }
    Ok(got)
}

fn round1_packages(
    roster: &Roster,
    got: &BTreeMap<MemberId, envelope::Checked>,
) -> Result<BTreeMap<MemberId, round1::Package>> {
    got.iter()
        .map(|(&from, c)| {
            let p: round1::Package = c
                .payload(None)
                .map_err(|e| Error::Rejected(e.to_string()))?;
            dkg::check_round1(roster, from, &p)?;
            Ok((from, p))
        })
        .collect()
}

/// Round 2: verify everyone's round-1 package, send each member its secret share.
pub fn round2(
    home: &Home,
    roster_path: &Path,
    member: Option<&str>,
    ex: &mut dyn Exchange,
) -> Result<StepReport> {
    let roster = load_roster(roster_path)?;
    let mut st = load_state(home, &roster, member)?;
    if st.stage >= Stage::Round2 {
        let mut paths = vec![];
        for (file, ev) in &st.round2_sent {
            paths.push(ex.deliver(file, ev)?);
        }
        return Ok(report("round 2", &st, (paths, ex.sent()), true, None));
    }
    let inputs = ex.inputs(&roster)?;
    let got = received_round1(&st, &inputs)?;
    let packages = round1_packages(&roster, &got)?;
    let keys = home.identity()?;
    let r1_name = secret_name(&roster, st.seat, 1);
    let secret: round1::SecretPackage = home.keystore().get_json(&r1_name)?;
    let (secret2, outgoing) = dkg::part2(&roster, st.seat, secret, &packages)?;
    let binding = Binding::of(&roster);
    let mut sent = vec![];
    for (to, pkg) in &outgoing {
        let m = roster.member(*to).expect("roster seat");
        let ev = envelope::seal(
            keys,
            Draft {
                binding: &binding,
                round: Round::Dkg2,
                from: Some(st.seat),
                to: Some((m.npub, *to)),
                reference: None,
                payload: pkg,
            },
        )?;
        sent.push((
            format!(
                "dkg-2-{}-to-{}-{}.json",
                roster.name(st.seat),
                m.name,
                super::short_id(&roster.ceremony_id)
            ),
            ev,
        ));
    }
    home.keystore()
        .put_json_step(&secret_name(&roster, st.seat, 2), &secret2)?;
    st.round1_received = got.into_iter().map(|(k, c)| (k, c.event)).collect();
    st.round2_sent = sent;
    st.stage = Stage::Round2;
    home.write_state(&state_rel(&roster, st.seat), &st)?;
    home.keystore().remove(&r1_name)?;
    let mut paths = vec![];
    for (file, ev) in &st.round2_sent {
        paths.push(ex.deliver(file, ev)?);
    }
    Ok(report("round 2", &st, (paths, ex.sent()), false, None))
}

/// Finish: derive this seat's share and the group key, then sign the agreement package.
pub fn finish(
    home: &Home,
    roster_path: &Path,
    member: Option<&str>,
    ex: &mut dyn Exchange,
) -> Result<StepReport> {
    let roster = load_roster(roster_path)?;
    let mut st = load_state(home, &roster, member)?;
    let file = format!(
        "dkg-agree-{}-{}.json",
        roster.name(st.seat),
        super::short_id(&roster.ceremony_id)
    );
    if st.stage >= Stage::Finished {
        let p = ex.deliver(
            &file,
            st.agreement.as_ref().expect("finished has agreement"),
        )?;
        // The group's status now (a confirmed or refreshed group is not "pending").
        let status = match st.group.as_deref().map(|g| home.find_group(g)) {
            Some(Ok(g)) => home.group_state(&g)?.map(|s| s.status),
            _ => None,
        };
        return Ok(report(
            "finish",
            &st,
            (vec![p], ex.sent()),
            true,
            Some(status.unwrap_or(Status::Pending)),
        ));
    }
    if st.stage < Stage::Round2 {
        return Err(Error::Invalid(
            "run `passport dkg round2` before finish".into(),
        ));
    }
    let inputs = ex.inputs(&roster)?;
    received_round1(&st, &inputs)?; // equivocation check on anything present
    let keys = home.identity()?;
    let got2 = collect(
        &roster,
        &inputs,
        Want {
            round: Round::Dkg2,
            for_me: Some((keys, st.seat)),
            reference: None,
            also: &[Round::Dkg1],
        },
    )?;
    let mut r2 = BTreeMap::new();
    for (&from, c) in &got2 {
        let p: round2::Package = c
            .payload(Some(keys))
            .map_err(|e| Error::Rejected(e.to_string()))?;
        r2.insert(from, p);
    }
    let r1: BTreeMap<MemberId, round1::Package> = st
        .round1_received
        .iter()
        .map(|(&k, ev)| {
            let c = envelope::Checked {
                event: ev.clone(),
                meta: envelope::parse(nostr::JsonUtil::as_json(ev).as_bytes())?.1,
                from: Some(k),
                sender: roster.name(k),
            };
            c.payload(None).map(|p| (k, p))
        })
        .collect::<std::result::Result<_, envelope::Error>>()?;
    let r2_name = secret_name(&roster, st.seat, 2);
    let secret: round2::SecretPackage = home.keystore().get_json(&r2_name)?;
    let (key, public) = dkg::part3(&roster, st.seat, &secret, &r1, &r2)?;
    let group = Group::new(roster.clone(), public, Origin::Dkg);
    let hash = ceremony::public_package_hash(&group.public_key_package)?;
    let agreement = Agreement {
        group: group.npub.clone(),
        public_key_package_hash: hex::encode(hash),
    };
    let ev = envelope::seal(
        keys,
        Draft {
            binding: &Binding::of(&roster),
            round: Round::DkgAgree,
            from: Some(st.seat),
            to: None,
            reference: None,
            payload: &agreement,
        },
    )?;
    home.save_group(&group)?;
    let mut gs = home.group_state(&group)?.unwrap_or(GroupState {
        status: Status::Pending,
        seats: Default::default(),
    });
    // Overwrite: a crash after this point and a re-run must be able to finish.
    home.store_share(&group, st.seat, &key, true)?;
    gs.seats.insert(st.seat);
    home.save_group_state(&group, &gs)?;
    st.stage = Stage::Finished;
    st.agreement = Some(ev);
    st.group = Some(group.npub.clone());
    home.write_state(&state_rel(&roster, st.seat), &st)?;
    home.keystore().remove(&r2_name)?;
    let p = ex.deliver(&file, st.agreement.as_ref().expect("set"))?;
    Ok(report(
        "finish",
        &st,
        (vec![p], ex.sent()),
        false,
        Some(gs.status),
    ))
}

/// Confirm: all n agreement packages present and equal → the group becomes active.
pub fn confirm(
    home: &Home,
    roster_path: &Path,
    member: Option<&str>,
    ex: &mut dyn Exchange,
) -> Result<StepReport> {
    let roster = load_roster(roster_path)?;
    let mut st = load_state(home, &roster, member)?;
    if st.stage < Stage::Finished {
        return Err(Error::Invalid(
            "run `passport dkg finish` before confirm".into(),
        ));
    }
    let group = home.find_group(st.group.as_deref().expect("finished has group"))?;
    if st.stage == Stage::Confirmed {
        return Ok(report(
            "confirm",
            &st,
            (vec![], ex.sent()),
            true,
            Some(Status::Active),
        ));
    }
    let inputs = ex.inputs(&roster)?;
    let got = collect(
        &roster,
        &inputs,
        Want {
            round: Round::DkgAgree,
            for_me: None,
            reference: None,
            also: &[Round::Dkg1, Round::Dkg2],
        },
    )?;
    let mine = ceremony::public_package_hash(&group.public_key_package)?;
    let mut reported = BTreeMap::new();
    reported.insert(st.seat, mine);
    for (&from, c) in &got {
        let a: Agreement = c
            .payload(None)
            .map_err(|e| Error::Rejected(e.to_string()))?;
        let mut h = [0u8; 32];
        match hex::decode(&a.public_key_package_hash) {
            Ok(b) if b.len() == 32 => h.copy_from_slice(&b),
            _ => {
                return Err(Error::Rejected(format!(
                    "agreement package from {} carries no valid hash",
                    c.sender
                )))
            }
        }
        reported.insert(from, h);
    }
    dkg::check_agreement(&roster, &mine, &reported)?;
    let mut gs = home.group_state(&group)?.expect("finish wrote state");
    gs.status = Status::Active;
    home.save_group_state(&group, &gs)?;
    st.stage = Stage::Confirmed;
    home.write_state(&state_rel(&roster, st.seat), &st)?;
    Ok(report(
        "confirm",
        &st,
        (vec![], ex.sent()),
        false,
        Some(Status::Active),
    ))
}

/// What `dkg run` did.
#[derive(Serialize)]
pub struct RunReport {
    pub member: String,
    pub ceremony: String,
    pub group: String,
    pub via: String,
    /// Steps this invocation performed (a resumed run skips finished ones).
    pub steps: Vec<String>,
}

impl Report for RunReport {
    fn human(&self) -> String {
        format!(
            "DKG complete for {} via {}: group {} is active{}",
            self.member,
            self.via,
            self.group,
            if self.steps.is_empty() {
                String::new()
            } else {
                format!(" (did: {})", self.steps.join(", "))
            }
        )
    }

    fn stdout(&self) -> Option<String> {
        Some(self.group.clone())
    }
}

/// `dkg run --via`: every round in one command, waiting for the others in between.
/// Resumable: each round is idempotent from saved state, so a restarted run re-sends
/// what it already sent and carries on.
pub fn run(
    home: &Home,
    roster_path: &Path,
    member: Option<&str>,
    via: &mut crate::transport::Via,
    timeout: std::time::Duration,
    progress: super::Progress<'_>,
) -> Result<RunReport> {
    let roster = load_roster(roster_path)?;
    let deadline = std::time::Instant::now() + timeout;
    let others = roster.members.len() - 1;
    let mut steps = vec![];
    let note = |r: &StepReport, steps: &mut Vec<String>| {
        if !r.already_done {
            steps.push(r.step.to_owned());
        }
    };
    let r = round1(home, roster_path, member, via)?;
    note(&r, &mut steps);
    let member = Some(r.member.clone());
    let member = member.as_deref();
    let r = super::until_complete(via, deadline, "round-1 packages", others, progress, |v| {
        round2(home, roster_path, member, v)
    })?;
    note(&r, &mut steps);
    let r = super::until_complete(via, deadline, "round-2 packages", others, progress, |v| {
        finish(home, roster_path, member, v)
    })?;
    note(&r, &mut steps);
    let r = super::until_complete(via, deadline, "agreements", others, progress, |v| {
        confirm(home, roster_path, member, v)
    })?;
    note(&r, &mut steps);
    Ok(RunReport {
        member: r.member,
        ceremony: roster.ceremony_id,
        group: r.group.unwrap_or_default(),
        via: via.endpoint().describe(),
        steps,
    })
}
