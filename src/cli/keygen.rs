//! `passport keygen deal|import`.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::{Cli, Output};
use crate::error::{Error, Result};
use crate::ops::keygen;

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
    /// Directory for the share packages and group.json.
    #[arg(long, short = 'o', default_value = ".")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The roster you agreed to (compare its fingerprint out of band).
    #[arg(long)]
    roster: PathBuf,
    /// The dealer share package addressed to you (`-` for stdin).
    package: PathBuf,
}

fn read_nsec(path: &PathBuf) -> Result<Zeroizing<String>> {
    let mut s = Zeroizing::new(String::new());
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(1024)
            .read_to_string(&mut s)
            .map_err(|e| Error::io("<stdin>", e))?;
    } else {
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        f.by_ref()
            .take(1024)
            .read_to_string(&mut s)
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(s)
}

pub fn run(cli: &Cli, cmd: &KeygenCmd, out: &Output) -> Result<()> {
    let home = cli.open_home()?;
    match cmd {
        KeygenCmd::Deal(a) => {
            let nsec = a.split.as_ref().map(read_nsec).transpose()?;
            out.report(&keygen::deal(&home, &a.roster, nsec, &a.out)?)
        }
        KeygenCmd::Import(a) => out.report(&keygen::import(&home, &a.roster, &a.package)?),
    }
}
