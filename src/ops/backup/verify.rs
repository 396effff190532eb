//! `backup verify` and `backup restore`: every check a backup gets before anything of it
//! is believed or stored.

use super::*;

/// What `verify` and `restore` read.
pub struct Inputs<'a> {
    pub file: &'a Path,
    /// Defaults to `FILE.manifest.json`.
    pub manifest: Option<&'a Path>,
    /// A group file the user gave (read by the caller), checked against instead of the
    /// home's copy.
    pub group_file: Option<Group>,
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
    let path = || path.to_owned();
    if m.group != group.npub {
        return Err(BackupError::OtherGroup {
            path: path(),
            backup: m.group.clone(),
            group: group.npub.clone(),
        }
        .into());
    }
    let member = group
        .roster
        .member(m.seat)
        .ok_or_else(|| BackupError::SeatNotInRoster {
            path: path(),
            seat: m.seat,
            npub: group.npub.clone(),
        })?;
    if member.name != m.member {
        return Err(BackupError::SeatRenamed {
            path: path(),
            seat: m.seat,
            member: m.member.clone(),
            roster: member.name.clone(),
        }
        .into());
    }
    if event.pubkey != member.npub {
        let ids = group.roster.ids_of(&event.pubkey);
        return Err(BackupError::SignedByOther {
            path: path(),
            member: m.member.clone(),
            signer: backup_short(&event.pubkey),
            signer_name: ids.first().map(|&id| group.roster.name(id)),
            npub: backup_short(&member.npub),
        }
        .into());
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
        .ok_or_else(|| BackupError::NoVerifyingShare { path: path() })?;
    if verifying_share_hex(pshare)? != m.verifying_share {
        return Err(BackupError::Stale {
            path: path(),
            member: m.member.clone(),
        }
        .into());
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
    let file = || path.to_owned();
    if p.version != BACKUP_VERSION {
        return Err(BackupError::Version {
            file: file(),
            version: p.version,
        }
        .into());
    }
    let r = &group.roster;
    if p.group != group.npub
        || p.group_file.npub != group.npub
        || p.group_file.roster != group.roster
        || p.group_file.public_key_package != group.public_key_package
    {
        return Err(BackupError::ShareOfOtherGroup {
            file: file(),
            backup: p.group.clone(),
            group: group.npub.clone(),
        }
        .into());
    }
    if p.member_id != m.seat
        || p.member_name != m.member
        || p.threshold != r.threshold
        || p.members != r.n()
        || p.ceremony_id != r.ceremony_id
        || p.verifying_share != m.verifying_share
    {
        return Err(BackupError::PayloadMismatch { file: file() }.into());
    }
    let bytes = Zeroizing::new(
        hex::decode(&p.key_package).map_err(|_| BackupError::KeyPackageHex { file: file() })?,
    );
    let key = KeyPackage::deserialize(&bytes).map_err(|source| BackupError::KeyPackageParse {
        file: file(),
        source,
    })?;
    let pkp = &group.public_key_package;
    let ident = Roster::identifier(m.seat);
    if *key.identifier() != ident {
        return Err(BackupError::KeyPackageSeat { file: file() }.into());
    }
    if VerifyingShare::from(*key.signing_share()) != *key.verifying_share() {
        return Err(BackupError::KeyPackageShares { file: file() }.into());
    }
    if pkp.verifying_shares().get(&ident) != Some(key.verifying_share())
        || verifying_share_hex(key.verifying_share())? != m.verifying_share
    {
        return Err(BackupError::NotMembersShare {
            file: file(),
            member: m.member.clone(),
        }
        .into());
    }
    if key.verifying_key() != pkp.verifying_key() || *key.min_signers() != r.threshold {
        return Err(BackupError::KeyPackageGroup {
            file: file(),
            npub: group.npub.clone(),
        }
        .into());
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
        Some(g) => (Some(g), "group-file"),
        None => match home.map(|h| h.find_group(&m.group)) {
            Some(Ok(g)) => (Some(g), "home"),
            _ => (None, "backup"),
        },
    };
    if let Some(g) = &group {
        check_manifest(g, &event, &m, &manifest_disp, &mut checks)?;
    } else if !(allow_embedded_group && inputs.key.is_some()) {
        return Err(BackupError::UnknownGroup { npub: m.group }.into());
    }

    if backup::sha256_hex(&armored) != m.sha256 {
        return Err(BackupError::HashMismatch { file: file_disp }.into());
    }
    checks.push("file SHA-256 matches the manifest".into());
    let scrypt = backup::header_is_scrypt(&file_disp, &armored)?;
    let says_passphrase = m.recipients == [backup::PASSPHRASE_RECIPIENT];
    if scrypt != says_passphrase {
        return Err(BackupError::HeaderMismatch { file: file_disp }.into());
    }
    checks.push("age header parses".into());

    let mut key = None;
    if let Some(k) = &inputs.key {
        let plain = backup::decrypt_armored(&file_disp, &armored, k)?;
        let payload: Payload =
            serde_json::from_slice(&plain).map_err(|source| BackupError::NotPayload {
                file: file_disp.clone(),
                source,
            })?;
        drop(plain);
        if group.is_none() {
            // Only restore gets here: the backup's own group file, trusted because the
            // manifest is signed by this home's identity (checked by the caller too).
            let g = payload.group_file.clone();
            let own = home.map(|h| h.public_key());
            if own != Some(event.pubkey) {
                return Err(BackupError::AnotherMembers {
                    path: manifest_disp,
                    signer: backup_short(&event.pubkey),
                }
                .into());
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
        return Err(BackupError::RestoreNeedsKey.into());
    }
    let file = inputs.file.to_path_buf();
    let v = verify_inner(Some(home), inputs, true)?;
    let (group, seat) = (&v.group, v.seat);
    let name = group.roster.name(seat);
    let own = home.public_key();
    if v.signer != own {
        return Err(BackupError::OtherHome {
            member: name,
            npub: group.npub.clone(),
            signer: backup_short(&v.signer),
            own: backup_short(&own),
        }
        .into());
    }
    let replaced = home.keystore().exists(&Home::share_name(group, seat));
    if replaced && !force {
        return Err(BackupError::ShareHeld {
            member: name,
            npub: group.npub.clone(),
        }
        .into());
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
