//! Share backups: an armored age file holding one member's key package, and beside it a
//! cleartext manifest signed by the member's identity key (a kind-7709 Nostr event).
//!
//! The age file is encrypted to age X25519 recipients (`age1…`), ssh-ed25519 public
//! keys, or (alone) a passphrase (scrypt). Its plaintext is versioned JSON
//! ([`Payload`]). The manifest pins the SHA-256 of the armored bytes, so a tampered or
//! truncated backup is detected without any secret; it also names the group, seat and
//! verifying share, which anyone holding the public group file can check.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::SecretString;
use nostr::{Event, EventBuilder, JsonUtil, Keys, Kind, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use zeroize::{Zeroize, Zeroizing};

pub mod identity;

use crate::ceremony::MemberId;
mod error;
use crate::group::Group;
pub use error::{Error, Result};

/// Version of both the payload and the manifest.
pub const BACKUP_VERSION: u8 = 1;
/// The Nostr kind of a signed backup manifest.
pub const MANIFEST_KIND: u16 = 7709;
/// How a passphrase (scrypt) "recipient" is named in a manifest.
pub const PASSPHRASE_RECIPIENT: &str = "passphrase";
/// Backups and manifests larger than this are refused before parsing.
pub const MAX_BACKUP_BYTES: u64 = 16 << 20;

/// The plaintext inside the age file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub version: u8,
    /// Group npub.
    pub group: String,
    pub threshold: u16,
    /// Number of members (n).
    pub members: u16,
    /// The seat (1..n).
    pub member_id: MemberId,
    pub member_name: String,
    pub ceremony_id: String,
    /// FROST `KeyPackage::serialize`, hex. Secret.
    pub key_package: String,
    /// The seat's verifying share, hex (public).
    pub verifying_share: String,
    /// The public group file.
    pub group_file: Group,
}

impl Drop for Payload {
    fn drop(&mut self) {
        self.key_package.zeroize();
    }
}

/// The signed, cleartext description of a backup file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u8,
    /// SHA-256 (hex) of the armored backup file's bytes.
    pub sha256: String,
    /// Public recipient strings, or `["passphrase"]`.
    pub recipients: Vec<String>,
    /// Group npub.
    pub group: String,
    /// Member name.
    pub member: String,
    pub seat: MemberId,
    /// The seat's verifying share, hex.
    pub verifying_share: String,
    /// Unix seconds.
    pub created_at: u64,
}

/// One public recipient: its canonical string and the age recipient.
pub struct BackupRecipient {
    pub public: String,
    recipient: Box<dyn age::Recipient + Send>,
}

impl BackupRecipient {
    /// Parses `age1…` (X25519) or `ssh-ed25519 AAAA… [comment]`.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.starts_with("age1") {
            let r = age::x25519::Recipient::from_str(s).map_err(|e| {
                Error::Usage(format!(
                    "recipient {s:?} is not a valid age X25519 key: {e}"
                ))
            })?;
            return Ok(BackupRecipient {
                public: r.to_string(),
                recipient: Box::new(r),
            });
        }
        if s.starts_with("ssh-ed25519 ") {
            let r = age::ssh::Recipient::from_str(s).map_err(|e| {
                Error::Usage(format!(
                    "recipient {:?} is not a valid ssh-ed25519 public key ({e:?})",
                    short(s)
                ))
            })?;
            return Ok(BackupRecipient {
                public: r.to_string(),
                recipient: Box::new(r),
            });
        }
        Err(Error::Usage(format!(
            "recipient {:?} is neither an age X25519 key (age1…) nor an ssh-ed25519 public key",
            short(s)
        )))
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// Parses a recipients file: one recipient per line; blank lines and `#` comments skipped.
pub fn parse_recipients_file(path: &Path) -> Result<Vec<BackupRecipient>> {
    let bytes = crate::fsutil::read_limited(path, 1 << 20)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::Malformed {
        path: path.display().to_string(),
        what: "recipients file",
        detail: "not UTF-8 text".into(),
    })?;
    let mut out = vec![];
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(
            BackupRecipient::parse(line)
                .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?,
        );
    }
    if out.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no recipients in the file",
            path.display()
        )));
    }
    Ok(out)
}

/// What a backup is encrypted to.
pub enum Protection {
    Recipients(Vec<BackupRecipient>),
    Passphrase(SecretString),
}

