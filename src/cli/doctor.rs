//! `passport doctor`: the CLI half (whether unlocking may prompt, the exit status).

use std::io::IsTerminal;

use clap::Args;

use super::{prompt, Cli, Output};
use crate::error::Result;
use crate::home::{KeystoreConfig, OpenUnlock};
use crate::ops::doctor::{self, Unlock};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Do not unlock the keystore: check only that shares are present, not that they open.
    #[arg(long)]
    no_unlock: bool,
}

/// Whether unlocking this home can succeed without blocking on a prompt nobody sees.
fn unlock_plan(cli: &Cli, a: &DoctorArgs) -> Unlock {
    if a.no_unlock {
        return Unlock::Skip("--no-unlock".into());
    }
    let root = cli.home_path();
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let config: Option<crate::home::Config> = std::fs::read(root.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    match config.map(|c| c.keystore) {
        Some(KeystoreConfig::Passphrase { .. }) => {
            let agent = crate::agent::socket_path(&root).exists();
            if cli.age_identity.is_some()
                || agent
                || cli.passphrase_file.is_some()
                || std::env::var_os("PASSPORT_PASSPHRASE").is_some()
                || terminal
            {
                Unlock::Try
            } else {
                Unlock::Skip(
                    "no passphrase without a prompt: set PASSPORT_PASSPHRASE, pass --passphrase-file, `passport unlock`, or run on a terminal".into(),
                )
            }
        }
        Some(KeystoreConfig::Pkcs11 { uri, .. }) => {
            if std::env::var_os("PASSPORT_PKCS11_PIN").is_some()
                || uri.contains("pin-source")
                || terminal
            {
                Unlock::Try
            } else {
                Unlock::Skip(
                    "no token PIN without a prompt: set PASSPORT_PKCS11_PIN or run on a terminal"
                        .into(),
                )
            }
        }
        _ => Unlock::Try,
    }
}

pub fn run(cli: &Cli, a: &DoctorArgs, out: &Output) -> Result<()> {
    let plan = unlock_plan(cli, a);
    let open = OpenUnlock {
        passphrase: prompt::passphrase_source(cli.passphrase_file.clone()),
        identity_file: cli.age_identity.clone(),
        pin: prompt::pin_source(),
        module: cli.pkcs11_module.clone(),
    };
    let report = doctor::run(&cli.home_path(), open, plan);
    out.report(&report)?;
    if !report.healthy {
        // The report is the output (one JSON object with --json); only the status says
        // that something failed, so no second error object is printed.
        std::process::exit(crate::error::exit::FAILURE);
    }
    Ok(())
}
