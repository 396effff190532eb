//! `passport refresh run` and `passport repair run`: every step of a refresh or repair
//! through `--via`, waiting for the others in between (like `dkg run`).
//!
//! Resumable: each step is idempotent from saved state, so a restarted run re-sends what
//! it already sent and carries on where it stopped.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::refresh::{self, LifecycleReport};
use super::repair::{self, Named};
use super::{until_complete, Exchange, Progress, Report};
use crate::ceremony::{self, MemberId};
use crate::error::{Error, LifecycleError, Result};
use crate::group::Group;
use crate::home::Home;
use crate::transport::Lazy;

/// What a `refresh run` or `repair run` did.
#[derive(Serialize)]
pub struct RunReport {
    pub command: &'static str,
    /// In a repair: `helper` or `lost member`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    pub member: String,
    /// In a repair: the member whose share is restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
    pub group: String,
    /// The refresh id, or the derived repair id.
    pub ceremony: String,
    pub via: String,
    /// Steps this invocation performed (a resumed run skips finished ones).
    pub steps: Vec<String>,
    /// Every package this invocation sent (a resumed run sends its saved ones again).
    pub packages: Vec<String>,
    /// Nothing was left to do: an earlier run had finished.
    pub already_done: bool,
    /// Fingerprint of the (new) public key package, to compare out of band.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_package: Option<String>,
    /// After a refresh: every earlier backup of this member's share is stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_backups: Option<String>,
}

impl Report for RunReport {
    fn human(&self) -> String {
        let did = if self.steps.is_empty() {
            "nothing left to do: an earlier run finished".to_owned()
        } else {
            format!("did: {}", self.steps.join(", "))
        };
        let lost = self.lost.as_deref().unwrap_or_default();
        let mut s = match self.role {
            None => format!(
                "refresh complete for {} in {} via {}: new share, same npub ({did})",
                self.member, self.group, self.via
            ),
            Some("helper") => format!(
                "repair of {lost} in {}: this home helped as {} via {} ({did}); {lost} finishes \
                 with `passport repair run` in its own home",
                self.group, self.member, self.via
            ),
            Some(_) => format!(
                "repair complete: {lost}'s share of {} is restored via {} (this home is the lost \
                 member; {did})",
                self.group, self.via
            ),
        };
        if let Some(f) = &self.public_key_package {
            s.push_str(&format!("\n  public key package fingerprint {f}"));
        }
        if let Some(w) = &self.stale_backups {
            s.push_str(&format!("\n  {w}"));
        }
        s
    }
}

/// Collects what the steps did into the run's report.
struct Steps {
    done: Vec<String>,
    packages: Vec<String>,
}

impl Steps {
    fn note(&mut self, r: &LifecycleReport) {
        if !r.delivery.already_done {
            self.done.push(r.step.to_owned());
        }
        self.packages.extend(r.delivery.packages.iter().cloned());
    }

    fn report(
        self,
        command: &'static str,
        role: Option<&'static str>,
        lost: Option<String>,
        last: LifecycleReport,
        via: &Lazy,
    ) -> RunReport {
        RunReport {
            command,
            role,
            member: last.member,
            lost,
            group: last.group,
            ceremony: last.ceremony,
            via: via.endpoint().describe(),
            already_done: self.done.is_empty(),
            steps: self.done,
            packages: self.packages,
            public_key_package: last.public_key_package,
            stale_backups: last.stale_backups,
        }
    }
}

/// `refresh run --via`: round 1, wait for every round-1 package, round 2, wait for the
/// round-2 packages addressed to this seat, finish.
#[allow(clippy::too_many_arguments)]
pub fn refresh(
    home: &Home,
    group: &str,
    refresh_id: &str,
    member: Option<&str>,
    without: &[String],
    via: &mut Lazy,
    timeout: Duration,
    progress: Progress<'_>,
) -> Result<RunReport> {
    let deadline = Instant::now() + timeout;
    let g = home.find_group(group)?;
    let leaving = refresh::leaving_seats(&g, without)?;
    let others = g.seats().iter().filter(|s| !leaving.contains(s)).count() - 1;
    let mut steps = Steps {
        done: vec![],
        packages: vec![],
    };
    // Outside the retry loop: an unreachable --via fails now, not at the deadline.
    let r = refresh::round1(home, group, refresh_id, member, without, via)?;
    steps.note(&r);
    let member = Some(r.member.clone());
    let member = member.as_deref();
    let wait = "refresh round-1 packages";
    let r = until_complete(via, deadline, wait, others, progress, |v| {
        refresh::round2(home, group, refresh_id, member, without, v)
    })?;
    steps.note(&r);
    let wait = "refresh round-2 packages";
    let r = until_complete(via, deadline, wait, others, progress, |v| {
        refresh::finish(home, group, refresh_id, member, without, v)
    })?;
    steps.note(&r);
    Ok(steps.report("refresh run", None, None, r, via))
}

