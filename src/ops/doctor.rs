//! `passport doctor`: checks a home and says, per check, ok / warn / fail and what to do.
//!
//! Only public files are read unless the keystore can be unlocked without hanging (a
//! passphrase or PIN from the environment, a file, an agent or a terminal, or an age
//! identity file): then every held share is opened and checked against its group.
//! Nothing is written.

use std::path::Path;

use serde::Serialize;

use super::Report;
use crate::ceremony::MemberId;
use crate::group::Group;
use crate::home::{Home, KeystoreConfig, OpenUnlock, Status as GroupStatus};
use crate::untrusted;

pub mod backups;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    /// Not checked (e.g. `--no-unlock`, or no way to unlock without a prompt).
    Skip,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    pub detail: String,
}

impl Check {
    pub fn new(check: &str, status: Status, detail: impl Into<String>) -> Self {
        Check {
            check: check.to_owned(),
            status,
            detail: detail.into(),
        }
    }
}

#[derive(Serialize)]
pub struct DoctorReport {
    pub home: String,
    pub checks: Vec<Check>,
    /// No check failed (the exit status is 0 exactly then).
    pub healthy: bool,
    pub failures: usize,
    pub warnings: usize,
}

impl Report for DoctorReport {
    fn human(&self) -> String {
        let mut s = format!("passport doctor: {}\n", untrusted::line(&self.home));
        for c in &self.checks {
            let tag = match c.status {
                Status::Ok => "ok",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            s.push_str(&format!(
                "  {tag:<4}  {}: {}\n",
                untrusted::line(&c.check),
                untrusted::line(&c.detail)
            ));
        }
        s.push_str(&format!(
            "{} checks: {} failed, {} warnings",
            self.checks.len(),
            self.failures,
            self.warnings
        ));
        s
    }
}

/// Whether the keystore may be unlocked, and if not, why.
pub enum Unlock {
    Try,
    Skip(String),
}

/// Runs every check; never fails as a whole (a failure is a check).
pub fn run(root: &Path, open: OpenUnlock, unlock: Unlock) -> DoctorReport {
    let mut out = vec![];
    check_home(root, open, unlock, &mut out);
    let failures = out.iter().filter(|c| c.status == Status::Fail).count();
    let warnings = out.iter().filter(|c| c.status == Status::Warn).count();
    DoctorReport {
        home: root.display().to_string(),
        healthy: failures == 0,
        failures,
        warnings,
        checks: out,
    }
}

fn check_home(root: &Path, open: OpenUnlock, unlock: Unlock, out: &mut Vec<Check>) {
    if !root.join("config.json").exists() {
        out.push(Check::new(
            "home",
            Status::Fail,
            format!(
                "no passport home at {}: run `passport init` (or pass --home)",
                root.display()
            ),
        ));
        return;
    }
    let home = match Home::open(root, open) {
        Ok(h) => h,
        Err(crate::Error::Keystore(e @ crate::keystore::Error::Exposed { .. })) => {
            out.push(Check::new("permissions", Status::Fail, e.to_string()));
            return;
        }
        Err(e) => {
            out.push(Check::new(
                "home",
                Status::Fail,
                format!("config.json: {e}"),
            ));
            return;
        }
    };
    out.push(Check::new(
        "home",
        Status::Ok,
        format!(
            "config readable; keystore {}",
            home.keystore().sealer().describe()
        ),
    ));
    permissions(&home, out);
    let token_ok = token(&home, out);
    let unlocked = keystore(&home, unlock, token_ok, out);
    let held = groups(&home, unlocked, out);
    rounds(&home, out);
    audit(&home, out);
    backups::checks(&home, &held, out);
}

fn permissions(home: &Home, out: &mut Vec<Check>) {
    let mut problems: Vec<String> = home.permission_warnings().to_vec();
    let mut loose = 0;
    let mut stack = vec![home.root.join("keystore")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                if crate::keystore::exposed(&p).is_some() {
                    loose += 1;
                }
                stack.push(p);
            } else if crate::keystore::exposed(&p).is_some() {
                loose += 1;
            }
        }
    }
    let status = if loose > 0 {
        problems.push(format!(
            "{loose} files or directories in the keystore are open to other users: `chmod -R go= {}`",
            home.root.join("keystore").display()
        ));
        Status::Fail
    } else if problems.is_empty() {
        Status::Ok
    } else {
        Status::Warn
    };
    let detail = if problems.is_empty() {
        "home and keystore are private to this user (0700 directories, 0600 files)".to_owned()
    } else {
        problems.join("; ")
    };
    out.push(Check::new("permissions", status, detail));
}

