//! `passport sign commit|request|share|aggregate|event`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::via::{progress, RunArgs, ViaArgs};
use super::{prompt, Cli, Output};
use crate::error::{Error, Result};
use crate::ops::sign::{self, ToSign};
use crate::ops::{nonce, read_package, sign_run, Exchange, Files, Report};

#[derive(Debug, Subcommand)]
pub enum SignCmd {
    /// Round 1: preprocess nonces; write a commitment package for the coordinator.
    Commit(CommitArgs),
    /// Coordinator: build a signing request from an event template and t commitments.
    Request(RequestArgs),
    /// Round 2: review a request, consent, and write your signature share.
    Share(ShareArgs),
    /// Coordinator: combine t signature shares into the signed event (or raw signature).
    Aggregate(AggregateArgs),
    /// Sign in one step when this home holds at least t shares (CI use).
    Event(EventArgs),
    /// Every signing round through `--via`: with --event/--message coordinate (commit
    /// own seats, request, aggregate); without, act as a signer (commit, wait for a
    /// request, review it, answer). Resumes after a crash.
    Run(SignRunArgs),
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Group npub (with --discard-all: only this group's nonces).
    #[arg(long, required_unless_present = "discard_all")]
    group: Option<String>,
    /// Which of this home's seats commits (when it holds several).
    #[arg(long)]
    member: Option<String>,
    /// How many commitments to preprocess (1 to 1000; each is a secret nonce kept until
    /// used or expired, on a token one object each).
    #[arg(long, default_value_t = 1, conflicts_with = "discard_all", value_parser = parse_count)]
    count: usize,
    /// How long the commitments may be used (e.g. 90m, 24h, 7d); signer and coordinator
    /// refuse them afterwards, which bounds how long a restored snapshot is dangerous.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "24h",
        conflicts_with = "discard_all"
    )]
    valid_for: String,
    /// Burn every outstanding nonce of this home (of --group, or --member of it) instead
    /// of committing: run it after restoring a home from a snapshot or backup copy.
    #[arg(long)]
    discard_all: bool,
    /// Directory to write packages into.
    #[arg(long, short = 'o', default_value = ".", conflicts_with_all = ["via", "discard_all"])]
    out: PathBuf,
    #[command(flatten)]
    via: ViaArgs,
}

#[derive(Debug, Args)]
#[group(id = "what", required = true, multiple = false)]
pub struct What {
    /// Event template JSON (kind, content, tags, optional created_at); `-` for stdin.
    #[arg(long, group = "what", value_name = "FILE")]
    event: Option<PathBuf>,
    /// A raw 32-byte message in hex (signed as-is, BIP-340).
    #[arg(long, group = "what", value_name = "HEX")]
    message: Option<String>,
}

impl What {
    fn to_sign(&self) -> Result<ToSign> {
        match (&self.event, &self.message) {
            (Some(f), _) => sign::read_template(f),
            (_, Some(m)) => Ok(ToSign::Raw(m.clone())),
            _ => Err(Error::Invalid("give --event FILE or --message HEX".into())),
        }
    }
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Group npub.
    #[arg(long)]
    group: String,
    #[command(flatten)]
    what: What,
    /// Signers by name, comma-separated (default: the first t with unused commitments).
    #[arg(long, value_delimiter = ',')]
    signers: Vec<String>,
    /// Commitment package files or directories (repeatable).
    #[arg(
        long = "in",
        short = 'i',
        value_name = "PATH",
        default_value = ".",
        conflicts_with = "via"
    )]
    inputs: Vec<PathBuf>,
    /// Directory to write packages into.
    #[arg(long, short = 'o', default_value = ".", conflicts_with = "via")]
    out: PathBuf,
    #[command(flatten)]
    via: ViaArgs,
}

#[derive(Debug, Args)]
pub struct ShareArgs {
    /// The signing request file; with --via its event id (default: the newest request
    /// waiting for this home).
    #[arg(long, required_unless_present = "via")]
    request: Option<String>,
    /// Group npub (with --via).
    #[arg(long, requires = "via")]
    group: Option<String>,
    /// Which of this home's seats acts (when it holds several).
    #[arg(long)]
    member: Option<String>,
    /// Sign without asking (the request is still fully checked).
    #[arg(long)]
    yes: bool,
    /// Directory to write packages into.
    #[arg(long, short = 'o', default_value = ".", conflicts_with = "via")]
    out: PathBuf,
    #[command(flatten)]
    via: ViaArgs,
}

#[derive(Debug, Args)]
// The shared --via --force is about package files; here it only guards --output.
#[command(mut_arg("force", |a| a.help("Replace the --output file if it exists (aggregate writes no package files)")))]
pub struct AggregateArgs {
    /// The signing request file; with --via its event id.
    #[arg(long)]
    request: String,
    /// Group npub (with --via).
    #[arg(long, requires = "via")]
    group: Option<String>,
    /// Signature share files or directories (repeatable).
    #[arg(
        long = "in",
        short = 'i',
        value_name = "PATH",
        default_value = ".",
        conflicts_with = "via"
    )]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    via: ViaArgs,
    /// Use this group file instead of the home's copy (no home needed).
    #[arg(long, value_name = "FILE")]
    group_file: Option<PathBuf>,
    /// Write the signed event here instead of stdout (an existing file is kept unless
    /// --force).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
}

