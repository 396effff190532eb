//! A refresh's saved, public progress per seat, and how a step finds it.

use serde::{Deserialize, Serialize};

use crate::ceremony::{refresh, MemberId, Roster};
use crate::error::{LifecycleError, Result};
use crate::group::Group;
use crate::home::Home;
use crate::ops::pick_seat;
use crate::ops::rounds::{Seat, Sent};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Round1,
    Round2,
    /// The new share is computed and sealed; replacing share and group file is under way.
    Finishing,
    Finished,
}

/// Per-seat progress, public data only (secrets are in the keystore).
#[derive(Serialize, Deserialize)]
pub struct RefreshState {
    /// The refresh roster packages are bound to.
    pub roster: Roster,
    /// The group as it was when this refresh started.
    pub group: Group,
    pub seat: MemberId,
    pub stage: Stage,
    #[serde(flatten)]
    pub sent: Sent,
    /// Hash of the n round-1 package ids used in round 2.
    #[serde(default)]
    pub view: Option<String>,
    #[serde(default)]
    pub new_group: Option<Group>,
    /// Seats leaving at this refresh (`--without`): they take no part and get no share.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaving: Vec<MemberId>,
}

impl RefreshState {
    /// The seats that take part in this refresh.
    pub(super) fn participants(&self) -> Result<Vec<MemberId>> {
        refresh::participants(
            &self.group.roster,
            &self.group.public_key_package,
            &self.leaving,
        )
        .map_err(|e| LifecycleError::Plan(e).into())
    }
}

/// `--without` names to seats; a member of several seats leaves with all of them only
/// when each is named.
pub fn leaving_seats(group: &Group, names: &[String]) -> Result<Vec<MemberId>> {
    let mut seats = vec![];
    for n in names {
        let s = group
            .roster
            .id_by_name(n)
            .ok_or_else(|| LifecycleError::NotAMember {
                name: n.clone(),
                npub: group.npub.clone(),
            })?;
        if !seats.contains(&s) {
            seats.push(s);
        }
    }
    seats.sort_unstable();
    Ok(seats)
}

pub(super) fn normalize_id(id: &str) -> Result<String> {
    let id = id.trim().to_ascii_lowercase();
    if id.len() != 32 || hex::decode(&id).is_err() {
        return Err(LifecycleError::BadRefreshId { id }.into());
    }
    Ok(id)
}

/// Where a seat's refresh state and step secrets live.
pub(super) fn place<'h>(home: &'h Home, group: &Group, rid: &str, seat: MemberId) -> Seat<'h> {
    let g = group.id();
    Seat::new(
        home,
        format!("refresh/{g}/{rid}.{seat}.json"),
        format!("refresh/{g}.{rid}.{seat}"),
    )
}

/// The group, this home's acting seat, where it keeps its progress, and its saved state
/// (if any).
pub(super) fn open<'h>(
    home: &'h Home,
    group: &str,
    rid: &str,
    member: Option<&str>,
) -> Result<(Group, MemberId, Seat<'h>, Option<RefreshState>)> {
    let group = home.find_group(group)?;
    let seats = home.active_seats(&group)?;
    let seat = pick_seat(&group.roster, &seats, member, "with a share of this group")?;
    let at = place(home, &group, rid, seat);
    let st: Option<RefreshState> = at.load()?;
    if let Some(st) = &st {
        if st.seat != seat || st.group.npub != group.npub {
            return Err(LifecycleError::OtherState {
                rid: rid.to_owned(),
            }
            .into());
        }
    }
    Ok((group, seat, at, st))
}

/// A later step given `--without` must name the leavers round 1 was started with.
pub(super) fn same_leavers(st: &RefreshState, without: &[String]) -> Result<()> {
    if without.is_empty() || leaving_seats(&st.group, without)? == st.leaving {
        return Ok(());
    }
    Err(LifecycleError::LeaversChanged {
        leaving: st
            .leaving
            .iter()
            .map(|&s| st.group.roster.name(s))
            .collect(),
    }
    .into())
}

/// A later step: the refresh id, the group, this home's seat, where it keeps its
/// progress, and the state round 1 saved.
pub(super) fn resume<'h>(
    home: &'h Home,
    group: &str,
    refresh_id: &str,
    member: Option<&str>,
    without: &[String],
) -> Result<(String, Group, MemberId, Seat<'h>, RefreshState)> {
    let rid = normalize_id(refresh_id)?;
    let (group, seat, at, st) = open(home, group, &rid, member)?;
    let st = require_state(st, &group, seat)?;
    same_leavers(&st, without)?;
    Ok((rid, group, seat, at, st))
}

pub(super) fn require_state(
    st: Option<RefreshState>,
    group: &Group,
    seat: MemberId,
) -> Result<RefreshState> {
    st.ok_or_else(|| {
        LifecycleError::NotStarted {
            member: group.roster.name(seat),
            workflow: "refresh",
            first: "round1",
        }
        .into()
    })
}