/// For token homes: the token is reachable (no login) and is the one `init` recorded.
/// `false` when the home has a token that cannot be reached.
fn token(home: &Home, out: &mut Vec<Check>) -> bool {
    let KeystoreConfig::Pkcs11 {
        uri,
        module,
        token_serial,
        ..
    } = &home.config.keystore
    else {
        return true;
    };
    let module = std::env::var_os("PASSPORT_PKCS11_MODULE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| module.clone());
    let probe = crate::hsm::TokenUri::parse(uri)
        .and_then(|u| crate::hsm::TokenSpec::new(u, Some(module.clone())))
        .and_then(|spec| crate::hsm::Token::open(&spec));
    match probe {
        Ok(t) if &t.info.serial == token_serial => {
            out.push(Check::new(
                "token",
                Status::Ok,
                format!(
                    "{} (serial {}) is reachable through {}",
                    t.info.label,
                    t.info.serial,
                    module.display()
                ),
            ));
            true
        }
        Ok(t) => {
            out.push(Check::new(
                "token",
                Status::Fail,
                format!(
                    "{uri} is now the token with serial {}, not {token_serial} which holds this home's keys: plug in the right token",
                    t.info.serial
                ),
            ));
            false
        }
        Err(e) => {
            out.push(Check::new(
                "token",
                Status::Fail,
                format!("{e}: plug the token in, or check the module path and the token URI"),
            ));
            false
        }
    }
}

/// Unlocks (opens the identity key) when allowed; says what happened.
fn keystore(home: &Home, unlock: Unlock, token_ok: bool, out: &mut Vec<Check>) -> bool {
    let npub = home.config.npub.clone();
    let reason = match unlock {
        Unlock::Skip(r) => Some(r),
        Unlock::Try if !token_ok => Some("the token is not reachable".into()),
        Unlock::Try => None,
    };
    if let Some(r) = reason {
        out.push(Check::new(
            "keystore",
            Status::Skip,
            format!("not unlocked ({r}); shares were only checked to be present"),
        ));
        out.push(Check::new(
            "identity",
            Status::Ok,
            format!("{npub} (key not opened)"),
        ));
        return false;
    }
    match home.identity() {
        Ok(keys) if keys.public_key() == home.public_key() => {
            out.push(Check::new("keystore", Status::Ok, "unlocked"));
            out.push(Check::new(
                "identity",
                Status::Ok,
                format!("{npub}: the key opens and matches the config"),
            ));
            true
        }
        Ok(_) => {
            out.push(Check::new("keystore", Status::Ok, "unlocked"));
            out.push(Check::new(
                "identity",
                Status::Fail,
                format!("the identity key in the keystore is not {npub} (config and keystore disagree: was one of them replaced?)"),
            ));
            true
        }
        Err(e) => {
            out.push(Check::new(
                "keystore",
                Status::Fail,
                format!("cannot unlock: {e}"),
            ));
            false
        }
    }
}

/// One check per group and per held seat's share and nonces; returns the held seats.
fn groups(home: &Home, unlocked: bool, out: &mut Vec<Check>) -> Vec<(Group, MemberId)> {
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
fn rounds(home: &Home, out: &mut Vec<Check>) {
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

fn audit(home: &Home, out: &mut Vec<Check>) {
    let log = crate::home::audit_log(&home.root);
    if !log.path().exists() {
        out.push(Check::new("audit log", Status::Ok, "none yet"));
        return;
    }
    match log.verify() {
        Ok(r) => out.push(Check::new(
            "audit log",
            Status::Ok,
            format!("{} entries, hash chain intact", r.entries),
        )),
        Err(e) => out.push(Check::new(
            "audit log",
            Status::Fail,
            format!("{e}: restore audit.jsonl from a copy; `passport audit verify` says more"),
        )),
    }
}
