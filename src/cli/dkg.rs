//! `passport dkg round1|round2|finish|confirm`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Cli, Output};
use crate::error::Result;
use crate::ops::dkg;

#[derive(Debug, Subcommand)]
pub enum DkgCmd {
    /// Round 1: commit and write the broadcast package.
    Round1(Common),
    /// Round 2: check everyone's round-1 packages, write one encrypted package per member.
    Round2(WithInput),
    /// Derive your share and the group key; write your agreement package.
    Finish(WithInput),
    /// Check all n agreement packages; the group becomes active when they all agree.
    Confirm(ConfirmArgs),
}

#[derive(Debug, Args)]
pub struct Common {
    /// The roster everyone agreed to.
    #[arg(long)]
    roster: PathBuf,
    /// Which of this home's seats acts (when it holds several).
    #[arg(long)]
    member: Option<String>,
    /// Directory to write packages into.
    #[arg(long, short = 'o', default_value = ".")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct WithInput {
    #[command(flatten)]
    common: Common,
    /// Package files or directories to read (repeatable).
    #[arg(long = "in", short = 'i', value_name = "PATH", default_value = ".")]
    inputs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// The roster everyone agreed to.
    #[arg(long)]
    roster: PathBuf,
    /// Which of this home's seats acts (when it holds several).
    #[arg(long)]
    member: Option<String>,
    /// Package files or directories to read (repeatable).
    #[arg(long = "in", short = 'i', value_name = "PATH", default_value = ".")]
    inputs: Vec<PathBuf>,
}

pub fn run(cli: &Cli, cmd: &DkgCmd, out: &Output) -> Result<()> {
    let home = cli.open_home()?;
    let r = match cmd {
        DkgCmd::Round1(c) => dkg::round1(&home, &c.roster, c.member.as_deref(), &c.out)?,
        DkgCmd::Round2(w) => dkg::round2(
            &home,
            &w.common.roster,
            w.common.member.as_deref(),
            &w.inputs,
            &w.common.out,
        )?,
        DkgCmd::Finish(w) => dkg::finish(
            &home,
            &w.common.roster,
            w.common.member.as_deref(),
            &w.inputs,
            &w.common.out,
        )?,
        DkgCmd::Confirm(c) => dkg::confirm(&home, &c.roster, c.member.as_deref(), &c.inputs)?,
    };
    out.report(&r)
}
