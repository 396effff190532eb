//! Errors of backups of shares and identities, passphrases.
//!
//! Each variant is one thing that went wrong, with the values the message needs; the
//! exit code of each is decided here, beside it. `path`/`file` Strings are the file
//! names already displayed as the user gave them; `PathBuf`s are shown with `display()`.

use std::path::PathBuf;

use super::exit;
use crate::backup::BACKUP_VERSION;
use crate::ceremony::MemberId;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    // --- backup create and identity backups: options and the files written
    #[error("-o - writes the {what} to stdout; name the manifest's file with --manifest FILE")]
    StreamNeedsManifest { what: &'static str },
    #[error("-o - writes the {what} to stdout, which --json uses for its report; use one of them")]
    StreamAndJson { what: &'static str },
    #[error("--backup-passphrase-file cannot be combined with --recipient or --recipients-file: age encrypts to a passphrase alone; nothing was written")]
    PassphraseFileAndRecipients,
    #[error("--backup-passphrase cannot be combined with --recipient or --recipients-file: age encrypts to a passphrase alone; nothing was written")]
    PassphraseAndRecipients,
    #[error("say whom the backup is for: --recipient age1…|ssh-ed25519 …, --recipients-file FILE, or --backup-passphrase")]
    NoProtection,
    #[error("{} exists; backups are only written to new files", .path.display())]
    Exists { path: PathBuf },
    #[error(
        "this home's identity is not the roster's npub for {member}; cannot sign the manifest"
    )]
    NotRosterIdentity { member: String },

    // --- the backup passphrase and the key that opens a backup
    #[error("{var} is empty")]
    EmptyPassphraseEnv { var: &'static str },
    #[error("{}: the passphrase file is empty", .path.display())]
    EmptyPassphraseFile { path: PathBuf },
    #[error(
        "no backup passphrase: set {var}, pass --backup-passphrase-file, or run in a terminal"
    )]
    NoPassphrase { var: &'static str },
    /// The terminal prompt failed (the prompt library's text).
    #[error("{reason}")]
    Prompt { reason: String },
    #[error("pass either --identity or --backup-passphrase, not both")]
    IdentityAndPassphrase,
    #[error("{}: wrong ncryptsec passphrase", .path.display())]
    WrongNcryptsecPassphrase { path: PathBuf },

    // --- backup verify: the manifest against the group
    #[error("group {npub} is not known to this home; pass its group file with --group-file")]
    UnknownGroup { npub: String },
    #[error("{path}: this is a backup of group {backup}, not of {group}")]
    OtherGroup {
        path: String,
        backup: String,
        group: String,
    },
    #[error("{path}: seat {seat} is not in the roster of {npub}")]
    SeatNotInRoster {
        path: String,
        seat: MemberId,
        npub: String,
    },
    #[error(
        "{path}: the manifest names seat {seat} {member:?}, but the roster calls it {roster:?}"
    )]
    SeatRenamed {
        path: String,
        seat: MemberId,
        member: String,
        roster: String,
    },
    #[error("{path}: the manifest for {member}'s share is signed by {}, not by {member} ({npub})", who(.signer, .signer_name))]
    SignedByOther {
        path: String,
        member: String,
        /// The signer's npub, shortened, and its roster name when it is a member.
        signer: String,
        signer_name: Option<String>,
        /// The member's npub, shortened.
        npub: String,
    },
    #[error("{path}: the group has no verifying share for that seat")]
    NoVerifyingShare { path: String },
    #[error("{path}: the manifest's verifying share for {member} differs from the group's: the backup is stale (made before a refresh of this group; its share no longer signs with the others); make a new one with `passport backup create`")]
    Stale { path: String, member: String },
    #[error("{file}: the file does not match its manifest's SHA-256: it was tampered with, truncated or replaced")]
    HashMismatch { file: String },
    #[error("{file}: the age header does not match the manifest's recipients")]
    HeaderMismatch { file: String },

    // --- backup verify with a key: the decrypted share
    #[error("{file}: the decrypted payload is not a passport backup: {source}")]
    NotPayload {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: this backup was signed by {signer}, not by this home's identity; it is another member's backup")]
    AnotherMembers { path: String, signer: String },
    #[error(
        "{file}: backup version {version} is not supported (this passport reads {})",
        BACKUP_VERSION
    )]
    Version { file: String, version: u8 },
    #[error("{file}: the encrypted share belongs to group {backup}, not to {group}")]
    ShareOfOtherGroup {
        file: String,
        backup: String,
        group: String,
    },
    #[error("{file}: the encrypted share does not match its manifest (seat, member, t/n, ceremony or verifying share)")]
    PayloadMismatch { file: String },
    #[error("{file}: the key package is not hex")]
    KeyPackageHex { file: String },
    #[error("{file}: the key package does not parse: {source}")]
    KeyPackageParse {
        file: String,
        #[source]
        source: crate::ceremony::frost::Error,
    },
    #[error("{file}: the key package is for another seat")]
    KeyPackageSeat { file: String },
    #[error("{file}: the key package's signing share does not match its verifying share")]
    KeyPackageShares { file: String },
    #[error(
        "{file}: the share's verifying share is not {member}'s in the group's public key package"
    )]
    NotMembersShare { file: String, member: String },
    #[error("{file}: the key package names another group key or threshold than {npub}")]
    KeyPackageGroup { file: String, npub: String },

    // --- backup restore
    #[error("restore needs the backup's --identity or --passphrase")]
    RestoreNeedsKey,
    #[error("restore needs the backup's --identity FILE or --backup-passphrase")]
    RestoreNeedsKeyFlag,
    #[error("this backup holds {member}'s share of {npub} (npub {signer}), but this home's identity is {own}; restore it into {member}'s home")]
    OtherHome {
        member: String,
        npub: String,
        /// Shortened npubs, as shown.
        signer: String,
        own: String,
    },
    #[error("this home already holds {member}'s share of {npub}; refusing to overwrite it (pass --force to replace it)")]
    ShareHeld { member: String, npub: String },

    // --- passwd and identity rotation
    #[error("this home's keystore is not protected by a passphrase (it uses an age identity file or a token); to rotate an identity file, pass --new-age-identity NEW_FILE")]
    NotPassphrase,
    #[error("{}: not an age identity inside", .path.display())]
    MasterNotIdentity { path: PathBuf },
    #[error("{} does not hold this home's keystore key; refusing to rewrite it", .path.display())]
    MasterForeign { path: PathBuf },
    #[error("this home's secrets are sealed by a token, not by an age identity; move them with `passport hsm migrate --to …`")]
    SealedByToken,
    #[error("{} exists; the new identity is only ever written to a new file", .path.display())]
    IdentityExists { path: PathBuf },
}

