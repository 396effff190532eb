//! Seal format v1: AES-256-GCM computed by the token under the `passport-seal` key, with
//! a 96-bit IV from the token's RNG and associated data binding the format, the secret's
//! name and context, the key id and the token serial. Homes made before format v2 hold
//! such blobs; they still open (on tokens that offer CKM_AES_GCM with a caller's IV),
//! and `passport hsm migrate` rewrites them. New v1 blobs are written only for a token
//! whose passport keys predate v2 (no key-derivation key yet).

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Error, Token};
use crate::keystore;

pub const VERSION: u8 = 1;

#[derive(Serialize, Deserialize)]
pub struct Blob {
    pub v: u8,
    pub alg: String,
    pub token_serial: String,
    pub key_id: String,
    pub iv: String,
    pub ct: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub once: Option<String>,
}

fn aad(label: &str, context: &str, key_id: &str, serial: &str, once_id: Option<&str>) -> Vec<u8> {
    let mut a = format!(
        "passport-pkcs11-seal v{VERSION}\n{}{key_id}\n{serial}\n",
        keystore::binding(label, context)
    );
    if let Some(id) = once_id {
        a.push_str(&format!("once={id}\n"));
    }
    a.into_bytes()
}

pub struct Key<'a> {
    pub token: &'a Token,
    pub handle: ObjectHandle,
    pub id: &'a str,
}

pub fn seal(
    k: &Key,
    label: &str,
    context: &str,
    plaintext: &[u8],
    once: Option<&str>,
) -> keystore::Result<Blob> {
    let serial = k.token.info.serial.clone();
    let mut iv = k.token.random(12)?;
    let iv_copy = iv.clone();
    let aad = aad(label, context, k.id, &serial, once);
    let params =
        GcmParams::new(&mut iv, &aad, 128.into()).map_err(|e| k.token.fail("GCM parameters", e))?;
    let ct = k
        .token
        .session()
        .encrypt(&Mechanism::AesGcm(params), k.handle, plaintext)
        .map_err(|e| k.token.fail_mech("C_Encrypt", "CKM_AES_GCM", e))?;
    Ok(Blob {
        v: VERSION,
        alg: "AES-256-GCM".into(),
        token_serial: serial,
        key_id: k.id.to_owned(),
        iv: hex::encode(iv_copy),
        ct: hex::encode(ct),
        once: once.map(str::to_owned),
    })
}

pub fn open(
    k: &Key,
    label: &str,
    context: &str,
    blob: &Blob,
) -> keystore::Result<Zeroizing<Vec<u8>>> {
    let tampered = || {
        keystore::Error::from(Error::Tampered {
            label: label.to_owned(),
        })
    };
    let mut iv = hex::decode(&blob.iv).map_err(|_| tampered())?;
    let ct = hex::decode(&blob.ct).map_err(|_| tampered())?;
    if iv.len() != 12 || ct.len() < 16 {
        return Err(tampered());
    }
    let aad = aad(
        label,
        context,
        &blob.key_id,
        &blob.token_serial,
        blob.once.as_deref(),
    );
    let params =
        GcmParams::new(&mut iv, &aad, 128.into()).map_err(|e| k.token.fail("GCM parameters", e))?;
    match k
        .token
        .session()
        .decrypt(&Mechanism::AesGcm(params), k.handle, &ct)
    {
        Ok(plain) => Ok(Zeroizing::new(plain)),
        // The return values PKCS#11 gives for a tag that does not verify.
        Err(CkError::Pkcs11(RvError::EncryptedDataInvalid, _))
        | Err(CkError::Pkcs11(RvError::EncryptedDataLenRange, _)) => Err(tampered()),
        // SoftHSM2 2.6 reports a failed GCM tag as CKR_GENERAL_ERROR, which other tokens
        // use for device faults: say both, since the token cannot tell them apart.
        Err(CkError::Pkcs11(rv @ RvError::GeneralError, _)) => Err(Error::V1Refused {
            label: label.to_owned(),
            token: k.token.info.label.clone(),
            ckr: super::token::ckr_name(rv),
        }
        .into()),
        Err(e) => Err(k.token.fail_mech("C_Decrypt", "CKM_AES_GCM", e).into()),
    }
}
