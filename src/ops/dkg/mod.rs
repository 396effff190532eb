//! `passport dkg round1|round2|finish|confirm`: DKG over files, one seat at a time.
//!
//! Each step is idempotent: re-running a finished step rewrites the same packages from
//! saved state instead of computing new ones (new ones would be equivocation).

use std::collections::BTreeMap;

use nostr::Event;
use serde::{Deserialize, Serialize};

use super::Addressed;
use super::{collect, delivered_lines, pick_seat, Exchange, Report, Want};
use crate::ceremony::frost::keys::dkg::{round1, round2};
use crate::ceremony::{self, dkg, MemberId, Roster};
use crate::envelope::payload::dkg::Agreement;
use crate::envelope::{self, Binding, Draft, Round};
use crate::error::{DkgError, Result};
use crate::group::{Group, Origin};
use crate::home::{GroupState, Home, Status};

mod finish;
mod run;
pub use finish::{confirm, finish};
pub use run::{run, RunReport};

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
                serde_json::to_value(st)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .expect("a status serializes to its name")
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
            DkgError::NotStarted {
                member: roster.name(seat),
            }
            .into()
        })
        .and_then(|s| {
            if s.roster != *roster {
                Err(DkgError::OtherRoster.into())
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
    roster: &Roster,
    member: Option<&str>,
    ex: &mut dyn Exchange,
) -> Result<StepReport> {
    if roster.dealer.is_some() {
        return Err(DkgError::DealerRoster.into());
    }
    let seat = pick_seat(roster, &my_seats(home, roster), member, "in this roster")?;
    let name = roster.name(seat);
    let file = format!(
        "dkg-1-{name}-{}.json",
        crate::ops::short_id(&roster.ceremony_id)
    );
    if let Some(st) = home.read_state::<DkgState>(&state_rel(roster, seat))? {
        let p = ex.deliver(&file, &st.round1_sent)?;
        return Ok(report("round 1", &st, (vec![p], ex.sent()), true, None));
    }
    let keys = home.identity()?;
    let (secret, package) = dkg::part1(roster, seat, &mut rand::rngs::OsRng)?;
    let event = envelope::seal(
        keys,
        Draft {
            binding: &Binding::of(roster),
            round: Round::Dkg1,
            from: Some(seat),
            to: None,
            reference: None,
            payload: &package,
        },
    )?;
    home.keystore()
        .put_json_step(&secret_name(roster, seat, 1), &secret)?;
    let st = DkgState {
        roster: roster.clone(),
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
                return Err(DkgError::Equivocated {
                    sender: c.sender.clone(),
                    got: c.event.id.to_hex()[..12].to_owned(),
                    used: prev.id.to_hex()[..12].to_owned(),
                }
                .into());
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
            let p: round1::Package = c.payload(None)?;
            dkg::check_round1(roster, from, &p)?;
            Ok((from, p))
        })
        .collect()
}

/// Round 2: verify everyone's round-1 package, send each member its secret share.
pub fn round2(
    home: &Home,
    roster: &Roster,
    member: Option<&str>,
    ex: &mut dyn Exchange,
) -> Result<StepReport> {
    let mut st = load_state(home, roster, member)?;
    if st.stage >= Stage::Round2 {
        let paths = ex.deliver_each(&st.round2_sent)?;
        return Ok(report("round 2", &st, (paths, ex.sent()), true, None));
    }
    let inputs = ex.inputs(roster)?;
    let got = received_round1(&st, &inputs)?;
    let packages = round1_packages(roster, &got)?;
    let keys = home.identity()?;
    let r1_name = secret_name(roster, st.seat, 1);
    let secret: round1::SecretPackage = home.keystore().get_json(&r1_name)?;
    let (secret2, outgoing) = dkg::part2(roster, st.seat, secret, &packages)?;
    let sent = Addressed {
        keys,
        roster,
        round: Round::Dkg2,
        from: Some(st.seat),
        prefix: "dkg-2",
        id: &roster.ceremony_id,
    }
    .seal(outgoing)?;
    home.keystore()
        .put_json_step(&secret_name(roster, st.seat, 2), &secret2)?;
    st.round1_received = got.into_iter().map(|(k, c)| (k, c.event)).collect();
    st.round2_sent = sent;
    st.stage = Stage::Round2;
    home.write_state(&state_rel(roster, st.seat), &st)?;
    home.keystore().remove(&r1_name)?;
    let paths = ex.deliver_each(&st.round2_sent)?;
    Ok(report("round 2", &st, (paths, ex.sent()), false, None))
}
