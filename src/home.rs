//! The operator home (`$PASSPORT_HOME`, default `~/.passport`):
//!
//! ```text
//! config.json            public: identity npub, keystore kind and recipient
//! keystore/              sealed secrets (identity, shares, DKG secrets, nonces)
//! keystore/master.age    passphrase mode: the keystore key under scrypt
//! groups/<gid>/          group.json (public) + state.json (status, seats held here)
//! dkg/<ceremony>/        per-seat DKG progress (public packages seen so far)
//! sign/<gid>/            coordinator bookkeeping (commitments already requested)
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use age::secrecy::SecretString;
use age::x25519;
use nostr::{Keys, PublicKey, SecretKey, ToBech32};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::audit::AuditLog;
use crate::ceremony::frost::keys::KeyPackage;
use crate::ceremony::MemberId;
use crate::fsutil;
use crate::group::Group;
use crate::hsm::seal::Pkcs11Sealer;
use crate::hsm::{PinSource, TokenSpec, TokenUri};
use crate::keystore::file::{self, AgeSealer, PassphraseSource, Unlock};
use crate::keystore::{self, Keystore, Sealer};

mod config;
mod error;
mod groups;
mod lock;
mod perms;
mod remember;
mod sign;
pub use error::{Error, Result};
pub use lock::HomeLock;

/// Takes the exclusive lock of the home at `root` for a command that changes it,
/// waiting `PASSPORT_LOCK_WAIT` seconds (default 10) for another holder.
pub fn lock_home(root: &Path, command: &str) -> Result<HomeLock> {
    lock::acquire(root, command, lock::wait_from_env())
}

pub use config::*;
pub use groups::{GroupState, Status};

pub struct Home {
    pub root: PathBuf,
    pub config: Config,
    keystore: Keystore,
    identity: OnceLock<Keys>,
    loose: Vec<String>,
    /// Set by [`Home::remember_shares`].
    remembered: Option<remember::Shares>,
}

impl Home {
    /// `$PASSPORT_HOME` or `~/.passport`.
    pub fn default_path() -> PathBuf {
        if let Some(p) = std::env::var_os("PASSPORT_HOME") {
            return PathBuf::from(p);
        }
        let base = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        base.join(".passport")
    }

    /// Creates a new home: keystore key, identity key, config. Refuses an existing home.
    pub fn init(root: &Path, unlock: InitUnlock) -> Result<Home> {
        Home::init_with_identity(root, unlock, None)
    }

