//! `passport group retire`: after `recover-nsec` (or when a member leaves for good), a
//! home destroys its shares of a group and burns its unused nonces, so the threshold
//! copies of a key that now exists in one place stop being a second way to sign. The
//! public group file stays, marked retired, so the home still knows what it was.

use serde::Serialize;

use super::Report;
use crate::error::{LifecycleError, Result};
use crate::home::{self, GroupState, Home, Status};

#[derive(Serialize)]
pub struct RetireReport {
    pub group: String,
    /// The seats whose shares were destroyed, by name.
    pub destroyed: Vec<String>,
    pub nonces_burned: usize,
}

impl Report for RetireReport {
    fn human(&self) -> String {
        format!(
            "retired {}: destroyed this home's share(s) of {} and burned {} unused nonce(s)\n  \
             backups of these shares still exist wherever you keep them: destroy those too",
            self.group,
            if self.destroyed.is_empty() {
                "no seat".to_owned()
            } else {
                self.destroyed.join(", ")
            },
            self.nonces_burned
        )
    }
}

/// Destroys this home's shares of `group` and its nonces; the caller has the consent.
pub fn retire(home: &Home, group: &str) -> Result<RetireReport> {
    let group = home.find_group(group)?;
    let state = home.group_state(&group)?;
    if state.as_ref().is_some_and(|s| s.status == Status::Retired) {
        return Err(LifecycleError::AlreadyRetired { npub: group.npub }.into());
    }
    let seats: Vec<_> = state
        .map(|s| s.seats.into_iter().collect())
        .unwrap_or_default();
    // Nonces first: a crash after this leaves shares that still work, never nonces
    // without the state that says they are spent.
    let burned = super::nonce::discard_all(home, Some(&group.npub), None)?;
    let ks = home.keystore();
    let mut destroyed = vec![];
    for &seat in &seats {
        let name = Home::share_name(&group, seat);
        if ks.exists(&name) {
            ks.remove(&name)?;
        }
        destroyed.push(group.roster.name(seat));
    }
    home.save_group_state(
        &group,
        &GroupState {
            status: Status::Retired,
            seats: Default::default(),
        },
    )?;
    home::audit_log(&home.root).append(
        "group-retire",
        serde_json::json!({ "group": group.npub, "destroyed": destroyed, "nonces": burned.discarded }),
    )?;
    Ok(RetireReport {
        group: group.npub.clone(),
        destroyed,
        nonces_burned: burned.discarded,
    })
}
