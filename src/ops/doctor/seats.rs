//! The checks of each group a home knows: its status, every held seat's share (present,
//! and after unlocking, opening and matching the group) and nonces; and the ceremony
//! rounds the home started and did not finish.

use super::{Check, Status};
use crate::ceremony::MemberId;
use crate::group::Group;
use crate::home::{Home, Status as GroupStatus};

/// One check per group and per held seat's share and nonces; returns the held seats.
pub(super) fn groups(home: &Home, unlocked: bool, out: &mut Vec<Check>) -> Vec<(Group, MemberId)> {
    let mut held = vec![];
    let ids = home.group_ids().unwrap_or_default();
    if ids.is_empty() {
        out.push(Check::new(
            "groups",
            Status::Ok,
            "none yet (keygen import or dkg make one)",
        ));
    }
    for gid in ids {
        let g = match home.find_group(&gid) {
            Ok(g) => g,
            Err(e) => {
                out.push(Check::new(
                    &format!("group {gid}"),
                    Status::Fail,
                    e.to_string(),
                ));
                continue;
            }
        };
        let label = format!("group {}", g.npub);
        let st = match home.group_state(&g) {
            Ok(s) => s,
            Err(e) => {
                out.push(Check::new(&label, Status::Fail, e.to_string()));
                continue;
            }
        };
        let t = format!("{}-of-{}", g.roster.threshold, g.roster.n());
        match &st {
            None => out.push(Check::new(&label, Status::Ok, format!("{t}, public only (no seats here)"))),
            Some(s) if s.status == GroupStatus::Pending => out.push(Check::new(
                &label,
                Status::Warn,
                format!("{t}, pending: not every member has confirmed the key yet (`passport dkg confirm --roster ROSTER --in DIR`)"),
            )),
            Some(s) if s.status == GroupStatus::Retired => out.push(Check::new(
                &label,
                Status::Ok,
                format!("{t}, retired: this home's shares were destroyed (`group retire`); the public file stays"),
            )),
            Some(s) => out.push(Check::new(
                &label,
                Status::Ok,
                format!(
                    "{t}, active; seats here: {}",
                    if s.seats.is_empty() {
                        "none".to_owned()
                    } else {
                        s.seats
                            .iter()
                            .map(|&i| format!("{} (seat {i})", g.roster.name(i)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            )),
        }
        let Some(st) = st else { continue };
        for &seat in &st.seats {
            share(home, &g, seat, unlocked, out);
            nonces(home, &g, seat, out);
            held.push((g.clone(), seat));
        }
    }
    held
}

fn share(home: &Home, g: &Group, seat: MemberId, unlocked: bool, out: &mut Vec<Check>) {
    let who = g.roster.name(seat);
    let label = format!("share {who} (seat {seat})");
    if !home.keystore().exists(&Home::share_name(g, seat)) {
        out.push(Check::new(
            &label,
            Status::Fail,
            format!(
                "MISSING: this home should hold {who}'s share of {} but it is not in the keystore: restore it (`passport backup restore FILE`) or have t members repair it (`passport repair`)",
                g.npub
            ),
        ));
        return;
    }
    if !unlocked {
        out.push(Check::new(
            &label,
            Status::Ok,
            format!("present for {} (not opened)", g.npub),
        ));
        return;
    }
    match home.share(g, seat) {
        Ok(_) => out.push(Check::new(
            &label,
            Status::Ok,
            format!("opens and matches {}'s verifying share", g.npub),
        )),
        Err(e) => out.push(Check::new(
            &label,
            Status::Fail,
            format!("{e}: restore it from a backup or repair it"),
        )),
    }
}

fn nonces(home: &Home, g: &Group, seat: MemberId, out: &mut Vec<Check>) {
    let dir = home
        .keystore()
        .dir()
        .join("nonces")
        .join(format!("{}.{seat}", g.id()));
    let (mut unused, mut spent) = (0, 0);
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            match e.path().extension().and_then(|x| x.to_str()) {
                Some("sealed") => unused += 1,
                Some("consumed") => spent += 1,
                _ => {}
            }
        }
    }
    let who = g.roster.name(seat);
    out.push(Check::new(
        &format!("nonces {who} (seat {seat})"),
        Status::Ok,
        format!(
            "{unused} unused, {spent} spent{}",
            if unused == 0 {
                "; `passport sign commit` makes more before signing"
            } else {
                ""
            }
        ),
    ));
}

/// Ceremony rounds this home started and did not finish.
pub(super) fn rounds(home: &Home, out: &mut Vec<Check>) {
    let mut found = 0;
    for (dir, what) in [("dkg", "DKG"), ("refresh", "refresh"), ("repair", "repair")] {
        let Ok(rd) = std::fs::read_dir(home.root.join(dir)) else {
            continue;
        };
        for sub in rd.flatten() {
            let Ok(files) = std::fs::read_dir(sub.path()) else {
                continue;
            };
            for f in files.flatten() {
                let p = f.path();
                let Ok(bytes) = crate::fsutil::read_limited(&p, 4 << 20) else {
                    continue;
                };
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                    continue;
                };
                let done = match what {
                    "DKG" => v["stage"] == "confirmed",
                    "refresh" => v["stage"] == "finished",
                    _ => !v["sigma_sent"].is_null(),
                };
                if done {
                    continue;
                }
                found += 1;
                let seat = v["seat"].as_u64().unwrap_or(0) as MemberId;
                let name = serde_json::from_value::<crate::ceremony::Roster>(v["roster"].clone())
                    .map(|r| r.name(seat))
                    .unwrap_or_else(|_| format!("seat {seat}"));
                let stage = v["stage"].as_str().unwrap_or("started");
                out.push(Check::new(
                    &format!("{what} round"),
                    Status::Warn,
                    format!(
                        "{name}'s {what} is unfinished (at {stage}; {}): run its next step, or remove the file if the ceremony was abandoned",
                        p.display()
                    ),
                ));
            }
        }
    }
    let pending = std::fs::read_dir(home.keystore().dir().join("pending-destroy"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    if pending > 0 {
        found += 1;
        out.push(Check::new(
            "token objects",
            Status::Warn,
            format!("{pending} used nonces still have their one-time token object (the token was unreachable); the next `passport sign share` destroys them"),
        ));
    }
    if found == 0 {
        out.push(Check::new(
            "rounds",
            Status::Ok,
            "no unfinished DKG, refresh or repair rounds",
        ));
    }
}
