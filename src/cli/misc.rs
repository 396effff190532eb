//! Small subcommands: init, id, roster, group, verify, inspect, demo, completions.

use std::path::PathBuf;

use clap::{Args, CommandFactory};
use nostr::ToBech32;
use serde::Serialize;

use super::{prompt, Cli, Output};
use crate::error::{Error, OperatorError, Result};
use crate::home::{Home, InitUnlock};
use crate::ops::Report;

// Rosters and groups have their own file; the command enum still names them here.
pub use super::groups::{group, GroupCmd};
pub use super::roster::{roster, RosterCmd};

#[derive(Serialize)]
struct InitReport {
    home: PathBuf,
    npub: String,
    keystore: String,
}
impl Report for InitReport {
    fn human(&self) -> String {
        format!(
            "created passport home {}\n  identity: {}\n  keystore: {}",
            self.home.display(),
            self.npub,
            self.keystore
        )
    }
    fn stdout(&self) -> Option<String> {
        Some(self.npub.clone())
    }
}

#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// Read the new passphrase from this file (first line).
    #[arg(long, value_name = "FILE", conflicts_with = "new_age_identity")]
    new_passphrase_file: Option<PathBuf>,
    /// Instead of a passphrase: re-seal every secret under a fresh age identity written to
    /// this new file (0600), which then unlocks the keystore (rotates an identity-file
    /// home's key, or turns a passphrase home into an unattended one).
    #[arg(long, value_name = "FILE")]
    new_age_identity: Option<PathBuf>,
}

pub fn passwd(cli: &Cli, a: &PasswdArgs, out: &Output) -> Result<()> {
    let root = cli.home_path();
    if !root.join("config.json").exists() {
        return Err(Error::NoHome(root));
    }
    if let Some(file) = &a.new_age_identity {
        let home = cli.open_home()?;
        return out.report(&crate::ops::passwd::rotate_identity(&home, file)?);
    }
    crate::ops::passwd::check(&root)?;
    let old = prompt::passphrase_source(cli.passphrase_file.clone())()
        .map_err(crate::keystore::Error::Locked)?;
    let new = prompt::new_passphrase_from(
        "PASSPORT_NEW_PASSPHRASE",
        a.new_passphrase_file.as_ref(),
        "--new-passphrase-file",
    )?;
    out.report(&crate::ops::passwd::passwd(&root, old, new)?)
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Seal every secret in a PKCS#11 token (RFC 7512 URI, e.g. pkcs11:token=alice)
    /// that has passport keys (`passport hsm init`).
    #[arg(long, value_name = "PKCS11_URI")]
    keystore: Option<String>,
    /// Rebuild a lost home: take the identity key from this identity backup (made by
    /// `passport backup identity`) instead of making a new one; then `backup restore`
    /// the member's share backups into it.
    #[arg(long, value_name = "FILE")]
    restore_identity: Option<PathBuf>,
    /// age identity file or ssh private key that opens the --restore-identity backup.
    #[arg(long, value_name = "FILE", requires = "restore_identity")]
    backup_identity: Option<PathBuf>,
    /// The --restore-identity backup is passphrase-protected (PASSPORT_BACKUP_PASSPHRASE,
    /// --backup-passphrase-file, or a prompt).
    #[arg(long, requires = "restore_identity")]
    backup_passphrase: bool,
    /// Read the identity backup's passphrase from this file (first line).
    #[arg(long, value_name = "FILE", requires = "restore_identity")]
    backup_passphrase_file: Option<PathBuf>,
    /// Use an existing Nostr key as this home's identity: a file (or `-` for stdin)
    /// holding an nsec, 64 hex digits, or a NIP-49 ncryptsec (passphrase from
    /// PASSPORT_NCRYPTSEC_PASSPHRASE or a prompt). Never on the command line.
    #[arg(long, value_name = "FILE", conflicts_with = "restore_identity")]
    identity_nsec: Option<PathBuf>,
}

