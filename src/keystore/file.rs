//! The file sealer: every secret is an age file encrypted to the home's keystore key
//! (an age X25519 identity). Sealing needs only the public recipient, so writing nonces
//! or shares never asks for a passphrase; unsealing unlocks the identity once per
//! process, from an identity file (unattended use) or from `master.age`, the identity
//! encrypted under the operator's passphrase (scrypt).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use age::secrecy::{ExposeSecret, SecretString};
use age::x25519;
use zeroize::Zeroizing;

use super::{frame, unframe, Error, Result, Sealer};

/// Supplies the passphrase when (and only when) it is first needed.
pub type PassphraseSource =
    Box<dyn Fn() -> std::result::Result<SecretString, String> + Send + Sync>;

/// Asks someone who may hold the identity for `recipient` (the session agent).
pub type Ask = Box<
    dyn FnOnce(&x25519::Recipient) -> std::result::Result<Option<x25519::Identity>, String> + Send,
>;

pub enum Unlock {
    /// An age identity file (`AGE-SECRET-KEY-1…`), as written by `age-keygen`.
    IdentityFile(PathBuf),
    /// `master.age` holds the identity, encrypted with a passphrase.
    Passphrase {
        master: PathBuf,
        passphrase: PassphraseSource,
    },
    /// Ask first (the home's session agent, `passport unlock`); when it has no key
    /// (`Ok(None)`), `then`.
    Ask { ask: Ask, then: Box<Unlock> },
}

pub struct AgeSealer {
    recipient: x25519::Recipient,
    unlock: Mutex<Option<Unlock>>,
    identity: OnceLock<x25519::Identity>,
}

impl AgeSealer {
    pub fn new(recipient: x25519::Recipient, unlock: Unlock) -> Self {
        AgeSealer {
            recipient,
            unlock: Mutex::new(Some(unlock)),
            identity: OnceLock::new(),
        }
    }

    /// A sealer that already holds its identity (fresh homes, tests, the demo).
    pub fn unlocked(identity: x25519::Identity) -> Self {
        let cell = OnceLock::new();
        let recipient = identity.to_public();
        let _ = cell.set(identity);
        AgeSealer {
            recipient,
            unlock: Mutex::new(None),
            identity: cell,
        }
    }

    fn identity(&self) -> Result<&x25519::Identity> {
        if let Some(id) = self.identity.get() {
            return Ok(id);
        }
        let unlock = self
            .unlock
            .lock()
            .expect("unlock mutex")
            .take()
            .ok_or_else(|| Error::Locked("an earlier unlock attempt failed".into()))?;
        let _ = self.identity.set(open_identity(unlock, &self.recipient)?);
        Ok(self.identity.get().expect("just set"))
    }
}

/// Unlocks the keystore identity as `unlock` says; it must be `recipient`'s.
pub fn open_identity(unlock: Unlock, recipient: &x25519::Recipient) -> Result<x25519::Identity> {
    let id = match unlock {
        Unlock::IdentityFile(path) => read_identity_file(&path)?,
        Unlock::Passphrase { master, passphrase } => {
            let blob = crate::fsutil::read_bounded(&master, 1 << 20).map_err(|e| Error::Io {
                path: master.clone(),
                source: e,
            })?;
            let pass = passphrase().map_err(Error::Locked)?;
            let text = decrypt_with_passphrase(&blob, pass)?;
            parse_identity(&text)?
        }
        Unlock::Ask { ask, then } => match ask(recipient).map_err(Error::Locked)? {
            Some(id) => id,
            None => return open_identity(*then, recipient),
        },
    };
    if id.to_public().to_string() != recipient.to_string() {
        return Err(Error::Locked(
            "that age identity is not this home's keystore key; check --age-identity".into(),
        ));
    }
    Ok(id)
}

impl Sealer for AgeSealer {
    fn seal(&self, label: &str, context: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let framed = frame(label, context, plaintext);
        age::encrypt(&self.recipient, &framed).map_err(|e| Error::Locked(e.to_string()))
    }

    fn unseal(&self, label: &str, context: &str, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let id = self.identity()?;
        let plain = age::decrypt(id, blob).map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => {
                Error::Locked(format!("{label} was sealed to another keystore key"))
            }
            _ => Error::Tampered(label.into()),
        })?;
        unframe(label, context, &Zeroizing::new(plain))
    }

    fn describe(&self) -> String {
        "age".into()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn key_in_memory(&self) -> bool {
        true
    }
}

fn parse_identity(text: &str) -> Result<x25519::Identity> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .and_then(|l| x25519::Identity::from_str(l).ok())
        .ok_or_else(|| Error::Locked("no AGE-SECRET-KEY-1 line in the identity".into()))
}

pub fn read_identity_file(path: &std::path::Path) -> Result<x25519::Identity> {
    let bytes =
        crate::fsutil::read_bounded(path, crate::fsutil::SECRET_FILE_LIMIT).map_err(|e| {
            // The key that unlocks the keystore is missing: locked (exit 6), and say
            // which file the home expects, since it was chosen long ago at `init`.
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Locked(format!(
                    "the keystore's age identity file {} (recorded at `passport init`) does not exist; restore it, or pass --age-identity FILE",
                    path.display()
                ))
            } else {
                Error::Io {
                    path: path.into(),
                    source: e,
                }
            }
        })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::Locked(format!("{}: not an age identity file", path.display())))?;
    parse_identity(text)
}

/// The identity file text, as `age-keygen` writes it.
pub fn identity_file_text(id: &x25519::Identity) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "# created by passport\n# public key: {}\n{}\n",
        id.to_public(),
        id.to_string().expose_secret()
    ))
}

/// Encrypts with a passphrase (scrypt recipient).
pub fn encrypt_with_passphrase(plaintext: &[u8], pass: SecretString) -> Result<Vec<u8>> {
    let enc = age::Encryptor::with_user_passphrase(pass);
    let mut out = vec![];
    let mut w = enc
        .wrap_output(&mut out)
        .map_err(|e| Error::Locked(e.to_string()))?;
    w.write_all(plaintext)
        .map_err(|e| Error::Locked(e.to_string()))?;
    w.finish().map_err(|e| Error::Locked(e.to_string()))?;
    Ok(out)
}

/// Decrypts a passphrase-encrypted blob; a wrong passphrase is `Locked`.
pub fn decrypt_with_passphrase(blob: &[u8], pass: SecretString) -> Result<Zeroizing<String>> {
    let dec =
        age::Decryptor::new_buffered(blob).map_err(|_| Error::Tampered("master.age".into()))?;
    let id = age::scrypt::Identity::new(pass);
    let mut r = dec
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed
            | age::DecryptError::KeyDecryptionFailed
            | age::DecryptError::NoMatchingKeys => Error::Locked("wrong passphrase".into()),
            other => Error::Locked(other.to_string()),
        })?;
    let mut s = Zeroizing::new(String::new());
    r.read_to_string(&mut s)
        .map_err(|_| Error::Locked("wrong passphrase".into()))?;
    Ok(s)
}
