//! `passport roster new|show`: every seat with its name and npub in labelled columns,
//! which of them are this home's, and the fingerprint members compare.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use nostr::ToBech32;
use serde::Serialize;

use super::{Cli, Output};
use crate::ceremony::roster::parse_npub;
use crate::ceremony::{Member, MemberId, Roster};
use crate::error::{OperatorError, Result};
use crate::ops::Report;
use crate::untrusted;

#[derive(Debug, Subcommand)]
pub enum RosterCmd {
    /// Write a new roster with a fresh random ceremony id.
    New(RosterNew),
    /// Show a roster and its fingerprint.
    Show {
        /// Roster file (`-` for stdin).
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct RosterNew {
    /// Signatures needed (t of n).
    #[arg(long, short = 't')]
    threshold: u16,
    /// A member as NAME=NPUB; repeat for each member, in order.
    #[arg(
        long = "member",
        short = 'm',
        value_name = "NAME=NPUB",
        required = true
    )]
    members: Vec<String>,
    /// What this key is for (at most 1024 bytes).
    #[arg(long, default_value = "")]
    purpose: String,
    /// Make a trusted-dealer roster with this dealer npub (`self`: this home).
    #[arg(long, value_name = "NPUB")]
    dealer: Option<String>,
    /// Allow one npub to hold t seats or more, so that it can sign alone (the CI layout:
    /// one home with enough shares to sign unattended). Refused without this flag.
    #[arg(long)]
    allow_shared_seats: bool,
    /// Output file (`-` for stdout).
    #[arg(long, short = 'o', default_value = "roster.json")]
    output: PathBuf,
}

#[derive(Serialize)]
struct SeatRow {
    seat: MemberId,
    name: String,
    npub: String,
    /// This home's identity holds the seat.
    you: bool,
}

#[derive(Serialize)]
struct RosterReport {
    file: String,
    ceremony: String,
    purpose: String,
    threshold: u16,
    /// Member names in seat order.
    members: Vec<String>,
    seats: Vec<SeatRow>,
    dealer: Option<String>,
    /// The dealer is this home's identity.
    dealer_is_you: bool,
    /// Number of seats.
    n: u16,
    fingerprint: String,
    /// This home's seats (empty when it holds none, or there is no home).
    you: Vec<MemberId>,
    /// Keys holding at least t seats: each can sign alone.
    signs_alone: Vec<String>,
    #[serde(skip)]
    home_known: bool,
    #[serde(skip)]
    stdout: Option<String>,
}
impl Report for RosterReport {
    fn human(&self) -> String {
        // Every value from the file goes through `untrusted`: a purpose holding a newline
        // must not print a second, forged fingerprint line.
        let show = untrusted::line;
        let mut s = format!("roster {}\n", show(&self.file));
        s.push_str(&format!("  ceremony:    {}\n", show(&self.ceremony)));
        let purpose = if self.purpose.is_empty() {
            "⟨none⟩".to_owned()
        } else {
            show(&self.purpose)
        };
        s.push_str(&format!("  purpose:     {purpose}\n"));
        s.push_str(&format!(
            "  threshold:   {} of {} signatures ({})\n",
            self.threshold,
            self.seats.len(),
            if self.dealer.is_some() {
                "trusted dealer"
            } else {
                "DKG: no one ever holds the key"
            }
        ));
        if let Some(d) = &self.dealer {
            s.push_str(&format!(
                "  dealer:      {}{}\n",
                show(d),
                if self.dealer_is_you { "  <- you" } else { "" }
            ));
        }
        let w = self
            .seats
            .iter()
            .map(|r| untrusted::width(&show(&r.name)))
            .max()
            .unwrap_or(4)
            .max(4);
        s.push_str(&format!("  {:<4}  {:<w$}  npub\n", "seat", "name"));
        for r in &self.seats {
            let name = show(&r.name);
            let pad = " ".repeat(w.saturating_sub(untrusted::width(&name)));
            s.push_str(&format!(
                "  {:<4}  {name}{pad}  {}{}\n",
                r.seat,
                show(&r.npub),
                if r.you { "  <- you" } else { "" }
            ));
        }
        if !self.you.is_empty() {
            let names: Vec<String> = self
                .seats
                .iter()
                .filter(|r| r.you)
                .map(|r| format!("seat {} ({})", r.seat, show(&r.name)))
                .collect();
            s.push_str(&format!("  you are {}\n", names.join(", ")));
        } else if self.home_known {
            s.push_str("  you hold no seat in this roster\n");
        }
        s.push_str(&format!(
            "  fingerprint: {}  <- compare this out of band with every member, and check every npub",
            self.fingerprint
        ));
        s
    }
    fn stdout(&self) -> Option<String> {
        self.stdout.clone()
    }
}

