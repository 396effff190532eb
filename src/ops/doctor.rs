//! `passport doctor`: checks a home and says, per check, ok / warn / fail and what to do.
//!
//! Only public files are read unless the keystore can be unlocked without hanging (a
//! passphrase or PIN from the environment, a file, an agent or a terminal, or an age
//! identity file): then every held share is opened and checked against its group.
//! Nothing is written.

use std::path::Path;

use serde::Serialize;

use super::Report;
use crate::home::{Home, KeystoreConfig, OpenUnlock};
use crate::untrusted;

pub mod backups;
mod seats;

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
        Err(crate::home::Error::Keystore(e @ crate::keystore::Error::Exposed { .. })) => {
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
    let held = seats::groups(&home, unlocked, out);
    seats::rounds(&home, out);
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
