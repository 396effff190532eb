//! `passport passwd`: a new passphrase for a passphrase-protected keystore. Only
//! `keystore/master.age` (the keystore's age identity under scrypt) is rewritten; every
//! sealed secret stays as it is, since they are sealed to that identity, not to the
//! passphrase.

use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use serde::Serialize;

use super::Report;
use crate::error::{Error, Result};
use crate::home::{self, Config, KeystoreConfig};
use crate::keystore::file::{decrypt_with_passphrase, encrypt_with_passphrase};

#[derive(Serialize)]
pub struct PasswdReport {
    pub home: PathBuf,
    pub npub: String,
}

impl Report for PasswdReport {
    fn human(&self) -> String {
        format!(
            "changed the keystore passphrase of {} ({}); the old passphrase no longer opens it",
            self.home.display(),
            self.npub
        )
    }
}

/// Refuses a home whose keystore has no passphrase, before anyone is asked for one.
pub fn check(root: &Path) -> Result<(Config, String)> {
    let config: Config = home::read_json(&root.join("config.json"), "home config")?;
    let KeystoreConfig::Passphrase { recipient } = &config.keystore else {
        return Err(Error::Invalid(
            "this home's keystore is not protected by a passphrase (it uses an age identity file or a token); nothing to change".into(),
        ));
    };
    let recipient = recipient.clone();
    Ok((config, recipient))
}

/// Re-encrypts the keystore identity under `new`, after `old` opened it.
pub fn passwd(root: &Path, old: SecretString, new: SecretString) -> Result<PasswdReport> {
    let (config, recipient) = check(root)?;
    let master = root.join("keystore/master.age");
    let blob = crate::fsutil::read_limited(&master, 1 << 20)?;
    let text = decrypt_with_passphrase(&blob, old)?;
    // The identity must be this home's before anything is rewritten.
    let id: age::x25519::Identity = text
        .trim()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| {
            Error::Rejected(format!("{}: not an age identity inside", master.display()))
        })?;
    if id.to_public().to_string() != recipient {
        return Err(Error::Rejected(format!(
            "{} does not hold this home's keystore key; refusing to rewrite it",
            master.display()
        )));
    }
    let reblob = encrypt_with_passphrase(text.as_bytes(), new)?;
    home::audit_log(root).append("passwd", serde_json::json!({ "npub": config.npub }))?;
    crate::fsutil::write_atomic(&master, &reblob, true)?;
    Ok(PasswdReport {
        home: root.to_path_buf(),
        npub: config.npub,
    })
}
