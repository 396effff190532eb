//! `passport sign commit|request|share|aggregate|event`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{prompt, Cli, Output};
use crate::error::{Error, Result};
use crate::ops::sign::{self, ToSign};
use crate::ops::Report;

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
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Group npub.
    #[arg(long)]
    group: String,
    /// Which of this home's seats commits (when it holds several).
    /// Which of this home's seats acts (when it holds several).
    #[arg(long)]
    member: Option<String>,
    /// How many commitments to preprocess.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Directory to write packages into.
    #[arg(long, short = 'o', default_value = ".")]
    out: PathBuf,
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
    #[arg(long = "in", short = 'i', value_name = "PATH", default_value = ".")]
    inputs: Vec<PathBuf>,
    /// Directory to write packages into.
    #[arg(long, short = 'o', default_value = ".")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ShareArgs {
    /// The signing request file.
    #[arg(long)]
    request: PathBuf,
    /// Which of this home's seats acts (when it holds several).
    #[arg(long)]
    member: Option<String>,
    /// Sign without asking (the request is still fully checked).
    #[arg(long)]
    yes: bool,
    /// Directory to write packages into.
    #[arg(long, short = 'o', default_value = ".")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct AggregateArgs {
    /// The signing request file.
    #[arg(long)]
    request: PathBuf,
    /// Signature share files or directories (repeatable).
    #[arg(long = "in", short = 'i', value_name = "PATH", default_value = ".")]
    inputs: Vec<PathBuf>,
    /// Use this group file instead of the home's copy (no home needed).
    #[arg(long, value_name = "FILE")]
    group_file: Option<PathBuf>,
    /// Write the signed event here instead of stdout.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
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
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
}

fn emit(out: &Output, signed: &sign::Signed, file: Option<&PathBuf>) -> Result<()> {
    match file {
        Some(path) if path.as_os_str() != "-" => {
            let data = signed.stdout().unwrap_or_default() + "\n";
            crate::fsutil::write_atomic(path, data.as_bytes(), true)?;
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
            out.report(&sign::commit(
                &home,
                &a.group,
                a.member.as_deref(),
                a.count,
                &a.out,
            )?)
        }
        SignCmd::Request(a) => {
            let home = cli.open_home()?;
            out.report(&sign::request(
                &home,
                &a.group,
                a.what.to_sign()?,
                &a.signers,
                &a.inputs,
                &a.out,
            )?)
        }
        SignCmd::Share(a) => {
            let home = cli.open_home()?;
            let mut consent = prompt::consent(a.yes)?;
            out.report(&sign::share(
                &home,
                &a.request,
                a.member.as_deref(),
                &mut consent,
                &a.out,
            )?)
        }
        SignCmd::Aggregate(a) => {
            let home = match &a.group_file {
                Some(_) => None,
                None => Some(cli.open_home()?),
            };
            let signed = sign::aggregate(
                home.as_ref(),
                a.group_file.as_deref(),
                &a.request,
                &a.inputs,
            )?;
            emit(out, &signed, a.output.as_ref())
        }
        SignCmd::Event(a) => {
            let home = cli.open_home()?;
            let mut consent = prompt::consent(a.yes)?;
            let signed = sign::sign_local(&home, &a.group, a.what.to_sign()?, &mut consent)?;
            emit(out, &signed, a.output.as_ref())
        }
    }
}
