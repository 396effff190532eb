//! Re-sealing every secret of a home under a new sealer: `hsm migrate` (into a token)
//! and `passwd --new-age-identity` (a new age identity). Each secret is sealed by the
//! target, unsealed again and compared; the new keystore is built beside the old one and
//! swapped in only when every secret passed, so a failure leaves the home as it was.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result, TokenError};
use crate::fsutil;
use crate::home::{self, Config, Home, KeystoreConfig};
use crate::keystore::Sealer;

/// What a re-seal did.
pub struct Resealed {
    pub from: String,
    pub to: String,
    pub secrets: usize,
    pub consumed_nonces: usize,
    /// The identity file the home used before, which protects nothing now.
    pub obsolete_identity_file: Option<PathBuf>,
}

/// Re-seals every secret of `home` under `new` and switches the home to `config`;
/// `op` names the audit-log entry.
pub fn reseal(home: &Home, new: &dyn Sealer, config: Config, op: &str) -> Result<Resealed> {
    let root = &home.root;
    // A broken log would refuse the final entry after the swap; refuse before instead.
    home::audit_log(root).verify()?;
    let from = home.keystore().sealer().describe();
    let staging = root.join("keystore.migrating");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    let ks = home.keystore();
    // One-time objects a crash left on the old token go first; the move cannot carry them.
    ks.finish_pending()?;
    let names = ks.all_names()?;
    let mut moved = 0;
    // The old one-time objects of moved nonces, destroyed before the swap.
    let mut old_once = vec![];
    for name in &names {
        let is_nonce = name.starts_with("nonces/");
        let (plain, blob) = if is_nonce {
            // A nonce moves under a new one-time object of the target token.
            let plain = match ks.get_once(name) {
                Ok(p) => p,
                // Used by another copy of this home: burned here by get_once, not moved.
                Err(crate::keystore::Error::OnceGone(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let sealed = std::fs::read(ks.dir().join(format!("{name}.sealed")))
                .map_err(|e| Error::io(ks.dir().join(name), e))?;
            if let Some(id) = ks.sealer().once_id(&sealed) {
                old_once.push((name.clone(), id));
            }
            let blob = new.seal_once(name, "", &plain)?;
            if *new.unseal_once(name, "", &blob)? != *plain {
                return Err(TokenError::NotIntact { name: name.clone() }.into());
            }
            (plain, blob)
        } else {
            let ctx = home.context_for(name)?;
            let plain = ks.get_bound(name, &ctx)?;
            let blob = new.seal(name, &ctx, &plain)?;
            if *new.unseal(name, &ctx, &blob)? != *plain {
                return Err(TokenError::NotIntact { name: name.clone() }.into());
            }
            (plain, blob)
        };
        drop(plain);
        fsutil::write_atomic(&staging.join(format!("{name}.sealed")), &blob, false)?;
        moved += 1;
    }
    // The nonces now live under the target's objects: the source's objects must not
    // open them any more (a copy of the home from before the move would otherwise).
    for (name, id) in &old_once {
        ks.sealer().destroy_once(name, id)?;
    }
    // Consumed-nonce tombstones move too, so a used nonce stays used.
    let mut consumed = 0;
    copy_tombstones(ks.dir(), ks.dir(), &staging, &mut consumed)?;
    let obsolete = match &home.config.keystore {
        KeystoreConfig::IdentityFile { path, .. } => Some(path.clone()),
        _ => None,
    };
    let old = root.join("keystore.old");
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    let live = root.join("keystore");
    std::fs::rename(&live, &old).map_err(|e| Error::io(&live, e))?;
    std::fs::rename(&staging, &live).map_err(|e| Error::io(&staging, e))?;
    fsutil::write_atomic(
        &root.join("config.json"),
        &serde_json::to_vec_pretty(&config).expect("config"),
        true,
    )?;
    std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    home::audit_log(root).append(
        op,
        serde_json::json!({ "from": from, "to": config_uri(&config), "secrets": moved, "consumed_nonces": consumed }),
    )?;
    Ok(Resealed {
        from,
        to: config_uri(&config),
        secrets: moved,
        consumed_nonces: consumed,
        obsolete_identity_file: obsolete,
    })
}

fn config_uri(c: &Config) -> String {
    match &c.keystore {
        KeystoreConfig::Pkcs11 { uri, .. } => uri.clone(),
        KeystoreConfig::IdentityFile { path, .. } => format!("age identity {}", path.display()),
        KeystoreConfig::Passphrase { .. } => "passphrase".into(),
    }
}

fn copy_tombstones(base: &Path, dir: &Path, to: &Path, n: &mut usize) -> Result<()> {
    for e in std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
    {
        let p = e.path();
        if p.is_dir() {
            copy_tombstones(base, &p, to, n)?;
        } else if p.extension().is_some_and(|x| x == "consumed") {
            let rel = p.strip_prefix(base).expect("under base");
            let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
            fsutil::write_atomic(&to.join(rel), &bytes, false)?;
            *n += 1;
        }
    }
    Ok(())
}
