//! What `config.json` says about the keystore, how `init` and `open` are told to unlock
//! it, and the sealer that config describes.

use super::*;

pub const CONFIG_VERSION: u8 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "unlock", rename_all = "kebab-case")]
pub enum KeystoreConfig {
    /// The keystore key is in `keystore/master.age`, under a passphrase.
    Passphrase { recipient: String },
    /// The keystore key is an age identity file outside the home.
    IdentityFile { recipient: String, path: PathBuf },
    /// Secrets are sealed under a key that never leaves a PKCS#11 token (see `hsm::kdf`).
    Pkcs11 {
        uri: String,
        module: PathBuf,
        token_serial: String,
        seal_key_id: String,
        /// How new blobs are sealed (format v2); absent for homes sealed in format v1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scheme: Option<crate::hsm::kdf::Scheme>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    pub version: u8,
    pub npub: String,
    pub keystore: KeystoreConfig,
}

/// How `init` protects the keystore key.
pub enum InitUnlock {
    Passphrase(SecretString),
    /// Use this identity file; create it (0600) if it does not exist.
    IdentityFile(PathBuf),
    /// Seal every secret in this token (which must have passport keys: `hsm init`).
    Pkcs11(TokenSpec, PinSource),
}

/// How an existing home gets its keystore key when a secret must be read.
pub struct OpenUnlock {
    pub passphrase: PassphraseSource,
    /// Overrides the identity file named in the config.
    pub identity_file: Option<PathBuf>,
    /// The token user PIN, asked only when a token session is opened.
    pub pin: PinSource,
    /// Overrides the PKCS#11 module path named in the config.
    pub module: Option<PathBuf>,
}

impl OpenUnlock {
    /// For opening a home only to read public data: any unlock attempt fails clearly.
    pub fn none() -> Self {
        OpenUnlock {
            passphrase: Box::new(|| Err("no passphrase source".into())),
            identity_file: None,
            pin: Box::new(|| Err("no PIN source".into())),
            module: None,
        }
    }
}

/// Builds the sealer a keystore config describes; nothing is unlocked yet.
pub fn open_sealer(
    root: &Path,
    cfg: &KeystoreConfig,
    unlock: OpenUnlock,
) -> Result<Box<dyn Sealer>> {
    let recipient_of = |r: &str| -> Result<x25519::Recipient> {
        r.parse().map_err(|e: &str| Error::Malformed {
            path: String::new(),
            what: "home config",
            detail: e.to_string(),
        })
    };
    Ok(match cfg {
        KeystoreConfig::Passphrase { recipient } => {
            let how = match unlock.identity_file {
                Some(p) => Unlock::IdentityFile(p),
                // A session agent (`passport unlock`) spares the scrypt; else as ever.
                None => {
                    let socket = crate::agent::socket_path(root);
                    Unlock::Ask {
                        ask: Box::new(move |r: &x25519::Recipient| {
                            crate::agent::client::identity(&socket, r).map_err(|e| e.to_string())
                        }),
                        then: Box::new(Unlock::Passphrase {
                            master: root.join("keystore/master.age"),
                            passphrase: unlock.passphrase,
                        }),
                    }
                }
            };
            Box::new(AgeSealer::new(recipient_of(recipient)?, how))
        }
        KeystoreConfig::IdentityFile { recipient, path } => Box::new(AgeSealer::new(
            recipient_of(recipient)?,
            Unlock::IdentityFile(unlock.identity_file.unwrap_or_else(|| path.clone())),
        )),
        KeystoreConfig::Pkcs11 {
            uri,
            module,
            seal_key_id,
            ..
        } => {
            let spec = TokenSpec::new(
                TokenUri::parse(uri)?,
                Some(unlock.module.unwrap_or_else(|| module.clone())),
            )?;
            Box::new(
                Pkcs11Sealer::new(spec, unlock.pin, Some(audit_log(root))).expecting(seal_key_id),
            )
        }
    })
}

/// The keystore recipient recorded in the home's config at `root`, for a passphrase home
/// (what a session agent checks the key it holds against).
pub fn passphrase_recipient(root: &Path) -> Result<String> {
    let config: Config = read_json(&root.join("config.json"), "home config")?;
    match config.keystore {
        KeystoreConfig::Passphrase { recipient } => Ok(recipient),
        _ => Err(Error::NotPassphrase),
    }
}
