//! Encrypted and secret files: sealed keystore entries, tombstones, share and identity
//! backups with their manifests, age identity files and recovered nsecs. Nothing here
//! decrypts anything; what is shown comes from cleartext headers and signed manifests.

use std::path::{Path, PathBuf};

use nostr::ToBech32;
use serde_json::{json, Value};

use super::Inspection;
use crate::backup::{self, PASSPHRASE_RECIPIENT};
use crate::error::Result;
use crate::untrusted;

const ARMOR: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

/// Files that are not JSON: age files, tombstones, identity files, nsecs.
pub(super) fn binary(path: &Path, name: &str, bytes: &[u8]) -> Result<Option<Inspection>> {
    if bytes.starts_with(b"age-encryption.org/v1") {
        return Ok(Some(sealed(path, name, bytes, "age")));
    }
    if bytes.starts_with(b"passport-consumed") {
        let mut i = Inspection::new("consumed nonce (tombstone)", name);
        keystore_entry(&mut i, path);
        i.note("this nonce was used or burned; it can never sign again");
        return Ok(Some(i));
    }
    if bytes.trim_ascii_start().starts_with(ARMOR) {
        return armored(path, name, bytes).map(Some);
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(None);
    };
    if let Some(line) = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
    {
        let mut i = Inspection::new("age identity file (SECRET)", name);
        match <age::x25519::Identity as std::str::FromStr>::from_str(line) {
            Ok(id) => {
                i.field("recipient", "public key", id.to_public().to_string());
            }
            Err(_) => {
                i.show_safe(
                    "public key",
                    "⟨the AGE-SECRET-KEY-1 line does not parse⟩".into(),
                );
            }
        }
        i.note("it opens a keystore or backups encrypted to that public key: keep it private (0600), never share it");
        return Ok(Some(i));
    }
    let t = text.trim();
    if t.starts_with("nsec1") && !t.contains(char::is_whitespace) {
        let mut i = Inspection::new("nsec: a private key in plaintext (SECRET)", name);
        if let Ok(sk) = nostr::SecretKey::parse(t) {
            let pk = nostr::Keys::new(sk).public_key();
            i.field("npub", "its npub", pk.to_bech32().expect("bech32"));
        }
        i.note("whoever reads this file can sign as that npub: move it into a signer and delete it (`shred -u`)");
        return Ok(Some(i));
    }
    if t.starts_with("ncryptsec1") && !t.contains(char::is_whitespace) {
        let mut i = Inspection::new(
            "ncryptsec: a passphrase-encrypted private key (NIP-49)",
            name,
        );
        i.note("its npub is only known after decrypting it with its passphrase");
        return Ok(Some(i));
    }
    Ok(None)
}

/// `<home>/keystore/NAME.sealed`: which secret it is, from its name (nothing is opened).
fn keystore_entry(i: &mut Inspection, path: &Path) {
    let Some((home, rel)) = in_keystore(path) else {
        return;
    };
    let group_name = |gid: &str, seat: &str| -> String {
        let g =
            crate::home::read_group_file(&home.join("groups").join(gid).join("group.json")).ok();
        match (g, seat.parse::<u16>()) {
            (Some(g), Ok(s)) => format!(
                "{} of group {}",
                untrusted::line(&format!("{} (seat {s})", g.roster.name(s))),
                g.npub
            ),
            _ => format!(
                "seat {} of group {}",
                untrusted::line(seat),
                untrusted::line(gid)
            ),
        }
    };
    i.put("keystore_name", rel.clone());
    let what = match rel.split_once('/') {
        None if rel == "identity" => "this home's identity key".to_owned(),
        None if rel == "master" => "the keystore key".to_owned(),
        Some(("shares", rest)) => match rest.rsplit_once('.') {
            Some((gid, seat)) => format!("the share of {}", group_name(gid, seat)),
            None => untrusted::line(&rel),
        },
        Some(("nonces", rest)) => {
            match rest.split_once('/').and_then(|(gs, _)| gs.rsplit_once('.')) {
                Some((gid, seat)) => format!("a signing nonce of {}", group_name(gid, seat)),
                None => "a signing nonce".into(),
            }
        }
        Some(("dkg", _)) => "a DKG round secret".into(),
        Some(("refresh", _)) => "a refresh round secret".into(),
        Some(("repair", _)) => "a repair secret".into(),
        _ => untrusted::line(&rel),
    };
    i.show_safe("secret", what);
}

/// The home and the keystore-relative name of a file under `<home>/keystore/`.
fn in_keystore(path: &Path) -> Option<(PathBuf, String)> {
    let abs = std::fs::canonicalize(path).ok()?;
    let mut dir = abs.parent();
    while let Some(d) = dir {
        if d.file_name().is_some_and(|n| n == "keystore") {
            let home = d.parent()?;
            if !home.join("config.json").exists() {
                return None;
            }
            let rel = abs.strip_prefix(d).ok()?.to_str()?;
            let rel = rel
                .strip_suffix(".sealed")
                .or_else(|| rel.strip_suffix(".consumed"))
                .or_else(|| rel.strip_suffix(".age"))
                .unwrap_or(rel);
            return Some((home.to_path_buf(), rel.to_owned()));
        }
        dir = d.parent();
    }
    None
}

/// A sealed keystore secret (age, or a token blob).
pub(super) fn sealed(path: &Path, name: &str, bytes: &[u8], how: &str) -> Inspection {
    let kind = match how {
        "age" => "sealed secret (age)",
        _ => "sealed secret (PKCS#11 token)",
    };
    let mut i = Inspection::new(kind, name);
    keystore_entry(&mut i, path);
    i.put("bytes", bytes.len());
    i.show_safe("size", format!("{} bytes", bytes.len()));
    i.put("note", "contents are encrypted; passport never prints them");
    i.note("contents are encrypted; passport never prints them");
    i
}