/// The identity key from `--identity-nsec`: nsec, hex or ncryptsec, zeroized.
fn imported_identity(path: &std::path::Path) -> Result<nostr::Keys> {
    use nostr::nips::nip49::EncryptedSecretKey;
    use nostr::FromBech32;
    let text = super::keygen::read_nsec(path)?;
    let text = text.trim();
    let bad = || Error::from(OperatorError::NotASecretKey { path: path.into() });
    let secret = if text.starts_with("ncryptsec1") {
        let enc = EncryptedSecretKey::from_bech32(text).map_err(|_| bad())?;
        let pass = super::recover::ncryptsec_passphrase(false)?;
        enc.decrypt(&pass)
            .map_err(|_| crate::error::BackupError::WrongNcryptsecPassphrase {
                path: path.to_path_buf(),
            })?
    } else {
        nostr::SecretKey::parse(text).map_err(|_| bad())?
    };
    Ok(nostr::Keys::new(secret))
}

pub fn init(cli: &Cli, a: &InitArgs, out: &Output) -> Result<()> {
    let root = cli.home_path();
    if root.join("config.json").exists() {
        return Err(Error::HomeExists(root));
    }
    let (unlock, kind) = match (&a.keystore, &cli.age_identity) {
        (Some(uri), _) => (
            InitUnlock::Pkcs11(super::hsm::spec(cli, uri)?, prompt::pin_source()),
            "PKCS#11 token",
        ),
        (None, Some(p)) => (InitUnlock::IdentityFile(p.clone()), "age identity file"),
        (None, None) => (
            InitUnlock::Passphrase(prompt::new_passphrase(cli.passphrase_file.as_ref())?),
            "passphrase (scrypt)",
        ),
    };
    let identity = match &a.restore_identity {
        None => None,
        Some(file) => {
            let key = super::backup::open_key(
                a.backup_identity.as_deref(),
                a.backup_passphrase || a.backup_passphrase_file.is_some(),
                a.backup_passphrase_file.as_deref(),
            )?
            .ok_or(OperatorError::RestoreNeedsKey)?;
            let (_, keys) = crate::ops::idbackup::open(file, None, Some(&key))?;
            keys
        }
    };
    let imported = a.identity_nsec.is_some();
    let identity = match &a.identity_nsec {
        Some(p) => Some(imported_identity(p)?),
        None => identity,
    };
    let restored = identity.is_some() && !imported;
    let home = Home::init_with_identity(&root, unlock, identity)?;
    if restored {
        crate::home::audit_log(&home.root).append(
            "identity-restored",
            serde_json::json!({ "npub": home.config.npub, "from": a.restore_identity.as_ref().map(|p| p.display().to_string()) }),
        )?;
    }
    if imported {
        // Recorded, never the key: where this identity came from is the operator's to know.
        crate::home::audit_log(&home.root).append(
            "identity-imported",
            serde_json::json!({ "npub": home.config.npub }),
        )?;
        out.note(
            "the identity is an existing key: it is only as safe as every other copy of it; keep an identity backup (`passport backup identity`)",
        );
    }
    let keystore = match &home.config.keystore {
        crate::home::KeystoreConfig::Pkcs11 { scheme, .. } => format!(
            "{kind} ({})",
            scheme.map_or("on-token AES-GCM, format v1", |s| s.name())
        ),
        _ => kind.to_owned(),
    };
    out.report(&InitReport {
        home: root,
        npub: home.config.npub.clone(),
        keystore,
    })
}

#[derive(Serialize)]
struct IdReport {
    npub: String,
    hex: String,
}
impl Report for IdReport {
    fn human(&self) -> String {
        String::new()
    }
    fn stdout(&self) -> Option<String> {
        Some(self.npub.clone())
    }
}

