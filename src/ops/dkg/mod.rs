//! `passport dkg round1|round2|finish|confirm`: DKG over files, one seat at a time.
//!
//! Each step is idempotent: re-running a finished step rewrites the same packages from
//! saved state instead of computing new ones (new ones would be equivocation).

use std::collections::BTreeMap;

use nostr::Event;
use serde::{Deserialize, Serialize};

use super::rounds::{self, Delivery, Seat, Sent, Words};
use super::Addressed;
use super::{collect, pick_seat, Exchange, Report, Want};
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
    #[serde(flatten)]
    pub sent: Sent,
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
    #[serde(flatten)]
    pub delivery: Delivery,
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
            self.delivery.done(),
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
        s.push_str(&self.delivery.lines());
        s
    }
}

/// Where a seat's DKG state and step secrets live.
fn place<'h>(home: &'h Home, roster: &Roster, seat: MemberId) -> Seat<'h> {
    let id = &roster.ceremony_id;
    Seat::new(
        home,
        format!("dkg/{id}/{seat}.json"),
        format!("dkg/{id}.{seat}"),
    )
}

/// How DKG names its round-1 packages when one is refused.
const WORDS: Words = Words {
    package: "round-1 package",
    ceremony: "ceremony",
};

fn my_seats(home: &Home, roster: &Roster) -> Vec<MemberId> {
    roster.ids_of(&home.public_key())
}

/// A later step: this home's seat and the state round 1 saved for it.
fn load_state<'h>(
    home: &'h Home,
    roster: &Roster,
    member: Option<&str>,
) -> Result<(Seat<'h>, DkgState)> {
    let at = pick_seat(roster, &my_seats(home, roster), member, "in this roster")?;
    let place = place(home, roster, at);
    let Some(st) = place.load::<DkgState>()? else {
        return Err(DkgError::NotStarted {
            member: roster.name(at),
        }
        .into());
    };
    if st.roster != *roster {
        return Err(DkgError::OtherRoster.into());
    }
    Ok((place, st))
}

fn report(
    step: &'static str,
    st: &DkgState,
    delivery: Delivery,
    status: Option<Status>,
) -> StepReport {
    StepReport {
        step,
        member: st.roster.name(st.seat),
        ceremony: st.roster.ceremony_id.clone(),
        delivery,
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
    let place = place(home, roster, seat);
    let name = roster.name(seat);
    let file = format!(
        "dkg-1-{name}-{}.json",
        crate::ops::short_id(&roster.ceremony_id)
    );
    if let Some(st) = place.load::<DkgState>()? {
        let d = rounds::deliver_one(ex, (&file, &st.sent.round1_sent), true)?;
        return Ok(report("round 1", &st, d, None));
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
    place.keep(1, &secret)?;
    let st = DkgState {
        roster: roster.clone(),
        seat,
        stage: Stage::Round1,
        sent: Sent::new(event),
        agreement: None,
        group: None,
    };
    place.save(&st)?;
    let d = rounds::deliver_one(ex, (&file, &st.sent.round1_sent), false)?;
    Ok(report("round 1", &st, d, None))
}

/// Other members' round-1 packages among the inputs (see [`rounds::round1_of_others`]).
fn received_round1(
    st: &DkgState,
    inputs: &[super::Input],
) -> Result<BTreeMap<MemberId, envelope::Checked>> {
    rounds::round1_of_others(
        &st.roster,
        st.seat,
        inputs,
        (Round::Dkg1, Round::Dkg2),
        &st.sent.round1_received,
        None,
        &WORDS,
    )
}

fn round1_packages(
    roster: &Roster,
    got: &BTreeMap<MemberId, envelope::Checked>,
) -> Result<BTreeMap<MemberId, round1::Package>> {
    got.iter()
        .map(|(&from, c)| {
            let p = c.payload::<envelope::payload::frost_wire::Round1>(None)?.0;
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
    let (place, mut st) = load_state(home, roster, member)?;
    if st.stage >= Stage::Round2 {
        let d = rounds::deliver(ex, &st.sent.round2_sent, true)?;
        return Ok(report("round 2", &st, d, None));
    }
    let inputs = ex.inputs(roster)?;
    let got = received_round1(&st, &inputs)?;
    let packages = round1_packages(roster, &got)?;
    let keys = home.identity()?;
    let secret: round1::SecretPackage = place.secret(1)?;
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
    place.keep(2, &secret2)?;
    st.sent.round1_received = got.into_iter().map(|(k, c)| (k, c.event)).collect();
    st.sent.round2_sent = sent;
    st.stage = Stage::Round2;
    place.save(&st)?;
    place.forget(1)?;
    let d = rounds::deliver(ex, &st.sent.round2_sent, false)?;
    Ok(report("round 2", &st, d, None))
}
