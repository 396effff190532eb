//! `backup verify` and `backup restore`: every check a backup gets before anything of it
//! is believed or stored.

use super::*;

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
