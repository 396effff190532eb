//! The PKCS#11 sealer. Format v2 ([`super::kdf`]): a per-blob key derived in the token
//! from a fresh input, AES-256-GCM-SIV on the host, associated data binding the format,
//! the scheme, the derivation input, the seal key id and the secret's name and context.
//! Format v1 blobs (on-token AES-GCM, [`super::legacy`]) still open. The sealed blob
//! lives in the home; only the token can open it. Preprocessed nonces are sealed once
//! more under a one-time token object ([`super::once`]), destroyed when the nonce is used.

use std::sync::{Mutex, OnceLock};

use cryptoki::mechanism::Mechanism;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use super::blob::blob_format;
use super::blob::{aad, hex_array, AnyBlob, Blob, SEAL_VERSION};
use super::kdf::{self, Scheme};
use super::keys::{self, Kdk, Keys};
use super::legacy;
use super::once;
use super::{Error, PinSource, Token, TokenSpec};
use crate::audit::AuditLog;
use crate::keystore::{self, Sealer};

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
    /// The seal key id the home recorded: a different token behind the URI is refused.
    expect: Option<String>,
}

impl Pkcs11Sealer {
    pub fn new(spec: TokenSpec, pin: PinSource, audit: Option<AuditLog>) -> Self {
        Pkcs11Sealer {
            spec,
            pin: Mutex::new(Some(pin)),
            ready: OnceLock::new(),
            audit,
            expect: None,
        }
    }

