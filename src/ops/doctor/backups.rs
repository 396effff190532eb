//! `<home>/backups.jsonl`: one line per `backup create`, so `doctor` can say which
//! backups a refresh made stale and whether their files are still there. Public data
//! only (paths, group, seat, verifying share, hashes); appended, never rewritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Check, Status};
use crate::ceremony::{MemberId, Roster};
use crate::error::{Error, Result};
use crate::home::Home;

pub const RECORD: &str = "backups.jsonl";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupRecord {
    /// The backup file as given to `backup create` (`<stdout>` for `-o -`).
    pub file: String,
    /// Its absolute path when it was written (empty for stdout).
    #[serde(default)]
    pub path: String,
    pub manifest: String,
    pub group: String,
    pub member: String,
    pub seat: MemberId,
    pub created_at: u64,
    /// The share's verifying share (hex): a refresh changes it.
    pub verifying_share: String,
    pub sha256: String,
}

/// Appends one record: a single `write` of one line to a file opened for appending
/// (0600), then fsync.
pub fn record(root: &Path, r: &BackupRecord) -> Result<()> {
    let path = root.join(RECORD);
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut line = serde_json::to_string(r).expect("record serializes");
    line.push('\n');
    let mut f = opts.open(&path).map_err(|e| Error::io(&path, e))?;
    f.write_all(line.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(&path, e))
}

/// Every record that parses (a damaged line is skipped, not fatal).
pub fn read(root: &Path) -> Vec<BackupRecord> {
    std::fs::read_to_string(root.join(RECORD))
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Where the file of a record is, to check it still exists.
fn located(r: &BackupRecord) -> Option<PathBuf> {
    if r.file == "<stdout>" {
        return None;
    }
    Some(if r.path.is_empty() {
        PathBuf::from(&r.file)
    } else {
        PathBuf::from(&r.path)
    })
}

/// One check per recorded backup, and a warning for every held share with no current
/// backup.
pub(super) fn checks(home: &Home, held: &[(crate::group::Group, MemberId)], out: &mut Vec<Check>) {
    let records = read(&home.root);
    let mut current: Vec<(String, MemberId)> = vec![];
    for r in &records {
        let label = format!("backup {}", r.file);
        let group = match home.find_group(&r.group) {
            Ok(g) => g,
            Err(_) => {
                out.push(Check::new(
                    &label,
                    Status::Warn,
                    format!(
                        "{}'s share of {}: that group is no longer in this home",
                        r.member, r.group
                    ),
                ));
                continue;
            }
        };
        let now = group
            .public_key_package
            .verifying_shares()
            .get(&Roster::identifier(r.seat))
            .and_then(|v| v.serialize().ok())
            .map(hex::encode);
        let made = crate::clock::date(r.created_at);
        let retired = home
            .group_state(&group)
            .ok()
            .flatten()
            .is_some_and(|s| s.status == crate::home::Status::Retired);
        if retired {
            out.push(Check::new(
                &label,
                Status::Warn,
                format!(
                    "made {made}: {} is retired, but this backup still holds {}'s share of it; destroy the backup",
                    group.npub, r.member
                ),
            ));
            continue;
        }
        if now.as_deref() != Some(r.verifying_share.as_str()) {
            out.push(Check::new(
                &label,
                Status::Warn,
                format!(
                    "STALE: made {made}, before a refresh of {}; it holds {}'s old share, which no longer signs with the others; destroy it and make a new one (`passport backup create --group {}`)",
                    group.npub, r.member, group.npub
                ),
            ));
            continue;
        }
        match located(r) {
            None => {
                current.push((group.npub.clone(), r.seat));
                out.push(Check::new(
                    &label,
                    Status::Ok,
                    format!(
                        "{}'s current share, made {made}, written to stdout (passport cannot see where it went)",
                        r.member
                    ),
                ))
            }
            Some(p) if p.exists() => {
                current.push((group.npub.clone(), r.seat));
                out.push(Check::new(
                    &label,
                    Status::Ok,
                    format!("{}'s current share, made {made}; the file is there", r.member),
                ));
            }
            Some(_) => out.push(Check::new(
                &label,
                Status::Warn,
                format!(
                    "{}'s current share, made {made}, but the file is not there any more (moved offline is fine; lost is not: `passport backup verify FILE` wherever it is)",
                    r.member
                ),
            )),
        }
    }
    for (g, seat) in held {
        let any = records.iter().any(|r| r.group == g.npub && r.seat == *seat);
        let fresh = current.iter().any(|(n, s)| *n == g.npub && s == seat);
        if !fresh {
            out.push(Check::new(
                &format!("backup of {} in {}", g.roster.name(*seat), short(&g.npub)),
                Status::Warn,
                format!(
                    "{} of {}'s share recorded{}: make one with `passport backup create --group {} --member {}` (backups made before passport kept this record are not known)",
                    if any { "no current backup" } else { "no backup" },
                    g.roster.name(*seat),
                    if any { " (only stale or missing ones)" } else { "" },
                    g.npub,
                    g.roster.name(*seat)
                ),
            ));
        }
    }
}

fn short(npub: &str) -> String {
    match (npub.get(..12), npub.get(npub.len().saturating_sub(6)..)) {
        (Some(a), Some(b)) if npub.len() > 20 => format!("{a}…{b}"),
        _ => npub.to_owned(),
    }
}
