//! Command workflows: what each `passport` subcommand does, as library functions over a
//! [`Home`](crate::home::Home), files and the ceremony layer. The CLI and the demo both
//! call these, so the demo exercises the real code paths. Nothing here touches the
//! terminal; consent and passphrases arrive as callbacks.

pub mod backup;
pub mod cosign;
pub mod demo;
pub mod dkg;
pub mod doctor;
pub mod handover;
pub mod hsm;
pub mod idbackup;
pub mod inspect;
pub mod keygen;
pub mod lifecycle_run;
pub mod nonce;
pub mod passwd;
pub mod recover;
pub mod refresh;
pub mod repair;
pub mod reseal;
pub mod retire;
pub mod sign;
pub mod sign_run;
pub mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nostr::{Event, JsonUtil};
use serde::Serialize;

use crate::ceremony::{MemberId, Roster};
use crate::envelope::{self, Checked, Meta, Round, Sender};
use crate::error::{Error, Result};
use crate::fsutil;

/// Something a command reports: JSON for `--json`, a human summary for stderr, and
/// optionally data for stdout.
pub trait Report: Serialize {
    fn human(&self) -> String;
    fn stdout(&self) -> Option<String> {
        None
    }
}

/// A package read from a file (or stdin).
pub struct Input {
    pub path: String,
    /// Named on the command line, not found by scanning a directory.
    pub explicit: bool,
    pub event: Event,
    pub meta: Meta,
}

const MAX_INPUT: u64 = envelope::MAX_PACKAGE_BYTES as u64;

/// Reads bytes from a path, or stdin for `-`.
pub fn read_source(path: &Path) -> Result<Vec<u8>> {
    Ok(fsutil::read_public_source(path, MAX_INPUT)?)
}

fn display(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".into()
    } else {
        path.display().to_string()
    }
}

/// Parses one package file. Errors name the file.
///
/// Given the roster, a forged package is reported with the member it claims to be from.
pub fn read_package(path: &Path, roster: Option<&Roster>) -> Result<Input> {
    let bytes = read_source(path)?;
    let (event, meta) = envelope::parse(&bytes).map_err(|e| {
        let e = match roster {
            Some(r) => envelope::name_claimed(e, r),
            None => e,
        };
        Error::Rejected(format!("{}: {e}", display(path)))
    })?;
    Ok(Input {
        path: display(path),
        explicit: true,
        event,
        meta,
    })
}

/// An event already in hand (saved state, a transport) as an input.
pub fn input_of(event: &Event, label: &str) -> Result<Input> {
    let (event, meta) = envelope::parse(event.as_json().as_bytes())
        .map_err(|e| Error::Rejected(format!("{label}: {e}")))?;
    Ok(Input {
        path: label.to_owned(),
        explicit: true,
        event,
        meta,
    })
}

/// Reads packages from files and directories. In a directory, `*.json` files that are
/// not Nostr events (rosters, group files) are skipped; anything unreadable is an error.
pub fn read_inputs(paths: &[PathBuf], roster: &Roster) -> Result<Vec<Input>> {
    let mut out = vec![];
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json") && f.is_file())
                .collect();
            files.sort();
            for f in files {
                let bytes = fsutil::read_limited(&f, MAX_INPUT)?;
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    if v.get("kind").is_none() || v.get("sig").is_none() {
                        continue;
                    }
                }
                let mut input = read_package(&f, Some(roster))?;
                input.explicit = false;
                out.push(input);
            }
        } else if p.as_os_str() == "-" || p.exists() {
            out.push(read_package(p, Some(roster))?);
        } else {
            return Err(Error::io(
                p,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
            ));
        }
    }
    Ok(out)
}

/// What to collect from a set of inputs.
pub struct Want<'a> {
    pub round: Round,
    /// Only packages addressed to this key and seat.
    pub for_me: Option<(&'a nostr::Keys, MemberId)>,
    /// Only packages referencing this event id (signature shares name their request).
    pub reference: Option<&'a str>,
    /// Other rounds the same command also reads: named files of these rounds are
    /// skipped here instead of being rejected as the wrong round.
    pub also: &'a [Round],
}