    /// Refuses a token that does not hold seal key `id`.
    pub fn expecting(mut self, id: &str) -> Self {
        self.expect = (!id.is_empty()).then(|| id.to_owned());
        self
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
        if let Some(want) = &self.expect {
            if !keys.holds(want) {
                return Err(Error::NotThisToken {
                    uri: self.spec.uri.text.clone(),
                    found: keys.seal_id().to_owned(),
                    expected: want.clone(),
                });
            }
        }
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

/// The per-blob key: one token operation on the derivation input (see [`super::kdf`]).
fn derive(
    token: &Token,
    kdk: &Kdk,
    n: &[u8; kdf::INPUT_LEN],
) -> keystore::Result<Zeroizing<[u8; 32]>> {
    let input = kdk.scheme.token_input(n);
    let out = match kdk.scheme {
        Scheme::AesEcb => token
            .session()
            .encrypt(&Mechanism::AesEcb, kdk.handle, &input),
        Scheme::HmacSha256 => token
            .session()
            .sign(&Mechanism::Sha256Hmac, kdk.handle, &input),
    };
    let op = match kdk.scheme {
        Scheme::AesEcb => "C_Encrypt",
        Scheme::HmacSha256 => "C_Sign",
    };
    let out = Zeroizing::new(out.map_err(|e| token.fail_mech(op, kdk.scheme.mechanism(), e))?);
    kdk.scheme.key_from_output(&out).ok_or_else(|| {
        Error::Pkcs11 {
            token: token.info.label.clone(),
            op,
            detail: format!(
                "{} returned {} bytes, not the expected output",
                kdk.scheme.mechanism(),
                out.len()
            ),
        }
        .into()
    })
}

impl Pkcs11Sealer {
    /// Seals in format v2 (v1 on a token without a key-derivation key); `once` names
    /// the one-time object the plaintext is further sealed under, bound into the AAD.
    fn seal_blob(
        &self,
        label: &str,
        context: &str,
        plaintext: &[u8],
        once: Option<&str>,
    ) -> keystore::Result<Vec<u8>> {
        let r = self.ready()?;
        let bytes = match &r.keys.kdk {
            Some(kdk) => {
                let n: [u8; kdf::INPUT_LEN] = r
                    .token
                    .random(kdf::INPUT_LEN as u32)?
                    .try_into()
                    .map_err(|_| short_random(&r.token))?;
                let nonce: [u8; kdf::NONCE_LEN] = rand::random();
                let key = derive(&r.token, kdk, &n)?;
                let aad = aad(kdk.scheme, label, context, &kdk.id, &n, once);
                let ct = kdf::encrypt(&key, &nonce, &aad, plaintext);
                drop(key);
                serde_json::to_vec(&Blob {
                    v: SEAL_VERSION,
                    scheme: kdk.scheme,
                    alg: "AES-256-GCM-SIV".into(),
                    token: r.token.info.label.clone(),
                    key_id: kdk.id.clone(),
                    input: hex::encode(n),
                    nonce: hex::encode(nonce),
                    ct: hex::encode(ct),
                    once: once.map(str::to_owned),
                })
            }
            None => {
                let (handle, id) = r.keys.legacy.as_ref().expect("load found a seal key");
                let k = legacy::Key {
                    token: &r.token,
                    handle: *handle,
                    id,
                };
                serde_json::to_vec(&legacy::seal(&k, label, context, plaintext, once)?)
            }
        }
        .expect("blob serializes");
        self.audit("seal", label, &bytes)?;
        Ok(bytes)
    }

    fn unseal_blob(
        &self,
        label: &str,
        context: &str,
        blob: &AnyBlob,
        bytes: &[u8],
    ) -> keystore::Result<Zeroizing<Vec<u8>>> {
        let tampered = || {
            keystore::Error::from(Error::Tampered {
                label: label.to_owned(),
            })
        };
        let r = self.ready()?;
        let wrong = |sealed_by: &str, key_id: &str| -> keystore::Error {
            Error::WrongToken {
                label: label.to_owned(),
                sealed_by: sealed_by.to_owned(),
                key_id: key_id.to_owned(),
                this: format!("{} (seal key {})", r.token.info.label, r.keys.seal_id()),
            }
            .into()
        };
        let plain = match blob {
            AnyBlob::V1(b) => {
                let Some((handle, id)) = r.keys.legacy.as_ref().filter(|(_, id)| *id == b.key_id)
                else {
                    return Err(wrong(&b.token_serial, &b.key_id));
                };
                let k = legacy::Key {
                    token: &r.token,
                    handle: *handle,
                    id,
                };
                legacy::open(&k, label, context, b)?
            }
            AnyBlob::V2(b) => {
                let Some(kdk) = r.keys.kdk.as_ref().filter(|k| k.id == b.key_id) else {
                    return Err(wrong(&b.token, &b.key_id));
                };
                if b.scheme != kdk.scheme {
                    return Err(tampered());
                }
                let n: [u8; kdf::INPUT_LEN] = hex_array(&b.input).ok_or_else(tampered)?;
                let nonce: [u8; kdf::NONCE_LEN] = hex_array(&b.nonce).ok_or_else(tampered)?;
                let ct = hex::decode(&b.ct).map_err(|_| tampered())?;
                let key = derive(&r.token, kdk, &n)?;
                let aad = aad(kdk.scheme, label, context, &kdk.id, &n, b.once.as_deref());
                kdf::decrypt(&key, &nonce, &aad, &ct).ok_or_else(tampered)?
            }
        };
        self.audit("unseal", label, bytes)?;
        Ok(plain)
    }
}

fn short_random(token: &Token) -> keystore::Error {
    Error::Pkcs11 {
        token: token.info.label.clone(),
        op: "C_GenerateRandom",
        detail: "returned fewer bytes than asked".into(),
    }
    .into()
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
        let blob = AnyBlob::parse(bytes).ok_or_else(|| {
            keystore::Error::from(Error::Tampered {
                label: label.to_owned(),
            })
        })?;
        if blob.once().is_some() {
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
            keystore::Error::from(Error::Tampered {
                label: label.to_owned(),
            })
        };
        let blob = AnyBlob::parse(bytes).ok_or_else(tampered)?;
        let Some(id) = blob.once().map(str::to_owned) else {
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
        let serial = match &blob {
            AnyBlob::V1(b) => b.token_serial.clone(),
            AnyBlob::V2(_) => r.token.info.serial.clone(),
        };
        let info = once::info(label, context, &id, &serial);
        let key = once::derive_key(&pad, &info);
        once::decrypt(&key, &info, &inner).ok_or_else(tampered)
    }

    fn once_id(&self, blob: &[u8]) -> Option<String> {
        AnyBlob::parse(blob)
            .and_then(|b| b.once().map(str::to_owned))
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

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
