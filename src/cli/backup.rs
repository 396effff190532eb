//! `passport backup create|verify|restore`. Backup passphrases come from
//! PASSPORT_BACKUP_PASSPHRASE, --backup-passphrase-file or a prompt; never argv.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use clap::{Args, Subcommand};

use super::{Cli, Output};
use crate::backup::{self, BackupRecipient, Key, Protection};
use crate::error::{BackupError, Error, Result};
use crate::fsutil;
use crate::home::{Home, OpenUnlock};
use crate::ops::backup::{self as ops, Inputs};

const PASS_ENV: &str = "PASSPORT_BACKUP_PASSPHRASE";

#[derive(Debug, Subcommand)]
pub enum BackupCmd {
    /// Write one member's share to an armored age file plus a signed manifest beside it
    /// (FILE.manifest.json).
    Create(CreateArgs),
    /// Check a backup without secrets (manifest signature, signer, SHA-256, age header);
    /// with --identity or --backup-passphrase also decrypt it and check the share.
    Verify(VerifyArgs),
    /// Verify a backup fully, then store its share in this home's keystore.
    Restore(RestoreArgs),
    /// Write this home's identity key (its roster npub) to an armored age file plus a
    /// signed manifest beside it; with a share backup it rebuilds a lost home
    /// (`passport init --restore-identity`).
    Identity(IdentityArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Group npub.
    #[arg(long)]
    group: String,
    /// Which of this home's seats to back up (when it holds several).
    #[arg(long)]
    member: Option<String>,
    #[command(flatten)]
    protect: ProtectArgs,
    /// The new backup file (armored age; the manifest goes to FILE.manifest.json), or
    /// `-` for stdout (then name the manifest with --manifest).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
    /// Where the signed manifest goes (default: FILE.manifest.json; required with -o -).
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
}

/// Whom a new backup is encrypted to.
#[derive(Debug, Args)]
pub struct ProtectArgs {
    /// age X25519 recipient (age1…) or ssh-ed25519 public key; repeatable.
    #[arg(long, value_name = "RECIPIENT")]
    recipient: Vec<String>,
    /// File of recipients, one per line (# comments allowed).
    #[arg(long, value_name = "FILE")]
    recipients_file: Option<PathBuf>,
    /// Encrypt to a passphrase (scrypt) instead of recipients: from
    /// PASSPORT_BACKUP_PASSPHRASE, --backup-passphrase-file, or a prompt (asked twice).
    // `--backup-passphrase`, like `--backup-passphrase-file`, so it cannot be taken for
    // the keystore's `--passphrase-file`; `--passphrase` still works.
    #[arg(long = "backup-passphrase", alias = "passphrase")]
    passphrase: bool,
    /// Read the backup passphrase from this file (first line).
    #[arg(long, value_name = "FILE")]
    backup_passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IdentityArgs {
    #[command(flatten)]
    protect: ProtectArgs,
    /// The new identity backup file (armored age); the manifest goes to
    /// FILE.manifest.json. `-` for stdout (then name the manifest with --manifest).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
    /// Where the signed manifest goes (default: FILE.manifest.json; required with -o -).
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The armored age backup file.
    file: PathBuf,
    /// The signed manifest (default: FILE.manifest.json).
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// The public group file to check against (default: the home's copy of the group).
    #[arg(long, value_name = "FILE")]
    group_file: Option<PathBuf>,
    /// age identity file (AGE-SECRET-KEY-1…) or unencrypted OpenSSH ed25519 private key
    /// that opens the backup.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// The backup is passphrase-protected: from PASSPORT_BACKUP_PASSPHRASE,
    /// --backup-passphrase-file, or a prompt.
    // `--backup-passphrase`, like `--backup-passphrase-file`, so it cannot be taken for
    // the keystore's `--passphrase-file`; `--passphrase` still works.
    #[arg(long = "backup-passphrase", alias = "passphrase")]
    passphrase: bool,
    /// Read the backup passphrase from this file (first line).
    #[arg(long, value_name = "FILE")]
    backup_passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    open: OpenArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    open: OpenArgs,
    /// Replace a share this home already holds.
    #[arg(long)]
    force: bool,
}

/// `-o -` streams the armor to stdout: the manifest needs a file of its own, and
/// stdout cannot also carry the --json report.
fn stream_checks(
    output: &Path,
    manifest: Option<&Path>,
    json: bool,
    what: &'static str,
) -> Result<()> {
    if !fsutil::is_stdin(output) {
        return Ok(());
    }
    if manifest.is_none() {
        return Err(BackupError::StreamNeedsManifest { what }.into());
    }
    if json {
        return Err(BackupError::StreamAndJson { what }.into());
    }
    Ok(())
}

fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn passphrase(file: Option<&Path>, confirm: bool) -> Result<SecretString> {
    if let Ok(p) = std::env::var(PASS_ENV) {
        if p.is_empty() {
            return Err(BackupError::EmptyPassphraseEnv { var: PASS_ENV }.into());
        }
        return Ok(SecretString::from(p));
    }
    if let Some(f) = file {
        let line = crate::fsutil::read_secret_line(f).map_err(|e| Error::io(f, e))?;
        let line = line.as_str();
        if line.is_empty() {
            return Err(BackupError::EmptyPassphraseFile {
                path: f.to_path_buf(),
            }
            .into());
        }
        return Ok(SecretString::from(line.to_owned()));
    }
    if !interactive() {
        return Err(BackupError::NoPassphrase { var: PASS_ENV }.into());
    }
    if confirm {
        return super::prompt::ask_new("Backup passphrase");
    }
    dialoguer::Password::new()
        .with_prompt("Backup passphrase")
        .interact()
        .map(SecretString::from)
        .map_err(|e| {
            BackupError::Prompt {
                reason: e.to_string(),
            }
            .into()
        })
}

fn protection(a: &ProtectArgs) -> Result<Protection> {
    let has_recipients = !a.recipient.is_empty() || a.recipients_file.is_some();
    if a.backup_passphrase_file.is_some() && has_recipients {
        return Err(BackupError::PassphraseFileAndRecipients.into());
    }
    let passphrase = a.passphrase || a.backup_passphrase_file.is_some();
    if passphrase && has_recipients {
        return Err(BackupError::PassphraseAndRecipients.into());
    }
    if passphrase {
        return Ok(Protection::Passphrase(self::passphrase(
            a.backup_passphrase_file.as_deref(),
            true,
        )?));
    }
    if !has_recipients {
        return Err(BackupError::NoProtection.into());
    }
    let mut rs = a
        .recipient
        .iter()
        .map(|r| BackupRecipient::parse(r))
        .collect::<Result<Vec<_>, backup::Error>>()?;
    if let Some(f) = &a.recipients_file {
        rs.extend(backup::parse_recipients_file(f)?);
    }
    Ok(Protection::Recipients(rs))
}

/// The secret that opens a backup, from `--identity FILE` or `--backup-passphrase`.
pub fn open_key(
    identity: Option<&Path>,
    passphrase_flag: bool,
    passphrase_file: Option<&Path>,
) -> Result<Option<Key>> {
    // A passphrase file given alone says which key is meant; ignoring it would verify
    // without decrypting and exit 0.
    let passphrase_flag = passphrase_flag || passphrase_file.is_some();
    match (identity, passphrase_flag) {
        (Some(_), true) => Err(BackupError::IdentityAndPassphrase.into()),
        (Some(f), false) => Ok(Some(backup::read_identity(f)?)),
        (None, true) => Ok(Some(Key::Passphrase(passphrase(passphrase_file, false)?))),
        (None, false) => Ok(None),
    }
}

fn key(a: &OpenArgs) -> Result<Option<Key>> {
    match (
        &a.identity,
        a.passphrase || a.backup_passphrase_file.is_some(),
    ) {
        (Some(_), true) => Err(BackupError::IdentityAndPassphrase.into()),
        (Some(f), false) => Ok(Some(backup::read_identity(f)?)),
        (None, true) => Ok(Some(Key::Passphrase(passphrase(
            a.backup_passphrase_file.as_deref(),
            false,
        )?))),
        (None, false) => Ok(None),
    }
}

fn inputs(a: &OpenArgs) -> Result<Inputs<'_>> {
    Ok(Inputs {
        file: &a.file,
        manifest: a.manifest.as_deref(),
        group_file: a
            .group_file
            .as_deref()
            .map(crate::home::read_group_file)
            .transpose()?,
        key: key(a)?,
    })
}

pub fn run(cli: &Cli, cmd: &BackupCmd, out: &Output) -> Result<()> {
    match cmd {
        BackupCmd::Create(a) => {
            let to_stdout = fsutil::is_stdin(&a.output);
            stream_checks(&a.output, a.manifest.as_deref(), out.json, "backup")?;
            let to = protection(&a.protect)?;
            let home = cli.open_home()?;
            let mut stdout = std::io::stdout().lock();
            let target = match (&a.manifest, to_stdout) {
                (Some(m), true) => ops::Target::Stream(&mut stdout, m),
                (m, _) => ops::Target::File(&a.output, m.as_deref()),
            };
            out.report(&ops::create(
                &home,
                &a.group,
                a.member.as_deref(),
                &to,
                target,
            )?)
        }
        BackupCmd::Verify(a) => {
            // Public data only: the home (if any) is opened without unlocking anything.
            let root = cli.home_path();
            let home = if root.join("config.json").exists() {
                Some(Home::open(&root, OpenUnlock::none())?)
            } else {
                None
            };
            if crate::ops::idbackup::is_identity_backup(&a.open.file, a.open.manifest.as_deref()) {
                let key = key(&a.open)?;
                let (r, _) = crate::ops::idbackup::open(
                    &a.open.file,
                    a.open.manifest.as_deref(),
                    key.as_ref(),
                )?;
                return out.report(&r);
            }
            out.report(&ops::verify(home.as_ref(), inputs(&a.open)?)?)
        }
        BackupCmd::Identity(a) => {
            stream_checks(
                &a.output,
                a.manifest.as_deref(),
                out.json,
                "identity backup",
            )?;
            let to = protection(&a.protect)?;
            let home = cli.open_home()?;
            let mut stdout = std::io::stdout().lock();
            let target = match (&a.manifest, fsutil::is_stdin(&a.output)) {
                (Some(m), true) => ops::Target::Stream(&mut stdout, m),
                (m, _) => ops::Target::File(&a.output, m.as_deref()),
            };
            out.report(&crate::ops::idbackup::create(&home, &to, target)?)
        }
        BackupCmd::Restore(a) => {
            let home = cli.open_home()?;
            if a.open.identity.is_none()
                && !a.open.passphrase
                && a.open.backup_passphrase_file.is_none()
            {
                return Err(BackupError::RestoreNeedsKeyFlag.into());
            }
            out.report(&ops::restore(&home, inputs(&a.open)?, a.force)?)
        }
    }
}
