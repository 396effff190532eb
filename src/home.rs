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
use crate::error::{Error, Result};
use crate::fsutil;
use crate::group::Group;
use crate::hsm::seal::Pkcs11Sealer;
use crate::hsm::{PinSource, TokenSpec, TokenUri};
use crate::keystore::file::{self, AgeSealer, PassphraseSource, Unlock};
use crate::keystore::{self, Keystore, Sealer};

mod lock;
mod perms;
pub use lock::HomeLock;

/// Takes the exclusive lock of the home at `root` for a command that changes it,
/// waiting `PASSPORT_LOCK_WAIT` seconds (default 10) for another holder.
pub fn lock_home(root: &Path, command: &str) -> Result<HomeLock> {
    lock::acquire(root, command, lock::wait_from_env())
}

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

pub struct Home {
    pub root: PathBuf,
    pub config: Config,
    keystore: Keystore,
    identity: OnceLock<Keys>,
    loose: Vec<String>,
}

/// Group status in this home.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// DKG finished here but not every member has confirmed the same key yet.
    Pending,
    Active,
    /// `group retire` destroyed this home's shares; only the public file remains.
    Retired,
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
                        return Err(Error::NotFound(format!(
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
            return Err(Error::NotFound(format!(
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
    /// The one group this home knows; an error naming the choice when there are several.
    pub fn only_group(&self) -> Result<Group> {
        let ids = self.group_ids()?;
        match ids.as_slice() {
            [one] => self.find_group(one),
            [] => Err(Error::Invalid(
                "this home holds no group yet; create one (keygen or dkg) first".into(),
            )),
            many => Err(Error::Invalid(format!(
                "this home holds {} groups; choose one with --group",
                many.len()
            ))),
        }
    }

    pub fn save_group(&self, group: &Group) -> Result<()> {
        if self.check_group(group)? {
            return Ok(());
        }
        let path = self.group_dir(&group.id()).join("group.json");
        fsutil::write_atomic(&path, group.to_json_pretty().as_bytes(), false)
    }

    /// Refuses a group this home holds in another form (same key, other roster or
    /// shares); `true` when it holds this very group already.
    pub fn check_group(&self, group: &Group) -> Result<bool> {
        let path = self.group_dir(&group.id()).join("group.json");
        if !path.exists() {
            return Ok(false);
        }
        let old = read_group_file(&path)?;
        if old.roster != group.roster || old.public_key_package != group.public_key_package {
            return Err(Error::Refused(format!(
                "this home already holds a different group file for {} (another roster or another deal of the same key); nothing was written",
                group.npub
            )));
        }
        Ok(true)
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

    /// What a sealed share is bound to: group key, seat, threshold and size.
    pub fn share_context(group: &Group, seat: MemberId) -> String {
        format!(
            "group={};member={seat};t={};n={}",
            group.npub,
            group.roster.threshold,
            group.roster.n()
        )
    }

    /// The binding context of a sealed secret, derived from its name.
    pub fn context_for(&self, name: &str) -> Result<String> {
        let Some(rest) = name.strip_prefix("shares/") else {
            return Ok(String::new());
        };
        let (gid, seat) = rest
            .rsplit_once('.')
            .and_then(|(g, s)| Some((g, s.parse::<MemberId>().ok()?)))
            .ok_or_else(|| keystore::Error::Tampered(name.into()))?;
        let group = self.find_group(gid)?;
        Ok(Self::share_context(&group, seat))
    }

    /// Stores a member's key package for a group. Without `overwrite`, a share already
    /// held is refused.
    pub fn store_share(
        &self,
        group: &Group,
        seat: MemberId,
        key: &KeyPackage,
        overwrite: bool,
    ) -> Result<()> {
        let bytes =
            zeroize::Zeroizing::new(key.serialize().map_err(crate::ceremony::Error::frost)?);
        let ctx = Self::share_context(group, seat);
        self.keystore
            .put_bound(&Self::share_name(group, seat), &ctx, &bytes, overwrite)
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
        let bytes = self
            .keystore
            .get_bound(&name, &Self::share_context(group, seat))
            .map_err(|e| match e {
                // Name what the operator knows, not the keystore's file name.
                keystore::Error::Missing(_) => Error::NotFound(format!(
                    "this home has no share of {} for {} (its sealed file is gone): restore it \
                     with `passport backup restore` or ask t members for a `passport repair`",
                    group.npub,
                    group.roster.name(seat)
                )),
                other => other.into(),
            })?;
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
            Some(s) if s.status == Status::Retired => Err(Error::Refused(format!(
                "group {} is retired in this home: its shares were destroyed (`passport group retire`)",
                group.npub
            ))),
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
        fsutil::write_atomic(&self.state_path(rel), &bytes, true)
    }
}

/// The hash-chained log of token operations in a home.
pub fn audit_log(root: &Path) -> AuditLog {
    AuditLog::new(root.join("audit.jsonl"))
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
                None => Unlock::Agent {
                    socket: crate::agent::socket_path(root),
                    then: Box::new(Unlock::Passphrase {
                        master: root.join("keystore/master.age"),
                        passphrase: unlock.passphrase,
                    }),
                },
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
