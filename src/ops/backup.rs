//! `passport backup create|verify|restore`: one member's share in an armored age file,
//! with a manifest signed by the member's identity key. Verification needs no secret;
//! with the backup's identity or passphrase it also decrypts and checks the key package
//! against the group's public key package (never reconstructing the group key).

use std::path::{Path, PathBuf};

use nostr::{Event, PublicKey, ToBech32};
use serde::Serialize;
use zeroize::Zeroizing;

use super::Report;
use crate::backup::{self, Key, Manifest, Payload, Protection, BACKUP_VERSION};
use crate::ceremony::frost::keys::{KeyPackage, VerifyingShare};
use crate::ceremony::{MemberId, Roster};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::group::Group;
use crate::home::{self, GroupState, Home, Status};

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
fn refuse_existing(path: &Path) -> Result<()> {
    if path.exists() {
        return Err(Error::Refused(format!(
            "{} exists; backups are only written to new files",
            path.display()
        )));
    }
    Ok(())
}

fn verifying_share_hex(share: &VerifyingShare) -> Result<String> {
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
        return Err(Error::Rejected(format!(
            "this home's identity is not the roster's npub for {}; cannot sign the manifest",
            group.roster.name(seat)
        )));
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
                return Err(e);
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

/// What `verify` and `restore` read.
pub struct Inputs<'a> {
    pub file: &'a Path,
    /// Defaults to `FILE.manifest.json`.
    pub manifest: Option<&'a Path>,
    pub group_file: Option<&'a Path>,
    /// Decrypts and checks the share too.
    pub key: Option<Key>,
}

struct Verified {
    report: VerifyReport,
    group: Group,
    seat: MemberId,
    signer: PublicKey,
    key: Option<KeyPackage>,
}

/// The manifest against the group: seat, name, signer and verifying share.
fn check_manifest(
    group: &Group,
    event: &Event,
    m: &Manifest,
    path: &str,
    checks: &mut Vec<String>,
) -> Result<()> {
    let rejected = |d: String| Error::Rejected(format!("{path}: {d}"));
    if m.group != group.npub {
        return Err(rejected(format!(
            "this is a backup of group {}, not of {}",
            m.group, group.npub
        )));
    }
    let member = group.roster.member(m.seat).ok_or_else(|| {
        rejected(format!(
            "seat {} is not in the roster of {}",
            m.seat, group.npub
        ))
    })?;
    if member.name != m.member {
        return Err(rejected(format!(
            "the manifest names seat {} {:?}, but the roster calls it {:?}",
            m.seat, m.member, member.name
        )));
    }
    if event.pubkey != member.npub {
        let who = match group.roster.ids_of(&event.pubkey).first() {
            Some(&id) => format!(
                "{} ({})",
                group.roster.name(id),
                backup_short(&event.pubkey)
            ),
            None => format!("{}, who is not a member", backup_short(&event.pubkey)),
        };
        return Err(rejected(format!(
            "the manifest for {}'s share is signed by {who}, not by {} ({})",
            m.member,
            m.member,
            backup_short(&member.npub)
        )));
    }
    checks.push(format!(
        "manifest signed by {} ({}), the roster's npub for seat {}",
        m.member,
        backup_short(&member.npub),
        m.seat
    ));
    let pshare = group
        .public_key_package
        .verifying_shares()
        .get(&Roster::identifier(m.seat))
        .ok_or_else(|| rejected("the group has no verifying share for that seat".into()))?;
    if verifying_share_hex(pshare)? != m.verifying_share {
        return Err(rejected(format!(
            "the manifest's verifying share for {} differs from the group's: the backup is stale (made before a refresh of this group; its share no longer signs with the others); make a new one with `passport backup create`",
            m.member
        )));
    }
    checks.push("manifest verifying share matches the group's public key package".into());
    Ok(())
}

fn backup_short(pk: &PublicKey) -> String {
    crate::envelope::short_npub(pk)
}

