//! `passport refresh round1|round2|finish|run` and `passport repair step1|step2|finish|run`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::via::{progress, PackagesIn, PackagesOut, RunArgs, ViaArgs};
use super::{Cli, Output};
use crate::error::{LifecycleError, Result};
use crate::home::Home;
use crate::ops::{lifecycle_run, refresh, repair};
use crate::transport::Lazy;

#[derive(Debug, Subcommand)]
pub enum RefreshCmd {
    /// Round 1: commit to a zero-sum refresh and write the broadcast package.
    Round1(RefreshOut),
    /// Round 2: check everyone's round-1 packages, write one encrypted package per member.
    Round2(RefreshInOut),
    /// Replace this seat's share and the group file with the refreshed ones (same npub).
    Finish(RefreshIn),
    /// Run every step through `--via`, waiting for the others; resumes after a crash.
    Run(RefreshRunArgs),
}

#[derive(Debug, Args)]
pub struct RefreshRunArgs {
    /// The group to refresh (npub, hex, or a unique prefix).
    #[arg(long)]
    group: String,
    /// 32 hex characters (128 random bits) all members agreed on for this refresh,
    /// e.g. from `openssl rand -hex 16`. Use a new one for every refresh.
    #[arg(long, value_name = "HEX")]
    refresh_id: String,
    /// Which of this home's seats acts (when it holds several).
    #[arg(long)]
    member: Option<String>,
    /// Members leaving the group at this refresh (comma separated): they take no part,
    /// get no new share, and their old share stops working. Every participant names the
    /// same ones.
    #[arg(long, value_name = "NAME,NAME,…", value_delimiter = ',')]
    without: Vec<String>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Args)]
pub struct RefreshCommon {
    /// The group to refresh (npub, hex, or a unique prefix).
    #[arg(long)]
    group: String,
    /// 32 hex characters (128 random bits) all members agreed on for this refresh,
    /// e.g. from `openssl rand -hex 16`. Use a new one for every refresh.
    #[arg(long, value_name = "HEX")]
    refresh_id: String,
    /// Which of this home's seats acts (when it holds several).
    #[arg(long)]
    member: Option<String>,
    /// Members leaving the group at this refresh (comma separated, given to round 1;
    /// later steps take it from the saved state and refuse a different list).
    #[arg(long, value_name = "NAME,NAME,…", value_delimiter = ',')]
    without: Vec<String>,
    #[command(flatten)]
    via: ViaArgs,
}

#[derive(Debug, Args)]
pub struct RefreshOut {
    #[command(flatten)]
    common: RefreshCommon,
    #[command(flatten)]
    out: PackagesOut,
}

#[derive(Debug, Args)]
pub struct RefreshInOut {
    #[command(flatten)]
    common: RefreshCommon,
    #[command(flatten)]
    inputs: PackagesIn,
    #[command(flatten)]
    out: PackagesOut,
}

#[derive(Debug, Args)]
pub struct RefreshIn {
    #[command(flatten)]
    common: RefreshCommon,
    #[command(flatten)]
    inputs: PackagesIn,
}

#[derive(Debug, Subcommand)]
pub enum RepairCmd {
    /// Helper, step 1: write one encrypted delta package per helper (itself included).
    Step1(RepairOut),
    /// Helper, step 2: sum the deltas from every helper into a sigma for the lost member.
    Step2(RepairInOut),
    /// Lost member: combine the sigmas, check the share against the group, store it.
    Finish(RepairFinish),
    /// Run this home's part through `--via`, waiting for the others; resumes after a
    /// crash. A helper runs step1 and step2; the lost member (this home holds the lost
    /// seat's npub) waits for the sigmas and finishes.
    Run(RepairRunArgs),
}

#[derive(Debug, Args)]
pub struct RepairRunArgs {
    /// The group, when this home has its group file.
    #[arg(long, required_unless_present = "group_file")]
    group: Option<String>,
    /// The group file (from any member), when the lost member's home lost it too.
    #[arg(long, value_name = "FILE")]
    group_file: Option<PathBuf>,
    /// The member whose share is being restored.
    #[arg(long, value_name = "NAME")]
    lost: String,
    /// The helpers, comma separated (at least the threshold; everyone names the same
    /// set).
    #[arg(long, value_name = "NAME,NAME,…")]
    helpers: String,
    /// Which of this home's helper seats acts (when it holds several).
    #[arg(long)]
    member: Option<String>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Args)]
pub struct RepairPlan {
    /// The group (npub, hex, or a unique prefix).
    #[arg(long)]
    group: String,
    /// The member whose share is being restored.
    #[arg(long, value_name = "NAME")]
    lost: String,
    /// The helpers, comma separated (at least the threshold; every helper names the
    /// same set).
    #[arg(long, value_name = "NAME,NAME,…")]
    helpers: String,
    /// Which of this home's seats acts (when it holds several).
    #[arg(long)]
    member: Option<String>,
    #[command(flatten)]
    via: ViaArgs,
}

#[derive(Debug, Args)]
pub struct RepairOut {
    #[command(flatten)]
    plan: RepairPlan,
    #[command(flatten)]
    out: PackagesOut,
}

#[derive(Debug, Args)]
pub struct RepairInOut {
    #[command(flatten)]
    plan: RepairPlan,
    #[command(flatten)]
    inputs: PackagesIn,
    #[command(flatten)]
    out: PackagesOut,
}