/// Collects one package per member for a round. Every package of this ceremony is
/// checked; other rounds are skipped. A second, different package from the same member
/// is an error: someone equivocated or a package was forged.
pub fn collect(
    roster: &Roster,
    inputs: &[Input],
    want: Want<'_>,
) -> Result<BTreeMap<MemberId, Checked>> {
    let mut got: BTreeMap<MemberId, Checked> = BTreeMap::new();
    for input in inputs {
        let rejected = |e: envelope::Error| Error::Rejected(format!("{}: {e}", input.path));
        // Packages of other rounds of this ceremony are skipped, unless named on the
        // command line by mistake; another ceremony's package is always an error. The
        // check below then names the sender and the mismatch.
        let foreign = input.meta.binding.ceremony != roster.ceremony_id;
        let misnamed = input.explicit && !want.also.contains(&input.meta.round);
        if input.meta.round != want.round && !foreign && !misnamed {
            continue;
        }
        let checked = envelope::check(
            roster,
            input.event.clone(),
            input.meta.clone(),
            want.round,
            Sender::Member,
        )
        .map_err(rejected)?;
        if let Some((keys, seat)) = want.for_me {
            if !checked.is_for(&keys.public_key(), seat) {
                if input.explicit {
                    checked.require_for(roster, keys, seat).map_err(rejected)?;
                }
                continue;
            }
        }
        if let Some(r) = want.reference {
            if checked.meta.reference.as_deref() != Some(r) {
                if input.explicit {
                    return Err(Error::Rejected(format!(
                        "{}: package from {} answers another request, not {}",
                        input.path,
                        checked.sender,
                        &r[..16.min(r.len())]
                    )));
                }
                continue;
            }
        }
        let from = checked.from.expect("member packages have a seat");
        match got.get(&from) {
            Some(prev) if prev.event.id == checked.event.id => {}
            Some(prev) => {
                return Err(Error::Rejected(format!(
                    "{}: {} sent two different {}s ({} and {}); one is forged or the member ran \
                     the round twice. Ask {} which is real and remove the other",
                    input.path,
                    checked.sender,
                    want.round.describe(),
                    &prev.event.id.to_hex()[..12],
                    &checked.event.id.to_hex()[..12],
                    checked.sender,
                )));
            }
            None => {
                got.insert(from, checked);
            }
        }
    }
    Ok(got)
}

/// Where a round's packages come from and go to: files (`--in`, `--out`) or a
/// transport (`--via`).
pub trait Exchange {
    /// Names the roster the packages are bound to, before anything is sent (a transport
    /// that has not connected yet connects for it).
    fn bind(&mut self, _roster: &Roster) -> Result<()> {
        Ok(())
    }
    /// Every package available for this roster.
    fn inputs(&mut self, roster: &Roster) -> Result<Vec<Input>>;
    /// Delivers one package named `name`; returns where it went, for the report.
    fn deliver(&mut self, name: &str, event: &Event) -> Result<String>;
    /// Delivers saved packages again, one by one (a re-run of a step that already sent
    /// them); returns where each went.
    fn deliver_each(&mut self, items: &[(String, Event)]) -> Result<Vec<String>> {
        items
            .iter()
            .map(|(name, ev)| self.deliver(name, ev))
            .collect()
    }
    /// Delivers several packages, all or (where the medium allows) none.
    fn deliver_all(&mut self, items: &[(String, &Event)]) -> Result<Vec<String>> {
        items.iter().map(|(n, e)| self.deliver(n, e)).collect()
    }
    /// True when delivering sends packages away rather than writing files.
    fn sent(&self) -> bool {
        false
    }
    /// Whether files that exist with other content may be overwritten (`--force`).
    fn force(&self) -> bool {
        false
    }
}

