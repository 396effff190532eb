//! The passport keys in a token: the key-derivation key that seals (AES-256 used through
//! ECB, or an HMAC-SHA256 secret; see [`super::kdf`]), the seal key of format v1 where a
//! home still has old blobs, and the attestation key pair (P-256, sign only). Every
//! usage attribute is set explicitly where passport creates a key (SoftHSM2's defaults
//! are unsafe), and read back and enforced on every load ([`super::policy`]).

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};

use super::kdf::Scheme;
use super::policy::{self, enforce, find, id_of};
use super::{Error, Result, Token};

pub const KDK_LABEL: &str = "passport-kdk";
pub const LEGACY_SEAL_LABEL: &str = "passport-seal";
pub const ATTEST_LABEL: &str = "passport-attest";
/// DER OID of prime256v1 (secp256r1).
const P256_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The key that derives per-blob keys.
pub struct Kdk {
    pub handle: ObjectHandle,
    pub id: String,
    pub scheme: Scheme,
}

/// Handles and public facts of a token's passport keys.
pub struct Keys {
    pub kdk: Option<Kdk>,
    /// The format-v1 seal key (on-token AES-GCM), when the token still has one.
    pub legacy: Option<(ObjectHandle, String)>,
    pub attest_private: ObjectHandle,
    pub attest_public: ObjectHandle,
    pub attest_id: String,
    /// SEC1 uncompressed P-256 point.
    pub attest_point: Vec<u8>,
}

impl Keys {
    /// The id a home records: the key that seals new blobs.
    pub fn seal_id(&self) -> &str {
        match (&self.kdk, &self.legacy) {
            (Some(k), _) => &k.id,
            (None, Some((_, id))) => id,
            (None, None) => "",
        }
    }

    /// The scheme new blobs are sealed with (`None`: format v1 only).
    pub fn scheme(&self) -> Option<Scheme> {
        self.kdk.as_ref().map(|k| k.scheme)
    }

    /// True when `id` names one of this token's seal keys.
    pub fn holds(&self, id: &str) -> bool {
        self.kdk.as_ref().is_some_and(|k| k.id == id)
            || self.legacy.as_ref().is_some_and(|(_, l)| l == id)
    }
}

/// Which scheme a token can serve: AES-ECB where it offers it, else HMAC-SHA256.
pub fn usable_scheme(mechanisms: &[MechanismType]) -> Option<Scheme> {
    if mechanisms.contains(&MechanismType::AES_ECB) {
        Some(Scheme::AesEcb)
    } else if mechanisms.contains(&MechanismType::SHA256_HMAC) {
        Some(Scheme::HmacSha256)
    } else {
        None
    }
}

/// What a key of `scheme` is for, in messages.
pub(super) fn kdk_policy(scheme: Scheme) -> policy::Policy {
    match scheme {
        Scheme::AesEcb => policy::KDK_AES,
        Scheme::HmacSha256 => policy::KDK_HMAC,
    }
}

fn scheme_of(token: &Token, key: ObjectHandle) -> Result<Scheme> {
    let attrs = token
        .session()
        .get_attributes(key, &[AttributeType::KeyType])
        .map_err(|e| token.fail("C_GetAttributeValue", e))?;
    match attrs.iter().find_map(|a| match a {
        Attribute::KeyType(t) => Some(*t),
        _ => None,
    }) {
        Some(KeyType::AES) => Ok(Scheme::AesEcb),
        Some(KeyType::GENERIC_SECRET) | Some(KeyType::SHA256_HMAC) => Ok(Scheme::HmacSha256),
        other => Err(Error::UnsafeKey {
            token: token.info.label.clone(),
            key: "seal key",
            attribute: "CKA_KEY_TYPE",
            expected: true,
            got: format!(
                "{} (passport needs CKK_AES or an HMAC secret)",
                other
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "unreadable".into())
            ),
        }),
    }
}

/// True when passport's attestation public key is on the token (visible without a PIN).
pub fn has_public_attestation_key(token: &Token) -> bool {
    find(token, ObjectClass::PUBLIC_KEY, ATTEST_LABEL).is_ok_and(|v| !v.is_empty())
}

/// What `init` created and what it found already there.
pub struct Created {
    pub keys: Keys,
    /// The key-derivation key was made with another tool (e.g. `tpm2_ptool`) and adopted.
    pub adopted: bool,
}

/// How to make a key-derivation key on a token that cannot generate one through
/// PKCS#11 (tpm2-pkcs11). `tpm2_ptool addkey` would make an AES key that can also
/// decrypt, and tpm2-pkcs11 does not enforce CKA_DECRYPT; a TPM object created without
/// the `decrypt` attribute can only encrypt, and the TPM itself enforces that.
pub fn adopt_command(token: &Token, scheme: Scheme) -> String {
    let algorithm = match scheme {
        Scheme::AesEcb => "aes256",
        Scheme::HmacSha256 => "hmac",
    };
    format!(
        "tpm2_create -C <the store's primary, from tpm2_ptool listprimaries> -G {algorithm} -a 'sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth' -p <a new key auth> -u kdk.pub -r kdk.priv && tpm2_ptool link --label={} --key-label={KDK_LABEL} --userpin=… --auth=<the same auth> kdk.pub kdk.priv (README: \"TPM 2.0\")",
        token.info.label
    )
}