/// This home's identity, read from its config without unlocking anything (`None`: no
/// home here).
fn home_npub(cli: &Cli) -> Option<nostr::PublicKey> {
    let bytes = std::fs::read(cli.home_path().join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    parse_npub(v.get("npub")?.as_str()?).ok()
}

fn roster_report(
    r: &Roster,
    me: Option<nostr::PublicKey>,
    file: String,
    stdout: Option<String>,
) -> RosterReport {
    let seats: Vec<SeatRow> = r
        .ids()
        .map(|i| {
            let m = r.member(i).expect("ids are in the roster");
            SeatRow {
                seat: i,
                name: m.name.clone(),
                npub: m.npub.to_bech32().expect("bech32"),
                you: me == Some(m.npub),
            }
        })
        .collect();
    RosterReport {
        file,
        ceremony: r.ceremony_id.clone(),
        purpose: r.purpose.clone(),
        threshold: r.threshold,
        members: r.members.iter().map(|m| m.name.clone()).collect(),
        you: seats.iter().filter(|s| s.you).map(|s| s.seat).collect(),
        seats,
        dealer: r.dealer.map(|d| d.to_bech32().expect("bech32")),
        dealer_is_you: me.is_some() && r.dealer == me,
        n: r.n(),
        fingerprint: r.fingerprint(),
        signs_alone: r
            .keys_signing_alone()
            .iter()
            .map(|(k, _)| k.to_bech32().expect("bech32"))
            .collect(),
        home_known: me.is_some(),
        stdout,
    }
}

pub fn roster(cli: &Cli, cmd: &RosterCmd, out: &Output) -> Result<()> {
    match cmd {
        RosterCmd::New(a) => {
            // Refused before anything else: a roster is what members compare by
            // fingerprint, so one is never replaced by a new one under the same name.
            if a.output.as_os_str() != "-" && a.output.symlink_metadata().is_ok() {
                return Err(OperatorError::RosterExists {
                    path: a.output.clone(),
                }
                .into());
            }
            let mut members = vec![];
            for spec in &a.members {
                let (name, npub) = spec
                    .split_once('=')
                    .ok_or_else(|| OperatorError::MemberSpec { spec: spec.clone() })?;
                members.push(Member {
                    name: name.to_owned(),
                    npub: parse_npub(npub)?,
                });
            }
            let dealer = match a.dealer.as_deref() {
                None => None,
                Some("self") => Some(cli.open_home()?.public_key()),
                Some(npub) => Some(parse_npub(npub)?),
            };
            let roster = Roster::new(
                &a.purpose,
                a.threshold,
                members,
                dealer,
                &mut rand::rngs::OsRng,
            )?;
            let alone = roster.keys_signing_alone();
            if !alone.is_empty() && !a.allow_shared_seats {
                let (pk, seats) = &alone[0];
                return Err(OperatorError::SignsAlone {
                    npub: pk.to_bech32().expect("bech32"),
                    seats: seats.len(),
                    n: roster.n(),
                    names: seats.iter().map(|&i| roster.name(i)).collect(),
                    threshold: roster.threshold,
                }
                .into());
            }
            out.warn_shared_seats(&roster);
            let json = roster.to_json_pretty() + "\n";
            let me = home_npub(cli);
            if a.output.as_os_str() == "-" {
                out.report(&roster_report(
                    &roster,
                    me,
                    "<stdout>".into(),
                    Some(json.trim_end().to_owned()),
                ))
            } else {
                crate::fsutil::write_atomic(&a.output, json.as_bytes(), false)?;
                out.report(&roster_report(
                    &roster,
                    me,
                    a.output.display().to_string(),
                    None,
                ))
            }
        }
        RosterCmd::Show { file } => {
            let r = crate::ops::load_roster(file)?;
            out.warn_shared_seats(&r);
            out.report(&roster_report(
                &r,
                home_npub(cli),
                file.display().to_string(),
                None,
            ))
        }
    }
}
