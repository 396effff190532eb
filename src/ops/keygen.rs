//! `passport keygen deal` / `keygen import`: trusted-dealer key generation.

use std::path::{Path, PathBuf};

use nostr::{SecretKey, ToBech32};
use serde::Serialize;
use zeroize::Zeroizing;

use super::Addressed;
use super::{delivered_lines, Exchange, Input, Report};
use crate::ceremony::frost::SigningKey;
use crate::ceremony::{dealer, MemberId, Roster};
use crate::envelope::payload::keygen::DealerShare;
use crate::envelope::{self, Round, Sender};
use crate::error::{DkgError, Result};
use crate::group::{Group, Origin};
use crate::home::{GroupState, Home, Status};

#[derive(Serialize)]
pub struct DealReport {
    pub group: String,
    pub split_existing_key: bool,
    pub group_file: PathBuf,
    pub packages: Vec<String>,
    #[serde(skip)]
    pub sent: bool,
    pub roster_fingerprint: String,
}

impl Report for DealReport {
    fn human(&self) -> String {
        format!(
            "dealt {} share packages for group {}{}\n  group file: {}\n  roster fingerprint: {}{}",
            self.packages.len(),
            self.group,
            if self.split_existing_key {
                " (split of the existing key)"
            } else {
                ""
            },
            self.group_file.display(),
            self.roster_fingerprint,
            delivered_lines(self.sent, &self.packages)
        )
    }
}

/// Deals shares to every roster member. `nsec` (bech32 or hex), if given, is split.
pub fn deal(
    home: &Home,
    roster: &Roster,
    nsec: Option<Zeroizing<String>>,
    out: &Path,
    ex: &mut dyn Exchange,
) -> Result<DealReport> {
    let me = home.public_key();
    match roster.dealer {
        Some(d) if d == me => {}
        Some(d) => {
            return Err(DkgError::NotTheDealer {
                dealer: envelope::short_npub(&d),
                me: envelope::short_npub(&me),
            }
            .into())
        }
        None => return Err(DkgError::NoDealer.into()),
    }
    let keys = home.identity()?;
    let existing = match &nsec {
        Some(text) => {
            let sk = SecretKey::parse(text.trim()).map_err(|_| DkgError::BadSecretKey)?;
            let bytes = Zeroizing::new(sk.secret_bytes());
            Some((
                SigningKey::deserialize(bytes.as_slice()).map_err(crate::ceremony::Error::frost)?,
                nostr::Keys::new(sk).public_key(),
            ))
        }
        None => None,
    };
    let dealt = dealer::deal(
        roster,
        existing.as_ref().map(|(k, _)| k),
        &mut rand::rngs::OsRng,
    )?;
    let group = Group::new(roster.clone(), dealt.public.clone(), Origin::Dealer);
    if let Some((_, pk)) = &existing {
        // Splitting must never change the identity the world knows.
        if group.public_key() != *pk {
            return Err(DkgError::SplitChangedNpub.into());
        }
    }
    // A roster is dealt once: a second deal would be a second key under the same
    // ceremony id and fingerprint, the fork members are told to compare against.
    let record = home
        .root
        .join("dealt")
        .join(format!("{}.json", roster.ceremony_id));
    if let Ok(bytes) = std::fs::read(&record) {
        let earlier: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        return Err(DkgError::AlreadyDealt {
            fingerprint: roster.fingerprint(),
            ceremony: super::short_id(&roster.ceremony_id).to_owned(),
            group: earlier["group"].as_str().unwrap_or("?").to_owned(),
        }
        .into());
    }
    // Checked before anything is written: a split of a key this home already holds
    // under another roster would otherwise be refused after the shares were out.
    home.check_group(&group)?;
    let events = Addressed {
        keys,
        roster,
        round: Round::DealerShare,
        from: None,
        prefix: "dealer-share",
        id: &roster.ceremony_id,
    }
    .seal(dealt.shares.into_iter().map(|(seat, share)| {
        let group = group.clone();
        (seat, DealerShare { group, share })
    }))?;
    // Every package is built; stage them all and publish together (files), then record
    // the group and the deal. A failure before publishing leaves nothing behind.
    let cid = super::short_id(&roster.ceremony_id);
    let group_file = out.join(format!("group-{cid}.json"));
    let named: Vec<(String, &nostr::Event)> =
        events.iter().map(|(name, ev)| (name.clone(), ev)).collect();
    super::refuse_clobber(&group_file, group.to_json_pretty().as_bytes(), ex.force())?;
    let packages = ex.deliver_all(&named)?;
    crate::fsutil::write_atomic(&group_file, group.to_json_pretty().as_bytes(), true)?;
    home.save_group(&group)?;
    if home.group_state(&group)?.is_none() {
        home.save_group_state(
            &group,
            &GroupState {
                status: Status::Active,
                seats: Default::default(),
            },
        )?;
    }
    crate::fsutil::write_atomic(
        &record,
        &serde_json::to_vec_pretty(&serde_json::json!({
            "group": group.npub,
            "roster_fingerprint": roster.fingerprint(),
            "ceremony_id": roster.ceremony_id,
        }))
        .expect("record"),
        false,
    )?;
    Ok(DealReport {
        group: group.npub,
        split_existing_key: existing.is_some(),
        group_file,
        packages,
        sent: ex.sent(),
        roster_fingerprint: roster.fingerprint(),
    })
}