/// Which side of a repair this home is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Helper,
    Lost,
}

/// The repair as this home sees it: the group, the lost seat and this home's role.
fn role_of(
    home: &Home,
    named: &Named<'_>,
    lost: &str,
    helpers: &str,
) -> Result<(Group, MemberId, Vec<MemberId>, Role)> {
    let g = match named {
        // Only the lost member comes with a group file (its home lost its own).
        Named::File { .. } => named.resolve(home)?,
        Named::Held(q) => home.find_group(q).map_err(|e| match e {
            e @ (crate::home::Error::NoSuchGroup { .. }
            | crate::home::Error::UnknownGroup { .. }) => {
                Error::from(LifecycleError::GroupNotHere(e))
            }
            e => e.into(),
        })?,
    };
    let seat = g
        .roster
        .id_by_name(lost)
        .ok_or_else(|| LifecycleError::NotAMember {
            name: lost.to_owned(),
            npub: g.npub.clone(),
        })?;
    let helper_ids =
        ceremony::repair::parse_helpers(&g.roster, seat, helpers).map_err(LifecycleError::Plan)?;
    let holds_lost = g.roster.ids_of(&home.public_key()).contains(&seat);
    if matches!(named, Named::File { .. }) {
        if !holds_lost {
            return Err(LifecycleError::NotTheLost {
                lost: lost.to_owned(),
            }
            .into());
        }
        return Ok((g, seat, helper_ids, Role::Lost));
    }
    let active = home.active_seats(&g)?;
    let helping: Vec<String> = active
        .iter()
        .filter(|s| helper_ids.contains(s))
        .map(|&s| g.roster.name(s))
        .collect();
    let role = match (holds_lost, helping.is_empty()) {
        // The lost seat's key, with or without the share (a re-run after finishing).
        (true, true) => Role::Lost,
        (false, false) => Role::Helper,
        (true, false) => {
            return Err(LifecycleError::LostAndHelper {
                lost: lost.to_owned(),
                helping,
            }
            .into())
        }
        (false, true) => {
            return Err(LifecycleError::NeitherRole {
                npub: g.npub,
                helpers: helper_ids.iter().map(|&s| g.roster.name(s)).collect(),
                lost: lost.to_owned(),
            }
            .into())
        }
    };
    Ok((g, seat, helper_ids, role))
}

/// What `repair run` was told.
pub struct RepairRun<'a> {
    pub group: Named<'a>,
    pub lost: &'a str,
    pub helpers: &'a str,
    /// The helper seat this home acts as (when it holds several).
    pub member: Option<&'a str>,
    pub timeout: Duration,
}

/// `repair run --via`: as a helper, step 1, wait for every helper's delta, step 2; as
/// the lost member, wait for every helper's sigma and finish. The role comes from this
/// home: it is the lost member when it holds the lost seat's key (and no helper share).
pub fn repair(
    home: &Home,
    a: &RepairRun<'_>,
    via: &mut Lazy,
    progress: Progress<'_>,
) -> Result<RunReport> {
    let deadline = Instant::now() + a.timeout;
    let (g, seat, helper_ids, role) = role_of(home, &a.group, a.lost, a.helpers)?;
    let lost = Some(g.roster.name(seat));
    let expected = helper_ids.len();
    let mut steps = Steps {
        done: vec![],
        packages: vec![],
    };
    match role {
        Role::Helper => {
            let r = repair::step1(home, &g.npub, a.lost, a.helpers, a.member, via)?;
            steps.note(&r);
            let member = Some(r.member.clone());
            let member = member.as_deref();
            let r = until_complete(via, deadline, "repair deltas", expected, progress, |v| {
                repair::step2(home, &g.npub, a.lost, a.helpers, member, v)
            })?;
            steps.note(&r);
            Ok(steps.report("repair run", Some("helper"), lost, r, via))
        }
        Role::Lost => {
            // Connect before waiting: an unreachable --via fails now, not at the deadline.
            let roster = ceremony::repair::binding_roster(
                &g.roster,
                &g.public_key_package,
                seat,
                &helper_ids,
            )?;
            via.bind(&roster)?;
            let r = until_complete(via, deadline, "repair sigmas", expected, progress, |v| {
                repair::finish(home, &a.group, a.helpers, Some(a.lost), v)
            })?;
            steps.note(&r);
            Ok(steps.report("repair run", Some("lost member"), lost, r, via))
        }
    }
}
