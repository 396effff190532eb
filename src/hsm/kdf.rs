//! Seal format v2: the token as a PRF, the AEAD on the host.
//!
//! Few tokens offer AES-GCM with a caller's IV (tpm2-pkcs11, YubiHSM 2, NetHSM and
//! p11-kit 0.24's RPC do not; CloudHSM and Luna in FIPS mode ignore the IV), but almost
//! every token offers AES-ECB or HMAC-SHA256 on a non-extractable key. So a blob is
//! sealed in two published steps:
//!
//! 1. **A fresh key per blob, derived in the token** from a 96-bit input `N` drawn from
//!    the token's RNG, with one of two constructions ([`Scheme`]):
//!    - `aes-ecb-rfc8452`: the per-nonce key derivation of RFC 8452 §4 (AES-GCM-SIV),
//!      `C_Encrypt(CKM_AES_ECB)` of the blocks `le32(i) ‖ N` for i = 2..5; the first 8
//!      bytes of each output block form the 256-bit message-encryption key.
//!    - `hmac-sha256-sp800-108`: the counter-mode KDF of NIST SP 800-108r1 §4.1 with
//!      HMAC-SHA256 as the PRF, one block: `C_Sign(CKM_SHA256_HMAC)` of
//!      `be32(1) ‖ "passport-seal v2" ‖ 0x00 ‖ N ‖ be32(256)`.
//! 2. **AES-256-GCM-SIV (RFC 8452) on the host** under that key (RustCrypto's
//!    `aes-gcm-siv`), with a 96-bit nonce from the host's RNG and associated data that
//!    binds the format version, the scheme, `N`, the key id and the secret's name and
//!    context. The derived key is zeroized when the call returns.
//!
//! What this protects: the home alone (a copied disk, a backup of the directory) cannot
//! open a blob; each blob needs one token operation under a key that never leaves it,
//! and a blob moved to another name, edited or truncated fails authentication. GCM-SIV
//! keeps a repeated `N` (a broken token RNG) from becoming a keystream reuse.
//! What it does not: the derived key and the plaintext are in host memory while a
//! secret is used, so a compromised host that can use the token can open blobs (as with
//! any on-token cipher, which then returns the plaintext to the host anyway). Only the
//! derivation input and the 32-byte derived key cross a PKCS#11 transport, never the
//! plaintext; over p11-kit's RPC the derived key crosses in clear, hence ssh.

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use zeroize::Zeroizing;

/// Bytes of the derivation input `N`.
pub const INPUT_LEN: usize = 12;
/// Bytes of the host AEAD's nonce.
pub const NONCE_LEN: usize = 12;

/// How a token derives the per-blob key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Scheme {
    #[serde(rename = "aes-ecb-rfc8452")]
    AesEcb,
    #[serde(rename = "hmac-sha256-sp800-108")]
    HmacSha256,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::AesEcb => "aes-ecb-rfc8452",
            Scheme::HmacSha256 => "hmac-sha256-sp800-108",
        }
    }

    pub fn parse(s: &str) -> Option<Scheme> {
        match s {
            "aes-ecb-rfc8452" | "aes-ecb" => Some(Scheme::AesEcb),
            "hmac-sha256-sp800-108" | "hmac-sha256" | "hmac" => Some(Scheme::HmacSha256),
            _ => None,
        }
    }

    /// The PKCS#11 mechanism the token runs, for messages.
    pub fn mechanism(self) -> &'static str {
        match self {
            Scheme::AesEcb => "CKM_AES_ECB",
            Scheme::HmacSha256 => "CKM_SHA256_HMAC",
        }
    }

    /// What the token is given: the ECB blocks or the HMAC message.
    pub fn token_input(self, n: &[u8; INPUT_LEN]) -> Vec<u8> {
        match self {
            Scheme::AesEcb => {
                let mut blocks = Vec::with_capacity(64);
                for i in 2u32..6 {
                    blocks.extend_from_slice(&i.to_le_bytes());
                    blocks.extend_from_slice(n);
                }
                blocks
            }
            Scheme::HmacSha256 => {
                let mut m = Vec::with_capacity(4 + LABEL.len() + 1 + INPUT_LEN + 4);
                m.extend_from_slice(&1u32.to_be_bytes());
                m.extend_from_slice(LABEL);
                m.push(0);
                m.extend_from_slice(n);
                m.extend_from_slice(&256u32.to_be_bytes());
                m
            }
        }
    }

    /// The 256-bit key from the token's output; `None` if the output has the wrong size
    /// (a token that answered something other than what was asked).
    pub fn key_from_output(self, out: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
        let mut k = Zeroizing::new([0u8; 32]);
        match self {
            Scheme::AesEcb => {
                if out.len() != 64 {
                    return None;
                }
                for (i, block) in out.chunks_exact(16).enumerate() {
                    k[i * 8..i * 8 + 8].copy_from_slice(&block[..8]);
                }
            }
            Scheme::HmacSha256 => {
                if out.len() != 32 {
                    return None;
                }
                k.copy_from_slice(out);
            }
        }
        Some(k)
    }
}

