//! Small subcommands: init, id, roster, group, verify, inspect, demo, completions.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Subcommand};
use nostr::ToBech32;
use serde::Serialize;

use super::{prompt, Cli, Output};
use crate::ceremony::roster::parse_npub;
use crate::ceremony::{Member, MemberId, Roster};
use crate::error::{Error, Result};
use crate::home::{GroupState, Home, InitUnlock, Status};
use crate::ops::Report;

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
    #[arg(long, value_name = "FILE")]
    new_passphrase_file: Option<PathBuf>,
}

pub fn passwd(cli: &Cli, a: &PasswdArgs, out: &Output) -> Result<()> {
    let root = cli.home_path();
    if !root.join("config.json").exists() {
        return Err(Error::NoHome(root));
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
            .ok_or_else(|| {
                Error::Invalid(
                    "--restore-identity needs the key that opens it: --backup-identity FILE or --backup-passphrase".into(),
                )
            })?;
            let (_, keys) = crate::ops::idbackup::open(file, None, Some(&key))?;
            keys
        }
    };
    let restored = identity.is_some();
    let home = Home::init_with_identity(&root, unlock, identity)?;
    if restored {
        crate::home::audit_log(&home.root).append(
            "identity-restored",
            serde_json::json!({ "npub": home.config.npub, "from": a.restore_identity.as_ref().map(|p| p.display().to_string()) }),
        )?;
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

#[derive(Debug, Subcommand)]
pub enum RosterCmd {
    /// Write a new roster with a fresh random ceremony id.
    New(RosterNew),
    /// Show a roster and its fingerprint.
    Show {
        /// Roster file (`-` for stdin).
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct RosterNew {
    /// Signatures needed (t of n).
    #[arg(long, short = 't')]
    threshold: u16,
    /// A member as NAME=NPUB; repeat for each member, in order.
    #[arg(
        long = "member",
        short = 'm',
        value_name = "NAME=NPUB",
        required = true
    )]
    members: Vec<String>,
    /// What this key is for (at most 1024 bytes).
    #[arg(long, default_value = "")]
    purpose: String,
    /// Make a trusted-dealer roster with this dealer npub (`self`: this home).
    #[arg(long, value_name = "NPUB")]
    dealer: Option<String>,
    /// Allow one npub to hold t seats or more, so that it can sign alone (the CI layout:
    /// one home with enough shares to sign unattended). Refused without this flag.
    #[arg(long)]
    allow_shared_seats: bool,
    /// Output file (`-` for stdout).
    #[arg(long, short = 'o', default_value = "roster.json")]
    output: PathBuf,
}

#[derive(Serialize)]
struct SeatRow {
    seat: MemberId,
    name: String,
    npub: String,
    /// This home's identity holds the seat.
    you: bool,
}

#[derive(Serialize)]
struct RosterReport {
    file: String,
    ceremony: String,
    purpose: String,
    threshold: u16,
    /// Member names in seat order.
    members: Vec<String>,
    seats: Vec<SeatRow>,
    dealer: Option<String>,
    fingerprint: String,
    /// This home's seats (empty when it holds none, or there is no home).
    you: Vec<MemberId>,
    /// Keys holding at least t seats: each can sign alone.
    signs_alone: Vec<String>,
    #[serde(skip)]
    home_known: bool,
    #[serde(skip)]
    stdout: Option<String>,
}
impl Report for RosterReport {
    fn human(&self) -> String {
        // Every value from the file goes through `untrusted`: a purpose holding a newline
        // must not print a second, forged fingerprint line.
        let show = crate::untrusted::line;
        let mut s = format!(
            "roster {} ({}-of-{}{}): ceremony {}\n",
            show(&self.file),
            self.threshold,
            self.seats.len(),
            if self.dealer.is_some() {
                ", trusted dealer"
            } else {
                ", DKG"
            },
            show(&self.ceremony),
        );
        let purpose = if self.purpose.is_empty() {
            "⟨none⟩".to_owned()
        } else {
            show(&self.purpose)
        };
        s.push_str(&format!("  purpose:     {purpose}\n"));
        if let Some(d) = &self.dealer {
            s.push_str(&format!("  dealer:      {}\n", show(d)));
        }
        let w = self
            .seats
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        s.push_str(&format!("  {:<4}  {:<w$}  npub\n", "seat", "name"));
        for r in &self.seats {
            s.push_str(&format!(
                "  {:<4}  {:<w$}  {}{}\n",
                r.seat,
                show(&r.name),
                show(&r.npub),
                if r.you { "  <- you" } else { "" }
            ));
        }
        if !self.you.is_empty() {
            let names: Vec<String> = self
                .seats
                .iter()
                .filter(|r| r.you)
                .map(|r| format!("seat {} ({})", r.seat, show(&r.name)))
                .collect();
            s.push_str(&format!("  you are {}\n", names.join(", ")));
        } else if self.home_known {
            s.push_str("  you hold no seat in this roster\n");
        }
        s.push_str(&format!(
            "  fingerprint: {}  <- compare this out of band with every member, and check every npub",
            self.fingerprint
        ));
        s
    }
    fn stdout(&self) -> Option<String> {
        self.stdout.clone()
    }
}

/// This home's identity, read from its config without unlocking anything (`None`: no
/// home here).
fn home_npub(cli: &Cli) -> Option<nostr::PublicKey> {
    let bytes = std::fs::read(cli.home_path().join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    parse_npub(v.get("npub")?.as_str()?).ok()
}

fn roster_report(
    r: &Roster,
    me: Option<nostr::PublicKey>,
    file: String,
    stdout: Option<String>,
) -> RosterReport {
    let seats: Vec<SeatRow> = r
        .ids()
        .map(|i| {
            let m = r.member(i).expect("ids are in the roster");
            SeatRow {
                seat: i,
                name: m.name.clone(),
                npub: m.npub.to_bech32().expect("bech32"),
                you: me == Some(m.npub),
            }
        })
        .collect();
    RosterReport {
        file,
        ceremony: r.ceremony_id.clone(),
        purpose: r.purpose.clone(),
        threshold: r.threshold,
        members: r.members.iter().map(|m| m.name.clone()).collect(),
        you: seats.iter().filter(|s| s.you).map(|s| s.seat).collect(),
        seats,
        dealer: r.dealer.map(|d| d.to_bech32().expect("bech32")),
        fingerprint: r.fingerprint(),
        signs_alone: r
            .keys_signing_alone()
            .iter()
            .map(|(k, _)| k.to_bech32().expect("bech32"))
            .collect(),
        home_known: me.is_some(),
        stdout,
    }
}

pub fn roster(cli: &Cli, cmd: &RosterCmd, out: &Output) -> Result<()> {
    match cmd {
        RosterCmd::New(a) => {
            // Refused before anything else: a roster is what members compare by
            // fingerprint, so one is never replaced by a new one under the same name.
            if a.output.as_os_str() != "-" && a.output.symlink_metadata().is_ok() {
                return Err(Error::Refused(format!(
                    "{} exists; roster new never replaces a roster (members compare its fingerprint); choose another -o or move it away",
                    a.output.display()
                )));
            }
            let mut members = vec![];
            for spec in &a.members {
                let (name, npub) = spec.split_once('=').ok_or_else(|| {
                    Error::Invalid(format!("--member {spec:?}: expected NAME=NPUB"))
                })?;
                members.push(Member {
                    name: name.to_owned(),
                    npub: parse_npub(npub)?,
                });
            }
            let dealer = match a.dealer.as_deref() {
                None => None,
                Some("self") => Some(cli.open_home()?.public_key()),
                Some(npub) => Some(parse_npub(npub)?),
            };
            let roster = Roster::new(
                &a.purpose,
                a.threshold,
                members,
                dealer,
                &mut rand::rngs::OsRng,
            )?;
            let alone = roster.keys_signing_alone();
            if !alone.is_empty() && !a.allow_shared_seats {
                let (pk, seats) = &alone[0];
                return Err(Error::Refused(format!(
                    "{} holds {} of the {} seats ({}), enough to sign alone with threshold {}; \
                     pass --allow-shared-seats if that is intended (the CI layout)",
                    pk.to_bech32().expect("bech32"),
                    seats.len(),
                    roster.n(),
                    seats
                        .iter()
                        .map(|&i| roster.name(i))
                        .collect::<Vec<_>>()
                        .join(", "),
                    roster.threshold
                )));
            }
            out.warn_shared_seats(&roster);
            let json = roster.to_json_pretty() + "\n";
            let me = home_npub(cli);
            if a.output.as_os_str() == "-" {
                out.report(&roster_report(
                    &roster,
                    me,
                    "<stdout>".into(),
                    Some(json.trim_end().to_owned()),
                ))
            } else {
                crate::fsutil::write_atomic(&a.output, json.as_bytes(), false)?;
                out.report(&roster_report(
                    &roster,
                    me,
                    a.output.display().to_string(),
                    None,
                ))
            }
        }
        RosterCmd::Show { file } => {
            let r = crate::ops::load_roster(file)?;
            out.warn_shared_seats(&r);
            out.report(&roster_report(
                &r,
                home_npub(cli),
                file.display().to_string(),
                None,
            ))
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// List the groups this home knows and the seats it holds.
    List,
    /// Import a public group file (to coordinate signing without holding a share).
    Import {
        /// Group file written by `keygen deal` or found in a home.
        file: PathBuf,
    },
    /// Print a group's public file.
    Show {
        /// Group npub (or a unique prefix of its hex key).
        group: String,
    },
}

#[derive(Serialize)]
struct GroupEntry {
    npub: String,
    threshold: u16,
    members: u16,
    origin: crate::group::Origin,
    status: Option<Status>,
    seats: Vec<String>,
}
#[derive(Serialize)]
struct GroupList {
    groups: Vec<GroupEntry>,
}
impl Report for GroupList {
    fn human(&self) -> String {
        if self.groups.is_empty() {
            return "no groups in this home".into();
        }
        self.groups
            .iter()
            .map(|g| {
                format!(
                    "{} {}-of-{} {:?} {} seats: {}",
                    g.npub,
                    g.threshold,
                    g.members,
                    g.origin,
                    g.status
                        .map(|s| format!("{s:?}").to_lowercase())
                        .unwrap_or_else(|| "public only".into()),
                    if g.seats.is_empty() {
                        "none".into()
                    } else {
                        g.seats.join(", ")
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn group(cli: &Cli, cmd: &GroupCmd, out: &Output) -> Result<()> {
    let home = cli.open_home()?;
    match cmd {
        GroupCmd::List => {
            let mut groups = vec![];
            for gid in home.group_ids()? {
                let g = home.find_group(&gid)?;
                let st = home.group_state(&g)?;
                groups.push(GroupEntry {
                    npub: g.npub.clone(),
                    threshold: g.roster.threshold,
                    members: g.roster.n(),
                    origin: g.origin,
                    status: st.as_ref().map(|s| s.status),
                    seats: st
                        .map(|s| s.seats.iter().map(|&i| g.roster.name(i)).collect())
                        .unwrap_or_default(),
                });
            }
            out.report(&GroupList { groups })
        }
        GroupCmd::Import { file } => {
            let g = crate::home::read_group_file(file)?;
            // A file from someone else: its verifying shares must lie on the group key's
            // polynomial, or t members could not sign (or one share is not what it seems).
            crate::ceremony::lagrange::check_public_package(&g.public_key_package, &g.roster)
                .map_err(|e| crate::error::Error::Malformed {
                    path: file.display().to_string(),
                    what: "group file",
                    detail: e.to_string(),
                })?;
            home.save_group(&g)?;
            if home.group_state(&g)?.is_none() {
                home.save_group_state(
                    &g,
                    &GroupState {
                        status: Status::Active,
                        seats: Default::default(),
                    },
                )?;
            }
            out.report(&GroupList {
                groups: vec![GroupEntry {
                    npub: g.npub.clone(),
                    threshold: g.roster.threshold,
                    members: g.roster.n(),
                    origin: g.origin,
                    status: Some(Status::Active),
                    seats: vec![],
                }],
            })
        }
        GroupCmd::Show { group } => {
            let g = home.find_group(group)?;
            // The roster's purpose is anyone's text: JSON escapes keep it from acting on
            // the terminal without changing what the file says.
            if out.json {
                println!(
                    "{}",
                    crate::untrusted::json(&serde_json::to_string(&g).expect("group"))
                );
            } else {
                println!("{}", crate::untrusted::json(&g.to_json_pretty()));
            }
            Ok(())
        }
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
    /// Any passport file: roster, package, group, signed event, sealed secret (`-` for stdin).
    pub file: PathBuf,
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
        .map_err(|e| crate::Error::Invalid(format!("cannot start the async runtime: {e}")))?;
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
