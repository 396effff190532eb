//! `passport hsm …` and `passport audit …`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{prompt, Cli, Output};
use crate::error::{Error, Result};
use crate::hsm::{TokenSpec, TokenUri};
use crate::ops::hsm;

#[derive(Debug, Subcommand)]
pub enum HsmCmd {
    /// List a module's tokens, the mechanisms passport needs, and whether passport keys exist.
    List,
    /// Create the seal key (AES-256) and attestation key (P-256) in a token; every
    /// attribute is set explicitly and read back.
    Init(TokenArg),
    /// Write an attestation statement signed by the token's attestation key.
    Attest(AttestArgs),
    /// Check an attestation statement: signatures, challenge, expectations.
    VerifyAttestation(VerifyAttestationArgs),
    /// Move this home's secrets into a token (from files or another token), verifying each.
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct TokenArg {
    /// The token, as a PKCS#11 URI: pkcs11:token=LABEL or pkcs11:serial=SERIAL.
    #[arg(long, value_name = "PKCS11_URI")]
    token: String,
}

#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The verifier's fresh random challenge, hex.
    #[arg(long, value_name = "HEX")]
    challenge: String,
    /// Write the statement here instead of stdout.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyAttestationArgs {
    /// The statement file (`-` for stdin).
    file: PathBuf,
    /// The challenge you sent.
    #[arg(long, value_name = "HEX")]
    challenge: String,
    /// Require a protected share of this group.
    #[arg(long, value_name = "NPUB")]
    expect_group: Option<String>,
    /// Require the statement to be bound to this member identity.
    #[arg(long, value_name = "NPUB")]
    expect_member: Option<String>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The target token (PKCS#11 URI).
    #[arg(long, value_name = "PKCS11_URI")]
    to: String,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain of this home's audit log.
    Verify,
}

/// A token spec from a URI and the global module option.
pub fn spec(cli: &Cli, uri: &str) -> Result<TokenSpec> {
    Ok(TokenSpec::new(
        TokenUri::parse(uri)?,
        cli.pkcs11_module.clone(),
    )?)
}

pub fn run(cli: &Cli, cmd: &HsmCmd, out: &Output) -> Result<()> {
    match cmd {
        HsmCmd::List => {
            let module = cli
                .pkcs11_module
                .clone()
                .ok_or(crate::hsm::Error::NoModule)?;
            out.report(&hsm::list(&module)?)
        }
        HsmCmd::Init(t) => {
            let spec = spec(cli, &t.token)?;
            let home = cli.open_home().ok();
            let log = home.as_ref().map(|h| crate::home::audit_log(&h.root));
            out.report(&hsm::init(&spec, &prompt::pin_source(), log.as_ref())?)
        }
        HsmCmd::Attest(a) => {
            let home = cli.open_home()?;
            let statement = hsm::attest(&home, &a.challenge)?;
            match &a.output {
                Some(p) if p.as_os_str() != "-" => {
                    let text = serde_json::to_string_pretty(&statement).expect("statement") + "\n";
                    crate::fsutil::write_atomic(p, text.as_bytes(), true)?;
                    if out.json {
                        out.report(&statement)
                    } else {
                        out.note(&format!(
                            "{}\n  wrote {}",
                            crate::ops::Report::human(&statement),
                            p.display()
                        ));
                        Ok(())
                    }
                }
                _ => out.report(&statement),
            }
        }
        HsmCmd::VerifyAttestation(a) => {
            let bytes = crate::ops::read_source(&a.file)?;
            let v = crate::hsm::attest::verify(
                &bytes,
                &a.challenge,
                a.expect_group.as_deref(),
                a.expect_member.as_deref(),
            )
            .map_err(|e| match e {
                Error::Rejected(m) => Error::Rejected(format!("{}: {m}", a.file.display())),
                other => other,
            })?;
            out.report(&v)
        }
        HsmCmd::Migrate(m) => {
            let home = cli.open_home()?;
            let target = spec(cli, &m.to)?;
            out.report(&hsm::migrate(&home, &target, prompt::pin_source())?)
        }
    }
}

pub fn audit(cli: &Cli, cmd: &AuditCmd, out: &Output) -> Result<()> {
    match cmd {
        AuditCmd::Verify => out.report(&hsm::audit_verify(&cli.home_path())?),
    }
}
