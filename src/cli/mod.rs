//! Command-line definitions and dispatch. Terminal I/O (prompts, progress, output
//! formatting) lives here; the work is done by [`crate::ops`].

mod backup;
mod bunker;
mod cosign;
mod dkg;
mod doctor;
mod examples;
mod groups;
mod hsm;
mod keygen;
mod lifecycle;
mod man;
mod misc;
mod output;
mod prompt;
mod qr;
mod recover;
mod review;
mod roster;
mod serve;
mod session;
mod sign;
mod via;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use output::Output;

use crate::error::Result;
use crate::home::{Home, OpenUnlock};

pub const EXIT_CODES: &str = "\
EXIT STATUS:
    0  success
    1  failure: I/O error, missing home or group, anything not listed below
    2  usage error: bad arguments or options
    3  rejected: a file or package is malformed, forged, tampered, misaddressed,
       from a non-member, for another ceremony or roster, or otherwise invalid
    4  incomplete: packages from some members have not arrived yet; retry later
    5  refused: consent declined, nonce already used, would overwrite a secret or an
       existing output file (without --force), or a roster lets one npub sign alone
       (without --allow-shared-seats)
    6  locked: wrong passphrase or age identity

ENVIRONMENT:
    PASSPORT_HOME          operator home (default ~/.passport)
    PASSPORT_PASSPHRASE    keystore passphrase (else --passphrase-file, else a prompt)
    PASSPORT_AGE_IDENTITY  age identity file that unlocks the keystore
    PASSPORT_PKCS11_MODULE PKCS#11 module for token keystores
    PASSPORT_PKCS11_PIN    token user PIN (else ?pin-source=file:… in the URI, else a prompt)
    PASSPORT_LOCK_WAIT     seconds to wait for another process changing the same home (10)";

/// Threshold (FROST) keys for Nostr: key ceremonies, threshold signing, share custody.
#[derive(Debug, Parser)]
#[command(name = "passport", version, about, after_long_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    /// Operator home directory.
    #[arg(long, global = true, env = "PASSPORT_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print one JSON object on stdout (errors too) instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Read the keystore passphrase from this file (first line).
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// age identity file that unlocks the keystore (unattended use). With `init`:
    /// protect the new keystore with it, creating it if missing.
    #[arg(
        long,
        global = true,
        env = "PASSPORT_AGE_IDENTITY",
        value_name = "FILE"
    )]
    pub age_identity: Option<PathBuf>,
    /// PKCS#11 module (shared library) for token keystores and `hsm` commands.
    #[arg(
        long,
        global = true,
        env = "PASSPORT_PKCS11_MODULE",
        value_name = "PATH"
    )]
    pub pkcs11_module: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an operator home: identity key and encrypted keystore.
    Init(misc::InitArgs),
    /// Change the keystore passphrase (the current one as for any command; the new one
    /// from PASSPORT_NEW_PASSPHRASE, --new-passphrase-file, or a prompt, asked twice), or
    /// rotate the keystore to a new age identity file with --new-age-identity.
    Passwd(misc::PasswdArgs),
    /// Keep a passphrase home unlocked for a while (default 15m): a session agent holds
    /// the keystore key, so commands ask no passphrase and pay no scrypt until then.
    Unlock(session::UnlockArgs),
    /// Lock the home now: its session agent (`passport unlock`) forgets the key and exits.
    Lock,
    /// The session agent process that `passport unlock` starts.
    #[command(hide = true)]
    Agent(session::AgentArgs),
    /// Print this home's identity npub.
    Id,
    /// Write or show a ceremony roster.
    #[command(subcommand)]
    Roster(misc::RosterCmd),
    /// Trusted-dealer key generation: deal shares, import a dealt share.
    #[command(subcommand)]
    Keygen(keygen::KeygenCmd),
    /// Distributed key generation: round by round as files, or all rounds with `dkg run --via`.
    #[command(subcommand)]
    Dkg(dkg::DkgCmd),
    /// Proactive share refresh: every member gets a new share of the same key (same npub);
    /// old shares stop working.
    #[command(subcommand)]
    Refresh(lifecycle::RefreshCmd),
    /// Restore a member's lost share with the help of t other members.
    #[command(subcommand)]
    Repair(lifecycle::RepairCmd),
    /// Threshold signing of Nostr events or raw messages.
    #[command(subcommand)]
    Sign(sign::SignCmd),
    /// Groups known to this home.
    #[command(subcommand)]
    Group(misc::GroupCmd),
    /// PKCS#11 tokens: list, create keys, attest, migrate a keystore into a token.
    #[command(subcommand)]
    Hsm(hsm::HsmCmd),
    /// The hash-chained log of token operations.
    #[command(subcommand)]
    Audit(hsm::AuditCmd),
    /// Reconstruct the group's single nsec from t shares in this home: the guarded exit
    /// from threshold custody.
    RecoverNsec(recover::RecoverArgs),
    /// Share backups: create an encrypted backup with a signed manifest, verify it, restore it.
    #[command(subcommand)]
    Backup(backup::BackupCmd),
    /// Verify a signed event or raw signature with libsecp256k1.
    Verify(misc::VerifyArgs),
    /// Describe any passport file without revealing secrets.
    Inspect(misc::InspectArgs),
    /// Check this home: permissions, keystore, shares present and opening, unfinished
    /// rounds, nonces, token, audit log, stale or missing backups.
    ///
    /// One line per check: ok, warn (works, but act on it), FAIL (broken) or skip (not
    /// checked), each saying what to do. The keystore is unlocked only when that cannot
    /// hang on a prompt nobody sees: an age identity file, a session agent (`passport
    /// unlock`), PASSPORT_PASSPHRASE, --passphrase-file, PASSPORT_PKCS11_PIN, or a
    /// terminal. Nothing is written. Exits 0 when no check failed (warnings allowed), 1
    /// when one did.
    Doctor(doctor::DoctorArgs),
    /// Run a full local 2-of-3 DKG and signing in a temporary directory.
    Demo(misc::DemoArgs),
    /// Coordinate ceremony rounds over HTTP; with --relay, also a NIP-46 bunker for a group.
    Serve(Box<serve::ServeArgs>),
    /// The NIP-46 bunker's clients: list, allow, revoke; invitations; nostrconnect:// URIs.
    #[command(subcommand)]
    Bunker(bunker::BunkerCmd),
    /// Co-sign for the NIP-46 bunker of a `passport serve`: keep commitments published,
    /// answer its signing and ECDH requests under this co-signer's own policy.
    Cosign(cosign::CosignArgs),
    /// Print a shell completion script.
    Completions(misc::CompletionsArgs),
    /// Write man pages (passport.1 and one per subcommand) into a directory.
    #[command(hide = true)]
    Man(man::ManArgs),
}