/// SP 800-108 `Label` of the HMAC scheme.
const LABEL: &[u8] = b"passport-seal v2";

/// AES-256-GCM-SIV under the derived key; returns ciphertext ‖ tag.
pub fn encrypt(key: &[u8; 32], nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    Aes256GcmSiv::new_from_slice(key)
        .expect("32-byte key")
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM-SIV encryption of a small message cannot fail")
}

/// Inverse of [`encrypt`]; `None` exactly when authentication fails.
pub fn decrypt(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ct: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    Aes256GcmSiv::new_from_slice(key)
        .ok()?
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .ok()
        .map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::BlockEncrypt;
    use hmac::Mac;

    /// A host stand-in for the token's PRF under a known key.
    fn host_prf(scheme: Scheme, key: &[u8; 32], input: &[u8]) -> Vec<u8> {
        match scheme {
            Scheme::AesEcb => {
                let aes = aes::Aes256::new_from_slice(key).unwrap();
                let mut out = input.to_vec();
                for block in out.chunks_exact_mut(16) {
                    aes.encrypt_block(aes::Block::from_mut_slice(block));
                }
                out
            }
            Scheme::HmacSha256 => {
                let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
                m.update(input);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// RFC 8452 Appendix C.2, first AEAD_AES_256_GCM_SIV vector: key-generating key
    /// 01 00…00, nonce 03 00…00, "Record encryption key" as printed in the RFC.
    #[test]
    fn aes_ecb_derivation_is_rfc8452_section4() {
        let mut kgk = [0u8; 32];
        kgk[0] = 1;
        let mut n = [0u8; 12];
        n[0] = 3;
        let input = Scheme::AesEcb.token_input(&n);
        assert_eq!(
            hex::encode(&input[..16]),
            "02000000030000000000000000000000"
        );
        let key = Scheme::AesEcb
            .key_from_output(&host_prf(Scheme::AesEcb, &kgk, &input))
            .unwrap();
        assert_eq!(
            hex::encode(*key),
            "b914f4742be9e1d7a2f84addbf96dec3456e3c6c05ecc157cdbf0700fedad222"
        );
    }

    /// Pinned with Python's standard library, independently of this code:
    ///
    /// ```text
    /// hmac.new(bytes(range(32)), (1).to_bytes(4,'big') + b'passport-seal v2' + b'\0'
    ///     + bytes.fromhex('030000000000000000000000') + (256).to_bytes(4,'big'),
    ///     hashlib.sha256).hexdigest()
    /// ```
    #[test]
    fn hmac_derivation_is_sp800_108_counter_mode() {
        let kdk: [u8; 32] = core::array::from_fn(|i| i as u8);
        let mut n = [0u8; 12];
        n[0] = 3;
        let input = Scheme::HmacSha256.token_input(&n);
        let key = Scheme::HmacSha256
            .key_from_output(&host_prf(Scheme::HmacSha256, &kdk, &input))
            .unwrap();
        assert_eq!(
            hex::encode(*key),
            "b7ae87918e32c180f2526678420709a3a9536bd94b0ff516ba4422b4261fdeaa"
        );
    }

    #[test]
    fn wrong_sized_token_output_is_refused() {
        assert!(Scheme::AesEcb.key_from_output(&[0; 48]).is_none());
        assert!(Scheme::HmacSha256.key_from_output(&[0; 20]).is_none());
    }

    #[test]
    fn the_aead_opens_only_what_it_sealed() {
        let k = [9u8; 32];
        let ct = encrypt(&k, &[1; 12], b"aad", b"share");
        assert_eq!(&*decrypt(&k, &[1; 12], b"aad", &ct).unwrap(), b"share");
        assert!(decrypt(&k, &[1; 12], b"other", &ct).is_none(), "aad");
        assert!(decrypt(&k, &[2; 12], b"aad", &ct).is_none(), "nonce");
        assert!(decrypt(&[8u8; 32], &[1; 12], b"aad", &ct).is_none(), "key");
        let mut t = ct.clone();
        t[0] ^= 1;
        assert!(decrypt(&k, &[1; 12], b"aad", &t).is_none(), "tampered");
        assert!(
            decrypt(&k, &[1; 12], b"aad", &ct[..10]).is_none(),
            "truncated"
        );
    }

    #[test]
    fn scheme_names_round_trip() {
        for s in [Scheme::AesEcb, Scheme::HmacSha256] {
            assert_eq!(Scheme::parse(s.name()), Some(s));
        }
        assert_eq!(Scheme::parse("aes-gcm"), None);
    }
}