/// The most commitments one `sign commit` makes: enough for a long ceremony, few enough
/// that a typo (10000) is not minutes of token work and thousands of secrets at rest.
pub const MAX_COMMIT_COUNT: usize = 1000;

fn parse_count(s: &str) -> std::result::Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    if n == 0 || n > MAX_COMMIT_COUNT {
        return Err(format!(
            "must be 1 to {MAX_COMMIT_COUNT} (run sign commit again for more)"
        ));
    }
    Ok(n)
}

#[derive(Debug, Args)]
pub struct EventArgs {
    /// Group npub.
    #[arg(long)]
    group: String,
    #[command(flatten)]
    what: What,
    /// Sign without asking (the request is still fully checked).
    #[arg(long)]
    yes: bool,
    /// Write the signed event here instead of stdout (an existing file is kept unless
    /// --force).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Replace the --output file if it exists.
    #[arg(long, requires = "output")]
    force: bool,
}

#[derive(Debug, Args)]
// The shared --via --force is about package files; here it only guards --output.
#[command(mut_arg("force", |a| a.help("Replace the --output file if it exists (packages travel through --via, never as files)")))]
pub struct SignRunArgs {
    /// Group npub.
    #[arg(long)]
    group: String,
    /// Coordinate: an event template JSON to sign (`-` for stdin).
    #[arg(long, value_name = "FILE", conflicts_with = "message")]
    event: Option<PathBuf>,
    /// Coordinate: a raw 32-byte message in hex.
    #[arg(long, value_name = "HEX")]
    message: Option<String>,
    /// Coordinator: signers by name, comma-separated (default: the first t to commit).
    #[arg(long, value_delimiter = ',')]
    signers: Vec<String>,
    /// Which of this home's seats acts (when it holds several).
    #[arg(long)]
    member: Option<String>,
    /// Sign without asking (the request is still fully checked).
    #[arg(long)]
    yes: bool,
    /// Coordinator: write the signed event here instead of stdout (an existing file is
    /// kept unless --force).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
}

fn would_replace(path: &Path) -> Error {
    Error::Refused(format!(
        "{}: the file exists; pass --force to replace it",
        path.display()
    ))
}

/// `-o FILE` never replaces a file silently: checked before any work is done (so a
/// ceremony is not run for nothing), and again by the no-clobber write itself.
fn check_output(file: Option<&PathBuf>, force: bool) -> Result<()> {
    match file {
        Some(p) if p.as_os_str() != "-" && !force && p.symlink_metadata().is_ok() => {
            Err(would_replace(p))
        }
        _ => Ok(()),
    }
}

fn emit(out: &Output, signed: &sign::Signed, file: Option<&PathBuf>, force: bool) -> Result<()> {
    match file {
        Some(path) if path.as_os_str() != "-" => {
            let data = signed.stdout().unwrap_or_default() + "\n";
            crate::fsutil::write_atomic(path, data.as_bytes(), force).map_err(|e| match e {
                crate::fsutil::Error::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::AlreadyExists =>
                {
                    would_replace(path)
                }
                e => e.into(),
            })?;
            if out.json {
                out.report(signed)
            } else {
                out.note(&format!("{}\n  wrote {}", signed.human(), path.display()));
                Ok(())
            }
        }
        _ => out.report(signed),
    }
}