#[derive(Debug, Args)]
pub struct RepairFinish {
    /// The group, when this home still has its group file.
    #[arg(long, required_unless_present = "group_file")]
    group: Option<String>,
    /// The group file (from any member), when this home lost it too.
    #[arg(long, value_name = "FILE")]
    group_file: Option<PathBuf>,
    /// The helpers, comma separated, as they named them.
    #[arg(long, value_name = "NAME,NAME,…")]
    helpers: String,
    /// Which of this home's seats is being repaired (when it holds several).
    #[arg(long)]
    member: Option<String>,
    #[command(flatten)]
    via: ViaArgs,
    #[command(flatten)]
    inputs: PackagesIn,
}

pub fn refresh(cli: &Cli, cmd: &RefreshCmd, out: &Output) -> Result<()> {
    let home = cli.open_home()?;
    let (c, inputs, dir): (&RefreshCommon, &[PathBuf], &Path) = match cmd {
        RefreshCmd::Round1(a) => (&a.common, &[], &a.out),
        RefreshCmd::Round2(a) => (&a.common, &a.inputs, &a.out),
        RefreshCmd::Finish(a) => (&a.common, &a.inputs, Path::new(".")),
        RefreshCmd::Run(a) => return refresh_run(&home, a, out),
    };
    let mut ex = c.via.lazy(&home, inputs, dir)?;
    let (group, rid, member, w) = (&c.group, &c.refresh_id, c.member.as_deref(), &c.without);
    let r = match cmd {
        RefreshCmd::Round1(_) => refresh::round1(&home, group, rid, member, w, ex.as_mut()),
        RefreshCmd::Round2(_) => refresh::round2(&home, group, rid, member, w, ex.as_mut()),
        RefreshCmd::Finish(_) => refresh::finish(&home, group, rid, member, w, ex.as_mut()),
        RefreshCmd::Run(_) => unreachable!("handled above"),
    };
    out.report(&r?)
}

pub fn repair(cli: &Cli, cmd: &RepairCmd, out: &Output) -> Result<()> {
    let home = cli.open_home()?;
    let r = match cmd {
        RepairCmd::Run(a) => return repair_run(&home, a, out),
        RepairCmd::Step1(a) => {
            let mut ex = a.plan.via.lazy(&home, &[], &a.out)?;
            let p = &a.plan;
            repair::step1(
                &home,
                &p.group,
                &p.lost,
                &p.helpers,
                p.member.as_deref(),
                ex.as_mut(),
            )
        }
        RepairCmd::Step2(a) => {
            let mut ex = a.plan.via.lazy(&home, &a.inputs, &a.out)?;
            let p = &a.plan;
            repair::step2(
                &home,
                &p.group,
                &p.lost,
                &p.helpers,
                p.member.as_deref(),
                ex.as_mut(),
            )
        }
        RepairCmd::Finish(a) => {
            let mut ex = a.via.lazy(&home, &a.inputs, Path::new("."))?;
            repair::finish(
                &home,
                &named(a.group.as_deref(), a.group_file.as_deref())?,
                &a.helpers,
                a.member.as_deref(),
                ex.as_mut(),
            )
        }
    };
    out.report(&r?)
}

/// The group a lost member names: `--group-file` (read here), else `--group`.
fn named<'a>(group: Option<&'a str>, file: Option<&Path>) -> Result<repair::Named<'a>> {
    match (file, group) {
        (Some(f), query) => Ok(repair::Named::File {
            group: Box::new(crate::home::read_group_file(f)?),
            file: f.display().to_string(),
            query,
        }),
        (None, Some(q)) => Ok(repair::Named::Held(q)),
        (None, None) => Err(LifecycleError::NoGroup.into()),
    }
}

/// The transport of a `run` command; it connects when the first step names its roster.
fn lazy_via(home: &Home, a: &RunArgs, what: &str) -> Result<Lazy> {
    match a.via.endpoint()? {
        Some(e) => Ok(Lazy::new(e, home.identity()?.clone(), a.via.bounds()?)
            .on_connect(super::via::warn_unreachable)),
        None => Err(LifecycleError::NeedsVia {
            command: what.to_owned(),
        }
        .into()),
    }
}

fn refresh_run(home: &Home, a: &RefreshRunArgs, out: &Output) -> Result<()> {
    let mut via = lazy_via(home, &a.run, "refresh run")?;
    let mut bar = progress(out.json);
    let r = lifecycle_run::refresh(
        home,
        &a.group,
        &a.refresh_id,
        a.member.as_deref(),
        &a.without,
        &mut via,
        a.run.timeout(),
        &mut bar,
    );
    drop(bar);
    via.close();
    out.report(&r?)
}

fn repair_run(home: &Home, a: &RepairRunArgs, out: &Output) -> Result<()> {
    let mut via = lazy_via(home, &a.run, "repair run")?;
    let mut bar = progress(out.json);
    let plan = lifecycle_run::RepairRun {
        group: named(a.group.as_deref(), a.group_file.as_deref())?,
        lost: &a.lost,
        helpers: &a.helpers,
        member: a.member.as_deref(),
        timeout: a.run.timeout(),
    };
    let r = lifecycle_run::repair(home, &plan, &mut via, &mut bar);
    drop(bar);
    via.close();
    out.report(&r?)
}
