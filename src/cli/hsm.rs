//! `passport hsm …` and `passport audit …`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{prompt, Cli, Output};
use crate::error::{Error, Result, TokenError};
use crate::hsm::{TokenSpec, TokenUri};
use crate::ops::hsm;

#[derive(Debug, Subcommand)]
pub enum HsmCmd {
    /// List a module's tokens, the mechanisms passport needs, and whether passport keys exist.
    List,
    /// Create the seal key and attestation key (P-256) in a token, or adopt a seal key
    /// made with the token's own tool; every attribute is set explicitly and read back.
    Init(InitArgs),
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
pub struct InitArgs {
    #[command(flatten)]
    token: TokenArg,
    /// How the token derives sealing keys: aes-ecb-rfc8452 or hmac-sha256-sp800-108
    /// (default: AES-ECB where the token offers it, else HMAC-SHA256).
    #[arg(long, value_name = "SCHEME", value_parser = parse_scheme)]
    scheme: Option<crate::hsm::kdf::Scheme>,
    /// Make a format-v1 seal key (on-token AES-GCM) as passport 0.1 did; for
    /// compatibility tests of `hsm migrate`.
    #[arg(long, hide = true, conflicts_with = "scheme")]
    legacy_aes_gcm: bool,
}

fn parse_scheme(s: &str) -> std::result::Result<crate::hsm::kdf::Scheme, String> {
    crate::hsm::kdf::Scheme::parse(s)
        .ok_or_else(|| "expected aes-ecb-rfc8452 or hmac-sha256-sp800-108".to_owned())
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
    /// The target token (PKCS#11 URI); default: the home's own token, to rewrite
    /// format-v1 blobs in format v2.
    #[arg(long, value_name = "PKCS11_URI")]
    to: Option<String>,
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
        HsmCmd::Init(a) => {
            let spec = spec(cli, &a.token.token)?;
            let home = cli.open_home().ok();
            let log = home.as_ref().map(|h| crate::home::audit_log(&h.root));
            let opts = hsm::InitOptions {
                scheme: a.scheme,
                legacy: a.legacy_aes_gcm,
            };
            out.report(&hsm::init(
                &spec,
                &prompt::pin_source(),
                log.as_ref(),
                opts,
            )?)
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
            .map_err(|e| -> Error {
                match e {
                    crate::hsm::Error::BadStatement(reason) => TokenError::BadStatement {
                        path: a.file.clone(),
                        reason,
                    }
                    .into(),
                    other => other.into(),
                }
            })?;
            out.report(&v)
        }
        HsmCmd::Migrate(m) => {
            let home = cli.open_home()?;
            let target = match (&m.to, &home.config.keystore) {
                (Some(uri), _) => spec(cli, uri)?,
                (None, crate::home::KeystoreConfig::Pkcs11 { uri, module, .. }) => TokenSpec::new(
                    TokenUri::parse(uri)?,
                    Some(cli.pkcs11_module.clone().unwrap_or_else(|| module.clone())),
                )?,
                (None, _) => return Err(TokenError::MigrateNeedsTarget.into()),
            };
            out.report(&hsm::migrate(&home, &target, prompt::pin_source())?)
        }
    }
}

pub fn audit(cli: &Cli, cmd: &AuditCmd, out: &Output) -> Result<()> {
    match cmd {
        AuditCmd::Verify => out.report(&hsm::audit_verify(&cli.home_path())?),
    }
}
