//! `passport backup identity` and the identity half of rebuilding a lost home
//! (`passport init --restore-identity`): see [`crate::backup::identity`].

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::backup::Target;
use super::Report;
use crate::backup::identity::{self, IdentityManifest};
use crate::backup::{manifest_path, Key, Protection, MAX_BACKUP_BYTES};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::home::{self, Home};

#[derive(Serialize)]
pub struct IdentityReport {
    pub file: PathBuf,
    pub manifest: PathBuf,
    pub npub: String,
    pub recipients: Vec<String>,
    pub sha256: String,
    /// Whether the backup was decrypted and its key checked (verify with a key).
    pub decrypted: bool,
}

impl Report for IdentityReport {
    fn human(&self) -> String {
        format!(
            "identity backup of {}\n  file:       {}\n  manifest:   {} (signed by that identity)\n  recipients: {}\n  sha256:     {}\n  {}",
            self.npub,
            self.file.display(),
            self.manifest.display(),
            self.recipients.join(", "),
            self.sha256,
            if self.decrypted {
                "decrypted: the key inside is this npub's"
            } else {
                "Keep it with this member's share backups, apart from this machine: with them, `passport init --restore-identity FILE` rebuilds the home"
            }
        )
    }
}

fn refuse_existing(path: &Path) -> Result<()> {
    if path.symlink_metadata().is_ok() {
        return Err(crate::error::BackupError::Exists {
            path: path.to_path_buf(),
        }
        .into());
    }
    Ok(())
}

/// Writes the identity backup and its manifest (both new files, 0600).
pub fn create(home: &Home, to: &Protection, target: Target<'_>) -> Result<IdentityReport> {
    let (output, manifest) = match &target {
        Target::File(p, m) => (
            p.to_path_buf(),
            m.map(Path::to_path_buf).unwrap_or_else(|| manifest_path(p)),
        ),
        Target::Stream(_, m) => (PathBuf::from("<stdout>"), m.to_path_buf()),
    };
    if let Target::File(p, _) = &target {
        refuse_existing(p)?;
    }
    refuse_existing(&manifest)?;
    let keys = home.identity()?;
    let (armored, event, m) = identity::create(keys, to)?;
    home::audit_log(&home.root).append(
        "backup-identity",
        serde_json::json!({ "npub": m.npub, "sha256": m.sha256, "recipients": m.recipients }),
    )?;
    let mut json = nostr::JsonUtil::as_json(&event);
    json.push('\n');
    match target {
        Target::File(p, _) => {
            fsutil::write_atomic(p, &armored, false)?;
            if let Err(e) = fsutil::write_atomic(&manifest, json.as_bytes(), false) {
                let _ = std::fs::remove_file(p);
                return Err(e.into());
            }
        }
        Target::Stream(w, _) => {
            // The manifest first: a stream cannot be taken back, a file can.
            fsutil::write_atomic(&manifest, json.as_bytes(), false)?;
            if let Err(e) = w.write_all(&armored).and_then(|()| w.flush()) {
                let _ = std::fs::remove_file(&manifest);
                return Err(Error::io("<stdout>", e));
            }
        }
    }
    Ok(report(&output, &manifest, m, false))
}

fn report(file: &Path, manifest: &Path, m: IdentityManifest, decrypted: bool) -> IdentityReport {
    IdentityReport {
        file: file.to_path_buf(),
        manifest: manifest.to_path_buf(),
        npub: m.npub,
        recipients: m.recipients,
        sha256: m.sha256,
        decrypted,
    }
}

/// Checks an identity backup; with `key`, decrypts it and returns the identity.
pub fn open(
    file: &Path,
    manifest: Option<&Path>,
    key: Option<&Key>,
) -> Result<(IdentityReport, Option<nostr::Keys>)> {
    let manifest = crate::backup::manifest_for(file, manifest)?;
    let armored = fsutil::read_limited(file, MAX_BACKUP_BYTES)?;
    let mbytes = fsutil::read_limited(&manifest, MAX_BACKUP_BYTES)?;
    let (m, keys) = identity::verify(
        &fsutil::display(file),
        &armored,
        &manifest.display().to_string(),
        &mbytes,
        key,
    )?;
    let decrypted = keys.is_some();
    Ok((report(file, &manifest, m, decrypted), keys))
}

/// True when `manifest` (or FILE.manifest.json) is an identity-backup manifest.
pub fn is_identity_backup(file: &Path, manifest: Option<&Path>) -> bool {
    let Ok(manifest) = crate::backup::manifest_for(file, manifest) else {
        return false;
    };
    fsutil::read_limited(&manifest, MAX_BACKUP_BYTES)
        .is_ok_and(|b| identity::is_identity_manifest(&b))
}
