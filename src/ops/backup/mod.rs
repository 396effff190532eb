//! `passport backup create|verify|restore`: one member's share in an armored age file,
//! with a manifest signed by the member's identity key. Verification needs no secret;
//! with the backup's identity or passphrase it also decrypts and checks the key package
//! against the group's public key package (never reconstructing the group key).

use std::path::{Path, PathBuf};

use nostr::{Event, PublicKey, ToBech32};
use serde::Serialize;
use zeroize::Zeroizing;

use super::Report;

mod verify;
use crate::backup::{self, Key, Manifest, Payload, Protection, BACKUP_VERSION};
use crate::ceremony::frost::keys::{KeyPackage, VerifyingShare};
use crate::ceremony::{MemberId, Roster};
use crate::error::{BackupError, Error, Result};
use crate::fsutil;
use crate::group::Group;
use crate::home::{GroupState, Home, Status};
pub use verify::{restore, verify, Inputs};

#[derive(Serialize)]
pub struct CreateReport {
    pub file: PathBuf,
    pub manifest: PathBuf,
    pub group: String,
    pub member: String,
    pub seat: MemberId,
    pub recipients: Vec<String>,
    pub sha256: String,
}

impl Report for CreateReport {
    fn human(&self) -> String {
        let stream = self.file == Path::new("<stdout>");
        format!(
            "backed up {}'s share (seat {}) of {}\n  file:       {}\n  manifest:   {} (signed by the member's identity)\n  recipients: {}\n  sha256:     {}\n  Check it now and again later: passport backup verify {}\n  This backs up the share, not nonces: {}",
            self.member,
            self.seat,
            self.group,
            if stream {
                "stdout (armored age)".to_owned()
            } else {
                format!("{} (armored age, mode 0600)", self.file.display())
            },
            self.manifest.display(),
            self.recipients.join(", "),
            self.sha256,
            if stream {
                format!("FILE --manifest {}", self.manifest.display())
            } else {
                self.file.display().to_string()
            },
            super::nonce::SNAPSHOT_WARNING
        )
    }
}

#[derive(Serialize)]
pub struct VerifyReport {
    pub file: PathBuf,
    pub manifest: PathBuf,
    pub group: String,
    pub member: String,
    pub seat: MemberId,
    /// The npub that signed the manifest (the roster's npub for the seat).
    pub signer: String,
    pub recipients: Vec<String>,
    pub sha256: String,
    pub created_at: u64,
    /// Where the group file came from: "home", "group-file" or "backup".
    pub group_source: &'static str,
    pub decrypted: bool,
    pub checks: Vec<String>,
}

impl Report for VerifyReport {
    fn human(&self) -> String {
        let mut s = format!(
            "backup {} is valid: {}'s share (seat {}) of {}\n  signed by {}; recipients: {}",
            self.file.display(),
            self.member,
            self.seat,
            self.group,
            self.signer,
            self.recipients.join(", ")
        );
        for c in &self.checks {
            s.push_str("\n  ok: ");
            s.push_str(c);
        }
        if !self.decrypted {
            s.push_str(
                "\n  (not decrypted: pass --identity or --backup-passphrase to check the share itself)",
            );
        }
        s
    }
}

#[derive(Serialize)]
pub struct RestoreReport {
    pub file: PathBuf,
    pub group: String,
    pub member: String,
    pub seat: MemberId,
    pub replaced: bool,
    pub keystore: String,
    pub checks: Vec<String>,
}

impl Report for RestoreReport {
    fn human(&self) -> String {
        format!(
            "restored {}'s share (seat {}) of {} into this home's keystore ({}){}\n  nonces are not in backups: {}",
            self.member,
            self.seat,
            self.group,
            self.keystore,
            if self.replaced {
                "; the share held before was replaced (--force)"
            } else {
                ""
            },
            super::nonce::SNAPSHOT_WARNING
        )
    }
}

/// Refuses to overwrite an existing file.
pub(super) fn refuse_existing(path: &Path) -> Result<()> {
    if path.exists() {
        return Err(BackupError::Exists {
            path: path.to_path_buf(),
        }
        .into());
    }
    Ok(())
}

pub(super) fn verifying_share_hex(share: &VerifyingShare) -> Result<String> {
    Ok(hex::encode(
        share.serialize().map_err(crate::ceremony::Error::frost)?,
    ))
}