/// Who signed a manifest that is not the member's: a member by name, or a stranger.
fn who(npub: &str, name: &Option<String>) -> String {
    match name {
        Some(name) => format!("{name} ({npub})"),
        None => format!("{npub}, who is not a member"),
    }
}

impl BackupError {
    pub(super) fn exit_code(&self) -> i32 {
        use BackupError as B;
        match self {
            // The command line asks for something impossible or incomplete.
            B::StreamNeedsManifest { .. }
            | B::StreamAndJson { .. }
            | B::PassphraseFileAndRecipients
            | B::PassphraseAndRecipients
            | B::NoProtection
            | B::EmptyPassphraseEnv { .. }
            | B::EmptyPassphraseFile { .. }
            | B::NoPassphrase { .. }
            | B::Prompt { .. }
            | B::IdentityAndPassphrase
            | B::UnknownGroup { .. }
            | B::RestoreNeedsKey
            | B::RestoreNeedsKeyFlag
            | B::NotPassphrase
            | B::SealedByToken => exit::USAGE,
            // A backup, manifest or keystore file that is damaged, forged, stale or
            // another member's.
            B::NotRosterIdentity { .. }
            | B::OtherGroup { .. }
            | B::SeatNotInRoster { .. }
            | B::SeatRenamed { .. }
            | B::SignedByOther { .. }
            | B::NoVerifyingShare { .. }
            | B::Stale { .. }
            | B::HashMismatch { .. }
            | B::HeaderMismatch { .. }
            | B::NotPayload { .. }
            | B::AnotherMembers { .. }
            | B::Version { .. }
            | B::ShareOfOtherGroup { .. }
            | B::PayloadMismatch { .. }
            | B::KeyPackageHex { .. }
            | B::KeyPackageParse { .. }
            | B::KeyPackageSeat { .. }
            | B::KeyPackageShares { .. }
            | B::NotMembersShare { .. }
            | B::KeyPackageGroup { .. }
            | B::OtherHome { .. }
            | B::MasterNotIdentity { .. }
            | B::MasterForeign { .. } => exit::REJECTED,
            // Nothing is overwritten.
            B::Exists { .. } | B::ShareHeld { .. } | B::IdentityExists { .. } => exit::REFUSED,
            // A passphrase that does not open what it should.
            B::WrongNcryptsecPassphrase { .. } => exit::LOCKED,
        }
    }
}

/// A backup layer's errors in the exit-code groups they always had.
pub(super) fn backup_exit(e: &crate::backup::Error) -> i32 {
    use crate::backup::Error as B;
    match e {
        // A recipient, identity or option the user gave that cannot be used.
        B::BadAgeRecipient { .. }
        | B::BadSshRecipient { .. }
        | B::UnknownRecipient { .. }
        | B::InRecipientsFile { .. }
        | B::NoRecipientsInFile { .. }
        | B::NoRecipients
        | B::Encrypt { .. }
        | B::StdinNeedsManifest
        | B::SignManifest { .. } => exit::USAGE,
        // The identity or passphrase does not open the backup.
        B::NotIdentityFile { .. }
        | B::BadAgeIdentity { .. }
        | B::BadSshIdentity { .. }
        | B::SshKeyEncrypted { .. }
        | B::SshKeyUnsupported { .. }
        | B::NoIdentityInFile { .. }
        | B::NeedsPassphrase { .. }
        | B::NeedsIdentity { .. }
        | B::WrongPassphrase { .. }
        | B::OtherRecipients { .. } => exit::LOCKED,
        // A backup or manifest that is damaged, forged or of another member.
        B::Malformed { .. }
        | B::NotArmoredAge { .. }
        | B::ExcessiveWork { .. }
        | B::DamagedAge { .. }
        | B::TruncatedPayload { .. }
        | B::ManifestNotText { .. }
        | B::NotManifest { .. }
        | B::NotIdentityManifest { .. }
        | B::ManifestKind { .. }
        | B::IdentityManifestKind { .. }
        | B::ForgedManifest { .. }
        | B::ForgedIdentityManifest { .. }
        | B::ManifestContent { .. }
        | B::ManifestVersion { .. }
        | B::ManifestTime { .. }
        | B::IdentityManifestVersion { .. }
        | B::NotAnNpub { .. }
        | B::SignerMismatch { .. }
        | B::HashMismatch { .. }
        | B::NotIdentityInside { .. }
        | B::NotSecretKey { .. }
        | B::NotKeyOf { .. } => exit::REJECTED,
        B::File(_) => exit::FAILURE,
    }
}
