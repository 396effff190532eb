//! Share hand-over: how a normal roster (one npub per member) reaches `recover-nsec`.
//!
//! Each giving member runs `recover-nsec send-share --to NAME`: its share, as a FROST key
//! package, goes into a package signed by its identity, bound to the group's ceremony and
//! roster, addressed to the recipient's seat and NIP-44 encrypted to the recipient's key
//! (the same envelope as every confidential round). The recipient passes the files to
//! `recover-nsec --share`; they are checked and used in memory, never stored.

use std::path::{Path, PathBuf};

use frost_secp256k1_tr::keys::KeyPackage;
use nostr::{Event, PublicKey, ToBech32};
use serde::Serialize;
use zeroize::Zeroizing;

use super::{read_inputs, short_id, Report};
use crate::ceremony::{roster::parse_npub, share, MemberId, Roster};
use crate::envelope::payload::handover::Payload;
use crate::envelope::{self, Binding, Draft, Round, Sender};
use crate::error::{LifecycleError, Result};
use crate::group::Group;
use crate::home::{self, Home};

#[derive(Serialize)]
pub struct SentReport {
    pub group: String,
    /// The giving member (this home's seat).
    pub member: String,
    /// The recipient's roster name and npub.
    pub to: String,
    pub to_npub: String,
    pub file: PathBuf,
}

impl Report for SentReport {
    fn human(&self) -> String {
        format!(
            "wrote {}: {}'s share of {}, encrypted to {} ({})\n  \
             Give the file to {} only. With t shares {} can reconstruct the whole key;\n  \
             your share keeps working until the group is retired.",
            self.file.display(),
            self.member,
            self.group,
            self.to,
            self.to_npub,
            self.to,
            self.to
        )
    }
}

/// Resolves `--to`: a roster name or an npub of a member.
pub fn recipient(roster: &Roster, to: &str) -> Result<(PublicKey, MemberId)> {
    let seat = match roster.id_by_name(to) {
        Some(s) => s,
        None => {
            let pk = parse_npub(to)
                .map_err(|_| LifecycleError::NoSuchRecipient { to: to.to_owned() })?;
            *roster
                .ids_of(&pk)
                .first()
                .ok_or_else(|| LifecycleError::RecipientNotMember {
                    npub: envelope::short_npub(&pk),
                })?
        }
    };
    let m = roster.member(seat).expect("seat from the roster");
    Ok((m.npub, seat))
}

/// What `send` is about to do, for the typed confirmation.
pub struct Plan {
    pub group: Group,
    pub seat: MemberId,
    pub to: (PublicKey, MemberId),
}

pub fn plan(home: &Home, group: &str, to: &str, member: Option<&str>) -> Result<Plan> {
    let group = home.find_group(group)?;
    let seats = home.active_seats(&group)?;
    let seat = super::pick_seat(&group.roster, &seats, member, "in this group")?;
    let to = recipient(&group.roster, to)?;
    if to.0 == home.public_key() {
        return Err(LifecycleError::HandToSelf {
            member: group.roster.name(to.1),
        }
        .into());
    }
    Ok(Plan { group, seat, to })
}

/// Seals this home's share for the recipient and writes it into `out_dir`.
pub fn send(home: &Home, plan: &Plan, out_dir: &Path, force: bool) -> Result<SentReport> {
    let Plan { group, seat, to } = plan;
    let roster = &group.roster;
    let key = home.share(group, *seat)?;
    let payload = Payload {
        group: group.npub.clone(),
        seat: *seat,
        key_package: Zeroizing::new(hex::encode(Zeroizing::new(
            key.serialize().map_err(crate::ceremony::Error::frost)?,
        )))
        .to_string(),
    };
    let event = envelope::seal(
        home.identity()?,
        Draft {
            binding: &Binding::of(roster),
            round: Round::ShareHandover,
            from: Some(*seat),
            to: Some(*to),
            reference: None,
            payload: &payload,
        },
    )?;
    let name = format!(
        "handover-{}-to-{}-{}.json",
        roster.name(*seat),
        roster.name(to.1),
        short_id(&roster.ceremony_id)
    );
    let file = write(out_dir, &name, &event, force)?;
    // Recorded where the share left: the one step before a key exists in one place.
    home::audit_log(&home.root).append(
        "share-handover",
        serde_json::json!({
            "group": group.npub,
            "member": roster.name(*seat),
            "to": roster.name(to.1),
            "file": file.display().to_string(),
        }),
    )?;
    Ok(SentReport {
        group: group.npub.clone(),
        member: roster.name(*seat),
        to: roster.name(to.1),
        to_npub: to.0.to_bech32().expect("bech32"),
        file,
    })
}

fn write(out_dir: &Path, name: &str, event: &Event, force: bool) -> Result<PathBuf> {
    Ok(super::write_package(out_dir, name, event, force)?)
}

/// A share another member handed over, checked and ready to use.
pub struct Handed {
    pub seat: MemberId,
    pub key: KeyPackage,
    pub file: String,
}

/// Reads hand-over packages (files, or directories of them) addressed to this home and
/// checks each share against the group. Anything that is not a valid hand-over of this
/// group to this home is refused, naming the file and the member.
pub fn receive(home: &Home, group: &Group, paths: &[PathBuf]) -> Result<Vec<Handed>> {
    let roster = &group.roster;
    let me = home.public_key();
    let mut out: Vec<Handed> = vec![];
    for input in read_inputs(paths, roster)? {
        // In a directory, other rounds' packages are someone else's business.
        if !input.explicit && input.meta.round != Round::ShareHandover {
            continue;
        }
        let file = input.path.clone();
        let package = |source| LifecycleError::HandoverPackage {
            file: file.clone(),
            source,
        };
        let checked = envelope::check(
            roster,
            input.event,
            input.meta,
            Round::ShareHandover,
            Sender::Member,
        )
        .map_err(package)?;
        let sender = checked.sender.clone();
        let from = checked.from.expect("members have seats");
        match &checked.meta.to {
            Some((pk, s)) if *pk == me && roster.member(*s).is_some_and(|m| m.npub == me) => {}
            Some((_, s)) => {
                return Err(LifecycleError::HandedToOther {
                    file,
                    sender,
                    to: roster.name(*s),
                }
                .into())
            }
            None => return Err(LifecycleError::NoRecipient { file, sender }.into()),
        }
        let payload: Payload = checked.payload(Some(home.identity()?)).map_err(package)?;
        if payload.group != group.npub || payload.seat != from {
            return Err(LifecycleError::OtherShare {
                file,
                sender,
                group: payload.group.clone(),
                seat: payload.seat,
                npub: group.npub.clone(),
            }
            .into());
        }
        let bytes = Zeroizing::new(hex::decode(&payload.key_package).map_err(|_| {
            LifecycleError::KeyNotHex {
                file: file.clone(),
                sender: sender.clone(),
            }
        })?);
        let key =
            KeyPackage::deserialize(&bytes).map_err(|source| LifecycleError::KeyUnparsable {
                file: file.clone(),
                sender: sender.clone(),
                source,
            })?;
        share::fits(&key, &group.public_key_package, roster.threshold, from).map_err(|misfit| {
            LifecycleError::NotOfGroup {
                file: file.clone(),
                sender: sender.clone(),
                npub: group.npub.clone(),
                misfit,
            }
        })?;
        if out.iter().any(|h| h.seat == from) {
            continue;
        }
        out.push(Handed {
            seat: from,
            key,
            file,
        });
    }
    Ok(out)
}
