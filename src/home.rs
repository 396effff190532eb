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

use crate::ceremony::frost::keys::KeyPackage;
use crate::ceremony::MemberId;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::group::Group;
use crate::keystore::file::{self, AgeSealer, PassphraseSource, Unlock};
use crate::keystore::{self, Keystore};

pub const CONFIG_VERSION: u8 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "unlock", rename_all = "kebab-case")]
pub enum KeystoreConfig {
    /// The keystore key is in `keystore/master.age`, under a passphrase.
    Passphrase { recipient: String },
    /// The keystore key is an age identity file outside the home.
    IdentityFile { recipient: String, path: PathBuf },
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
}

/// How an existing home gets its keystore key when a secret must be read.
pub struct OpenUnlock {
    pub passphrase: PassphraseSource,
    /// Overrides the identity file named in the config.
    pub identity_file: Option<PathBuf>,
}

pub struct Home {
    pub root: PathBuf,
    pub config: Config,
    keystore: Keystore,
    identity: OnceLock<Keys>,
}

/// Group status in this home.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// DKG finished here but not every member has confirmed the same key yet.
    Pending,
    Active,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupState {
    pub status: Status,
    /// Seats whose shares this home holds.
    pub seats: BTreeSet<MemberId>,
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
        if root.join("config.json").exists() {
            return Err(Error::HomeExists(root.into()));
        }
        fsutil::private_dir(&root.join("keystore"))?;
        let (ks_id, ks_cfg) = match unlock {
            InitUnlock::Passphrase(pass) => {
                let id = x25519::Identity::generate();
                let text = file::identity_file_text(&id);
                let blob = file::encrypt_with_passphrase(text.as_bytes(), pass)?;
                fsutil::write_atomic(&root.join("keystore/master.age"), &blob, false)?;
                let recipient = id.to_public().to_string();
                (id, KeystoreConfig::Passphrase { recipient })
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
                (id, KeystoreConfig::IdentityFile { recipient, path })
            }
        };
        let keys = Keys::generate();
        let keystore = Keystore::new(root.join("keystore"), Box::new(AgeSealer::unlocked(ks_id)));
        keystore.put("identity", keys.secret_key().as_secret_bytes(), false)?;
        let config = Config {
            version: CONFIG_VERSION,
            npub: keys.public_key().to_bech32().expect("bech32"),
            keystore: ks_cfg,
        };
        let json = serde_json::to_vec_pretty(&config).expect("config serializes");
        fsutil::write_atomic(&root.join("config.json"), &json, false)?;
        let identity = OnceLock::new();
        let _ = identity.set(keys);
        Ok(Home {
            root: root.into(),
            config,
            keystore,
            identity,
        })
    }

    /// Opens an existing home. Nothing is unlocked until a secret is read.
    pub fn open(root: &Path, unlock: OpenUnlock) -> Result<Home> {
        let cfg_path = root.join("config.json");
        if !cfg_path.exists() {
            return Err(Error::NoHome(root.into()));
        }
        let config: Config = read_json(&cfg_path, "home config")?;
        let (recipient, how) = match &config.keystore {
            KeystoreConfig::Passphrase { recipient } => (
                recipient,
                match unlock.identity_file {
                    Some(p) => Unlock::IdentityFile(p),
                    None => Unlock::Passphrase {
                        master: root.join("keystore/master.age"),
                        passphrase: unlock.passphrase,
                    },
                },
            ),
            KeystoreConfig::IdentityFile { recipient, path } => (
                recipient,
                Unlock::IdentityFile(unlock.identity_file.unwrap_or_else(|| path.clone())),
            ),
        };
        let recipient: x25519::Recipient =
            recipient.parse().map_err(|e: &str| Error::Malformed {
                path: cfg_path.display().to_string(),
                what: "home config",
                detail: e.to_string(),
            })?;
        let keystore = Keystore::new(
            root.join("keystore"),
            Box::new(AgeSealer::new(recipient, how)),
        );
        Ok(Home {
            root: root.into(),
            config,
            keystore,
            identity: OnceLock::new(),
        })
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

    // --- groups -------------------------------------------------------------------

    fn group_dir(&self, gid: &str) -> PathBuf {
        self.root.join("groups").join(gid)
    }

    /// Finds a group by npub, hex key, or a unique prefix of either.
    pub fn find_group(&self, query: &str) -> Result<Group> {
        let gid = match crate::ceremony::roster::parse_npub(query) {
            Ok(pk) => pk.to_hex(),
            Err(_) => {
                let all = self.group_ids()?;
                let hits: Vec<_> = all.iter().filter(|g| g.starts_with(query)).collect();
                match hits.as_slice() {
                    [one] => (*one).clone(),
                    [] => {
                        return Err(Error::Invalid(format!(
                            "no group {query:?} in this home; `passport group list` shows them"
                        )))
                    }
                    _ => {
                        return Err(Error::Invalid(format!(
                            "{query:?} matches several groups; give more of it"
                        )))
                    }
                }
            }
        };
        let path = self.group_dir(&gid).join("group.json");
        if !path.exists() {
            return Err(Error::Invalid(format!(
                "group {query} is not known to this home; import its group file with `passport group import`"
            )));
        }
        read_group_file(&path)
    }

    pub fn group_ids(&self) -> Result<Vec<String>> {
        let dir = self.root.join("groups");
        let mut out = vec![];
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                if e.path().join("group.json").exists() {
                    out.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Saves a group's public file (idempotent; a different group under the same key is
    /// refused).
    pub fn save_group(&self, group: &Group) -> Result<()> {
        let path = self.group_dir(&group.id()).join("group.json");
        if path.exists() {
            let old = read_group_file(&path)?;
            if old.roster != group.roster || old.public_key_package != group.public_key_package {
                return Err(Error::Refused(format!(
                    "this home already holds a different group file for {}",
                    group.npub
                )));
            }
            return Ok(());
        }
        fsutil::write_atomic(&path, group.to_json_pretty().as_bytes(), false)
    }

    pub fn group_state(&self, group: &Group) -> Result<Option<GroupState>> {
        let path = self.group_dir(&group.id()).join("state.json");
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path, "group state").map(Some)
    }

    pub fn save_group_state(&self, group: &Group, state: &GroupState) -> Result<()> {
        let path = self.group_dir(&group.id()).join("state.json");
        fsutil::write_atomic(
            &path,
            &serde_json::to_vec_pretty(state).expect("state"),
            true,
        )
    }

    pub fn share_name(group: &Group, seat: MemberId) -> String {
        format!("shares/{}.{seat}", group.id())
    }

    /// Stores a member's key package for a group (refuses to overwrite a held share).
    pub fn put_share(&self, group: &Group, seat: MemberId, key: &KeyPackage) -> Result<()> {
        let bytes =
            zeroize::Zeroizing::new(key.serialize().map_err(crate::ceremony::Error::frost)?);
        self.keystore
            .put(&Self::share_name(group, seat), &bytes, false)
            .map_err(|e| match e {
                keystore::Error::Exists { .. } => Error::Refused(format!(
                    "this home already holds {}'s share of {}",
                    group.roster.name(seat),
                    group.npub
                )),
                other => other.into(),
            })
    }

    pub fn share(&self, group: &Group, seat: MemberId) -> Result<KeyPackage> {
        let name = Self::share_name(group, seat);
        let bytes = self.keystore.get(&name)?;
        let key = KeyPackage::deserialize(&bytes).map_err(|_| keystore::Error::Tampered(name))?;
        let public = &group.public_key_package;
        if key.verifying_key() != public.verifying_key()
            || public.verifying_shares().get(key.identifier()) != Some(key.verifying_share())
        {
            return Err(Error::Rejected(format!(
                "the share held for {} does not belong to group {}",
                group.roster.name(seat),
                group.npub
            )));
        }
        Ok(key)
    }

    /// Seats of `group` whose shares this home holds and whose group is active.
    pub fn active_seats(&self, group: &Group) -> Result<Vec<MemberId>> {
        match self.group_state(group)? {
            Some(s) if s.status == Status::Active => Ok(s.seats.into_iter().collect()),
            Some(_) => Err(Error::Refused(format!(
                "group {} is pending: its DKG has not been confirmed by every member (`passport dkg confirm`)",
                group.npub
            ))),
            None => Ok(vec![]),
        }
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

    pub fn write_state<T: Serialize>(&self, rel: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value).expect("state serializes");
        fsutil::write_atomic(&self.state_path(rel), &bytes, true)
    }
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
