//! `passport refresh round1|round2|finish` and `passport repair step1|step2|finish`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Cli, Output};
use crate::error::Result;
use crate::ops::{refresh, repair};

#[derive(Debug, Subcommand)]
pub enum RefreshCmd {
    /// Round 1: commit to a zero-sum refresh and write the broadcast package.
    Round1(RefreshOut),
    /// Round 2: check everyone's round-1 packages, write one encrypted package per member.
    Round2(RefreshInOut),
    /// Replace this seat's share and the group file with the refreshed ones (same npub).
    Finish(RefreshIn),
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
}

#[derive(Debug, Args)]
pub struct RefreshOut {
    #[command(flatten)]
    common: RefreshCommon,
    /// Directory to write packages into.
    #[arg(long, short = 'o', default_value = ".")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RefreshInOut {
    #[command(flatten)]
    common: RefreshCommon,
    /// Package files or directories to read (repeatable).
    #[arg(long = "in", short = 'i', value_name = "PATH", default_value = ".")]
    inputs: Vec<PathBuf>,
    /// Directory to write packages into.
    #[arg(long, short = 'o', default_value = ".")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RefreshIn {
    #[command(flatten)]
    common: RefreshCommon,
    /// Package files or directories to read (repeatable).
    #[arg(long = "in", short = 'i', value_name = "PATH", default_value = ".")]
    inputs: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RepairCmd {
    /// Helper, step 1: write one encrypted delta package per helper (itself included).
    Step1(RepairOut),
    /// Helper, step 2: sum the deltas from every helper into a sigma for the lost member.
    Step2(RepairInOut),
    /// Lost member: combine the sigmas, check the share against the group, store it.
    Finish(RepairFinish),
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
}

#[derive(Debug, Args)]
pub struct RepairOut {
    #[command(flatten)]
    plan: RepairPlan,
    /// Directory to write packages into.
    #[arg(long, short = 'o', default_value = ".")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RepairInOut {
    #[command(flatten)]
    plan: RepairPlan,
    /// Package files or directories to read (repeatable).
    #[arg(long = "in", short = 'i', value_name = "PATH", default_value = ".")]
    inputs: Vec<PathBuf>,
    /// Directory to write packages into.
    #[arg(long, short = 'o', default_value = ".")]
    out: PathBuf,
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
    /// Package files or directories to read (repeatable).
    #[arg(long = "in", short = 'i', value_name = "PATH", default_value = ".")]
    inputs: Vec<PathBuf>,
}

pub fn refresh(cli: &Cli, cmd: &RefreshCmd, out: &Output) -> Result<()> {
    let home = cli.open_home()?;
    let r = match cmd {
        RefreshCmd::Round1(a) => refresh::round1(
            &home,
            &a.common.group,
            &a.common.refresh_id,
            a.common.member.as_deref(),
            &a.out,
        )?,
        RefreshCmd::Round2(a) => refresh::round2(
            &home,
            &a.common.group,
            &a.common.refresh_id,
            a.common.member.as_deref(),
            &a.inputs,
            &a.out,
        )?,
        RefreshCmd::Finish(a) => refresh::finish(
            &home,
            &a.common.group,
            &a.common.refresh_id,
            a.common.member.as_deref(),
            &a.inputs,
        )?,
    };
    out.report(&r)
}

pub fn repair(cli: &Cli, cmd: &RepairCmd, out: &Output) -> Result<()> {
    let home = cli.open_home()?;
    let r = match cmd {
        RepairCmd::Step1(a) => repair::step1(
            &home,
            &a.plan.group,
            &a.plan.lost,
            &a.plan.helpers,
            a.plan.member.as_deref(),
            &a.out,
        )?,
        RepairCmd::Step2(a) => repair::step2(
            &home,
            &a.plan.group,
            &a.plan.lost,
            &a.plan.helpers,
            a.plan.member.as_deref(),
            &a.inputs,
            &a.out,
        )?,
        RepairCmd::Finish(a) => repair::finish(
            &home,
            a.group.as_deref(),
            a.group_file.as_deref(),
            &a.helpers,
            a.member.as_deref(),
            &a.inputs,
        )?,
    };
    out.report(&r)
}