/// Decrypted payload against the group and manifest; returns the key package.
fn check_payload(
    group: &Group,
    m: &Manifest,
    p: &Payload,
    path: &str,
    checks: &mut Vec<String>,
) -> Result<KeyPackage> {
    let rejected = |d: String| Error::Rejected(format!("{path}: {d}"));
    if p.version != BACKUP_VERSION {
        return Err(rejected(format!(
            "backup version {} is not supported (this passport reads {BACKUP_VERSION})",
            p.version
        )));
    }
    let r = &group.roster;
    if p.group != group.npub
        || p.group_file.npub != group.npub
        || p.group_file.roster != group.roster
        || p.group_file.public_key_package != group.public_key_package
    {
        return Err(rejected(format!(
            "the encrypted share belongs to group {}, not to {}",
            p.group, group.npub
        )));
    }
    if p.member_id != m.seat
        || p.member_name != m.member
        || p.threshold != r.threshold
        || p.members != r.n()
        || p.ceremony_id != r.ceremony_id
        || p.verifying_share != m.verifying_share
    {
        return Err(rejected(
            "the encrypted share does not match its manifest (seat, member, t/n, ceremony or verifying share)".into(),
        ));
    }
    let bytes = Zeroizing::new(
        hex::decode(&p.key_package).map_err(|_| rejected("the key package is not hex".into()))?,
    );
    let key = KeyPackage::deserialize(&bytes)
        .map_err(|e| rejected(format!("the key package does not parse: {e}")))?;
    let pkp = &group.public_key_package;
    let ident = Roster::identifier(m.seat);
    if *key.identifier() != ident {
        return Err(rejected("the key package is for another seat".into()));
    }
    if VerifyingShare::from(*key.signing_share()) != *key.verifying_share() {
        return Err(rejected(
            "the key package's signing share does not match its verifying share".into(),
        ));
    }
    if pkp.verifying_shares().get(&ident) != Some(key.verifying_share())
        || verifying_share_hex(key.verifying_share())? != m.verifying_share
    {
        return Err(rejected(format!(
            "the share's verifying share is not {}'s in the group's public key package",
            m.member
        )));
    }
    if key.verifying_key() != pkp.verifying_key() || *key.min_signers() != r.threshold {
        return Err(rejected(format!(
            "the key package names another group key or threshold than {}",
            group.npub
        )));
    }
    checks.push("decrypted; the key package's signing share matches its verifying share".into());
    checks.push("the verifying share and group key match the group's public key package".into());
    Ok(key)
}

