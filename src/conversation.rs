//! NIP-44 v2 and NIP-04 encryption from an ECDH x-coordinate that was computed by the
//! group (see [`crate::ceremony::ecdh`]) rather than from a secret key in hand.
//!
//! The wire formats are exactly those of the `nostr` crate: what `nostr::nips::nip44`
//! and `nostr::nips::nip04` produce decrypts here and the other way round.
//!
//! - NIP-44 v2: conversation key = HKDF-extract(salt = "nip44-v2", IKM = x), then
//!   `nostr::nips::nip44::v2`; the payload is standard base64 (with padding).
//! - NIP-04: AES-256-CBC, key = x (raw), PKCS#7, random 16-byte IV, content
//!   `base64(ciphertext)?iv=base64(iv)`.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use nostr::nips::nip44::v2::{self, ConversationKey};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::ceremony::ecdh::SharedX;

pub mod pairs;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// NIP-44's HKDF salt.
const NIP44_SALT: &[u8] = b"nip44-v2";
/// The largest NIP-44 v2 payload (version, nonce, 2-byte length and 65536 padded
/// bytes, MAC) and its base64 length, as in `nostr`.
const NIP44_MAX_PAYLOAD: usize = 1 + 32 + 2 + 65_536 + 32;
const NIP44_MAX_ENCODED: usize = NIP44_MAX_PAYLOAD.div_ceil(3) * 4;
const NIP04_IV_LEN: usize = 16;
const NIP04_ENCODED_IV_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("NIP-44: the payload is not valid base64 ({0})")]
    Nip44Base64(base64::DecodeError),
    #[error("NIP-44: the payload is empty")]
    Nip44Empty,
    #[error("NIP-44: payload version {0} is not supported (only version 2 is)")]
    Nip44Version(u8),
    #[error("NIP-44: the payload is {0} characters, longer than any NIP-44 v2 message")]
    Nip44TooLong(usize),
    #[error("NIP-44: {0}")]
    Nip44(String),
    #[error("NIP-04: the content must be `<base64 ciphertext>?iv=<base64 IV>`")]
    Nip04Format,
    #[error("NIP-04: the IV must be 16 bytes in base64 (24 characters)")]
    Nip04Iv,
    #[error("NIP-04: the ciphertext or IV is not valid base64")]
    Nip04Base64,
    #[error("NIP-04: decryption failed (wrong key, or a corrupted or truncated ciphertext)")]
    Nip04Decrypt,
    #[error("the decrypted message is not UTF-8")]
    NotUtf8,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The NIP-44 v2 conversation key for the shared x-coordinate.
pub fn nip44_conversation_key(shared: &SharedX) -> ConversationKey {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(NIP44_SALT).expect("HMAC takes a key of any length");
    mac.update(shared.as_bytes());
    let prk = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
    ConversationKey::new(*prk)
}

/// NIP-44 v2 encryption: the base64 payload.
pub fn nip44_encrypt(shared: &SharedX, plaintext: impl AsRef<[u8]>) -> Result<String> {
    nip44_encrypt_with_rng(&mut rand::rngs::OsRng, shared, plaintext)
}

/// NIP-44 v2 encryption with the caller's randomness (for the 32-byte nonce).
pub fn nip44_encrypt_with_rng(
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
    shared: &SharedX,
    plaintext: impl AsRef<[u8]>,
) -> Result<String> {
    nip44_encrypt_with_key(rng, &nip44_conversation_key(shared), plaintext.as_ref())
}

/// NIP-44 v2 encryption under a conversation key: the base64 payload.
pub(crate) fn nip44_encrypt_with_key(
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
    key: &ConversationKey,
    plaintext: &[u8],
) -> Result<String> {
    let payload = v2::encrypt_to_bytes_with_rng(rng, key, plaintext)
        .map_err(|e| Error::Nip44(e.to_string()))?;
    Ok(STANDARD.encode(payload))
}

/// NIP-44 decryption of a base64 payload to a UTF-8 string.
pub fn nip44_decrypt(shared: &SharedX, payload: &str) -> Result<String> {
    String::from_utf8(nip44_decrypt_to_bytes(shared, payload)?).map_err(|_| Error::NotUtf8)
}

/// NIP-44 decryption of a base64 payload to bytes.
pub fn nip44_decrypt_to_bytes(shared: &SharedX, payload: &str) -> Result<Vec<u8>> {
    nip44_decrypt_with_key(&nip44_conversation_key(shared), payload)
}

