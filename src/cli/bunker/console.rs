//! `passport bunker console`: a one-time login link to the approval pages that the
//! running `passport serve --relay` serves under `/console` ([`crate::bunker::console`]).
//! The link's token is stored hashed; the printed link is its only copy.

use clap::Args;
use serde::Serialize;

use super::{shown, with_db, DbArg};
use crate::bunker::{self, console, listening};
use crate::cli::{Cli, Output};
use crate::error::Result;
use crate::ops::Report;

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Also draw the login link as a QR code on stderr (a phone scans it).
    #[arg(long)]
    qr: bool,
    #[command(flatten)]
    db: DbArg,
}

#[derive(Serialize)]
struct Login {
    url: String,
    /// Unix seconds after which the unused link stops working.
    expires_at: u64,
    expires: String,
    /// How long the session it opens lasts, in seconds.
    session_secs: u64,
    #[serde(skip)]
    now: u64,
}

impl Report for Login {
    fn human(&self) -> String {
        format!(
            "a login link to the bunker's approval console (works once, until {}; \
             it opens a session of {}):",
            shown::when(self.expires_at, self.now),
            crate::clock::span(self.session_secs),
        )
    }
    fn stdout(&self) -> Option<String> {
        Some(self.url.clone())
    }
}

pub fn run(cli: &Cli, a: &ConsoleArgs, out: &Output, now: u64) -> Result<()> {
    // The console is the running serve's: its address is in the bunker's record.
    let base = listening::read(&super::db_path(cli, &a.db))
        .filter(listening::Listening::running)
        .and_then(|l| l.url)
        .ok_or(bunker::Error::ConsoleUnknown)?;
    let (token, expires_at) = with_db(cli, &a.db, move |c| console::login::new_login(c, now))?;
    let report = Login {
        url: format!("{}/console/login?token={token}", base.trim_end_matches('/')),
        expires_at,
        expires: crate::clock::date(expires_at),
        session_secs: console::login::SESSION_LIFETIME,
        now,
    };
    out.report(&report)?;
    if a.qr {
        // On stderr, like `bunker invite --qr`: stdout stays the link (or the JSON).
        eprintln!("{}", crate::cli::qr::qr(&report.url)?);
    }
    Ok(())
}
