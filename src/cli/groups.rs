//! `passport group list|import|show`: the groups a home knows, in labelled columns, and
//! which seats of each it holds (a seat whose share is gone is shown as missing).

use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use super::{Cli, Output};
use crate::ceremony::MemberId;
use crate::error::Result;
use crate::home::{GroupState, Home, Status};
use crate::ops::Report;
use crate::untrusted;

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// List the groups this home knows and the seats it holds.
    List,
    /// Import a public group file (to coordinate signing without holding a share).
    Import {
        /// Group file written by `keygen deal` or found in a home.
        file: PathBuf,
    },
    /// Print a group's public file.
    Show {
        /// Group npub (or a unique prefix of its hex key).
        group: String,
    },
    /// Destroy this home's shares of a group and burn its nonces (after recover-nsec, or
    /// when leaving for good); the public file stays, marked retired (typed confirmation).
    Retire {
        /// Group npub (or a unique prefix of its hex key) whose shares this home destroys.
        group: String,
        /// Skip the typed confirmation (scripted retirement). Irreversible: without
        /// backups, the share is gone.
        #[arg(long = "i-understand-this-destroys-my-shares")]
        danger: bool,
    },
}

#[derive(Serialize)]
struct HeldSeat {
    seat: MemberId,
    name: String,
    /// `present`, or `missing` when the state says held but the keystore has no share.
    share: &'static str,
}

#[derive(Serialize)]
struct GroupEntry {
    npub: String,
    threshold: u16,
    members: u16,
    origin: crate::group::Origin,
    status: Option<Status>,
    /// Names of the seats whose shares this home holds (a missing share is not held).
    seats: Vec<String>,
    /// Seat numbers of `seats`.
    you: Vec<MemberId>,
    /// Names of seats the state says are held but whose share is gone from the keystore.
    missing: Vec<String>,
    held: Vec<HeldSeat>,
    purpose: String,
    /// Members who left at a refresh (`refresh --without`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    left: Vec<String>,
}

impl GroupEntry {
    fn new(home: &Home, g: &crate::group::Group, st: Option<&GroupState>) -> Self {
        let held: Vec<HeldSeat> = st
            .map(|s| {
                s.seats
                    .iter()
                    .map(|&i| HeldSeat {
                        seat: i,
                        name: g.roster.name(i),
                        // Only the file is looked for: nothing is unlocked.
                        share: if home.keystore().exists(&Home::share_name(g, i)) {
                            "present"
                        } else {
                            "missing"
                        },
                    })
                    .collect()
            })
            .unwrap_or_default();
        let present = || held.iter().filter(|h| h.share == "present");
        GroupEntry {
            npub: g.npub.clone(),
            threshold: g.roster.threshold,
            members: g.roster.n(),
            origin: g.origin,
            status: st.map(|s| s.status),
            seats: present().map(|h| h.name.clone()).collect(),
            you: present().map(|h| h.seat).collect(),
            missing: held
                .iter()
                .filter(|h| h.share == "missing")
                .map(|h| h.name.clone())
                .collect(),
            purpose: g.roster.purpose.clone(),
            left: g.left.iter().map(|&s| g.roster.name(s)).collect(),
            held,
        }
    }