pub fn run(cli: &Cli, cmd: &SignCmd, out: &Output) -> Result<()> {
    match cmd {
        SignCmd::Commit(a) => {
            let home = cli.open_home()?;
            if a.discard_all {
                // Works on this home only: no transport is involved.
                return out.report(&nonce::discard_all(
                    &home,
                    a.group.as_deref(),
                    a.member.as_deref(),
                )?);
            }
            let valid_for = nonce::parse_valid_for(&a.valid_for)?;
            let g = a.group.as_deref().expect("clap requires --group");
            let group = home.find_group(g)?;
            let mut ex = a.via.exchange(&home, &group.roster, &[], &a.out)?;
            out.report(&sign::commit_for(
                &home,
                g,
                a.member.as_deref(),
                a.count,
                valid_for,
                ex.as_mut(),
            )?)
        }
        SignCmd::Request(a) => {
            let home = cli.open_home()?;
            let group = home.find_group(&a.group)?;
            let mut ex = a.via.exchange(&home, &group.roster, &a.inputs, &a.out)?;
            out.report(&sign::request(
                &home,
                &a.group,
                a.what.to_sign()?,
                &a.signers,
                ex.as_mut(),
            )?)
        }
        SignCmd::Share(a) => {
            let home = cli.open_home()?;
            let mut consent = prompt::consent(a.yes)?;
            let r = match via_group(&home, &a.via, a.group.as_deref())? {
                Some((group, mut via)) => {
                    let inputs = Exchange::inputs(&mut via, &group.roster)?;
                    let request = match &a.request {
                        Some(id) => sign_run::find_request(inputs, id)?,
                        None => {
                            sign_run::pending_request(&home, &group, inputs)?.ok_or_else(|| {
                                Error::Incomplete(
                                    "no signing request is waiting for this home yet; retry later"
                                        .into(),
                                )
                            })?
                        }
                    };
                    sign::share(&home, &request, a.member.as_deref(), &mut consent, &mut via)?
                }
                None => {
                    let path = a.request.as_deref().unwrap_or("-");
                    let request = read_package(Path::new(path), None)?;
                    let mut files = Files::out(&a.out);
                    sign::share(
                        &home,
                        &request,
                        a.member.as_deref(),
                        &mut consent,
                        &mut files,
                    )?
                }
            };
            out.report(&r)
        }
        SignCmd::Aggregate(a) => {
            check_output(a.output.as_ref(), a.via.force)?;
            let home = match &a.group_file {
                Some(_) if a.via.via.is_empty() => None,
                _ => Some(cli.open_home()?),
            };
            let signed = match &home {
                Some(h) if !a.via.via.is_empty() => {
                    let (group, mut via) = via_group(h, &a.via, a.group.as_deref())?
                        .ok_or_else(|| Error::Invalid("--via needs a URL".into()))?;
                    let inputs = Exchange::inputs(&mut via, &group.roster)?;
                    let request = sign_run::find_request(inputs, &a.request)?;
                    let group_file = group_file(a.group_file.as_deref())?;
                    let signed =
                        sign::aggregate(home.as_ref(), group_file.as_ref(), &request, &mut via);
                    via.close();
                    signed?
                }
                _ => {
                    let request = read_package(Path::new(&a.request), None)?;
                    let mut files = Files::new(&a.inputs, Path::new("."));
                    let group_file = group_file(a.group_file.as_deref())?;
                    sign::aggregate(home.as_ref(), group_file.as_ref(), &request, &mut files)?
                }
            };
            emit(out, &signed, a.output.as_ref(), a.via.force)
        }
        SignCmd::Event(a) => {
            check_output(a.output.as_ref(), a.force)?;
            let home = cli.open_home()?;
            let mut consent = prompt::consent(a.yes)?;
            let signed = sign::sign_local(&home, &a.group, a.what.to_sign()?, &mut consent)?;
            emit(out, &signed, a.output.as_ref(), a.force)
        }
        SignCmd::Run(a) => run_all(cli, a, out),
    }
}

/// With `--via`: the group (from `--group`) and a connection for its roster.
fn via_group(
    home: &crate::home::Home,
    via: &ViaArgs,
    group: Option<&str>,
) -> Result<Option<(crate::group::Group, crate::transport::Via)>> {
    if via.via.is_empty() {
        return Ok(None);
    }
    let group = match group {
        Some(g) => home.find_group(g)?,
        None => {
            return Err(Error::Invalid(
                "with --via, name the group with --group NPUB".into(),
            ))
        }
    };
    Ok(via.connect(home, &group.roster)?.map(|v| (group, v)))
}

fn run_all(cli: &Cli, a: &SignRunArgs, out: &Output) -> Result<()> {
    check_output(a.output.as_ref(), a.run.via.force)?;
    let home = cli.open_home()?;
    let group = home.find_group(&a.group)?;
    let Some(mut via) = a.run.via.connect(&home, &group.roster)? else {
        return Err(Error::Invalid(
            "`sign run` needs --via URL (a serve URL or relays)".into(),
        ));
    };
    let mut consent = prompt::consent(a.yes)?;
    let mut bar = progress(out.json);
    let opts = sign_run::RunOptions {
        group: &a.group,
        member: a.member.as_deref(),
        signers: &a.signers,
        timeout: a.run.timeout(),
    };
    let what = match (&a.event, &a.message) {
        (Some(f), _) => Some(sign::read_template(f)?),
        (_, Some(m)) => Some(ToSign::Raw(m.clone())),
        _ => None,
    };
    let r = match what {
        Some(w) => sign_run::coordinate(&home, w, &opts, &mut via, &mut consent, &mut bar),
        None => sign_run::serve_one(&home, &opts, &mut via, &mut consent, &mut bar),
    };
    drop(bar);
    via.close();
    let r = r?;
    match (&r.result, &a.output) {
        (Some(signed), Some(path)) => emit(out, signed, Some(path), a.run.via.force),
        _ => out.report(&r),
    }
}

/// The group a `--group-file` names, parsed once here.
fn group_file(path: Option<&Path>) -> Result<Option<crate::group::Group>> {
    Ok(path.map(crate::home::read_group_file).transpose()?)
}
