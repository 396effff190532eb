//! `passport keygen deal|import`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::via::ViaArgs;
use super::{Cli, Output};
use crate::error::{DkgError, Error, Result};
use crate::ops::{keygen, load_roster, read_package, Exchange};

#[derive(Debug, Subcommand)]
pub enum KeygenCmd {
    /// Deal shares to every member of a dealer roster (this home must be the dealer).
    Deal(DealArgs),
    /// Check and import the dealer share package addressed to this home.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct DealArgs {
    /// Roster with a `dealer` entry naming this home.
    #[arg(long)]
    roster: PathBuf,
    /// Split this existing nsec instead of generating a key: a file holding the nsec
    /// (or 64-hex), or `-` for stdin. Never on the command line.
    #[arg(long, value_name = "FILE")]
    split: Option<PathBuf>,
    /// Directory for the share packages and group.json (with --via: group.json only).
    #[arg(long, short = 'o', default_value = ".")]
    out: PathBuf,
    #[command(flatten)]
    via: ViaArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The roster you agreed to (compare its fingerprint out of band).
    #[arg(long)]
    roster: PathBuf,
    /// The dealer share package addressed to you (`-` for stdin).
    #[arg(required_unless_present = "via", conflicts_with = "via")]
    package: Option<PathBuf>,
    /// Which of this home's seats imports (with --via, when it holds several).
    #[arg(long)]
    member: Option<String>,
    #[command(flatten)]
    via: ViaArgs,
}

/// A secret key from a small file or stdin (`-`), in zeroizing memory.
pub(super) fn read_nsec(path: &std::path::Path) -> Result<Zeroizing<String>> {
    let bytes = crate::fsutil::read_bounded(path, 1024)
        .map_err(|e| Error::io(crate::fsutil::display(path), e))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| DkgError::NotText {
        file: crate::fsutil::display(path),
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

pub fn run(cli: &Cli, cmd: &KeygenCmd, out: &Output) -> Result<()> {
    let home = cli.open_home()?;
    match cmd {
        KeygenCmd::Deal(a) => {
            let nsec = a.split.as_deref().map(read_nsec).transpose()?;
            let roster = load_roster(&a.roster)?;
            out.warn_shared_seats(&roster);
            let mut ex = a.via.exchange(&home, &roster, &[], &a.out)?;
            out.report(&keygen::deal(&home, &roster, nsec, &a.out, ex.as_mut())?)
        }
        KeygenCmd::Import(a) => {
            let roster = load_roster(&a.roster)?;
            out.warn_shared_seats(&roster);
            let input = match (&a.package, a.via.connect(&home, &roster)?) {
                (_, Some(mut via)) => {
                    let inputs = Exchange::inputs(&mut via, &roster)?;
                    via.close();
                    keygen::find_dealt(&home, &roster, a.member.as_deref(), inputs)?
                }
                (Some(p), None) => read_package(p, Some(&roster))?,
                (None, None) => return Err(DkgError::NoPackage.into()),
            };
            out.report(&keygen::import(&home, &roster, &input)?)
        }
    }
}