impl Cli {
    pub fn home_path(&self) -> PathBuf {
        self.home.clone().unwrap_or_else(Home::default_path)
    }

    /// Opens the home; secrets unlock lazily (prompting only if a secret is needed).
    pub fn open_home(&self) -> Result<Home> {
        let home = Home::open(
            &self.home_path(),
            OpenUnlock {
                passphrase: prompt::passphrase_source(self.passphrase_file.clone()),
                identity_file: self.age_identity.clone(),
                pin: prompt::pin_source(),
                module: self.pkcs11_module.clone(),
            },
        )?;
        for w in home.permission_warnings() {
            eprintln!("passport: warning: {w}");
        }
        Ok(home)
    }
}

/// Parses the command line; with `--json` anywhere before `--`, an argument error is
/// the same JSON error object as any other (exit 2), not clap's text.
/// `PASSPORT_HOME=` (set but empty, as `export VAR=` in a script leaves it) means unset,
/// as for most tools; clap would otherwise fail every command with "a value is required
/// for '--home'". Only variables that an option reads are touched; this runs before any
/// thread exists.
fn unset_empty_env(cmd: &clap::Command) {
    for arg in cmd.get_arguments() {
        if let Some(var) = arg.get_env() {
            if std::env::var_os(var).is_some_and(|v| v.is_empty()) {
                std::env::remove_var(var);
            }
        }
    }
    for sub in cmd.get_subcommands() {
        unset_empty_env(sub);
    }
}

pub fn parse() -> std::result::Result<Cli, i32> {
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    unset_empty_env(&Cli::command());
    // As Cli::try_parse_from, with the man pages' examples at the end of --help.
    let parsed = man::with_examples(Cli::command())
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m).map_err(|e| e.format(&mut Cli::command())));
    match parsed {
        Ok(cli) => Ok(cli),
        Err(e) => {
            let json = args
                .iter()
                .skip(1)
                .take_while(|a| *a != "--")
                .any(|a| a == "--json");
            let shows = matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp
                    | clap::error::ErrorKind::DisplayVersion
                    | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            );
            if !json || shows {
                e.exit();
            }
            let text = e.render().to_string();
            // The error paragraph, without clap's usage and help hints.
            let message = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
                .trim_start_matches("error: ")
                .to_owned();
            Err(Output { json: true }
                .error(&crate::error::OperatorError::CommandLine(message).into()))
        }
    }
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let out = Output { json: cli.json };
    let result = dispatch(&cli, &out);
    match result {
        Ok(()) => crate::error::exit::OK,
        Err(e) => out.error(&e),
    }
}

