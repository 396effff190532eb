//! `passport man`: one page per (nested) command, rendered by clap_mangen.

use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};

use super::Cli;
use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into.
    #[arg(long, default_value = "man")]
    pub out: PathBuf,
}

pub fn man(a: &ManArgs) -> Result<()> {
    write_man_pages(&a.out)
}

/// Renders `passport.1` and one page per (nested) subcommand, e.g. `passport-sign-share.1`.
pub fn write_man_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut cmd = Cli::command();
    cmd.build();
    render(&cmd, "passport", dir)
}

fn render(cmd: &clap::Command, name: &str, dir: &Path) -> Result<()> {
    if cmd.is_hide_set() {
        return Ok(());
    }
    let page = cmd.clone().name(name.to_owned());
    let mut buf = vec![];
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .map_err(|e| Error::io(dir, e))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buf).map_err(|e| Error::io(&path, e))?;
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        render(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
