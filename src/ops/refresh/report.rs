//! What a refresh or repair step reports.

use serde::Serialize;

use super::state::RefreshState;
use crate::ceremony;
use crate::error::Result;
use crate::group::Group;
use crate::ops::rounds::Delivery;
use crate::ops::Report;

/// What a refresh or repair step reports.
#[derive(Serialize)]
pub struct LifecycleReport {
    pub step: &'static str,
    pub member: String,
    pub group: String,
    /// The refresh id, or the derived repair id.
    pub ceremony: String,
    #[serde(flatten)]
    pub delivery: Delivery,
    /// Fingerprint of the (new) public key package, to compare out of band.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_package: Option<String>,
    /// After a refresh: every earlier backup of this member's share is stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_backups: Option<String>,
}

impl Report for LifecycleReport {
    fn human(&self) -> String {
        let mut s = format!(
            "{} {} for {} in {}",
            self.step,
            self.delivery.done(),
            self.member,
            self.group
        );
        if let Some(f) = &self.public_key_package {
            s.push_str(&format!("\n  public key package fingerprint {f}"));
        }
        if let Some(w) = &self.stale_backups {
            s.push_str(&format!("\n  {w}"));
        }
        s.push_str(&self.delivery.lines());
        s
    }
}

/// Fingerprint of a public key package hash, in roster-fingerprint form.
pub fn package_fingerprint(group: &Group) -> Result<String> {
    let h = ceremony::public_package_hash(&group.public_key_package)?;
    Ok(ceremony::roster::fingerprint(&h))
}

pub(super) fn report(
    step: &'static str,
    st: &RefreshState,
    delivery: Delivery,
) -> Result<LifecycleReport> {
    let fingerprint = match &st.new_group {
        Some(g) => Some(package_fingerprint(g)?),
        None => None,
    };
    Ok(LifecycleReport {
        step,
        member: st.roster.name(st.seat),
        group: st.group.npub.clone(),
        ceremony: st.roster.ceremony_id.clone(),
        delivery,
        public_key_package: fingerprint,
        // A refresh replaces every share: backups made before it restore a share that
        // no longer signs with the others.
        stale_backups: (step == "refresh finish").then(|| {
            format!(
                "every backup of {}'s share made before this refresh is stale now (it holds the old share, which no longer signs with the others): make a new one with `passport backup create --group {}`",
                st.roster.name(st.seat),
                st.group.npub
            )
        }),
    })
}
