//! Errors of backups of shares and identities, passphrases.
//!
//! Each variant is one thing that went wrong, with the values the message needs; the
//! exit code of each is decided here, beside it.

use super::exit;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {}

impl BackupError {
    pub(super) fn exit_code(&self) -> i32 {
        let _ = exit::OK;
        match *self {}
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
