//! `dkg run --via`: every round through a transport, waiting for the others.

use super::*;

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
    roster: &Roster,
    member: Option<&str>,
    via: &mut crate::transport::Via,
    timeout: std::time::Duration,
    progress: crate::ops::Progress<'_>,
) -> Result<RunReport> {
    let deadline = std::time::Instant::now() + timeout;
    let others = roster.members.len() - 1;
    let mut steps = vec![];
    let note = |r: &StepReport, steps: &mut Vec<String>| {
        if !r.delivery.already_done {
            steps.push(r.step.to_owned());
        }
    };
    let r = round1(home, roster, member, via)?;
    note(&r, &mut steps);
    let member = Some(r.member.clone());
    let member = member.as_deref();
    let r = crate::ops::until_complete(via, deadline, "round-1 packages", others, progress, |v| {
        round2(home, roster, member, v)
    })?;
    note(&r, &mut steps);
    let r = crate::ops::until_complete(via, deadline, "round-2 packages", others, progress, |v| {
        finish(home, roster, member, v)
    })?;
    note(&r, &mut steps);
    let r = crate::ops::until_complete(via, deadline, "agreements", others, progress, |v| {
        confirm(home, roster, member, v)
    })?;
    note(&r, &mut steps);
    Ok(RunReport {
        member: r.member,
        ceremony: roster.ceremony_id.clone(),
        group: r.group.unwrap_or_default(),
        via: via.endpoint().describe(),
        steps,
    })
}