impl Protection {
    /// The public names recorded in the manifest.
    pub fn names(&self) -> Vec<String> {
        match self {
            Protection::Recipients(rs) => rs.iter().map(|r| r.public.clone()).collect(),
            Protection::Passphrase(_) => vec![PASSPHRASE_RECIPIENT.into()],
        }
    }
}

/// Encrypts `plaintext` into an ASCII-armored age file.
pub fn encrypt_armored(plaintext: &[u8], to: &Protection) -> Result<Vec<u8>> {
    let failed = |e: &dyn std::fmt::Display| Error::Usage(format!("age encryption failed: {e}"));
    let enc = match to {
        Protection::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
        Protection::Recipients(rs) => {
            if rs.is_empty() {
                return Err(Error::Usage("no recipients".into()));
            }
            age::Encryptor::with_recipients(
                rs.iter()
                    .map(|r| r.recipient.as_ref() as &dyn age::Recipient),
            )
            .map_err(|e| failed(&e))?
        }
    };
    let mut out = vec![];
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(|e| failed(&e))?;
    let mut w = enc.wrap_output(armor).map_err(|e| failed(&e))?;
    w.write_all(plaintext).map_err(|e| failed(&e))?;
    w.finish()
        .and_then(|a| a.finish())
        .map_err(|e| failed(&e))?;
    Ok(out)
}

/// The secret that opens a backup.
pub enum Key {
    Identities(Vec<Box<dyn age::Identity>>),
    Passphrase(SecretString),
}

/// Reads an age identity file (`AGE-SECRET-KEY-1…` lines) or an unencrypted OpenSSH
/// private key. A wrong or unusable identity is `Locked` (exit 6).
pub fn read_identity(path: &Path) -> Result<Key> {
    let text = Zeroizing::new(
        String::from_utf8(crate::fsutil::read_limited(path, 1 << 20)?).map_err(|_| {
            locked(format!(
                "{}: not an age identity or ssh private key",
                path.display()
            ))
        })?,
    );
    let mut ids: Vec<Box<dyn age::Identity>> = vec![];
    for line in text.lines().map(str::trim) {
        if line.starts_with("AGE-SECRET-KEY-1") {
            let id = age::x25519::Identity::from_str(line).map_err(|_| {
                locked(format!("{}: invalid AGE-SECRET-KEY-1 line", path.display()))
            })?;
            ids.push(Box::new(id));
        }
    }
    if ids.is_empty() && text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
        let id = age::ssh::Identity::from_buffer(
            BufReader::new(text.as_bytes()),
            Some(path.display().to_string()),
        )
        .map_err(|e| locked(format!("{}: {e}", path.display())))?;
        match id {
            age::ssh::Identity::Unencrypted(_) => ids.push(Box::new(id)),
            age::ssh::Identity::Encrypted(_) => {
                return Err(locked(format!(
                    "{}: passphrase-protected ssh keys are not supported; use an unencrypted copy or an age identity",
                    path.display()
                )))
            }
            age::ssh::Identity::Unsupported(_) => {
                return Err(locked(format!(
                    "{}: this ssh key type is not supported (use ssh-ed25519)",
                    path.display()
                )))
            }
        }
    }
    if ids.is_empty() {
        return Err(locked(format!(
            "{}: no age identity (AGE-SECRET-KEY-1…) or OpenSSH private key in the file",
            path.display()
        )));
    }
    Ok(Key::Identities(ids))
}

/// Not "cannot unlock the keystore": the keystore is not involved.
fn locked(msg: String) -> Error {
    Error::Locked(msg)
}

/// Parses the age header of an armored file without decrypting; returns whether it is
/// passphrase (scrypt) encrypted.
pub fn header_is_scrypt(file: &str, armored: &[u8]) -> Result<bool> {
    let dec = age::Decryptor::new(ArmoredReader::new(armored))
        .map_err(|e| Error::Rejected(format!("{file}: not a readable armored age file: {e}")))?;
    Ok(dec.is_scrypt())
}

