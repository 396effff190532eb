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
mod outbox;
pub mod passwd;
pub mod recover;
pub mod refresh;
pub mod repair;
pub mod reseal;
pub mod retire;
pub mod rounds;
pub mod sign;
pub mod sign_run;
pub mod verify;

use serde::Serialize;
use std::path::Path;

use crate::ceremony::{MemberId, Roster};
use crate::error::{Error, OperatorError, Result};
use crate::fsutil;

// The exchange of packages is the transport layer's; workflows name it from here.
pub use crate::transport::{
    collect, input_of, read_inputs, read_package, refuse_clobber, until_complete, write_package,
    Exchange, Files, Input, Progress, Waiting, Waits, Want,
};

pub(crate) use outbox::Addressed;

/// Something a command reports: JSON for `--json`, a human summary for stderr, and
/// optionally data for stdout.
pub trait Report: Serialize {
    fn human(&self) -> String;
    fn stdout(&self) -> Option<String> {
        None
    }
}

/// Reads a public input file (at most a package's size), or stdin for `-`.
pub fn read_source(path: &Path) -> Result<Vec<u8>> {
    Ok(crate::transport::read_source(path)?)
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

/// Resolves which of this home's seats acts, given an optional `--member` name.
pub fn pick_seat(
    roster: &Roster,
    candidates: &[MemberId],
    member: Option<&str>,
    what: &str,
) -> Result<MemberId> {
    match member {
        Some(name) => {
            let id = roster
                .id_by_name(name)
                .ok_or_else(|| OperatorError::NotAMember { name: name.into() })?;
            if candidates.contains(&id) {
                Ok(id)
            } else {
                Err(OperatorError::CannotActAs {
                    name: name.into(),
                    what: what.into(),
                }
                .into())
            }
        }
        None => match candidates {
            [one] => Ok(*one),
            [] => Err(OperatorError::NoSeat { what: what.into() }.into()),
            many => Err(OperatorError::SeveralSeats {
                what: what.into(),
                names: many.iter().map(|&i| roster.name(i)).collect(),
            }
            .into()),
        },
    }
}

/// Loads a roster file, naming it in errors.
pub fn load_roster(path: &Path) -> Result<Roster> {
    let bytes = read_source(path)?;
    Roster::from_json(&bytes).map_err(|e| Error::Malformed {
        path: fsutil::display(path),
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