pub fn id(cli: &Cli, out: &Output) -> Result<()> {
    let home = cli.open_home()?;
    let pk = home.public_key();
    let r = IdReport {
        npub: pk.to_bech32().expect("bech32"),
        hex: pk.to_hex(),
    };
    if out.json {
        out.report(&r)
    } else {
        println!("{}", r.npub);
        Ok(())
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Signed event or raw-signature JSON (`-` for stdin).
    pub file: PathBuf,
    /// Also require this signer (npub or hex).
    #[arg(long, value_name = "NPUB")]
    pub expect: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Any file passport writes: roster, package, group, signed event, backup, manifest,
    /// attestation, home or state file, sealed secret (`-` for stdin).
    pub file: PathBuf,
    /// A roster or group file to name a package's seats with (default: one beside the
    /// file, in the directory above, or in this home).
    #[arg(long, value_name = "FILE")]
    pub roster: Option<PathBuf>,
}

pub fn inspect(cli: &Cli, a: &InspectArgs, out: &Output) -> Result<()> {
    let ctx = crate::ops::inspect::Context {
        roster: a.roster.clone(),
        home: Some(cli.home_path()),
    };
    out.report(&crate::ops::inspect::inspect_in(&a.file, &ctx)?)
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo directory instead of deleting it.
    #[arg(long)]
    pub keep: bool,
    /// Seal each member's secrets in its own SoftHSM2 token (created in the demo
    /// directory) and attest each token.
    #[arg(long)]
    pub hsm: bool,
    #[command(subcommand)]
    pub sub: Option<DemoSub>,
}

#[derive(Debug, clap::Subcommand)]
pub enum DemoSub {
    /// A NIP-46 bunker for a demo 2-of-3 group (two shares local, one offsite): prints
    /// its bunker:// URI as the first stdout line and serves until interrupted.
    Bunker(DemoBunkerArgs),
}

#[derive(Debug, Args)]
pub struct DemoBunkerArgs {
    /// Relays to answer on (repeatable or comma-separated).
    #[arg(
        long = "relay",
        value_name = "URL",
        value_delimiter = ',',
        required = true
    )]
    pub relays: Vec<String>,
    /// Also draw the URI as a QR code on stderr.
    #[arg(long)]
    pub qr: bool,
}

fn demo_bunker(a: &DemoBunkerArgs, out: &Output) -> Result<()> {
    let relays = super::serve::parse_relays(&a.relays)?;
    let tmp = tempfile::Builder::new()
        .prefix("passport-demo-bunker-")
        .tempdir()
        .map_err(|e| crate::Error::io("temp dir", e))?;
    let (home, group) =
        crate::ops::demo::bunker_group(tmp.path(), &mut |s| out.note(&format!("  {s}")))?;
    out.note(&format!("  group {} (the bunker's user key)", group.npub));
    let config = crate::serve::Config::resolve(
        tmp.path(),
        None,
        crate::serve::Settings {
            listen: Some("127.0.0.1:0".into()),
            ..Default::default()
        },
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(OperatorError::Runtime)?;
    runtime.block_on(async {
        let prepared = super::serve::prepare(
            home,
            group,
            relays,
            crate::bunker::DEFAULT_TIMEOUT,
            &crate::bunker::policy::Grant::default(),
            &config,
        )
        .await?;
        super::serve::serve_until_stopped(config, Some(prepared), a.qr, out.json, true).await
    })
}

pub fn demo(a: &DemoArgs, out: &Output) -> Result<()> {
    if let Some(DemoSub::Bunker(b)) = &a.sub {
        return demo_bunker(b, out);
    }
    let bar = if out.json {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(if a.hsm {
            crate::ops::demo::HSM_STEPS
        } else {
            crate::ops::demo::STEPS
        });
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:20}] {pos}/{len} {msg}")
                .expect("template")
                .progress_chars("=> "),
        );
        b
    };
    let report = crate::ops::demo::run(a.keep, a.hsm, &mut |step: &str| {
        bar.inc(1);
        bar.set_message(step.to_owned());
        if bar.is_hidden() {
            out.note(&format!("  {step}"));
        } else {
            bar.println(format!("  {step}"));
        }
    });
    bar.finish_and_clear();
    out.report(&report?)
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for.
    pub shell: clap_complete::Shell,
}

pub fn completions(a: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "passport", &mut std::io::stdout());
    Ok(())
}
