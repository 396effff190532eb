//! Passphrases and consent: from the environment, a file, or the terminal; never argv.

use std::io::IsTerminal;
use std::path::PathBuf;

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use crate::error::{OperatorError, Result};
use crate::keystore::file::PassphraseSource;
use crate::ops::sign::Summary;

fn from_file(path: &std::path::Path) -> std::result::Result<SecretString, OperatorError> {
    let line =
        crate::fsutil::read_secret_line(path).map_err(|source| OperatorError::PassphraseFile {
            path: path.into(),
            source,
        })?;
    if line.is_empty() {
        return Err(OperatorError::PassphraseFileEmpty { path: path.into() });
    }
    Ok(SecretString::from(line.as_str().to_owned()))
}

fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Where an existing keystore's passphrase comes from, asked only when needed.
pub fn passphrase_source(file: Option<PathBuf>) -> PassphraseSource {
    Box::new(move || {
        let pass = if let Ok(p) = std::env::var("PASSPORT_PASSPHRASE") {
            SecretString::from(p)
        } else if let Some(f) = &file {
            from_file(f).map_err(|e| e.to_string())?
        } else if interactive() {
            dialoguer::Password::new()
                .with_prompt("Keystore passphrase")
                .interact()
                .map(SecretString::from)
                .map_err(|e| e.to_string())?
        } else {
            return Err(
                "no passphrase: set PASSPORT_PASSPHRASE, pass --passphrase-file, or run in a terminal"
                    .into(),
            );
        };
        // scrypt takes seconds; say so rather than sit silent (the caller derives the key
        // right after this returns). Only on a terminal: scripts read one line per error.
        if std::io::stderr().is_terminal() {
            eprintln!("passport: unlocking the keystore (scrypt, a few seconds)…");
        }
        Ok(pass)
    })
}

/// Where a token's user PIN comes from: `PASSPORT_PKCS11_PIN`, else a prompt. (A URI's
/// `pin-source=file:…` is read by the token layer and takes precedence.)
pub fn pin_source() -> crate::hsm::PinSource {
    Box::new(|| {
        if let Ok(p) = std::env::var("PASSPORT_PKCS11_PIN") {
            return Ok(Zeroizing::new(p));
        }
        if interactive() {
            return dialoguer::Password::new()
                .with_prompt("Token PIN")
                .interact()
                .map(Zeroizing::new)
                .map_err(|e| e.to_string());
        }
        Err("no PIN".into())
    })
}

/// A new passphrase for `init` (asked twice on a terminal).
pub fn new_passphrase(file: Option<&PathBuf>) -> Result<SecretString> {
    new_passphrase_from(
        "PASSPORT_PASSPHRASE",
        file,
        "--passphrase-file (or use --age-identity)",
    )
}

/// A new passphrase from `env`, the file, or a prompt asked twice; never empty.
pub fn new_passphrase_from(env: &str, file: Option<&PathBuf>, flag: &str) -> Result<SecretString> {
    if let Ok(p) = std::env::var(env) {
        if p.is_empty() {
            return Err(OperatorError::EmptyPassphraseEnv { env: env.into() }.into());
        }
        return Ok(SecretString::from(p));
    }
    if let Some(f) = file {
        return Ok(from_file(f)?);
    }
    if !interactive() {
        return Err(OperatorError::NoNewPassphrase {
            env: env.into(),
            flag: flag.into(),
        }
        .into());
    }
    ask_new("New keystore passphrase")
}

/// Asks for a new passphrase twice; an empty one is refused with a reason (dialoguer
/// alone would only ask again, silently).
pub fn ask_new(prompt: &str) -> Result<SecretString> {
    loop {
        let p = dialoguer::Password::new()
            .with_prompt(prompt)
            .with_confirmation("Repeat passphrase", "the passphrases differ")
            .allow_empty_password(true)
            .interact()
            .map_err(|e| OperatorError::Prompt(e.to_string()))?;
        if !p.is_empty() {
            return Ok(SecretString::from(p));
        }
        eprintln!("an empty passphrase protects nothing; type one (for unattended use, an age identity file is the alternative)");
    }
}

/// Shows what is about to be signed and asks; `--yes` skips the question.
pub fn consent(yes: bool) -> Result<impl FnMut(&Summary) -> bool> {
    if !yes && !interactive() {
        return Err(OperatorError::NoConsentTerminal.into());
    }
    Ok(move |s: &Summary| {
        if yes {
            return true;
        }
        let cols = dialoguer::console::Term::stderr().size().1 as usize;
        let now = nostr::Timestamp::now().as_secs();
        eprintln!("{}", super::review::render(s, now, cols));
        dialoguer::Confirm::new()
            .with_prompt(super::review::question(s))
            .default(false)
            .interact()
            .unwrap_or(false)
    })
}

/// Shows `shown` (passport's text around escaped untrusted parts) and asks `question`,
/// default no; `None` when there is no terminal to ask on.
pub fn accept(shown: &str, question: &str) -> Option<bool> {
    if !interactive() {
        return None;
    }
    eprintln!("{}", crate::untrusted::message(shown));
    Some(
        dialoguer::Confirm::new()
            .with_prompt(question)
            .default(false)
            .interact()
            .unwrap_or(false),
    )
}
