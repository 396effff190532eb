//! The PKCS#11 sealer: AES-256-GCM under the token's non-extractable seal key, with a
//! 96-bit IV from the token's RNG, a 128-bit tag, and associated data binding the
//! format version, the secret's name and context (group, member, t/n), the seal key id
//! and the token serial. The sealed blob lives in the home; only the token can open it.
//! Preprocessed nonces are sealed once more under a one-time token object
//! ([`super::once`]), destroyed when the nonce is used.

use std::sync::{Mutex, OnceLock};

use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::keys::{self, Keys};
use super::once;
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
    /// The one-time object a nonce depends on ([`super::once`]); absent for other secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    once: Option<String>,
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
        let serial = self
            .ready
            .get()
            .map(|r| r.token.info.serial.clone())
            .unwrap_or_default();
        self.audit_details(
            op,
            serde_json::json!({ "secret": label, "token_serial": serial, "blob_sha256": hex::encode(Sha256::digest(blob)) }),
        )
    }

    fn audit_details(&self, op: &str, details: serde_json::Value) -> keystore::Result<()> {
        if let Some(log) = &self.audit {
            log.append(op, details)
                .map_err(|e| keystore::Error::Audit(e.to_string()))?;
        }
        Ok(())
    }
}

fn aad(label: &str, context: &str, key_id: &str, serial: &str, once_id: Option<&str>) -> Vec<u8> {
    let mut a = format!(
        "passport-pkcs11-seal v{SEAL_VERSION}\n{}{key_id}\n{serial}\n",
        keystore::binding(label, context)
    );
    if let Some(id) = once_id {
        a.push_str(&format!("once={id}\n"));
    }
    a.into_bytes()
}

impl Pkcs11Sealer {
    /// AES-GCM under the seal key (see the module comment); `once` names the one-time
    /// object the plaintext is further sealed under, and is bound into the AAD.
    fn seal_blob(
        &self,
        label: &str,
        context: &str,
        plaintext: &[u8],
        once: Option<&str>,
    ) -> keystore::Result<Vec<u8>> {
        let r = self.ready()?;
        let serial = r.token.info.serial.clone();
        let mut iv = r.token.random(12)?;
        let iv_copy = iv.clone();
        let aad = aad(label, context, &r.keys.seal_id, &serial, once);
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
            once: once.map(str::to_owned),
        };
        let bytes = serde_json::to_vec(&blob).expect("blob serializes");
        self.audit("seal", label, &bytes)?;
        Ok(bytes)
    }

    fn unseal_blob(
        &self,
        label: &str,
        context: &str,
        blob: &Blob,
        bytes: &[u8],
    ) -> keystore::Result<Zeroizing<Vec<u8>>> {
        let tampered = || {
            keystore::Error::Hsm(Error::Tampered {
                label: label.to_owned(),
            })
        };
        let r = self.ready()?;
        if blob.token_serial != r.token.info.serial || blob.key_id != r.keys.seal_id {
            return Err(Error::WrongToken {
                label: label.to_owned(),
                sealed_by: blob.token_serial.clone(),
                key_id: blob.key_id.clone(),
                this: r.token.info.serial.clone(),
            }
            .into());
        }
        let mut iv = hex::decode(&blob.iv).map_err(|_| tampered())?;
        let ct = hex::decode(&blob.ct).map_err(|_| tampered())?;
        if iv.len() != 12 || ct.len() < 16 || blob.v != SEAL_VERSION {
            return Err(tampered());
        }
        let aad = aad(
            label,
            context,
            &blob.key_id,
            &blob.token_serial,
            blob.once.as_deref(),
        );
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
}

impl Sealer for Pkcs11Sealer {
    fn seal(&self, label: &str, context: &str, plaintext: &[u8]) -> keystore::Result<Vec<u8>> {
        self.seal_blob(label, context, plaintext, None)
    }

    fn unseal(
        &self,
        label: &str,
        context: &str,
        bytes: &[u8],
    ) -> keystore::Result<Zeroizing<Vec<u8>>> {
        let blob: Blob = serde_json::from_slice(bytes).map_err(|_| {
            keystore::Error::Hsm(Error::Tampered {
                label: label.to_owned(),
            })
        })?;
        if blob.once.is_some() {
            // A one-time blob opened as a plain secret: refuse rather than skip the ledger.
            return Err(Error::Tampered {
                label: label.to_owned(),
            }
            .into());
        }
        self.unseal_blob(label, context, &blob, bytes)
    }

    fn seal_once(&self, label: &str, context: &str, plaintext: &[u8]) -> keystore::Result<Vec<u8>> {
        let r = self.ready()?;
        let id = hex::encode(r.token.random(16)?);
        let pad = Zeroizing::new(r.token.random(once::PAD_LEN as u32)?);
        let info = once::info(label, context, &id, &r.token.info.serial);
        let key = once::derive_key(&pad, &info);
        let inner = Zeroizing::new(once::encrypt(&key, &info, rand::random(), plaintext));
        // Sealed (and logged) before the object exists: a refused log leaves no object.
        let bytes = self.seal_blob(label, context, &inner, Some(&id))?;
        once::create(&r.token, &id, &pad)?;
        Ok(bytes)
    }

    fn unseal_once(
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
        let Some(id) = blob.once.clone() else {
            // Sealed before the ledger existed; its lifetime check refuses it.
            return self.unseal_blob(label, context, &blob, bytes);
        };
        if !once::valid_id(&id) {
            return Err(tampered());
        }
        let inner = self.unseal_blob(label, context, &blob, bytes)?;
        let r = self.ready()?;
        let pad = once::read_pad(&r.token, &id)?
            .ok_or_else(|| keystore::Error::OnceGone(label.to_owned()))?;
        let info = once::info(label, context, &id, &blob.token_serial);
        let key = once::derive_key(&pad, &info);
        once::decrypt(&key, &info, &inner).ok_or_else(tampered)
    }

    fn once_id(&self, blob: &[u8]) -> Option<String> {
        serde_json::from_slice::<Blob>(blob)
            .ok()
            .and_then(|b| b.once)
            .filter(|id| once::valid_id(id))
    }

    fn destroy_once(&self, label: &str, id: &str) -> keystore::Result<bool> {
        if !once::valid_id(id) {
            return Ok(false);
        }
        let r = self.ready()?;
        self.audit_details(
            "destroy-once",
            serde_json::json!({ "secret": label, "token_serial": r.token.info.serial }),
        )?;
        Ok(once::destroy(&r.token, id)?)
    }

    fn keeps_ledger(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        self.spec.uri.text.clone()
    }

    fn pkcs11(&self) -> Option<&Pkcs11Sealer> {
        Some(self)
    }
}