    /// "you are seat 1 (alice)", with any missing share named loudly.
    fn yours(&self) -> String {
        let show = untrusted::line;
        let mut parts = vec![];
        let present: Vec<String> = self
            .held
            .iter()
            .filter(|h| h.share == "present")
            .map(|h| format!("seat {} ({})", h.seat, show(&h.name)))
            .collect();
        if !present.is_empty() {
            parts.push(format!("you are {}", present.join(", ")));
        }
        for h in self.held.iter().filter(|h| h.share == "missing") {
            parts.push(format!(
                "seat {} ({}) SHARE MISSING: restore or repair it",
                h.seat,
                show(&h.name)
            ));
        }
        if !self.left.is_empty() {
            parts.push(format!(
                "left at a refresh: {}",
                self.left
                    .iter()
                    .map(|n| show(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if parts.is_empty() {
            "no seat (coordinator only)".into()
        } else {
            parts.join("; ")
        }
    }
}

#[derive(Serialize)]
struct GroupList {
    groups: Vec<GroupEntry>,
}

impl Report for GroupList {
    fn human(&self) -> String {
        if self.groups.is_empty() {
            return "no groups in this home (keygen import, dkg or group import add one)".into();
        }
        let rows: Vec<[String; 5]> = self
            .groups
            .iter()
            .map(|g| {
                [
                    g.npub.clone(),
                    format!("{}-of-{}", g.threshold, g.members),
                    match g.origin {
                        crate::group::Origin::Dealer => "dealer".into(),
                        crate::group::Origin::Dkg => "dkg".into(),
                    },
                    g.status
                        .map(|s| format!("{s:?}").to_lowercase())
                        .unwrap_or_else(|| "public".into()),
                    g.yours(),
                ]
            })
            .collect();
        let head = ["group", "t-of-n", "origin", "status", "this home"];
        let w: Vec<usize> = (0..4)
            .map(|c| {
                rows.iter()
                    .map(|r| untrusted::width(&r[c]))
                    .chain([head[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |r: &[String]| {
            let mut s = String::new();
            for (c, cell) in r.iter().enumerate() {
                if c < 4 {
                    let pad = " ".repeat(w[c].saturating_sub(untrusted::width(cell)));
                    s.push_str(&format!("{cell}{pad}  "));
                } else {
                    s.push_str(cell);
                }
            }
            s.trim_end().to_owned()
        };
        let mut out = vec![line(&head.map(String::from))];
        out.extend(rows.iter().map(|r| line(r)));
        out.join("\n")
    }
}

pub fn group(cli: &Cli, cmd: &GroupCmd, out: &Output) -> Result<()> {
    let home = cli.open_home()?;
    match cmd {
        GroupCmd::Retire { group, danger } => {
            let g = home.find_group(group)?;
            let seats = home
                .group_state(&g)?
                .map(|s| {
                    s.seats
                        .iter()
                        .map(|&i| g.roster.name(i))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            super::recover::consent(
                *danger,
                &[
                    format!(
                        "This destroys this home's share(s) of {} ({}) and its unused nonces.",
                        g.npub,
                        if seats.is_empty() { "no seat".into() } else { seats.join(", ") }
                    ),
                    "Do it only when the key has been recovered or the others can sign without you."
                        .into(),
                ],
                "destroy my shares",
                "--i-understand-this-destroys-my-shares",
            )?;
            out.report(&crate::ops::retire::retire(&home, group)?)
        }
        GroupCmd::List => {
            let mut groups = vec![];
            for gid in home.group_ids()? {
                let g = home.find_group(&gid)?;
                let st = home.group_state(&g)?;
                groups.push(GroupEntry::new(&home, &g, st.as_ref()));
            }
            out.report(&GroupList { groups })
        }
        GroupCmd::Import { file } => {
            let g = crate::home::read_group_file(file)?;
            // A file from someone else: its verifying shares must lie on the group key's
            // polynomial, or t members could not sign (or one share is not what it seems).
            crate::ceremony::lagrange::check_public_package(&g.public_key_package, &g.roster)
                .map_err(|e| crate::error::Error::Malformed {
                    path: file.display().to_string(),
                    what: "group file",
                    detail: e.to_string(),
                })?;
            home.save_group(&g)?;
            let st = match home.group_state(&g)? {
                Some(st) => st,
                None => {
                    let st = GroupState {
                        status: Status::Active,
                        seats: Default::default(),
                    };
                    home.save_group_state(&g, &st)?;
                    st
                }
            };
            out.report(&GroupList {
                groups: vec![GroupEntry::new(&home, &g, Some(&st))],
            })
        }
        GroupCmd::Show { group } => {
            let g = home.find_group(group)?;
            // The roster's purpose is anyone's text: JSON escapes keep it from acting on
            // the terminal without changing what the file says.
            if out.json {
                println!(
                    "{}",
                    crate::untrusted::json(&serde_json::to_string(&g).expect("group"))
                );
            } else {
                println!("{}", crate::untrusted::json(&g.to_json_pretty()));
            }
            Ok(())
        }
    }
}