/// The file flow: packages read from paths, written into a directory.
pub struct Files {
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    /// Overwrite a package file that exists with other content (`--force`).
    pub force: bool,
}

impl Files {
    pub fn new(inputs: &[PathBuf], out: &Path) -> Self {
        Files {
            inputs: inputs.to_vec(),
            out: out.to_path_buf(),
            force: false,
        }
    }

    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Only an output directory (steps that read nothing).
    pub fn out(out: &Path) -> Self {
        Files::new(&[], out)
    }
}

impl Exchange for Files {
    fn inputs(&mut self, roster: &Roster) -> Result<Vec<Input>> {
        read_inputs(&self.inputs, roster)
    }

    fn deliver(&mut self, name: &str, event: &Event) -> Result<String> {
        Ok(write_package(&self.out, name, event, self.force)?
            .display()
            .to_string())
    }

    fn force(&self) -> bool {
        self.force
    }

    /// Stages every file first, then renames them into place: a failure leaves none.
    fn deliver_all(&mut self, items: &[(String, &Event)]) -> Result<Vec<String>> {
        for (name, event) in items {
            check_clobber(&self.out.join(name), &package_bytes(event), self.force)?;
        }
        let mut staged = vec![];
        let result = (|| -> Result<()> {
            for (name, event) in items {
                let tmp = self
                    .out
                    .join(format!(".{name}.staged-{}", std::process::id()));
                fsutil::write_atomic(&tmp, &package_bytes(event), true)?;
                staged.push((tmp, self.out.join(name)));
            }
            Ok(())
        })();
        if let Err(e) = result {
            for (tmp, _) in &staged {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(e);
        }
        let mut out = vec![];
        for (tmp, path) in &staged {
            std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))?;
            out.push(path.display().to_string());
        }
        fsutil::sync_dir(&self.out)?;
        Ok(out)
    }
}

/// Refuses to replace `path` when it holds other bytes, unless `force`.
pub fn refuse_clobber(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    check_clobber(path, bytes, force).map(|_| ())
}

fn package_bytes(event: &Event) -> Vec<u8> {
    let mut json = event.as_json();
    json.push('\n');
    json.into_bytes()
}