/// Where `backup create` writes the armored backup.
pub enum Target<'a> {
    /// A new file; the manifest goes beside it unless named.
    File(&'a Path, Option<&'a Path>),
    /// A stream (stdout); the manifest goes to the named new file.
    Stream(&'a mut dyn std::io::Write, &'a Path),
}

/// Writes `passport backup create`'s two outputs: the armored age backup and its
/// signed manifest.
pub fn create(
    home: &Home,
    group: &str,
    member: Option<&str>,
    to: &Protection,
    target: Target<'_>,
) -> Result<CreateReport> {
    let group = home.find_group(group)?;
    let seats = home.active_seats(&group)?;
    let seat = super::pick_seat(&group.roster, &seats, member, "in this group")?;
    let (output, manifest_path) = match &target {
        Target::File(p, m) => (
            p.to_path_buf(),
            m.map(Path::to_path_buf)
                .unwrap_or_else(|| backup::manifest_path(p)),
        ),
        Target::Stream(_, m) => (PathBuf::from("<stdout>"), m.to_path_buf()),
    };
    if let Target::File(p, _) = &target {
        refuse_existing(p)?;
    }
    refuse_existing(&manifest_path)?;
    let key = home.share(&group, seat)?;
    let keys = home.identity()?;
    let seat_npub = group.roster.member(seat).expect("seat of roster").npub;
    if keys.public_key() != seat_npub {
        return Err(BackupError::NotRosterIdentity {
            member: group.roster.name(seat),
        }
        .into());
    }
    let vshare = verifying_share_hex(key.verifying_share())?;
    let key_bytes = Zeroizing::new(key.serialize().map_err(crate::ceremony::Error::frost)?);
    let payload = Payload {
        version: BACKUP_VERSION,
        group: group.npub.clone(),
        threshold: group.roster.threshold,
        members: group.roster.n(),
        member_id: seat,
        member_name: group.roster.name(seat),
        ceremony_id: group.roster.ceremony_id.clone(),
        key_package: hex::encode(key_bytes.as_slice()),
        verifying_share: vshare.clone(),
        group_file: group.clone(),
    };
    let plain = Zeroizing::new(serde_json::to_vec(&payload).expect("payload serializes"));
    drop(payload);
    let armored = backup::encrypt_armored(&plain, to)?;
    drop(plain);
    let manifest = Manifest {
        version: BACKUP_VERSION,
        sha256: backup::sha256_hex(&armored),
        recipients: to.names(),
        group: group.npub.clone(),
        member: group.roster.name(seat),
        seat,
        verifying_share: vshare,
        created_at: nostr::Timestamp::now().as_secs(),
    };
    let event = backup::sign_manifest(keys, &manifest)?;
    let mut event_json = nostr::JsonUtil::as_json(&event);
    event_json.push('\n');
    match target {
        Target::File(p, _) => {
            fsutil::write_atomic(p, &armored, false)?;
            if let Err(e) = fsutil::write_atomic(&manifest_path, event_json.as_bytes(), false) {
                let _ = std::fs::remove_file(p);
                return Err(e.into());
            }
        }
        Target::Stream(w, _) => {
            // The manifest first: a stream cannot be taken back, a file can.
            fsutil::write_atomic(&manifest_path, event_json.as_bytes(), false)?;
            if let Err(e) = w.write_all(&armored).and_then(|()| w.flush()) {
                let _ = std::fs::remove_file(&manifest_path);
                return Err(Error::io("<stdout>", e));
            }
        }
    }
    // For `passport doctor`: which backups exist and which a refresh made stale.
    super::doctor::backups::record(
        &home.root,
        &super::doctor::backups::BackupRecord {
            file: output.display().to_string(),
            path: std::fs::canonicalize(&output)
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            manifest: manifest_path.display().to_string(),
            group: group.npub.clone(),
            member: manifest.member.clone(),
            seat,
            created_at: manifest.created_at,
            verifying_share: manifest.verifying_share.clone(),
            sha256: manifest.sha256.clone(),
        },
    )?;
    Ok(CreateReport {
        file: output,
        manifest: manifest_path,
        group: group.npub.clone(),
        member: manifest.member,
        seat,
        recipients: manifest.recipients,
        sha256: manifest.sha256,
    })
}
