//! The token as the nonce ledger: every preprocessed nonce depends on a one-time object
//! in the token, destroyed when the nonce is used, so a copy of the home (a VM snapshot,
//! a restored backup, `cp -a`) cannot open a nonce the original already used.
//!
//! Construction, for a nonce named `label` with binding `context`:
//!
//! 1. `id` = 16 random bytes and `pad` = 32 random bytes, both from the token's RNG.
//! 2. `K` = HKDF-SHA256(salt = "passport-once-pad v1", IKM = `pad`, info = `info`)
//!    (RFC 5869), where `info` binds the format, the secret's name and context, `id`
//!    and the token serial ([`info`]).
//! 3. `inner` = IV ‖ AES-256-GCM_K(IV, nonce, AAD = `info`) on the host (NIST SP
//!    800-38D, 96-bit random IV, 128-bit tag; `K` is used once).
//! 4. The blob on disk is `inner` sealed as any other secret (AES-256-GCM under the
//!    token's non-extractable seal key, AAD also naming `id`), plus `id` in clear.
//! 5. `pad` is stored in the token only: a `CKO_DATA` object (`CKA_TOKEN`,
//!    `CKA_PRIVATE`: readable only after login), labelled `passport-nonce <id>`.
//!
//! Opening needs both the token's seal key and the object; consuming the nonce destroys
//! the object (`C_DestroyObject`) before the signature share is computed. `CKO_DATA` with
//! `C_CreateObject`, `C_GetAttributeValue` and `C_DestroyObject` need no mechanism at
//! all, so the ledger works on tokens with few mechanisms (the seal itself is the same
//! as for shares); HKDF and the inner AEAD are RustCrypto's `hkdf` and `aes-gcm`.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{Result, Token};
use crate::keystore;

pub const LABEL_PREFIX: &str = "passport-nonce ";
const SALT: &[u8] = b"passport-once-pad v1";
const APPLICATION: &[u8] = b"passport";
pub const PAD_LEN: usize = 32;

/// A one-time object id: 32 lowercase hex digits (anything else in a blob is refused,
/// so an edited blob cannot point passport at another object or path).
pub fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn label(id: &str) -> Vec<u8> {
    format!("{LABEL_PREFIX}{id}").into_bytes()
}

/// What the derived key and the inner AEAD are bound to.
pub fn info(label: &str, context: &str, id: &str, serial: &str) -> Vec<u8> {
    format!(
        "passport-once v1\n{}{id}\n{serial}\n",
        keystore::binding(label, context)
    )
    .into_bytes()
}

/// `K` = HKDF-SHA256(salt, IKM = pad, info).
pub fn derive_key(pad: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(SALT), pad)
        .expand(info, k.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    k
}

/// IV ‖ AES-256-GCM_K(IV, plaintext, AAD = info).
pub fn encrypt(key: &[u8; 32], info: &[u8], iv: [u8; 12], plaintext: &[u8]) -> Vec<u8> {
    let aead = Aes256Gcm::new_from_slice(key).expect("32-byte key");
    let ct = aead
        .encrypt(
            Nonce::from_slice(&iv),
            Payload {
                msg: plaintext,
                aad: info,
            },
        )
        .expect("AES-GCM encryption of a small message cannot fail");
    let mut out = iv.to_vec();
    out.extend_from_slice(&ct);
    out
}

/// Inverse of [`encrypt`]; `None` when authentication fails.
pub fn decrypt(key: &[u8; 32], info: &[u8], inner: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if inner.len() < 12 + 16 {
        return None;
    }
    let (iv, ct) = inner.split_at(12);
    let aead = Aes256Gcm::new_from_slice(key).ok()?;
    aead.decrypt(Nonce::from_slice(iv), Payload { msg: ct, aad: info })
        .ok()
        .map(Zeroizing::new)
}

fn find(token: &Token, id: &str) -> Result<Vec<ObjectHandle>> {
    token
        .session()
        .find_objects(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Label(label(id)),
        ])
        .map_err(|e| token.fail("C_FindObjects (one-time object)", e))
}

