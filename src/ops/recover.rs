//! `passport recover-nsec`: the guarded exit from threshold custody. Reconstructs the
//! group's single secret key from t shares this home holds, checks it against the group
//! key, and writes it only to a new 0600 file, as an nsec or a NIP-49 ncryptsec. This is
//! the one place passport ever assembles the whole key; it is recorded in the audit log.

use std::path::{Path, PathBuf};

use nostr::nips::nip49::{EncryptedSecretKey, KeySecurity};
use nostr::{Keys, SecretKey, ToBech32};
use serde::Serialize;
use zeroize::Zeroizing;

use super::handover::{self, Handed};
use super::Report;
use crate::ceremony::frost::keys::reconstruct;
use crate::ceremony::MemberId;
use crate::error::{Error, LifecycleError, Result};
use crate::group::Group;
use crate::home::{self, Home};

/// NIP-49 scrypt cost for ncryptsec output (2^16, the NIP's suggested minimum).
const NCRYPTSEC_LOG_N: u8 = 16;

/// How to write the recovered key.
pub enum Output {
    /// A bech32 `nsec1…`.
    Nsec,
    /// A NIP-49 `ncryptsec1…` under this passphrase.
    Ncryptsec(Zeroizing<String>),
}

/// Where the recovered key goes.
pub enum Sink<'a> {
    /// A new 0600 file.
    File(&'a Path),
    /// A stream the caller chose (stdout into a pipe); never a terminal.
    Stream(&'a mut dyn std::io::Write),
}

#[derive(Serialize)]
pub struct RecoverReport {
    pub group: String,
    pub shares_used: Vec<String>,
    pub file: PathBuf,
    pub format: &'static str,
}

impl Report for RecoverReport {
    fn human(&self) -> String {
        format!(
            "WARNING: the secret key of {} now exists in one place.\n  \
             Threshold custody has ended for this key: anyone with {} can sign as the group.\n  \
             reconstructed from the shares of {}; written as {} to {}\n  \
             Retire the shares (`passport group retire {}` in every member's home); \
             this event is recorded in the home's audit log.",
            self.group,
            self.file.display(),
            self.shares_used.join(", "),
            self.format,
            if self.file == Path::new("<stdout>") {
                "stdout".to_owned()
            } else {
                format!("{} (mode 0600)", self.file.display())
            },
            self.group
        )
    }
}

/// Which shares a reconstruction would use: this home's own, then handed-over ones.
pub struct Shares {
    pub group: Group,
    own: Vec<MemberId>,
    handed: Vec<Handed>,
}

impl Shares {
    /// Names of the members whose shares will be used, with where each comes from.
    pub fn sources(&self) -> Vec<String> {
        let r = &self.group.roster;
        self.own
            .iter()
            .map(|&s| format!("{} (this home)", r.name(s)))
            .chain(
                self.handed
                    .iter()
                    .map(|h| format!("{} (handed over in {})", r.name(h.seat), h.file)),
            )
            .take(r.threshold as usize)
            .collect()
    }
}

/// Gathers t shares: this home's, then the hand-over packages in `handed` (checked
/// against the group). Fails naming who still has to hand theirs over.
pub fn gather(home: &Home, group: &str, handed: &[PathBuf]) -> Result<Shares> {
    let group = home.find_group(group)?;
    let t = group.roster.threshold as usize;
    let own = home.active_seats(&group)?;
    let handed: Vec<Handed> = handover::receive(home, &group, handed)?
        .into_iter()
        .filter(|h| !own.contains(&h.seat))
        .collect();
    let have = own.len() + handed.len();
    if have < t {
        let r = &group.roster;
        let held: Vec<MemberId> = own
            .iter()
            .copied()
            .chain(handed.iter().map(|h| h.seat))
            .collect();
        let others: Vec<String> = group
            .seats()
            .into_iter()
            .filter(|s| !held.contains(s))
            .map(|s| r.name(s))
            .collect();
        let me = own
            .first()
            .map(|&s| r.name(s))
            .unwrap_or_else(|| "this home's member".into());
        return Err(LifecycleError::TooFewToRecover {
            npub: group.npub.clone(),
            have,
            t,
            held: held.iter().map(|&s| r.name(s)).collect(),
            others,
            me,
        }
        .into());
    }
    Ok(Shares { group, own, handed })
}

/// Reconstructs the group key from t gathered shares. The caller must have obtained
/// explicit consent.
pub fn recover(home: &Home, shares: Shares, out: Output, sink: Sink<'_>) -> Result<RecoverReport> {
    let shares_used = shares.sources();
    let Shares { group, own, handed } = shares;
    let t = group.roster.threshold as usize;
    let path = match &sink {
        Sink::File(p) => *p,
        Sink::Stream(_) => Path::new("<stdout>"),
    };
    if matches!(sink, Sink::File(_)) && path.exists() {
        return Err(LifecycleError::KeyFileExists {
            file: path.display().to_string(),
        }
        .into());
    }
    let mut keys = own
        .iter()
        .take(t)
        .map(|&s| home.share(&group, s))
        .collect::<Result<Vec<_>, crate::home::Error>>()?;
    keys.extend(handed.into_iter().map(|h| h.key).take(t - keys.len()));
    let signing_key = reconstruct(&keys).map_err(crate::ceremony::Error::frost)?;
    let bytes = Zeroizing::new(signing_key.serialize());
    let secret = SecretKey::from_slice(&bytes).map_err(|_| LifecycleError::InvalidKey)?;
    // Never write a key that is not the group's.
    if Keys::new(secret.clone()).public_key() != group.public_key() {
        return Err(LifecycleError::WrongKey {
            npub: group.npub.clone(),
        }
        .into());
    }
    let (text, format) = match out {
        Output::Nsec => (Zeroizing::new(secret.to_bech32().expect("bech32")), "nsec"),
        Output::Ncryptsec(pass) => {
            let enc = EncryptedSecretKey::new(&secret, &pass, NCRYPTSEC_LOG_N, KeySecurity::Medium)
                .map_err(LifecycleError::Ncryptsec)?;
            (
                Zeroizing::new(enc.to_bech32().expect("bech32")),
                "ncryptsec (NIP-49)",
            )
        }
    };
    // Record first: if the log refuses, nothing is written.
    home::audit_log(&home.root).append(
        "recover-nsec",
        serde_json::json!({ "group": group.npub, "shares": shares_used, "format": format, "file": path.display().to_string() }),
    )?;
    let line = Zeroizing::new(format!("{}\n", text.as_str()));
    match sink {
        Sink::File(p) => crate::fsutil::write_atomic(p, line.as_bytes(), false)?,
        Sink::Stream(w) => w
            .write_all(line.as_bytes())
            .and_then(|()| w.flush())
            .map_err(|e| Error::io(path, e))?,
    }
    Ok(RecoverReport {
        group: group.npub.clone(),
        shares_used,
        file: path.to_path_buf(),
        format,
    })
}