/// Refuses to replace a file that holds something else; the same bytes again are fine
/// (a re-run of a step writes the package it wrote before).
fn check_clobber(path: &Path, bytes: &[u8], force: bool) -> Result<bool> {
    match std::fs::read(path) {
        Ok(old) if old == bytes => Ok(false),
        Ok(_) if force => Ok(true),
        Ok(_) => Err(Error::Refused(format!(
            "{} already exists with other content (a package of another attempt?); move it away, or pass --force to overwrite it",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// The first 8 hex digits of a ceremony (or refresh) id: package file names carry it,
/// so two ceremonies' packages in one directory never share a name.
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// "wrote PATH" or "sent NAME to URL", for human reports.
pub fn delivered_lines(sent: bool, packages: &[String]) -> String {
    let verb = if sent { "sent" } else { "wrote" };
    packages.iter().map(|p| format!("\n  {verb} {p}")).collect()
}

/// Writes a package file into `dir` (created if needed) and returns its path. A file of
/// that name with other content is refused unless `force`.
pub fn write_package(dir: &Path, name: &str, event: &Event, force: bool) -> Result<PathBuf> {
    let path = dir.join(name);
    let bytes = package_bytes(event);
    if check_clobber(&path, &bytes, force)? {
        fsutil::write_atomic(&path, &bytes, true)?;
    }
    Ok(path)
}

/// Resolves which of this home's seats acts, given an optional `--member` name.
pub fn pick_seat(
    roster: &Roster,
    candidates: &[MemberId],
    member: Option<&str>,
    what: &str,
) -> Result<MemberId> {
    match member {
        Some(name) => {
            let id = roster.id_by_name(name).ok_or_else(|| {
                Error::Invalid(format!("{name:?} is not a member of this roster"))
            })?;
            if candidates.contains(&id) {
                Ok(id)
            } else {
                Err(Error::Invalid(format!(
                    "this home cannot act as {name} {what}"
                )))
            }
        }
        None => match candidates {
            [one] => Ok(*one),
            [] => Err(Error::Invalid(format!("this home holds no seat {what}"))),
            many => Err(Error::Invalid(format!(
                "this home holds several seats {what} ({}); choose one with --member",
                many.iter()
                    .map(|&i| roster.name(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        },
    }
}

/// Loads a roster file, naming it in errors.
pub fn load_roster(path: &Path) -> Result<Roster> {
    let bytes = read_source(path)?;
    Roster::from_json(&bytes).map_err(|e| Error::Malformed {
        path: display(path),
        what: "roster",
        detail: e.to_string(),
    })
}

/// The warning for a roster in which one key holds at least t seats (and so can sign
/// alone), one per such key; empty for an ordinary roster.
pub fn shared_seat_warnings(r: &Roster) -> Vec<String> {
    r.keys_signing_alone()
        .into_iter()
        .map(|(pk, seats)| {
            let names: Vec<String> = seats.iter().map(|&i| r.name(i)).collect();
            format!(
                "WARNING: {} holds {} of the {} seats ({}) and can sign alone: for that key the \
                 threshold of {} protects nothing. Expected only in a CI layout (`roster new \
                 --allow-shared-seats`); otherwise do not use this roster.",
                nostr::ToBech32::to_bech32(&pk).expect("bech32"),
                seats.len(),
                r.n(),
                names.join(", "),
                r.threshold
            )
        })
        .collect()
}

/// Progress of a `run` command: who has answered a step, who is awaited.
pub struct Waiting<'a> {
    pub step: &'a str,
    pub expected: usize,
    pub missing: &'a [String],
}

/// Called while a `run` command waits; the CLI draws a progress bar from it.
pub type Progress<'a> = &'a mut dyn FnMut(&Waiting<'_>);

/// A `--via` transport a `run` command waits on between attempts (a connected
/// [`Via`](crate::transport::Via), or a [`Lazy`](crate::transport::Lazy) one that a
/// refresh or repair step connects).
pub trait Waits: Exchange {
    /// Waits up to `max` for new packages; returns how many arrived.
    fn wait_news(&mut self, max: std::time::Duration) -> Result<usize>;
}

/// Retries `step` while it fails only because packages are missing, waiting on the
/// transport for news in between, until `deadline`. The timeout names who did not answer.
pub fn until_complete<T, V: Waits + ?Sized>(
    via: &mut V,
    deadline: std::time::Instant,
    step: &str,
    expected: usize,
    progress: Progress<'_>,
    mut f: impl FnMut(&mut V) -> Result<T>,
) -> Result<T> {
    let mut missing: Vec<String> = vec![];
    loop {
        let outage = match f(via) {
            Err(Error::Ceremony(crate::ceremony::Error::Incomplete { missing: m, .. })) => {
                missing = m;
                None
            }
            // The server restarting or a relay dropping: keep the state and try again.
            Err(Error::Transport(e)) => Some(e),
            other => {
                progress(&Waiting {
                    step,
                    expected,
                    missing: &[],
                });
                return other;
            }
        };
        progress(&Waiting {
            step,
            expected,
            missing: &missing,
        });
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(match outage {
                Some(e) => Error::Transport(format!(
                    "timed out waiting for {step}: {e}. Run the same command again to resume"
                )),
                None => Error::Incomplete(format!(
                    "timed out waiting for {step} from {}; they did not answer. Run the same \
                     command again to resume where it stopped",
                    missing.join(", ")
                )),
            });
        }
        match outage {
            Some(_) => std::thread::sleep(left.min(std::time::Duration::from_millis(500))),
            None => match via.wait_news(left) {
                Ok(_) => {}
                Err(Error::Transport(_)) => {
                    std::thread::sleep(left.min(std::time::Duration::from_millis(500)))
                }
                Err(e) => return Err(e),
            },
        }
    }
}
