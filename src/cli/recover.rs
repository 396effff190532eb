//! `passport recover-nsec`: guarded; consent is typed, or given by an explicit flag.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

use super::{Cli, Output};
use crate::error::{Error, Result};
use crate::ops::recover::{self, Output as KeyOut};

const PHRASE: &str = "end threshold custody";

#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// Group npub.
    #[arg(long)]
    group: String,
    /// New file for the key (created 0600; an existing file is refused), or `-` for
    /// stdout when it is a pipe (never a terminal).
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Write a NIP-49 ncryptsec instead of a plain nsec (passphrase from
    /// PASSPORT_NCRYPTSEC_PASSPHRASE or a prompt).
    #[arg(long)]
    ncryptsec: bool,
    /// Skip the typed confirmation (for scripted exits). Dangerous: the whole key will
    /// exist in one place.
    #[arg(long = "i-understand-this-ends-threshold-custody")]
    danger: bool,
}

fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn consent(a: &RecoverArgs) -> Result<()> {
    if a.danger {
        return Ok(());
    }
    if !interactive() {
        return Err(Error::Refused(
            "recover-nsec reassembles the whole key; confirm in a terminal or pass --i-understand-this-ends-threshold-custody".into(),
        ));
    }
    eprintln!(
        "This reconstructs the single secret key of {} from t shares.",
        a.group
    );
    eprintln!("Afterwards the key no longer needs a threshold: whoever holds the file can sign.");
    let typed: String = dialoguer::Input::new()
        .with_prompt(format!("Type \"{PHRASE}\" to continue"))
        .allow_empty(true)
        .interact_text()
        .map_err(|e| Error::Invalid(e.to_string()))?;
    if typed.trim() != PHRASE {
        return Err(Error::Refused(
            "not confirmed; nothing was reconstructed".into(),
        ));
    }
    Ok(())
}

fn ncryptsec_passphrase() -> Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var("PASSPORT_NCRYPTSEC_PASSPHRASE") {
        if p.is_empty() {
            return Err(Error::Invalid(
                "PASSPORT_NCRYPTSEC_PASSPHRASE is empty".into(),
            ));
        }
        return Ok(Zeroizing::new(p));
    }
    if !interactive() {
        return Err(Error::Invalid(
            "no ncryptsec passphrase: set PASSPORT_NCRYPTSEC_PASSPHRASE or run in a terminal"
                .into(),
        ));
    }
    dialoguer::Password::new()
        .with_prompt("ncryptsec passphrase")
        .with_confirmation("Repeat passphrase", "the passphrases differ")
        .interact()
        .map(Zeroizing::new)
        .map_err(|e| Error::Invalid(e.to_string()))
}

pub fn run(cli: &Cli, a: &RecoverArgs, out: &Output) -> Result<()> {
    let to_stdout = a.output.as_os_str() == "-";
    if to_stdout {
        if out.json {
            return Err(Error::Invalid(
                "-o - writes the key to stdout, which --json uses for its report; use one of them"
                    .into(),
            ));
        }
        if std::io::stdout().is_terminal() {
            return Err(Error::Refused(
                "refusing to print the secret key to a terminal; pipe it (-o - | …) or name a new file with -o".into(),
            ));
        }
    }
    let home = cli.open_home()?;
    consent(a)?;
    let key_out = if a.ncryptsec {
        KeyOut::Ncryptsec(ncryptsec_passphrase()?)
    } else {
        KeyOut::Nsec
    };
    let mut stdout = std::io::stdout().lock();
    let sink = if to_stdout {
        recover::Sink::Stream(&mut stdout)
    } else {
        recover::Sink::File(&a.output)
    };
    let report = recover::recover(&home, &a.group, key_out, sink)?;
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