/// NIP-44 decryption of a base64 payload under a conversation key, to bytes.
pub(crate) fn nip44_decrypt_with_key(key: &ConversationKey, payload: &str) -> Result<Vec<u8>> {
    if payload.is_empty() {
        return Err(Error::Nip44Empty);
    }
    // NIP-44: a payload starting with '#' is a future, non-base64 version.
    if payload.starts_with('#') {
        return Err(Error::Nip44Version(b'#'));
    }
    if payload.len() > NIP44_MAX_ENCODED {
        return Err(Error::Nip44TooLong(payload.len()));
    }
    let bytes = STANDARD.decode(payload).map_err(Error::Nip44Base64)?;
    match bytes.first() {
        None => return Err(Error::Nip44Empty),
        Some(2) => {}
        Some(&v) => return Err(Error::Nip44Version(v)),
    }
    v2::decrypt_to_bytes(key, &bytes).map_err(|e| Error::Nip44(e.to_string()))
}

/// NIP-04 encryption: `base64(ciphertext)?iv=base64(iv)`.
pub fn nip04_encrypt(shared: &SharedX, plaintext: impl AsRef<[u8]>) -> Result<String> {
    nip04_encrypt_with_rng(&mut rand::rngs::OsRng, shared, plaintext)
}

/// NIP-04 encryption with the caller's randomness (for the IV).
pub fn nip04_encrypt_with_rng(
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
    shared: &SharedX,
    plaintext: impl AsRef<[u8]>,
) -> Result<String> {
    let mut iv = [0u8; NIP04_IV_LEN];
    rng.fill_bytes(&mut iv);
    let cipher = Aes256CbcEnc::new(shared.as_bytes().into(), &iv.into());
    let ciphertext = cipher.encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_ref());
    Ok(format!(
        "{}?iv={}",
        STANDARD.encode(ciphertext),
        STANDARD.encode(iv)
    ))
}

/// NIP-04 decryption to a UTF-8 string.
pub fn nip04_decrypt(shared: &SharedX, content: &str) -> Result<String> {
    String::from_utf8(nip04_decrypt_to_bytes(shared, content)?).map_err(|_| Error::NotUtf8)
}