pub(super) fn recipients(i: &mut Inspection, rs: &[String]) {
    if rs == [PASSPHRASE_RECIPIENT] {
        i.put("recipients", json!(rs));
        i.show_safe("encrypted to", "a passphrase (scrypt)".into());
    } else {
        let items = rs.iter().map(|r| untrusted::line(r)).collect();
        i.list("recipients", "encrypted to", json!(rs), items);
    }
}

/// `FILE.manifest.json` → `FILE`, and whether it is there and matches `sha256`.
pub(super) fn backup_beside(i: &mut Inspection, manifest: &Path, sha256: &str) {
    let s = manifest.to_string_lossy();
    let Some(file) = s.strip_suffix(".manifest.json").map(PathBuf::from) else {
        return;
    };
    let state = match crate::fsutil::read_limited(&file, backup::MAX_BACKUP_BYTES) {
        Ok(b) if backup::sha256_hex(&b) == sha256 => "present, SHA-256 matches",
        Ok(_) => "present, but its SHA-256 DIFFERS (changed, truncated or replaced)",
        Err(_) => "not found beside the manifest",
    };
    i.put("backup_file", file.display().to_string());
    i.put("backup_file_state", state);
    i.show_safe(
        "backup file",
        format!("{} ({state})", untrusted::line(&file.display().to_string())),
    );
}

/// A share backup's manifest (kind 7709), already known to be a valid event.
pub(super) fn share_manifest(path: &Path, name: &str, bytes: &[u8]) -> Result<Inspection> {
    let (event, m) = backup::parse_manifest(name, bytes)?;
    let mut i = Inspection::new("share backup manifest (signed, kind 7709)", name);
    manifest_rows(&mut i, &event, &m);
    backup_beside(&mut i, path, &m.sha256);
    i.note("`passport backup verify BACKUP` checks it against the group (and with --identity or --passphrase, the share inside)");
    Ok(i)
}

fn manifest_rows(i: &mut Inspection, event: &nostr::Event, m: &backup::Manifest) {
    i.field("group", "group", m.group.as_str());
    i.put("member", m.member.as_str()).put("seat", m.seat);
    i.show("member", &format!("{} (seat {})", m.member, m.seat));
    i.field(
        "signer",
        "signed by",
        event.pubkey.to_bech32().expect("bech32"),
    );
    i.date("created_at", "created", m.created_at);
    recipients(i, &m.recipients);
    i.field(
        "verifying_share",
        "verifying share",
        m.verifying_share.as_str(),
    );
    i.field("sha256", "backup sha256", m.sha256.as_str());
}

/// An armored age file: a share or identity backup, described by the manifest beside it.
fn armored(path: &Path, name: &str, bytes: &[u8]) -> Result<Inspection> {
    let scrypt = backup::header_is_scrypt(name, bytes)?;
    let manifest = backup::manifest_path(path);
    let mbytes = if path.as_os_str() == "-" {
        None
    } else {
        crate::fsutil::read_limited(&manifest, backup::MAX_BACKUP_BYTES).ok()
    };
    let sha = backup::sha256_hex(bytes);
    let mdisp = manifest.display().to_string();
    if let Some(mb) = &mbytes {
        if crate::backup::identity::is_identity_manifest(mb) {
            let mut i = Inspection::new("identity backup (armored age)", name);
            let text = String::from_utf8_lossy(mb);
            if let Ok(ev) = <nostr::Event as nostr::JsonUtil>::from_json(text.trim()) {
                if ev.verify().is_ok() {
                    if let Ok(m) = serde_json::from_str::<crate::backup::identity::IdentityManifest>(
                        &ev.content,
                    ) {
                        i.field("npub", "identity", m.npub.as_str());
                        i.date("created_at", "created", m.created_at);
                        recipients(&mut i, &m.recipients);
                        manifest_link(&mut i, &mdisp, m.sha256 == sha);
                    }
                }
            }
            i.put("sha256", sha);
            i.note("the identity key inside is never shown; `passport backup verify FILE` checks it, `passport init --restore-identity FILE` rebuilds a home");
            return Ok(i);
        }
        if let Ok((event, m)) = backup::parse_manifest(&mdisp, mb) {
            let mut i = Inspection::new("share backup (armored age)", name);
            manifest_rows(&mut i, &event, &m);
            manifest_link(&mut i, &mdisp, m.sha256 == sha);
            i.note("the share inside is never shown; `passport backup verify FILE` checks it against the group");
            return Ok(i);
        }
    }
    let mut i = Inspection::new("armored age file (a passport backup?)", name);
    i.put("passphrase", scrypt);
    i.show_safe(
        "encrypted to",
        if scrypt {
            "a passphrase (scrypt)".into()
        } else {
            "age recipients (X25519 or ssh keys)".into()
        },
    );
    i.put("sha256", sha.clone());
    i.show_safe("sha256", sha);
    i.put("manifest", Value::Null);
    i.show_safe(
        "manifest",
        format!("none found at {}", untrusted::line(&mdisp)),
    );
    i.note("a backup's signed manifest says whose share it is: `passport inspect MANIFEST`, `passport backup verify FILE --manifest MANIFEST`");
    Ok(i)
}

fn manifest_link(i: &mut Inspection, manifest: &str, matches: bool) {
    i.put("manifest", manifest);
    i.put("manifest_matches", matches);
    i.show_safe(
        "manifest",
        format!(
            "{} ({})",
            untrusted::line(manifest),
            if matches {
                "signed; pins this file's SHA-256"
            } else {
                "DOES NOT MATCH this file: changed, truncated or replaced"
            }
        ),
    );
}