    /// Like [`Home::init`], with a given identity key (restored from an identity backup)
    /// instead of a new one.
    pub fn init_with_identity(
        root: &Path,
        unlock: InitUnlock,
        identity: Option<Keys>,
    ) -> Result<Home> {
        if root.join("config.json").exists() {
            return Err(Error::HomeExists(root.into()));
        }
        // Leave nothing half-made behind: remove what this init created, and only that.
        let created: Vec<PathBuf> = [
            root.to_path_buf(),
            root.join("keystore"),
            root.join("audit.jsonl"),
        ]
        .into_iter()
        .filter(|p| !p.exists())
        .collect();
        let result = Self::init_inner(root, unlock, identity);
        if result.is_err() {
            for p in &created {
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(p)
                } else {
                    std::fs::remove_file(p)
                };
            }
        }
        result
    }

    fn init_inner(root: &Path, unlock: InitUnlock, identity: Option<Keys>) -> Result<Home> {
        fsutil::private_dir(&root.join("keystore"))?;
        let (sealer, ks_cfg): (Box<dyn Sealer>, KeystoreConfig) = match unlock {
            InitUnlock::Passphrase(pass) => {
                let id = x25519::Identity::generate();
                let text = file::identity_file_text(&id);
                let blob = file::encrypt_with_passphrase(text.as_bytes(), pass)?;
                fsutil::write_atomic(&root.join("keystore/master.age"), &blob, false)?;
                let recipient = id.to_public().to_string();
                (
                    Box::new(AgeSealer::unlocked(id)),
                    KeystoreConfig::Passphrase { recipient },
                )
            }
            InitUnlock::IdentityFile(path) => {
                let id = if path.exists() {
                    file::read_identity_file(&path)?
                } else {
                    let id = x25519::Identity::generate();
                    fsutil::write_atomic(&path, file::identity_file_text(&id).as_bytes(), false)?;
                    id
                };
                let recipient = id.to_public().to_string();
                let path = std::fs::canonicalize(&path).map_err(|e| Error::io(&path, e))?;
                (
                    Box::new(AgeSealer::unlocked(id)),
                    KeystoreConfig::IdentityFile { recipient, path },
                )
            }
            InitUnlock::Pkcs11(spec, pin) => {
                let sealer = Pkcs11Sealer::new(spec.clone(), pin, Some(audit_log(root)));
                let ready = sealer.ready()?;
                let cfg = KeystoreConfig::Pkcs11 {
                    uri: TokenUri::for_token(&ready.token.info.label, &ready.token.info.serial),
                    module: spec.module.clone(),
                    token_serial: ready.token.info.serial.clone(),
                    seal_key_id: ready.keys.seal_id().to_owned(),
                    scheme: ready.keys.scheme(),
                };
                (Box::new(sealer), cfg)
            }
        };
        let keystore = Keystore::new(root.join("keystore"), sealer);
        let keys = identity.unwrap_or_else(Keys::generate);
        keystore.put("identity", keys.secret_key().as_secret_bytes(), false)?;
        let config = Config {
            version: CONFIG_VERSION,
            npub: keys.public_key().to_bech32().expect("bech32"),
            keystore: ks_cfg,
        };
        let json = serde_json::to_vec_pretty(&config).expect("config serializes");
        fsutil::write_atomic(&root.join("config.json"), &json, false)?;
        fsutil::write_atomic(&root.join("lock"), b"", true)?;
        let identity = OnceLock::new();
        let _ = identity.set(keys);
        Ok(Home {
            root: root.into(),
            config,
            keystore,
            identity,
            loose: vec![],
            remembered: None,
        })
    }

    /// Opens an existing home. Nothing is unlocked until a secret is read.
    pub fn open(root: &Path, unlock: OpenUnlock) -> Result<Home> {
        let cfg_path = root.join("config.json");
        if !cfg_path.exists() {
            return Err(Error::NoHome(root.into()));
        }
        let config: Config = read_json(&cfg_path, "home config")?;
        let sealer = open_sealer(root, &config.keystore, unlock).map_err(|e| match e {
            Error::Malformed { detail, .. } => Error::Malformed {
                path: cfg_path.display().to_string(),
                what: "home config",
                detail,
            },
            other => other,
        })?;
        let loose = perms::check_modes(root)?;
        let keystore = Keystore::new(root.join("keystore"), sealer);
        Ok(Home {
            root: root.into(),
            config,
            keystore,
            identity: OnceLock::new(),
            loose,
            remembered: None,
        })
    }

    /// Public files of this home that others can read or change (shown as warnings).
    pub fn permission_warnings(&self) -> &[String] {
        &self.loose
    }

    pub fn keystore(&self) -> &Keystore {
        &self.keystore
    }

    /// This operator's identity public key (no unlock needed).
    pub fn public_key(&self) -> PublicKey {
        crate::ceremony::roster::parse_npub(&self.config.npub).expect("config holds a valid npub")
    }

    /// The identity keypair (unlocks the keystore).
    pub fn identity(&self) -> Result<&Keys> {
        if let Some(k) = self.identity.get() {
            return Ok(k);
        }
        let bytes = self.keystore.get("identity")?;
        let sk = SecretKey::from_slice(&bytes)
            .map_err(|_| keystore::Error::Tampered("identity".into()))?;
        let _ = self.identity.set(Keys::new(sk));
        Ok(self.identity.get().expect("just set"))
    }

    // --- generic state files ----------------------------------------------------------

    pub fn state_path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn read_state<T: DeserializeOwned>(&self, rel: &str) -> Result<Option<T>> {
        let path = self.state_path(rel);
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path, "state file").map(Some)
    }

    /// Removes a state file; a missing one is fine.
    pub fn remove_state(&self, rel: &str) -> Result<()> {
        let path = self.state_path(rel);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
            _ => Ok(()),
        }
    }

    pub fn write_state<T: Serialize>(&self, rel: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value).expect("state serializes");
        Ok(fsutil::write_atomic(&self.state_path(rel), &bytes, true)?)
    }
}

/// The hash-chained log of token operations in a home.
pub fn audit_log(root: &Path) -> AuditLog {
    AuditLog::new(root.join("audit.jsonl"))
}

/// Reads and parses a JSON file, naming the file in errors.
pub fn read_json<T: DeserializeOwned>(path: &Path, what: &'static str) -> Result<T> {
    let bytes = fsutil::read_limited(path, 16 << 20)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Malformed {
        path: path.display().to_string(),
        what,
        detail: e.to_string(),
    })
}

pub fn read_group_file(path: &Path) -> Result<Group> {
    let bytes = fsutil::read_limited(path, 16 << 20)?;
    Group::from_json(&bytes).map_err(|e| Error::Malformed {
        path: path.display().to_string(),
        what: "group file",
        detail: e.to_string(),
    })
}