/// Stores `pad` in a new private token object for `id`.
pub fn create(token: &Token, id: &str, pad: &[u8]) -> Result<()> {
    token
        .session()
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Modifiable(false),
            Attribute::Label(label(id)),
            Attribute::Application(APPLICATION.to_vec()),
            Attribute::Value(pad.to_vec()),
        ])
        .map_err(|e| token.fail("C_CreateObject (one-time object)", e))?;
    Ok(())
}

/// The pad of object `id`, or `None` when the token no longer holds it.
pub fn read_pad(token: &Token, id: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let Some(&h) = find(token, id)?.first() else {
        return Ok(None);
    };
    let attrs = match token.session().get_attributes(h, &[AttributeType::Value]) {
        Ok(a) => a,
        // Destroyed by another process between the search and the read.
        Err(CkError::Pkcs11(RvError::ObjectHandleInvalid, _)) => return Ok(None),
        Err(e) => return Err(token.fail("C_GetAttributeValue (one-time object)", e)),
    };
    Ok(attrs.into_iter().find_map(|a| match a {
        Attribute::Value(v) if v.len() == PAD_LEN => Some(Zeroizing::new(v)),
        _ => None,
    }))
}

/// Destroys object `id`: true if this call destroyed it, false if it was already gone.
pub fn destroy(token: &Token, id: &str) -> Result<bool> {
    let mut destroyed = false;
    for h in find(token, id)? {
        match token.session().destroy_object(h) {
            Ok(()) => destroyed = true,
            Err(CkError::Pkcs11(RvError::ObjectHandleInvalid, _)) => {}
            Err(e) => return Err(token.fail("C_DestroyObject (one-time object)", e)),
        }
    }
    Ok(destroyed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the key derivation. The expected key was computed independently with
    /// Python's standard library (hmac/hashlib, RFC 5869 extract-and-expand):
    /// `hkdf(salt=b"passport-once-pad v1", ikm=bytes(range(32)), info=INFO, L=32)`.
    #[test]
    fn hkdf_key_derivation_matches_the_pinned_vector() {
        let pad: Vec<u8> = (0u8..32).collect();
        let info = info(
            "nonces/ab.1/00112233445566778899aabbccddeeff",
            "",
            "00112233445566778899aabbccddeeff",
            "serial-1",
        );
        assert_eq!(
            String::from_utf8(info.clone()).unwrap(),
            "passport-once v1\npassport-secret v1\nnonces/ab.1/00112233445566778899aabbccddeeff\n\n00112233445566778899aabbccddeeff\nserial-1\n"
        );
        assert_eq!(hex::encode(*derive_key(&pad, &info)), PINNED_KEY);
    }

    const PINNED_KEY: &str = "82256caea87a19d77f801a2d801aa7b3edce5a9a8645bbbff24aca7333f2a104";

    #[test]
    fn the_inner_seal_opens_only_with_its_pad_and_binding() {
        let pad = [7u8; 32];
        let i = info("nonces/x.1/a", "", "0".repeat(32).as_str(), "s");
        let k = derive_key(&pad, &i);
        let inner = encrypt(&k, &i, [1; 12], b"secret nonce");
        assert_eq!(&*decrypt(&k, &i, &inner).unwrap(), b"secret nonce");
        let other = derive_key(&[8u8; 32], &i);
        assert!(decrypt(&other, &i, &inner).is_none(), "another pad");
        let moved = info("nonces/x.1/b", "", "0".repeat(32).as_str(), "s");
        assert!(decrypt(&k, &moved, &inner).is_none(), "another name");
        let mut flipped = inner.clone();
        flipped[20] ^= 1;
        assert!(decrypt(&k, &i, &flipped).is_none(), "tampered");
        assert!(decrypt(&k, &i, &inner[..20]).is_none(), "truncated");
    }

    #[test]
    fn ids_are_strict_hex() {
        assert!(valid_id(&"ab".repeat(16)));
        for bad in ["", "../../etc/passwd", &"AB".repeat(16), &"a".repeat(33)] {
            assert!(!valid_id(bad), "{bad}");
        }
    }
}