#[derive(Serialize)]
pub struct ImportReport {
    pub group: String,
    pub member: String,
    pub threshold: u16,
    pub members: u16,
    pub roster_fingerprint: String,
}

impl Report for ImportReport {
    fn human(&self) -> String {
        format!(
            "imported {}'s share of {} ({}-of-{}); roster fingerprint {}",
            self.member, self.group, self.threshold, self.members, self.roster_fingerprint
        )
    }
}

/// Checks and imports a dealer share package addressed to this home.
pub fn import(home: &Home, roster: &Roster, input: &Input) -> Result<ImportReport> {
    let dealer_pk = roster.dealer.ok_or(DkgError::NoDealerToImport)?;
    let rejected = |source: envelope::Error| DkgError::DealerPackage {
        file: input.path.clone(),
        source,
    };
    let checked = envelope::check(
        roster,
        input.event.clone(),
        input.meta.clone(),
        Round::DealerShare,
        Sender::Key(&dealer_pk, "the dealer"),
    )
    .map_err(rejected)?;
    let keys = home.identity()?;
    let seat: MemberId = checked.meta.to.map(|(_, s)| s).unwrap_or(0);
    checked.require_for(roster, keys, seat).map_err(rejected)?;
    if roster.member(seat).map(|m| m.npub) != Some(keys.public_key()) {
        return Err(DkgError::NotYourSeat {
            file: input.path.clone(),
        }
        .into());
    }
    let payload: DealerShare = checked.payload(Some(keys)).map_err(rejected)?;
    if payload.group.roster != *roster {
        return Err(DkgError::DealerOtherRoster {
            file: input.path.clone(),
        }
        .into());
    }
    let group = payload.group;
    let key = dealer::accept_share(
        roster,
        seat,
        payload.share,
        &group.public_key_package,
        &group.xonly(),
    )
    .map_err(|source| DkgError::DealtShare {
        file: input.path.clone(),
        source,
    })?;
    home.save_group(&group)?;
    let mut state = home.group_state(&group)?.unwrap_or(GroupState {
        status: Status::Active,
        seats: Default::default(),
    });
    home.store_share(&group, seat, &key, false)?;
    state.seats.insert(seat);
    home.save_group_state(&group, &state)?;
    Ok(ImportReport {
        group: group.public_key().to_bech32().expect("bech32"),
        member: roster.name(seat),
        threshold: roster.threshold,
        members: roster.n(),
        roster_fingerprint: roster.fingerprint(),
    })
}

/// With `--via`: the dealer share package addressed to this home (and `--member`).
pub fn find_dealt(
    home: &Home,
    roster: &Roster,
    member: Option<&str>,
    inputs: Vec<Input>,
) -> Result<Input> {
    let me = home.public_key();
    let mine: Vec<MemberId> = roster.ids_of(&me);
    let seat = super::pick_seat(roster, &mine, member, "in this roster")?;
    inputs
        .into_iter()
        .filter(|i| i.meta.round == Round::DealerShare && i.meta.to == Some((me, seat)))
        .max_by_key(|i| i.event.created_at)
        .ok_or_else(|| {
            crate::ceremony::Error::Incomplete {
                what: "the dealer share package".into(),
                missing: vec![format!("the dealer's package for {}", roster.name(seat))],
            }
            .into()
        })
}
