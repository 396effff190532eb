//! The PKCS#11 sealer: AES-256-GCM under the token's non-extractable seal key, with a
//! 96-bit IV from the token's RNG, a 128-bit tag, and associated data binding the
//! format version, the secret's name and context (group, member, t/n), the seal key id
//! and the token serial. The sealed blob lives in the home; only the token can open it.

use std::sync::{Mutex, OnceLock};

use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::keys::{self, Keys};
use super::{Error, PinSource, Token, TokenSpec};
use crate::audit::AuditLog;
use crate::keystore::{self, Sealer};

pub const SEAL_VERSION: u8 = 1;

#[derive(Serialize, Deserialize)]
struct Blob {
    v: u8,
    alg: String,
    token_serial: String,
    key_id: String,
    iv: String,
    ct: String,
}

/// A logged-in token with its keys loaded (after attribute checks).
pub struct Ready {
    pub token: Token,
    pub keys: Keys,
}

pub struct Pkcs11Sealer {
    spec: TokenSpec,
    pin: Mutex<Option<PinSource>>,
    ready: OnceLock<Ready>,
    audit: Option<AuditLog>,
}

impl Pkcs11Sealer {
    pub fn new(spec: TokenSpec, pin: PinSource, audit: Option<AuditLog>) -> Self {
        Pkcs11Sealer {
            spec,
            pin: Mutex::new(Some(pin)),
            ready: OnceLock::new(),
            audit,
        }
    }

    /// Opens, logs in and checks the keys on first use.
    pub fn ready(&self) -> Result<&Ready, Error> {
        if let Some(r) = self.ready.get() {
            return Ok(r);
        }
        let pin = self
            .pin
            .lock()
            .expect("pin")
            .take()
            .ok_or_else(|| Error::NoPin {
                token: self.spec.uri.text.clone(),
            })?;
        let token = Token::open(&self.spec)?;
        let result = token.login(&pin);
        if let Err(e) = result {
            *self.pin.lock().expect("pin") = Some(pin);
            return Err(e);
        }
        let keys = keys::load(&token)?;
        let _ = self.ready.set(Ready { token, keys });
        Ok(self.ready.get().expect("just set"))
    }

    /// Records a token operation. An operation that cannot be logged (a broken or
    /// unwritable log) fails: unrecorded token use is what the log exists to prevent.
    fn audit(&self, op: &str, label: &str, blob: &[u8]) -> keystore::Result<()> {
        if let Some(log) = &self.audit {
            let serial = self
                .ready
                .get()
                .map(|r| r.token.info.serial.clone())
                .unwrap_or_default();
            log.append(
                op,
                serde_json::json!({ "secret": label, "token_serial": serial, "blob_sha256": hex::encode(Sha256::digest(blob)) }),
            )
            .map_err(|e| keystore::Error::Audit(e.to_string()))?;
        }
        Ok(())
    }
}

fn aad(label: &str, context: &str, key_id: &str, serial: &str) -> Vec<u8> {
    format!(
        "passport-pkcs11-seal v{SEAL_VERSION}\n{}{key_id}\n{serial}\n",
        keystore::binding(label, context)
    )
    .into_bytes()
}

impl Sealer for Pkcs11Sealer {
    fn seal(&self, label: &str, context: &str, plaintext: &[u8]) -> keystore::Result<Vec<u8>> {
        let r = self.ready()?;
        let serial = r.token.info.serial.clone();
        let mut iv = r.token.random(12)?;
        let iv_copy = iv.clone();
        let aad = aad(label, context, &r.keys.seal_id, &serial);
        let params = GcmParams::new(&mut iv, &aad, 128.into())
            .map_err(|e| r.token.fail("GCM parameters", e))?;
        let ct = r
            .token
            .session()
            .encrypt(&Mechanism::AesGcm(params), r.keys.seal, plaintext)
            .map_err(|e| r.token.fail("C_Encrypt (AES-GCM)", e))?;
        let blob = Blob {
            v: SEAL_VERSION,
            alg: "AES-256-GCM".into(),
            token_serial: serial,
            key_id: r.keys.seal_id.clone(),
            iv: hex::encode(iv_copy),
            ct: hex::encode(ct),
        };
        let bytes = serde_json::to_vec(&blob).expect("blob serializes");
        self.audit("seal", label, &bytes)?;
        Ok(bytes)
    }

    fn unseal(
        &self,
        label: &str,
        context: &str,
        bytes: &[u8],
    ) -> keystore::Result<Zeroizing<Vec<u8>>> {
        let tampered = || {
            keystore::Error::Hsm(Error::Tampered {
                label: label.to_owned(),
            })
        };
        let blob: Blob = serde_json::from_slice(bytes).map_err(|_| tampered())?;
        let r = self.ready()?;
        if blob.token_serial != r.token.info.serial || blob.key_id != r.keys.seal_id {
            return Err(Error::WrongToken {
                label: label.to_owned(),
                sealed_by: blob.token_serial,
                key_id: blob.key_id,
                this: r.token.info.serial.clone(),
            }
            .into());
        }
        let mut iv = hex::decode(&blob.iv).map_err(|_| tampered())?;
        let ct = hex::decode(&blob.ct).map_err(|_| tampered())?;
        if iv.len() != 12 || ct.len() < 16 || blob.v != SEAL_VERSION {
            return Err(tampered());
        }
        let aad = aad(label, context, &blob.key_id, &blob.token_serial);
        let params = GcmParams::new(&mut iv, &aad, 128.into())
            .map_err(|e| r.token.fail("GCM parameters", e))?;
        let plain = r
            .token
            .session()
            .decrypt(&Mechanism::AesGcm(params), r.keys.seal, &ct)
            .map_err(|_| tampered())?;
        self.audit("unseal", label, bytes)?;
        Ok(Zeroizing::new(plain))
    }

    fn describe(&self) -> String {
        self.spec.uri.text.clone()
    }

    fn pkcs11(&self) -> Option<&Pkcs11Sealer> {
        Some(self)
    }
}
