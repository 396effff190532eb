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
            let r = age::x25519::Recipient::from_str(s).map_err(|e| Error::BadAgeRecipient {
                recipient: s.to_owned(),
                reason: e.to_string(),
            })?;
            return Ok(BackupRecipient {
                public: r.to_string(),
                recipient: Box::new(r),
            });
        }
        if s.starts_with("ssh-ed25519 ") {
            let r = age::ssh::Recipient::from_str(s).map_err(|e| Error::BadSshRecipient {
                recipient: short(s),
                reason: format!("{e:?}"),
            })?;
            return Ok(BackupRecipient {
                public: r.to_string(),
                recipient: Box::new(r),
            });
        }
        Err(Error::UnknownRecipient {
            recipient: short(s),
        })
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
            BackupRecipient::parse(line).map_err(|e| Error::InRecipientsFile {
                path: path.to_path_buf(),
                source: Box::new(e),
            })?,
        );
    }
    if out.is_empty() {
        return Err(Error::NoRecipientsInFile {
            path: path.to_path_buf(),
        });
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
    let failed = |e: &dyn std::fmt::Display| Error::Encrypt {
        reason: e.to_string(),
    };
    let enc = match to {
        Protection::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
        Protection::Recipients(rs) => {
            if rs.is_empty() {
                return Err(Error::NoRecipients);
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
            Error::NotIdentityFile {
                path: path.to_path_buf(),
            }
        })?,
    );
    let mut ids: Vec<Box<dyn age::Identity>> = vec![];
    for line in text.lines().map(str::trim) {
        if line.starts_with("AGE-SECRET-KEY-1") {
            let id = age::x25519::Identity::from_str(line).map_err(|_| Error::BadAgeIdentity {
                path: path.to_path_buf(),
            })?;
            ids.push(Box::new(id));
        }
    }
    if ids.is_empty() && text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
        let id = age::ssh::Identity::from_buffer(
            BufReader::new(text.as_bytes()),
            Some(path.display().to_string()),
        )
        .map_err(|source| Error::BadSshIdentity {
            path: path.to_path_buf(),
            source,
        })?;
        match id {
            age::ssh::Identity::Unencrypted(_) => ids.push(Box::new(id)),
            age::ssh::Identity::Encrypted(_) => {
                return Err(Error::SshKeyEncrypted {
                    path: path.to_path_buf(),
                })
            }
            age::ssh::Identity::Unsupported(_) => {
                return Err(Error::SshKeyUnsupported {
                    path: path.to_path_buf(),
                })
            }
        }
    }
    if ids.is_empty() {
        return Err(Error::NoIdentityInFile {
            path: path.to_path_buf(),
        });
    }
    Ok(Key::Identities(ids))
}

/// Parses the age header of an armored file without decrypting; returns whether it is
/// passphrase (scrypt) encrypted.
pub fn header_is_scrypt(file: &str, armored: &[u8]) -> Result<bool> {
    let dec = age::Decryptor::new(ArmoredReader::new(armored)).map_err(|source| {
        Error::NotArmoredAge {
            file: file.to_owned(),
            source,
        }
    })?;
    Ok(dec.is_scrypt())
}

/// Decrypts an armored backup. A key that does not open it is `Locked` (exit 6);
/// a damaged payload is `Rejected` (exit 3).
pub fn decrypt_armored(file: &str, armored: &[u8], key: &Key) -> Result<Zeroizing<Vec<u8>>> {
    let dec = age::Decryptor::new(ArmoredReader::new(armored)).map_err(|source| {
        Error::NotArmoredAge {
            file: file.to_owned(),
            source,
        }
    })?;
    let scrypt_id;
    let ids: Vec<&dyn age::Identity> = match key {
        Key::Identities(ids) => {
            if dec.is_scrypt() {
                return Err(Error::NeedsPassphrase { file: file.into() });
            }
            ids.iter().map(|i| i.as_ref()).collect()
        }
        Key::Passphrase(p) => {
            if !dec.is_scrypt() {
                return Err(Error::NeedsIdentity { file: file.into() });
            }
            scrypt_id = age::scrypt::Identity::new(p.clone());
            vec![&scrypt_id as &dyn age::Identity]
        }
    };
    let is_scrypt = dec.is_scrypt();
    let file = file.to_owned();
    let mut r = dec.decrypt(ids.into_iter()).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys
        | age::DecryptError::DecryptionFailed
        | age::DecryptError::KeyDecryptionFailed => {
            if is_scrypt {
                Error::WrongPassphrase { file: file.clone() }
            } else {
                Error::OtherRecipients { file: file.clone() }
            }
        }
        source @ age::DecryptError::ExcessiveWork { .. } => Error::ExcessiveWork {
            file: file.clone(),
            source,
        },
        source => Error::DamagedAge {
            file: file.clone(),
            source,
        },
    })?;
    let mut plain = Zeroizing::new(vec![]);
    r.read_to_end(&mut plain)
        .map_err(|source| Error::TruncatedPayload { file, source })?;
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
        None if crate::fsutil::is_stdin(file) => Err(Error::StdinNeedsManifest),
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
        .map_err(|e| Error::SignManifest {
            reason: e.to_string(),
        })
}

/// Parses a manifest file and verifies its event id and signature (libsecp256k1).
pub fn parse_manifest(path: &str, bytes: &[u8]) -> Result<(Event, Manifest)> {
    let path = path.to_owned();
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(Error::ManifestNotText { path });
    };
    let event = match Event::from_json(text.trim()) {
        Ok(e) => e,
        Err(e) => {
            let reason = e.to_string();
            return Err(Error::NotManifest { path, reason });
        }
    };
    if event.kind != Kind::from(MANIFEST_KIND) {
        let kind = event.kind.as_u16();
        return Err(Error::ManifestKind { path, kind });
    }
    if event.verify().is_err() {
        let signer = crate::envelope::short_npub(&event.pubkey);
        return Err(Error::ForgedManifest { path, signer });
    }
    let manifest: Manifest = match serde_json::from_str(&event.content) {
        Ok(m) => m,
        Err(source) => return Err(Error::ManifestContent { path, source }),
    };
    if manifest.version != BACKUP_VERSION {
        let version = manifest.version;
        return Err(Error::ManifestVersion { path, version });
    }
    if manifest.created_at != event.created_at.as_secs() {
        return Err(Error::ManifestTime { path });
    }
    Ok((event, manifest))
}
