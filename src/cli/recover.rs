//! `passport recover-nsec`: guarded; consent is typed, or given by an explicit flag.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::{Cli, Output};
use crate::error::{LifecycleError, Result};
use crate::ops::handover;
use crate::ops::recover::{self, Output as KeyOut};

const PHRASE: &str = "end threshold custody";
const DANGER: &str = "--i-understand-this-ends-threshold-custody";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RecoverArgs {
    #[command(subcommand)]
    sub: Option<RecoverSub>,
    /// Group npub.
    #[arg(long, required = true)]
    group: Option<String>,
    /// New file for the key (created 0600; an existing file is refused), or `-` for
    /// stdout when it is a pipe (never a terminal).
    #[arg(long, short = 'o', required = true)]
    output: Option<PathBuf>,
    /// Share hand-over packages from other members (`recover-nsec send-share`), files or
    /// directories; used in memory with this home's own shares, never stored.
    #[arg(long = "share", value_name = "FILE")]
    shares: Vec<PathBuf>,
    /// Write a NIP-49 ncryptsec instead of a plain nsec (passphrase from
    /// PASSPORT_NCRYPTSEC_PASSPHRASE or a prompt).
    #[arg(long)]
    ncryptsec: bool,
    /// Skip the typed confirmation (for scripted exits). Dangerous: the whole key will
    /// exist in one place.
    #[arg(long = "i-understand-this-ends-threshold-custody")]
    danger: bool,
}

#[derive(Debug, Subcommand)]
pub enum RecoverSub {
    /// Hand this home's share to the member who will run recover-nsec: a package
    /// signed by this home, NIP-44 encrypted to that member (typed confirmation).
    SendShare(SendShareArgs),
}

#[derive(Debug, Args)]
pub struct SendShareArgs {
    /// Group npub.
    #[arg(long)]
    group: String,
    /// The recovering member: roster name or npub.
    #[arg(long, value_name = "MEMBER")]
    to: String,
    /// Which of this home's seats gives its share, when it holds several.
    #[arg(long, value_name = "NAME")]
    member: Option<String>,
    /// Directory for the package (named handover-FROM-to-TO-CEREMONY.json).
    #[arg(long, default_value = ".", value_name = "DIR")]
    out: PathBuf,
    /// Replace a package file of the same name with other content.
    #[arg(long)]
    force: bool,
    /// Skip the typed confirmation (scripted hand-over). Dangerous: the recipient can
    /// reconstruct the whole key once it holds t shares.
    #[arg(long = "i-understand-this-ends-threshold-custody")]
    danger: bool,
}

fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// A typed phrase, or the explicit flag; never a bare y/n for giving up custody.
pub(super) fn consent(danger: bool, what: &[String], phrase: &str, flag: &str) -> Result<()> {
    if danger {
        return Ok(());
    }
    if !interactive() {
        return Err(LifecycleError::NotConfirmable {
            flag: flag.to_owned(),
            what: what.first().cloned().unwrap_or_default(),
        }
        .into());
    }
    for line in what {
        eprintln!("{line}");
    }
    let typed: String = dialoguer::Input::new()
        .with_prompt(format!("Type \"{phrase}\" to continue"))
        .allow_empty(true)
        .interact_text()
        .map_err(|e| LifecycleError::Prompt {
            reason: e.to_string(),
        })?;
    if typed.trim() != phrase {
        return Err(LifecycleError::NotConfirmed.into());
    }
    Ok(())
}

/// The ncryptsec passphrase: asked twice when making one (`confirm`), once to open one.
pub(super) fn ncryptsec_passphrase(confirm: bool) -> Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var("PASSPORT_NCRYPTSEC_PASSPHRASE") {
        if p.is_empty() {
            return Err(LifecycleError::EmptyPassphraseEnv.into());
        }
        return Ok(Zeroizing::new(p));
    }
    if !interactive() {
        return Err(LifecycleError::NoPassphrase.into());
    }
    let p = dialoguer::Password::new().with_prompt("ncryptsec passphrase");
    let p = if confirm {
        p.with_confirmation("Repeat passphrase", "the passphrases differ")
    } else {
        p
    };
    p.interact().map(Zeroizing::new).map_err(|e| {
        LifecycleError::Prompt {
            reason: e.to_string(),
        }
        .into()
    })
}

pub fn run(cli: &Cli, a: &RecoverArgs, out: &Output) -> Result<()> {
    if let Some(RecoverSub::SendShare(s)) = &a.sub {
        return send_share(cli, s, out);
    }
    let (Some(group), Some(output)) = (&a.group, &a.output) else {
        unreachable!("clap requires --group and -o without a subcommand");
    };
    let to_stdout = output.as_os_str() == "-";
    if to_stdout {
        if out.json {
            return Err(LifecycleError::KeyToStdoutAndJson.into());
        }
        if std::io::stdout().is_terminal() {
            return Err(LifecycleError::KeyToTerminal.into());
        }
    }
    let home = cli.open_home()?;
    let shares = recover::gather(&home, group, &a.shares)?;
    consent(
        a.danger,
        &[
            format!(
                "This reconstructs the single secret key of {} from t shares: {}.",
                shares.group.npub,
                shares.sources().join(", ")
            ),
            "Afterwards the key no longer needs a threshold: whoever holds the file can sign."
                .into(),
        ],
        PHRASE,
        DANGER,
    )?;
    let key_out = if a.ncryptsec {
        KeyOut::Ncryptsec(ncryptsec_passphrase(true)?)
    } else {
        KeyOut::Nsec
    };
    let mut stdout = std::io::stdout().lock();
    let sink = if to_stdout {
        recover::Sink::Stream(&mut stdout)
    } else {
        recover::Sink::File(output)
    };
    let report = recover::recover(&home, shares, key_out, sink)?;
    // Loud even with --json: this is the one irreversible operation.
    if out.json {
        eprintln!(
            "passport: WARNING: the secret key of {} was reconstructed into {}",
            report.group,
            report.file.display()
        );
    }
    out.report(&report)
}

const GIVE_PHRASE: &str = "hand over my share";

fn send_share(cli: &Cli, a: &SendShareArgs, out: &Output) -> Result<()> {
    let home = cli.open_home()?;
    let plan = handover::plan(&home, &a.group, &a.to, a.member.as_deref())?;
    let r = &plan.group.roster;
    let to = r.name(plan.to.1);
    consent(
        a.danger,
        &[
            format!(
                "This gives {}'s share of {} to {to} ({}).",
                r.name(plan.seat),
                plan.group.npub,
                crate::envelope::short_npub(&plan.to.0)
            ),
            format!(
                "With {} shares, {to} can reconstruct the whole key and sign alone: only do this to end threshold custody.",
                r.threshold
            ),
        ],
        GIVE_PHRASE,
        DANGER,
    )?;
    let report = handover::send(&home, &plan, &a.out, a.force)?;
    out.report(&report)
}
