//! Moving a home's secrets into a token, or within one from blob format v1 to v2.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result, TokenError};
use crate::home::{self, Config, Home, KeystoreConfig};
use crate::hsm::seal::Pkcs11Sealer;
use crate::hsm::{PinSource, TokenSpec};
use crate::ops::Report;

#[derive(Serialize)]
pub struct MigrateReport {
    pub from: String,
    pub to: String,
    pub secrets: usize,
    pub consumed_nonces: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obsolete_identity_file: Option<PathBuf>,
}

impl Report for MigrateReport {
    fn human(&self) -> String {
        let mut s = format!(
            "moved {} secret(s) from {} into {}; each was unsealed by the token and compared before the old copies were deleted",
            self.secrets, self.from, self.to
        );
        s.push_str(&format!("\n  {}", crate::ops::nonce::SNAPSHOT_WARNING));
        if let Some(p) = &self.obsolete_identity_file {
            s.push_str(&format!(
                "\n  {} no longer protects anything; delete it",
                p.display()
            ));
        }
        s
    }
}

/// Moves every secret of a home into a token (from files or from another token). Each
/// secret is sealed by the target, unsealed again and compared; only when all passed
/// does the new keystore replace the old one.
pub fn migrate(home: &Home, target: &TokenSpec, pin: PinSource) -> Result<MigrateReport> {
    let root = &home.root;
    // A broken log would refuse the final entry after the swap; refuse before instead.
    home::audit_log(root).verify()?;
    let new = Pkcs11Sealer::new(target.clone(), pin, Some(home::audit_log(root)));
    let ready = new.ready()?;
    if let KeystoreConfig::Pkcs11 { seal_key_id, .. } = &home.config.keystore {
        if ready.keys.holds(seal_key_id) {
            // The same token: only rewriting format-v1 blobs to v2 makes sense.
            let Some(kdk) = &ready.keys.kdk else {
                return Err(TokenError::NoKdk {
                    label: ready.token.info.label.clone(),
                    uri: ready.token.info.uri.clone(),
                }
                .into());
            };
            if kdk.id == *seal_key_id && v1_blobs(home)? == 0 {
                return Err(TokenError::AlreadyV2.into());
            }
        }
    }
    let config = Config {
        keystore: KeystoreConfig::Pkcs11 {
            uri: crate::hsm::TokenUri::for_token(&ready.token.info.label, &ready.token.info.serial),
            module: target.module.clone(),
            token_serial: ready.token.info.serial.clone(),
            seal_key_id: ready.keys.seal_id().to_owned(),
            scheme: ready.keys.scheme(),
        },
        ..home.config.clone()
    };
    let r = crate::ops::reseal::reseal(home, &new, config, "migrate")?;
    Ok(MigrateReport {
        from: r.from,
        to: r.to,
        secrets: r.secrets,
        consumed_nonces: r.consumed_nonces,
        obsolete_identity_file: r.obsolete_identity_file,
    })
}

/// How many of a home's sealed blobs are still in format v1.
fn v1_blobs(home: &Home) -> Result<usize> {
    let ks = home.keystore();
    let mut n = 0;
    for name in ks.all_names()? {
        let path = ks.dir().join(format!("{name}.sealed"));
        let blob = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        if matches!(crate::hsm::seal::blob_format(&blob), Some((1, _))) {
            n += 1;
        }
    }
    Ok(n)
}
