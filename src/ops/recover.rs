//! `passport recover-nsec`: the guarded exit from threshold custody. Reconstructs the
//! group's single secret key from t shares this home holds, checks it against the group
//! key, and writes it only to a new 0600 file, as an nsec or a NIP-49 ncryptsec. This is
//! the one place passport ever assembles the whole key; it is recorded in the audit log.

use std::path::{Path, PathBuf};

use nostr::nips::nip49::{EncryptedSecretKey, KeySecurity};
use nostr::{Keys, SecretKey, ToBech32};
use serde::Serialize;
use zeroize::Zeroizing;

use super::Report;
use crate::ceremony::frost::keys::reconstruct;
use crate::error::{Error, Result};
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
             Retire or destroy the shares; this event is recorded in the home's audit log.",
            self.group,
            self.file.display(),
            self.shares_used.join(", "),
            self.format,
            if self.file == Path::new("<stdout>") {
                "stdout".to_owned()
            } else {
                format!("{} (mode 0600)", self.file.display())
            }
        )
    }
}

/// Reconstructs the group key from t shares held by this home. The caller must have
/// obtained explicit consent.
pub fn recover(home: &Home, group: &str, out: Output, sink: Sink<'_>) -> Result<RecoverReport> {
    let group = home.find_group(group)?;
    let t = group.roster.threshold as usize;
    let seats = home.active_seats(&group)?;
    if seats.len() < t {
        return Err(Error::Invalid(format!(
            "this home holds {} share(s) of {}; reconstruction needs {t} (restore or import more shares first)",
            seats.len(),
            group.npub
        )));
    }
    let path = match &sink {
        Sink::File(p) => *p,
        Sink::Stream(_) => Path::new("<stdout>"),
    };
    if matches!(sink, Sink::File(_)) && path.exists() {
        return Err(Error::Refused(format!(
            "{} exists; the key is only ever written to a new file",
            path.display()
        )));
    }
    let chosen: Vec<_> = seats.into_iter().take(t).collect();
    let keys = chosen
        .iter()
        .map(|&s| home.share(&group, s))
        .collect::<Result<Vec<_>>>()?;
    let signing_key = reconstruct(&keys).map_err(crate::ceremony::Error::frost)?;
    let bytes = Zeroizing::new(signing_key.serialize());
    let secret = SecretKey::from_slice(&bytes)
        .map_err(|_| Error::Rejected("reconstruction produced an invalid key".into()))?;
    // Never write a key that is not the group's.
    if Keys::new(secret.clone()).public_key() != group.public_key() {
        return Err(Error::Rejected(format!(
            "the reconstructed key does not match {}; a share is wrong or stale (nothing was written)",
            group.npub
        )));
    }
    let (text, format) = match out {
        Output::Nsec => (Zeroizing::new(secret.to_bech32().expect("bech32")), "nsec"),
        Output::Ncryptsec(pass) => {
            let enc = EncryptedSecretKey::new(&secret, &pass, NCRYPTSEC_LOG_N, KeySecurity::Medium)
                .map_err(|e| Error::Invalid(format!("NIP-49 encryption failed: {e}")))?;
            (
                Zeroizing::new(enc.to_bech32().expect("bech32")),
                "ncryptsec (NIP-49)",
            )
        }
    };
    let shares_used: Vec<String> = chosen.iter().map(|&s| group.roster.name(s)).collect();
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