/// NIP-04 decryption to bytes.
pub fn nip04_decrypt_to_bytes(shared: &SharedX, content: &str) -> Result<Vec<u8>> {
    let (ciphertext, iv) = content.split_once("?iv=").ok_or(Error::Nip04Format)?;
    if iv.len() != NIP04_ENCODED_IV_LEN || iv.contains("?iv=") {
        return Err(Error::Nip04Iv);
    }
    let ciphertext = STANDARD
        .decode(ciphertext)
        .map_err(|_| Error::Nip04Base64)?;
    let iv: [u8; NIP04_IV_LEN] = STANDARD
        .decode(iv)
        .map_err(|_| Error::Nip04Base64)?
        .try_into()
        .map_err(|_| Error::Nip04Iv)?;
    let cipher = Aes256CbcDec::new(shared.as_bytes().into(), &iv.into());
    cipher
        .decrypt_padded_vec_mut::<Pkcs7>(&ciphertext)
        .map_err(|_| Error::Nip04Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr::nips::{nip04, nip44};
    use nostr::Keys;

    /// A single-key pair whose ECDH x stands in for the group's.
    fn pair() -> (Keys, Keys, SharedX) {
        let a = Keys::generate();
        let b = Keys::generate();
        let x = nostr::util::generate_shared_key(a.secret_key(), &b.public_key()).unwrap();
        (a, b, SharedX::from_bytes(x))
    }

    #[test]
    fn conversation_key_matches_nostr() {
        let (a, b, x) = pair();
        let want = ConversationKey::derive(a.secret_key(), &b.public_key()).unwrap();
        assert_eq!(nip44_conversation_key(&x).as_bytes(), want.as_bytes());
    }

    #[test]
    fn nip44_both_directions() {
        let (a, b, x) = pair();
        let ours = nip44_encrypt(&x, "hello from the group").unwrap();
        assert_eq!(
            nip44::decrypt(b.secret_key(), &a.public_key(), &ours).unwrap(),
            "hello from the group"
        );
        let theirs = nip44::encrypt(
            b.secret_key(),
            &a.public_key(),
            "hello group",
            nip44::Version::V2,
        )
        .unwrap();
        assert_eq!(nip44_decrypt(&x, &theirs).unwrap(), "hello group");
    }

    #[test]
    fn nip44_official_vector() {
        // From nostr's nip44.vectors.json (valid.encrypt_decrypt[0]).
        let sec1 = nostr::SecretKey::from_hex(
            "0000000000000000000000000000000000000000000000000000000000000001",
        )
        .unwrap();
        let sec2 = Keys::new(
            nostr::SecretKey::from_hex(
                "0000000000000000000000000000000000000000000000000000000000000002",
            )
            .unwrap(),
        );
        let x = SharedX::from_bytes(
            nostr::util::generate_shared_key(&sec1, &sec2.public_key()).unwrap(),
        );
        assert_eq!(
            hex::encode(nip44_conversation_key(&x).as_bytes()),
            "c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d"
        );
        let payload = "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABee0G5VSK0/9YypIObAtDKfYEAjD35uVkHyB0F4DwrcNaCXlCWZKaArsGrY6M9wnuTMxWfp1RTN9Xga8no+kF5Vsb";
        assert_eq!(nip44_decrypt(&x, payload).unwrap(), "a");
        let mut nonce = [0u8; 32];
        nonce[31] = 1;
        let ours = nip44_encrypt_with_rng(&mut FixedNonce(nonce), &x, "a").unwrap();
        assert_eq!(ours, payload);
    }

    /// An "RNG" that returns one fixed 32-byte nonce: for the official vector only.
    struct FixedNonce([u8; 32]);

    impl rand::RngCore for FixedNonce {
        fn next_u32(&mut self) -> u32 {
            let mut b = [0u8; 4];
            self.fill_bytes(&mut b);
            u32::from_le_bytes(b)
        }
        fn next_u64(&mut self) -> u64 {
            let mut b = [0u8; 8];
            self.fill_bytes(&mut b);
            u64::from_le_bytes(b)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            dest.copy_from_slice(&self.0[..dest.len()]);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl rand::CryptoRng for FixedNonce {}

    #[test]
    fn nip44_rejections() {
        let (_, _, x) = pair();
        let ours = nip44_encrypt(&x, "m").unwrap();
        // Wrong key: MAC fails.
        let other = SharedX::from_bytes([7; 32]);
        assert!(matches!(nip44_decrypt(&other, &ours), Err(Error::Nip44(_))));
        // Version byte other than 2.
        let mut raw = STANDARD.decode(&ours).unwrap();
        raw[0] = 1;
        let v1 = STANDARD.encode(&raw);
        assert!(matches!(
            nip44_decrypt(&x, &v1),
            Err(Error::Nip44Version(1))
        ));
        assert!(matches!(
            nip44_decrypt(&x, "#future"),
            Err(Error::Nip44Version(_))
        ));
        assert!(matches!(nip44_decrypt(&x, ""), Err(Error::Nip44Empty)));
        assert!(matches!(
            nip44_decrypt(&x, "not base64!"),
            Err(Error::Nip44Base64(_))
        ));
        let huge = "A".repeat(NIP44_MAX_ENCODED + 4);
        assert!(matches!(
            nip44_decrypt(&x, &huge),
            Err(Error::Nip44TooLong(_))
        ));
        // A tampered ciphertext byte.
        let mut raw = STANDARD.decode(&ours).unwrap();
        raw[40] ^= 1;
        assert!(nip44_decrypt(&x, &STANDARD.encode(&raw)).is_err());
    }

    #[test]
    fn nip44_max_encoded_matches_nostr_limit() {
        // The largest message nostr will produce encodes to exactly our limit.
        let (_, _, x) = pair();
        let big = vec![b'z'; 65_536 - 128];
        let ours = nip44_encrypt(&x, &big).unwrap();
        assert_eq!(ours.len(), NIP44_MAX_ENCODED);
        assert_eq!(nip44_decrypt_to_bytes(&x, &ours).unwrap(), big);
    }

    #[test]
    fn nip04_both_directions() {
        let (a, b, x) = pair();
        let ours = nip04_encrypt(&x, "hello from the group").unwrap();
        assert!(ours.contains("?iv="));
        assert_eq!(
            nip04::decrypt(b.secret_key(), &a.public_key(), &ours).unwrap(),
            "hello from the group"
        );
        let theirs = nip04::encrypt(b.secret_key(), &a.public_key(), "hello group").unwrap();
        assert_eq!(nip04_decrypt(&x, &theirs).unwrap(), "hello group");
    }

    #[test]
    fn nip04_rejections() {
        let (_, _, x) = pair();
        let ours = nip04_encrypt(&x, "m").unwrap();
        assert!(matches!(nip04_decrypt(&x, "abc"), Err(Error::Nip04Format)));
        assert!(matches!(
            nip04_decrypt(&x, "abc?iv=short"),
            Err(Error::Nip04Iv)
        ));
        let (ct, iv) = ours.split_once("?iv=").unwrap();
        assert!(matches!(
            nip04_decrypt(&x, &format!("{ct}!?iv={iv}")),
            Err(Error::Nip04Base64)
        ));
        let other = SharedX::from_bytes([7; 32]);
        // A wrong key almost always breaks the padding; when it happens not to, the
        // plaintext is garbage.
        match nip04_decrypt_to_bytes(&other, &ours) {
            Err(Error::Nip04Decrypt) => {}
            Ok(p) => assert_ne!(p, b"m"),
            Err(e) => panic!("{e}"),
        }
        let non_utf8 = nip04_encrypt(&x, [0xff, 0xfe]).unwrap();
        assert!(matches!(nip04_decrypt(&x, &non_utf8), Err(Error::NotUtf8)));
    }
}
