//! `passport passwd`: a new passphrase for a passphrase-protected keystore. Only
//! `keystore/master.age` (the keystore's age identity under scrypt) is rewritten; every
//! sealed secret stays as it is, since they are sealed to that identity, not to the
//! passphrase.

use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use serde::Serialize;

use super::Report;
use crate::error::{BackupError, Error, Result};
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
        return Err(BackupError::NotPassphrase.into());
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
        .ok_or_else(|| BackupError::MasterNotIdentity {
            path: master.clone(),
        })?;
    if id.to_public().to_string() != recipient {
        return Err(BackupError::MasterForeign { path: master }.into());
    }
    let reblob = encrypt_with_passphrase(text.as_bytes(), new)?;
    home::audit_log(root).append("passwd", serde_json::json!({ "npub": config.npub }))?;
    crate::fsutil::write_atomic(&master, &reblob, true)?;
    Ok(PasswdReport {
        home: root.to_path_buf(),
        npub: config.npub,
    })
}

#[derive(Serialize)]
pub struct RotateReport {
    pub home: PathBuf,
    pub npub: String,
    /// The new age identity file (created 0600), which now unlocks the keystore.
    pub age_identity: PathBuf,
    pub recipient: String,
    pub secrets: usize,
    /// What protected the keystore before ("passphrase" or the old identity file).
    pub replaced: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obsolete_identity_file: Option<PathBuf>,
}

impl Report for RotateReport {
    fn human(&self) -> String {
        let mut s = format!(
            "re-sealed {} secret(s) of {} ({}) under a new age identity {}\n  \
             recipient {}; it replaces {}",
            self.secrets,
            self.home.display(),
            self.npub,
            self.age_identity.display(),
            self.recipient,
            self.replaced
        );
        if let Some(p) = &self.obsolete_identity_file {
            s.push_str(&format!(
                "\n  {} no longer opens anything; destroy it (and its copies)",
                p.display()
            ));
        }
        s.push_str("\n  backups are not affected: they are encrypted to their own recipients");
        s
    }
}

/// Re-seals every secret of a file keystore (passphrase or identity file) under a fresh
/// age identity written to `new_file`, which must not exist. On any failure the home is
/// unchanged and `new_file` is removed again.
pub fn rotate_identity(home: &home::Home, new_file: &Path) -> Result<RotateReport> {
    let replaced = match &home.config.keystore {
        KeystoreConfig::Passphrase { .. } => "the passphrase".to_owned(),
        KeystoreConfig::IdentityFile { path, .. } => path.display().to_string(),
        KeystoreConfig::Pkcs11 { .. } => return Err(BackupError::SealedByToken.into()),
    };
    if new_file.exists() {
        return Err(BackupError::IdentityExists {
            path: new_file.to_path_buf(),
        }
        .into());
    }
    // Unlock with the current key before anything is written.
    let _ = home.identity()?;
    let id = age::x25519::Identity::generate();
    crate::fsutil::write_atomic(
        new_file,
        crate::keystore::file::identity_file_text(&id).as_bytes(),
        false,
    )?;
    let result = (|| {
        let path = std::fs::canonicalize(new_file).map_err(|e| Error::io(new_file, e))?;
        let recipient = id.to_public().to_string();
        let config = Config {
            keystore: KeystoreConfig::IdentityFile {
                recipient: recipient.clone(),
                path: path.clone(),
            },
            ..home.config.clone()
        };
        let sealer = crate::keystore::file::AgeSealer::unlocked(id.clone());
        let r = super::reseal::reseal(home, &sealer, config, "rotate-identity")?;
        Ok(RotateReport {
            home: home.root.clone(),
            npub: home.config.npub.clone(),
            age_identity: path,
            recipient,
            secrets: r.secrets,
            replaced: replaced.clone(),
            obsolete_identity_file: r.obsolete_identity_file,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(new_file);
    }
    result
}