/// Creates whatever passport keys the token lacks: the key-derivation key (generated,
/// or adopted when one labelled [`KDK_LABEL`] is already there) and the attestation key
/// pair. Refuses when all are present. `scheme` forces a scheme; `legacy` makes the
/// format-v1 AES-GCM seal key instead (compatibility tests only).
pub fn init(
    token: &Token,
    mechanisms: &[MechanismType],
    scheme: Option<Scheme>,
    legacy: bool,
) -> Result<Created> {
    let has_kdk = !find(token, ObjectClass::SECRET_KEY, KDK_LABEL)?.is_empty();
    let has_legacy = !find(token, ObjectClass::SECRET_KEY, LEGACY_SEAL_LABEL)?.is_empty();
    let has_attest = !find(token, ObjectClass::PRIVATE_KEY, ATTEST_LABEL)?.is_empty();
    // Keys already there are checked before anything is created, so a token with
    // unsafe keys is refused as it is, not given more keys beside them.
    if has_legacy {
        let h = find(token, ObjectClass::SECRET_KEY, LEGACY_SEAL_LABEL)?;
        enforce(token, h[0], "seal key", policy::LEGACY_SEAL)?;
    }
    if has_attest {
        let h = find(token, ObjectClass::PRIVATE_KEY, ATTEST_LABEL)?;
        enforce(token, h[0], "attestation key", policy::ATTEST)?;
    }
    if has_kdk {
        let h = find(token, ObjectClass::SECRET_KEY, KDK_LABEL)?;
        enforce(token, h[0], "seal key", kdk_policy(scheme_of(token, h[0])?))?;
    }
    let sealing_done = if legacy { has_legacy } else { has_kdk };
    if sealing_done && has_attest {
        return Err(Error::KeysExist {
            token: token.info.label.clone(),
        });
    }
    let mut adopted = false;
    if legacy && !has_legacy {
        generate_legacy(token)?;
    } else if !legacy && has_kdk {
        adopted = true;
    } else if !legacy {
        let scheme = match scheme {
            Some(s) => s,
            None => usable_scheme(mechanisms).ok_or_else(|| no_mechanism(token))?,
        };
        generate_kdk(token, scheme)?;
    }
    if !has_attest {
        generate_attest(token)?;
    }
    // Read everything back; a token that ignored a template attribute is refused now.
    let keys = load(token)?;
    if let (Some(want), Some(k)) = (scheme, &keys.kdk) {
        if k.scheme != want {
            return Err(Error::UnsafeKey {
                token: token.info.label.clone(),
                key: "seal key",
                attribute: "CKA_KEY_TYPE",
                expected: true,
                got: format!("a key for {}, not for {}", k.scheme.name(), want.name()),
            });
        }
    }
    Ok(Created { keys, adopted })
}

fn no_mechanism(token: &Token) -> Error {
    Error::NoMechanism {
        token: token.info.label.clone(),
        module: token.spec.module.display().to_string(),
    }
}

fn generate_kdk(token: &Token, scheme: Scheme) -> Result<()> {
    let id = token.random(16)?;
    let (mechanism, key_type, usage) = match scheme {
        Scheme::AesEcb => (
            Mechanism::AesKeyGen,
            KeyType::AES,
            [Attribute::Encrypt(true), Attribute::Sign(false)],
        ),
        Scheme::HmacSha256 => (
            Mechanism::GenericSecretKeyGen,
            KeyType::GENERIC_SECRET,
            [Attribute::Encrypt(false), Attribute::Sign(true)],
        ),
    };
    let mut tmpl = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(key_type),
        Attribute::ValueLen(32.into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Decrypt(false),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
        Attribute::Label(KDK_LABEL.as_bytes().to_vec()),
        Attribute::Id(id),
    ];
    tmpl.extend(usage);
    match token.session().generate_key(&mechanism, &tmpl) {
        Ok(_) => Ok(()),
        // tpm2-pkcs11 lists CKM_AES_KEY_GEN but cannot generate through PKCS#11.
        Err(CkError::Pkcs11(RvError::FunctionNotSupported, _))
        | Err(CkError::Pkcs11(RvError::MechanismInvalid, _)) => Err(Error::AdoptNeeded {
            token: token.info.label.clone(),
            command: adopt_command(token, scheme),
        }),
        Err(e) => Err(token.fail_mech("C_GenerateKey", mechanism_name(&mechanism), e)),
    }
}