/// Decrypts an armored backup. A key that does not open it is `Locked` (exit 6);
/// a damaged payload is `Rejected` (exit 3).
pub fn decrypt_armored(file: &str, armored: &[u8], key: &Key) -> Result<Zeroizing<Vec<u8>>> {
    let dec = age::Decryptor::new(ArmoredReader::new(armored))
        .map_err(|e| Error::Rejected(format!("{file}: not a readable armored age file: {e}")))?;
    let scrypt_id;
    let ids: Vec<&dyn age::Identity> = match key {
        Key::Identities(ids) => {
            if dec.is_scrypt() {
                return Err(locked(format!(
                    "{file} is protected by a passphrase, not an identity; use --passphrase"
                )));
            }
            ids.iter().map(|i| i.as_ref()).collect()
        }
        Key::Passphrase(p) => {
            if !dec.is_scrypt() {
                return Err(locked(format!(
                    "{file} is encrypted to recipients, not a passphrase; use --identity"
                )));
            }
            scrypt_id = age::scrypt::Identity::new(p.clone());
            vec![&scrypt_id as &dyn age::Identity]
        }
    };
    let is_scrypt = dec.is_scrypt();
    let mut r = dec.decrypt(ids.into_iter()).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys
        | age::DecryptError::DecryptionFailed
        | age::DecryptError::KeyDecryptionFailed => {
            if is_scrypt {
                locked(format!("wrong backup passphrase for {file}"))
            } else {
                locked(format!(
                    "the identity does not open {file}: it was encrypted to other recipients"
                ))
            }
        }
        age::DecryptError::ExcessiveWork { .. } => Error::Rejected(format!(
            "{file}: the passphrase work factor is excessive: {e}"
        )),
        other => Error::Rejected(format!("{file}: damaged age file: {other}")),
    })?;
    let mut plain = Zeroizing::new(vec![]);
    r.read_to_end(&mut plain)
        .map_err(|e| Error::Rejected(format!("{file}: damaged or truncated age payload: {e}")))?;
    Ok(plain)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `FILE.age` → `FILE.age.manifest.json`.
/// The manifest of `file`: the one named, else the one beside it. A backup read from
/// stdin has nothing beside it, so its manifest must be named.
pub fn manifest_for(file: &Path, manifest: Option<&Path>) -> Result<PathBuf> {
    match manifest {
        Some(m) => Ok(m.to_path_buf()),
        None if crate::fsutil::is_stdin(file) => Err(Error::Usage(
            "a backup read from stdin (`-`) has no manifest beside it; name it with --manifest FILE"
                .into(),
        )),
        None => Ok(manifest_path(file)),
    }
}

pub fn manifest_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".manifest.json");
    PathBuf::from(s)
}

/// Signs a manifest with the member's identity key.
pub fn sign_manifest(keys: &Keys, manifest: &Manifest) -> Result<Event> {
    let content = serde_json::to_string(manifest).expect("manifest serializes");
    EventBuilder::new(Kind::from(MANIFEST_KIND), content)
        .custom_created_at(Timestamp::from(manifest.created_at))
        .sign_with_keys(keys)
        .map_err(|e| Error::Usage(format!("cannot sign the manifest: {e}")))
}

/// Parses a manifest file and verifies its event id and signature (libsecp256k1).
pub fn parse_manifest(path: &str, bytes: &[u8]) -> Result<(Event, Manifest)> {
    let rejected = |d: String| Error::Rejected(format!("{path}: {d}"));
    let text = std::str::from_utf8(bytes).map_err(|_| rejected("not UTF-8 text".into()))?;
    let event = Event::from_json(text.trim())
        .map_err(|e| rejected(format!("not a signed backup manifest ({e})")))?;
    if event.kind != Kind::from(MANIFEST_KIND) {
        return Err(rejected(format!(
            "event kind {} is not a backup manifest ({MANIFEST_KIND})",
            event.kind.as_u16()
        )));
    }
    if event.verify().is_err() {
        return Err(rejected(format!(
            "forged or tampered manifest: the event id or signature claimed by {} does not verify",
            crate::envelope::short_npub(&event.pubkey)
        )));
    }
    let manifest: Manifest = serde_json::from_str(&event.content)
        .map_err(|e| rejected(format!("manifest content is not valid: {e}")))?;
    if manifest.version != BACKUP_VERSION {
        return Err(rejected(format!(
            "manifest version {} is not supported (this passport reads {BACKUP_VERSION})",
            manifest.version
        )));
    }
    if manifest.created_at != event.created_at.as_secs() {
        return Err(rejected(
            "manifest created_at differs from its event's".into(),
        ));
    }
    Ok((event, manifest))
}