/// The label of a command that changes its home's state, for the home lock; `None` for
/// commands that only read it (or make a new home, or use no home at all).
fn changes_home(command: &Command) -> Option<&'static str> {
    use backup::BackupCmd as B;
    use dkg::DkgCmd as D;
    use hsm::HsmCmd as H;
    use keygen::KeygenCmd as K;
    use misc::GroupCmd as G;
    use sign::SignCmd as S;
    Some(match command {
        Command::Keygen(K::Deal(_)) => "keygen deal",
        Command::Keygen(K::Import(_)) => "keygen import",
        Command::Dkg(D::Round1(_)) => "dkg round1",
        Command::Dkg(D::Round2(_)) => "dkg round2",
        Command::Dkg(D::Finish(_)) => "dkg finish",
        Command::Dkg(D::Confirm(_)) => "dkg confirm",
        Command::Dkg(D::Run(_)) => "dkg run",
        Command::Refresh(_) => "refresh",
        Command::Repair(_) => "repair",
        Command::Sign(S::Aggregate(_)) => return None,
        Command::Sign(S::Commit(_)) => "sign commit",
        Command::Sign(S::Request(_)) => "sign request",
        Command::Sign(S::Share(_)) => "sign share",
        Command::Sign(S::Event(_)) => "sign event",
        Command::Sign(S::Run(_)) => "sign run",
        Command::Group(G::Import { .. }) => "group import",
        Command::Group(G::Retire { .. }) => "group retire",
        Command::Hsm(H::Migrate(_)) => "hsm migrate",
        Command::RecoverNsec(_) => "recover-nsec",
        Command::Backup(B::Create(_)) => "backup create",
        Command::Backup(B::Restore(_)) => "backup restore",
        Command::Backup(B::Identity(_)) => "backup identity",
        Command::Passwd(_) => "passwd",
        // Only the agent's socket changes; they must not wait behind a `sign run` or
        // `cosign` that holds the home lock for hours (they serialize among themselves).
        Command::Unlock(_) | Command::Lock | Command::Agent(_) => return None,
        Command::Cosign(_) => "cosign",
        _ => return None,
    })
}

fn dispatch(cli: &Cli, out: &Output) -> Result<()> {
    // Held until the command returns: a second process changing the same home waits,
    // then names this one (see `home::lock`).
    let _lock = match changes_home(&cli.command) {
        Some(label) if cli.home_path().join("config.json").exists() => {
            Some(crate::home::lock_home(&cli.home_path(), label)?)
        }
        _ => None,
    };
    match &cli.command {
        Command::Init(a) => misc::init(cli, a, out),
        Command::Id => misc::id(cli, out),
        Command::Passwd(a) => misc::passwd(cli, a, out),
        Command::Unlock(a) => session::unlock(cli, a, out),
        Command::Lock => session::lock(cli, out),
        Command::Agent(a) => session::agent(cli, a),
        Command::Roster(c) => misc::roster(cli, c, out),
        Command::Keygen(c) => keygen::run(cli, c, out),
        Command::Dkg(c) => dkg::run(cli, c, out),
        Command::Refresh(c) => lifecycle::refresh(cli, c, out),
        Command::Repair(c) => lifecycle::repair(cli, c, out),
        Command::Sign(c) => sign::run(cli, c, out),
        Command::Group(c) => misc::group(cli, c, out),
        Command::Hsm(c) => hsm::run(cli, c, out),
        Command::Audit(c) => hsm::audit(cli, c, out),
        Command::RecoverNsec(a) => recover::run(cli, a, out),
        Command::Backup(c) => backup::run(cli, c, out),
        Command::Verify(a) => {
            out.report(&crate::ops::verify::verify(&a.file, a.expect.as_deref())?)
        }
        Command::Inspect(a) => misc::inspect(cli, a, out),
        Command::Doctor(a) => doctor::run(cli, a, out),
        Command::Demo(a) => misc::demo(a, out),
        Command::Serve(a) => serve::run(cli, a, out),
        Command::Bunker(c) => bunker::run(cli, c, out),
        Command::Cosign(a) => cosign::run(cli, a, out),
        Command::Completions(a) => misc::completions(a),
        Command::Man(a) => man::man(a),
    }
}