fn mechanism_name(m: &Mechanism) -> &'static str {
    match m {
        Mechanism::AesKeyGen => "CKM_AES_KEY_GEN",
        Mechanism::GenericSecretKeyGen => "CKM_GENERIC_SECRET_KEY_GEN",
        Mechanism::EccKeyPairGen => "CKM_EC_KEY_PAIR_GEN",
        _ => "a key generation mechanism",
    }
}

fn generate_legacy(token: &Token) -> Result<()> {
    let id = token.random(16)?;
    let tmpl = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
        Attribute::Label(LEGACY_SEAL_LABEL.as_bytes().to_vec()),
        Attribute::Id(id),
    ];
    token
        .session()
        .generate_key(&Mechanism::AesKeyGen, &tmpl)
        .map_err(|e| token.fail_mech("C_GenerateKey", "CKM_AES_KEY_GEN", e))?;
    Ok(())
}

fn generate_attest(token: &Token) -> Result<()> {
    let attest_id = token.random(16)?;
    // Only what a public key needs: tpm2-pkcs11 refuses usage attributes here
    // (CKR_GENERAL_ERROR), and a public key's usages protect nothing.
    let pub_tmpl = [
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::EcParams(P256_OID.to_vec()),
        Attribute::Label(ATTEST_LABEL.as_bytes().to_vec()),
        Attribute::Id(attest_id.clone()),
    ];
    let priv_tmpl = [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
        Attribute::Label(ATTEST_LABEL.as_bytes().to_vec()),
        Attribute::Id(attest_id),
    ];
    token
        .session()
        .generate_key_pair(&Mechanism::EccKeyPairGen, &pub_tmpl, &priv_tmpl)
        .map_err(|e| token.fail_mech("C_GenerateKeyPair", "CKM_EC_KEY_PAIR_GEN", e))?;
    Ok(())
}

/// Finds the passport keys and enforces their attributes.
pub fn load(token: &Token) -> Result<Keys> {
    let missing = |what| Error::KeysMissing {
        token: token.info.label.clone(),
        what,
    };
    let kdk = match find(token, ObjectClass::SECRET_KEY, KDK_LABEL)?.as_slice() {
        [] => None,
        [h] => {
            let scheme = scheme_of(token, *h)?;
            enforce(token, *h, "seal key", kdk_policy(scheme))?;
            Some(Kdk {
                handle: *h,
                id: id_of(token, *h)?,
                scheme,
            })
        }
        _ => return Err(several(token, KDK_LABEL)),
    };
    let legacy = match find(token, ObjectClass::SECRET_KEY, LEGACY_SEAL_LABEL)?.as_slice() {
        [] => None,
        [h] => {
            enforce(token, *h, "seal key", policy::LEGACY_SEAL)?;
            Some((*h, id_of(token, *h)?))
        }
        _ => return Err(several(token, LEGACY_SEAL_LABEL)),
    };
    if kdk.is_none() && legacy.is_none() {
        return Err(missing("seal key"));
    }
    let attest_private = *find(token, ObjectClass::PRIVATE_KEY, ATTEST_LABEL)?
        .first()
        .ok_or_else(|| missing("attestation key"))?;
    let attest_public = *find(token, ObjectClass::PUBLIC_KEY, ATTEST_LABEL)?
        .first()
        .ok_or_else(|| missing("attestation public key"))?;
    enforce(token, attest_private, "attestation key", policy::ATTEST)?;
    Ok(Keys {
        kdk,
        legacy,
        attest_id: id_of(token, attest_private)?,
        attest_point: ec_point(token, attest_public)?,
        attest_private,
        attest_public,
    })
}

/// Two keys under one label: which one sealed a blob would be a guess.
fn several(token: &Token, label: &str) -> Error {
    Error::Pkcs11 {
        token: token.info.label.clone(),
        op: "finding passport keys",
        detail: format!("several keys are labelled {label}; delete all but one"),
    }
}

/// The uncompressed SEC1 point of an EC public key (CKA_EC_POINT is a DER OCTET STRING).
fn ec_point(token: &Token, key: ObjectHandle) -> Result<Vec<u8>> {
    let attrs = token
        .session()
        .get_attributes(key, &[AttributeType::EcPoint])
        .map_err(|e| token.fail("C_GetAttributeValue", e))?;
    let der = attrs
        .iter()
        .find_map(|a| match a {
            Attribute::EcPoint(v) => Some(v.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let point = match der.as_slice() {
        [0x04, 0x41, rest @ ..] if rest.len() == 65 => rest.to_vec(),
        raw if raw.len() == 65 && raw[0] == 0x04 => raw.to_vec(),
        _ => {
            return Err(Error::Pkcs11 {
                token: token.info.label.clone(),
                op: "reading CKA_EC_POINT",
                detail: "not an uncompressed P-256 point".into(),
            })
        }
    };
    Ok(point)
}
