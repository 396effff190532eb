//! Errors of backups: what a backup, manifest or recipient list is, and whether the key
//! given opens it.
//!
//! The exit code of each variant is decided at the top (`src/error/backup.rs`): the
//! groups below are usage (a recipient or option), locked (a key that does not open the
//! backup) and rejected (a damaged, forged or foreign backup or manifest).

use std::path::PathBuf;

use super::{BACKUP_VERSION, MANIFEST_KIND};
use crate::backup::identity::IDENTITY_MANIFEST_KIND;
use crate::fsutil;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    File(#[from] fsutil::Error),
    #[error("{path}: not valid {what}: {detail}")]
    Malformed {
        path: String,
        what: &'static str,
        detail: String,
    },

    // --- Usage: a recipient, identity or option the user gave that cannot be used.
    #[error("recipient {recipient:?} is not a valid age X25519 key: {reason}")]
    BadAgeRecipient { recipient: String, reason: String },
    /// `recipient` is shortened; `reason` is the ssh parser's debug text.
    #[error("recipient {recipient:?} is not a valid ssh-ed25519 public key ({reason})")]
    BadSshRecipient { recipient: String, reason: String },
    #[error("recipient {recipient:?} is neither an age X25519 key (age1…) nor an ssh-ed25519 public key")]
    UnknownRecipient { recipient: String },
    /// A recipient of a recipients file that does not parse.
    #[error("{}: {source}", .path.display())]
    InRecipientsFile {
        path: PathBuf,
        #[source]
        source: Box<Error>,
    },
    #[error("{}: no recipients in the file", .path.display())]
    NoRecipientsInFile { path: PathBuf },
    #[error("no recipients")]
    NoRecipients,
    #[error("age encryption failed: {reason}")]
    Encrypt { reason: String },
    #[error(
        "a backup read from stdin (`-`) has no manifest beside it; name it with --manifest FILE"
    )]
    StdinNeedsManifest,
    #[error("cannot sign the manifest: {reason}")]
    SignManifest { reason: String },

    // --- Locked: the identity or passphrase does not open the backup. Not "cannot
    // unlock the keystore": the keystore is not involved.
    #[error("{}: not an age identity or ssh private key", .path.display())]
    NotIdentityFile { path: PathBuf },
    #[error("{}: invalid AGE-SECRET-KEY-1 line", .path.display())]
    BadAgeIdentity { path: PathBuf },
    #[error("{}: {source}", .path.display())]
    BadSshIdentity {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: passphrase-protected ssh keys are not supported; use an unencrypted copy or an age identity", .path.display())]
    SshKeyEncrypted { path: PathBuf },
    #[error("{}: this ssh key type is not supported (use ssh-ed25519)", .path.display())]
    SshKeyUnsupported { path: PathBuf },
    #[error("{}: no age identity (AGE-SECRET-KEY-1…) or OpenSSH private key in the file", .path.display())]
    NoIdentityInFile { path: PathBuf },
    #[error("{file} is protected by a passphrase, not an identity; use --passphrase")]
    NeedsPassphrase { file: String },
    #[error("{file} is encrypted to recipients, not a passphrase; use --identity")]
    NeedsIdentity { file: String },
    #[error("wrong backup passphrase for {file}")]
    WrongPassphrase { file: String },
    #[error("the identity does not open {file}: it was encrypted to other recipients")]
    OtherRecipients { file: String },

    // --- Rejected: the armored age file is damaged.
    #[error("{file}: not a readable armored age file: {source}")]
    NotArmoredAge {
        file: String,
        #[source]
        source: age::DecryptError,
    },
    #[error("{file}: the passphrase work factor is excessive: {source}")]
    ExcessiveWork {
        file: String,
        #[source]
        source: age::DecryptError,
    },
    #[error("{file}: damaged age file: {source}")]
    DamagedAge {
        file: String,
        #[source]
        source: age::DecryptError,
    },
    #[error("{file}: damaged or truncated age payload: {source}")]
    TruncatedPayload {
        file: String,
        #[source]
        source: std::io::Error,
    },

    // --- Rejected: a manifest (of a share or an identity backup) that is damaged,
    // forged or does not describe the file beside it.
    #[error("{path}: not UTF-8 text")]
    ManifestNotText { path: String },
    #[error("{path}: not a signed backup manifest ({reason})")]
    NotManifest { path: String, reason: String },
    #[error("{path}: not a signed identity-backup manifest ({reason})")]
    NotIdentityManifest { path: String, reason: String },
    #[error(
        "{path}: event kind {kind} is not a backup manifest ({})",
        MANIFEST_KIND
    )]
    ManifestKind { path: String, kind: u16 },
    #[error(
        "{path}: event kind {kind} is not an identity-backup manifest ({})",
        IDENTITY_MANIFEST_KIND
    )]
    IdentityManifestKind { path: String, kind: u16 },
    #[error("{path}: forged or tampered manifest: the event id or signature claimed by {signer} does not verify")]
    ForgedManifest { path: String, signer: String },
    #[error(
        "{path}: forged or tampered manifest: the signature claimed by {signer} does not verify"
    )]
    ForgedIdentityManifest { path: String, signer: String },
    #[error("{path}: manifest content is not valid: {source}")]
    ManifestContent {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{path}: manifest version {version} is not supported (this passport reads {})",
        BACKUP_VERSION
    )]
    ManifestVersion { path: String, version: u8 },
    #[error("{path}: manifest created_at differs from its event's")]
    ManifestTime { path: String },
    #[error("{path}: unsupported version or inconsistent time")]
    IdentityManifestVersion { path: String },
    #[error("{path}: {npub} is not an npub")]
    NotAnNpub { path: String, npub: String },
    #[error("{path}: the manifest names {npub} but is signed by {signer}")]
    SignerMismatch {
        path: String,
        npub: String,
        signer: String,
    },
    #[error(
        "{file}: its SHA-256 is not the one the manifest pins: the backup was changed or truncated"
    )]
    HashMismatch { file: String },

    // --- Rejected: what an identity backup holds inside.
    #[error("{file}: not an identity backup inside: {source}")]
    NotIdentityInside {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{file}: the key inside is not a secret key")]
    NotSecretKey { file: String },
    #[error("{file}: the key inside is not {npub}'s")]
    NotKeyOf { file: String, npub: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
