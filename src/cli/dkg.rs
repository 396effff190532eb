//! `passport dkg round1|round2|finish|confirm|run`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::via::{busy, progress, PackagesIn, PackagesOut, RunArgs, ViaArgs};
use super::{Cli, Output};
use crate::ceremony::Roster;
use crate::error::{DkgError, Result};
use crate::home::Home;
use crate::ops::{dkg, load_roster};

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
    /// Run every round through `--via`, waiting for the others; resumes after a crash.
    Run(DkgRunArgs),
}

#[derive(Debug, Args)]
pub struct Common {
    /// The roster everyone agreed to.
    #[arg(long)]
    roster: PathBuf,
    /// Which of this home's seats acts (when it holds several).
    #[arg(long)]
    member: Option<String>,
    #[command(flatten)]
    out: PackagesOut,
    #[command(flatten)]
    via: ViaArgs,
}

#[derive(Debug, Args)]
pub struct WithInput {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    inputs: PackagesIn,
}

#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// The roster everyone agreed to.
    #[arg(long)]
    roster: PathBuf,
    /// Which of this home's seats acts (when it holds several).
    #[arg(long)]
    member: Option<String>,
    #[command(flatten)]
    inputs: PackagesIn,
    #[command(flatten)]
    via: ViaArgs,
}

#[derive(Debug, Args)]
pub struct DkgRunArgs {
    /// The roster everyone agreed to.
    #[arg(long)]
    roster: PathBuf,
    /// Which of this home's seats acts (when it holds several).
    #[arg(long)]
    member: Option<String>,
    #[command(flatten)]
    run: RunArgs,
}

pub fn run(cli: &Cli, cmd: &DkgCmd, out: &Output) -> Result<()> {
    let home = cli.open_home()?;
    let r = match cmd {
        DkgCmd::Round1(c) => {
            let roster = load_roster(&c.roster)?;
            out.warn_shared_seats(&roster);
            let mut ex = c.via.exchange(&home, &roster, &[], &c.out)?;
            dkg::round1(&home, &roster, c.member.as_deref(), ex.as_mut())?
        }
        DkgCmd::Round2(w) => {
            let c = &w.common;
            let roster = load_roster(&c.roster)?;
            let mut ex = c.via.exchange(&home, &roster, &w.inputs, &c.out)?;
            let _busy = long(
                &roster,
                out,
                "checking the round-1 packages, making the shares",
            );
            dkg::round2(&home, &roster, c.member.as_deref(), ex.as_mut())?
        }
        DkgCmd::Finish(w) => {
            let c = &w.common;
            let roster = load_roster(&c.roster)?;
            let mut ex = c.via.exchange(&home, &roster, &w.inputs, &c.out)?;
            let _busy = long(&roster, out, "checking the shares, computing the group key");
            dkg::finish(&home, &roster, c.member.as_deref(), ex.as_mut())?
        }
        DkgCmd::Confirm(c) => {
            let roster = load_roster(&c.roster)?;
            let mut ex = c.via.exchange(&home, &roster, &c.inputs, Path::new("."))?;
            dkg::confirm(&home, &roster, c.member.as_deref(), ex.as_mut())?
        }
        DkgCmd::Run(a) => return run_all(&home, a, out),
    };
    out.report(&r)
}

/// From this many members a DKG step takes long enough to say so: part 3 checks n-1
/// shares against degree-(t-1) commitments and derives n verifying shares, O(n t) scalar
/// multiplications (n = 100: about a second on a fast core, more on a small board).
const LONG_DKG: u16 = 30;

/// A [`busy`] indicator for `what` when the ceremony is large.
fn long(roster: &Roster, out: &Output, what: &str) -> Option<impl Drop> {
    (roster.n() >= LONG_DKG).then(|| {
        busy(
            out.json,
            &format!("{what} (n = {}, t = {})…", roster.n(), roster.threshold),
        )
    })
}

fn run_all(home: &Home, a: &DkgRunArgs, out: &Output) -> Result<()> {
    let roster = load_roster(&a.roster)?;
    out.warn_shared_seats(&roster);
    let Some(mut via) = a.run.via.connect(home, &roster)? else {
        return Err(DkgError::RunNeedsVia.into());
    };
    let mut bar = progress(out.json);
    let r = dkg::run(
        home,
        &roster,
        a.member.as_deref(),
        &mut via,
        a.run.timeout(),
        &mut bar,
    );
    drop(bar);
    via.close();
    out.report(&r?)
}
