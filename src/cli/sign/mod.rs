//! `passport sign commit|request|share|aggregate|event`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::via::{progress, PackagesIn, PackagesOut, RunArgs, ViaArgs};
use super::{prompt, Cli, Output};
use crate::error::{Error, Result, SignError};
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
            _ => Err(SignError::NoMessage.into()),
        }
    }
}

#[derive(Debug, Args)]
#[command(mut_arg("inputs", |a| a.help("Commitment package files or directories (repeatable)")))]
pub struct RequestArgs {
    /// Group npub.
    #[arg(long)]
    group: String,
    #[command(flatten)]
    what: What,
    /// Signers by name, comma-separated (default: the first t with unused commitments).
    #[arg(long, value_delimiter = ',')]
    signers: Vec<String>,
    #[command(flatten)]
    inputs: PackagesIn,
    #[command(flatten)]
    out: PackagesOut,
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
    #[command(flatten)]
    out: PackagesOut,
    #[command(flatten)]
    via: ViaArgs,
}

#[derive(Debug, Args)]
// The shared --via --force is about package files; here it only guards --output.
#[command(mut_arg("force", |a| a.help("Replace the --output file if it exists (aggregate writes no package files)")))]
#[command(mut_arg("inputs", |a| a.help("Signature share files or directories (repeatable)")))]
pub struct AggregateArgs {
    /// The signing request file; with --via its event id.
    #[arg(long)]
    request: String,
    /// Group npub (with --via).
    #[arg(long, requires = "via")]
    group: Option<String>,
    #[command(flatten)]
    inputs: PackagesIn,
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

mod run;
pub use run::run;