fn verify_inner(
    home: Option<&Home>,
    inputs: Inputs<'_>,
    allow_embedded_group: bool,
) -> Result<Verified> {
    let file_disp = fsutil::display(inputs.file);
    let manifest_path = backup::manifest_for(inputs.file, inputs.manifest)?;
    let manifest_disp = manifest_path.display().to_string();
    let armored = fsutil::read_limited(inputs.file, backup::MAX_BACKUP_BYTES)?;
    let manifest_bytes = fsutil::read_limited(&manifest_path, backup::MAX_BACKUP_BYTES)?;
    let (event, m) = backup::parse_manifest(&manifest_disp, &manifest_bytes)?;
    let mut checks = vec!["manifest event id and BIP-340 signature (libsecp256k1)".to_string()];

    // The group to check against: an explicit file, else the home's copy.
    let (mut group, mut source) = match inputs.group_file {
        Some(g) => (Some(home::read_group_file(g)?), "group-file"),
        None => match home.map(|h| h.find_group(&m.group)) {
            Some(Ok(g)) => (Some(g), "home"),
            _ => (None, "backup"),
        },
    };
    if let Some(g) = &group {
        check_manifest(g, &event, &m, &manifest_disp, &mut checks)?;
    } else if !(allow_embedded_group && inputs.key.is_some()) {
        return Err(Error::Invalid(format!(
            "group {} is not known to this home; pass its group file with --group-file",
            m.group
        )));
    }

    if backup::sha256_hex(&armored) != m.sha256 {
        return Err(Error::Rejected(format!(
            "{file_disp}: the file does not match its manifest's SHA-256: it was tampered with, truncated or replaced"
        )));
    }
    checks.push("file SHA-256 matches the manifest".into());
    let scrypt = backup::header_is_scrypt(&file_disp, &armored)?;
    let says_passphrase = m.recipients == [backup::PASSPHRASE_RECIPIENT];
    if scrypt != says_passphrase {
        return Err(Error::Rejected(format!(
            "{file_disp}: the age header does not match the manifest's recipients"
        )));
    }
    checks.push("age header parses".into());

    let mut key = None;
    if let Some(k) = &inputs.key {
        let plain = backup::decrypt_armored(&file_disp, &armored, k)?;
        let payload: Payload = serde_json::from_slice(&plain).map_err(|e| {
            Error::Rejected(format!(
                "{file_disp}: the decrypted payload is not a passport backup: {e}"
            ))
        })?;
        drop(plain);
        if group.is_none() {
            // Only restore gets here: the backup's own group file, trusted because the
            // manifest is signed by this home's identity (checked by the caller too).
            let g = payload.group_file.clone();
            let own = home.map(|h| h.public_key());
            if own != Some(event.pubkey) {
                return Err(Error::Rejected(format!(
                    "{manifest_disp}: this backup was signed by {}, not by this home's identity; it is another member's backup",
                    backup_short(&event.pubkey)
                )));
            }
            check_manifest(&g, &event, &m, &manifest_disp, &mut checks)?;
            group = Some(g);
            source = "backup";
        }
        let g = group.as_ref().expect("set above");
        key = Some(check_payload(g, &m, &payload, &file_disp, &mut checks)?);
    }
    let group = group.expect("a group was found or the payload supplied one");
    let report = VerifyReport {
        file: inputs.file.to_path_buf(),
        manifest: manifest_path,
        group: group.npub.clone(),
        member: m.member.clone(),
        seat: m.seat,
        signer: event.pubkey.to_bech32().expect("bech32"),
        recipients: m.recipients.clone(),
        sha256: m.sha256.clone(),
        created_at: m.created_at,
        group_source: source,
        decrypted: key.is_some(),
        checks,
    };
    Ok(Verified {
        report,
        group,
        seat: m.seat,
        signer: event.pubkey,
        key,
    })
}

/// Checks a backup; with a key, decrypts it and checks the share too.
pub fn verify(home: Option<&Home>, inputs: Inputs<'_>) -> Result<VerifyReport> {
    Ok(verify_inner(home, inputs, false)?.report)
}

/// Verifies a backup fully (with decryption), then stores the share in this home.
pub fn restore(home: &Home, inputs: Inputs<'_>, force: bool) -> Result<RestoreReport> {
    if inputs.key.is_none() {
        return Err(Error::Invalid(
            "restore needs the backup's --identity or --passphrase".into(),
        ));
    }
    let file = inputs.file.to_path_buf();
    let v = verify_inner(Some(home), inputs, true)?;
    let (group, seat) = (&v.group, v.seat);
    let name = group.roster.name(seat);
    let own = home.public_key();
    if v.signer != own {
        return Err(Error::Rejected(format!(
            "this backup holds {name}'s share of {} (npub {}), but this home's identity is {}; restore it into {name}'s home",
            group.npub,
            backup_short(&v.signer),
            backup_short(&own)
        )));
    }
    let replaced = home.keystore().exists(&Home::share_name(group, seat));
    if replaced && !force {
        return Err(Error::Refused(format!(
            "this home already holds {name}'s share of {}; refusing to overwrite it (pass --force to replace it)",
            group.npub
        )));
    }
    let key = v.key.expect("decrypted");
    home.save_group(group)?;
    home.store_share(group, seat, &key, force)?;
    let mut state = home.group_state(group)?.unwrap_or(GroupState {
        status: Status::Active,
        seats: Default::default(),
    });
    state.seats.insert(seat);
    home.save_group_state(group, &state)?;
    Ok(RestoreReport {
        file,
        group: group.npub.clone(),
        member: name,
        seat,
        replaced,
        keystore: home.keystore().sealer().describe(),
        checks: v.report.checks,
    })
}
