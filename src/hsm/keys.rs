//! The two passport keys in a token: the seal key (AES-256, encrypt/decrypt only) and
//! the attestation key pair (P-256, sign only). Every usage attribute is set explicitly
//! (SoftHSM2's defaults are unsafe) and read back; any difference is a refusal.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use serde::Serialize;

use super::{Error, Result, Token};

pub const SEAL_LABEL: &str = "passport-seal";
pub const ATTEST_LABEL: &str = "passport-attest";
/// DER OID of prime256v1 (secp256r1).
const P256_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Handles and public facts of a token's passport keys.
pub struct Keys {
    pub seal: ObjectHandle,
    pub seal_id: String,
    pub attest_private: ObjectHandle,
    pub attest_public: ObjectHandle,
    pub attest_id: String,
    /// SEC1 uncompressed P-256 point.
    pub attest_point: Vec<u8>,
}

/// Attribute policy: (name, type, required value).
type Policy = &'static [(&'static str, AttributeType, bool)];

const SEAL_POLICY: Policy = &[
    ("CKA_TOKEN", AttributeType::Token, true),
    ("CKA_PRIVATE", AttributeType::Private, true),
    ("CKA_SENSITIVE", AttributeType::Sensitive, true),
    ("CKA_EXTRACTABLE", AttributeType::Extractable, false),
    ("CKA_ALWAYS_SENSITIVE", AttributeType::AlwaysSensitive, true),
    (
        "CKA_NEVER_EXTRACTABLE",
        AttributeType::NeverExtractable,
        true,
    ),
    ("CKA_LOCAL", AttributeType::Local, true),
    ("CKA_ENCRYPT", AttributeType::Encrypt, true),
    ("CKA_DECRYPT", AttributeType::Decrypt, true),
    ("CKA_WRAP", AttributeType::Wrap, false),
    ("CKA_UNWRAP", AttributeType::Unwrap, false),
    ("CKA_SIGN", AttributeType::Sign, false),
    ("CKA_VERIFY", AttributeType::Verify, false),
    ("CKA_DERIVE", AttributeType::Derive, false),
];

const ATTEST_POLICY: Policy = &[
    ("CKA_TOKEN", AttributeType::Token, true),
    ("CKA_PRIVATE", AttributeType::Private, true),
    ("CKA_SENSITIVE", AttributeType::Sensitive, true),
    ("CKA_EXTRACTABLE", AttributeType::Extractable, false),
    ("CKA_ALWAYS_SENSITIVE", AttributeType::AlwaysSensitive, true),
    (
        "CKA_NEVER_EXTRACTABLE",
        AttributeType::NeverExtractable,
        true,
    ),
    ("CKA_LOCAL", AttributeType::Local, true),
    ("CKA_SIGN", AttributeType::Sign, true),
    ("CKA_DECRYPT", AttributeType::Decrypt, false),
    ("CKA_UNWRAP", AttributeType::Unwrap, false),
    ("CKA_DERIVE", AttributeType::Derive, false),
];

fn find(token: &Token, class: ObjectClass, label: &str) -> Result<Vec<ObjectHandle>> {
    token
        .session()
        .find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(|e| token.fail("C_FindObjects", e))
}

/// Reads the boolean attributes of `policy` and refuses on any difference.
fn enforce(
    token: &Token,
    key: ObjectHandle,
    name: &'static str,
    policy: Policy,
) -> Result<Vec<(&'static str, bool)>> {
    let types: Vec<AttributeType> = policy.iter().map(|(_, t, _)| *t).collect();
    let attrs = token
        .session()
        .get_attributes(key, &types)
        .map_err(|e| token.fail("C_GetAttributeValue", e))?;
    let mut seen = vec![];
    for (attr_name, ty, want) in policy {
        let got = attrs.iter().find_map(|a| bool_of(a, *ty));
        match got {
            Some(v) if v == *want => seen.push((*attr_name, v)),
            other => {
                return Err(Error::UnsafeKey {
                    token: token.info.label.clone(),
                    key: name,
                    attribute: attr_name,
                    expected: *want,
                    got: other
                        .map(|b| b.to_string())
                        .unwrap_or_else(|| "unreadable".into()),
                })
            }
        }
    }
    Ok(seen)
}

fn bool_of(a: &Attribute, ty: AttributeType) -> Option<bool> {
    use Attribute as A;
    let (t, v) = match a {
        A::Token(v) => (AttributeType::Token, *v),
        A::Private(v) => (AttributeType::Private, *v),
        A::Sensitive(v) => (AttributeType::Sensitive, *v),
        A::Extractable(v) => (AttributeType::Extractable, *v),
        A::AlwaysSensitive(v) => (AttributeType::AlwaysSensitive, *v),
        A::NeverExtractable(v) => (AttributeType::NeverExtractable, *v),
        A::Local(v) => (AttributeType::Local, *v),
        A::Encrypt(v) => (AttributeType::Encrypt, *v),
        A::Decrypt(v) => (AttributeType::Decrypt, *v),
        A::Wrap(v) => (AttributeType::Wrap, *v),
        A::Unwrap(v) => (AttributeType::Unwrap, *v),
        A::Sign(v) => (AttributeType::Sign, *v),
        A::Verify(v) => (AttributeType::Verify, *v),
        A::Derive(v) => (AttributeType::Derive, *v),
        _ => return None,
    };
    (t == ty).then_some(v)
}

fn id_of(token: &Token, key: ObjectHandle) -> Result<String> {
    let attrs = token
        .session()
        .get_attributes(key, &[AttributeType::Id])
        .map_err(|e| token.fail("C_GetAttributeValue", e))?;
    Ok(attrs
        .iter()
        .find_map(|a| match a {
            Attribute::Id(v) => Some(hex::encode(v)),
            _ => None,
        })
        .unwrap_or_default())
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

/// True when passport's attestation public key is on the token (visible without a PIN).
pub fn has_public_attestation_key(token: &Token) -> bool {
    find(token, ObjectClass::PUBLIC_KEY, ATTEST_LABEL).is_ok_and(|v| !v.is_empty())
}

/// Creates the seal key and attestation key pair. Refuses if passport keys exist.
pub fn init(token: &Token) -> Result<Keys> {
    if !find(token, ObjectClass::SECRET_KEY, SEAL_LABEL)?.is_empty()
        || !find(token, ObjectClass::PRIVATE_KEY, ATTEST_LABEL)?.is_empty()
    {
        return Err(Error::KeysExist {
            token: token.info.label.clone(),
        });
    }
    let seal_id = token.random(16)?;
    let seal_tmpl = [
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
        Attribute::Label(SEAL_LABEL.as_bytes().to_vec()),
        Attribute::Id(seal_id),
    ];
    token
        .session()
        .generate_key(&Mechanism::AesKeyGen, &seal_tmpl)
        .map_err(|e| token.fail("C_GenerateKey", e))?;
    let attest_id = token.random(16)?;
    let pub_tmpl = [
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::Encrypt(false),
        Attribute::Wrap(false),
        Attribute::Derive(false),
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
        .map_err(|e| token.fail("C_GenerateKeyPair", e))?;
    // Read everything back; a token that ignored a template attribute is refused now.
    load(token)
}

/// Finds the passport keys and enforces their attributes.
pub fn load(token: &Token) -> Result<Keys> {
    let missing = |what| Error::KeysMissing {
        token: token.info.label.clone(),
        what,
    };
    let seal = *find(token, ObjectClass::SECRET_KEY, SEAL_LABEL)?
        .first()
        .ok_or_else(|| missing("seal key"))?;
    let attest_private = *find(token, ObjectClass::PRIVATE_KEY, ATTEST_LABEL)?
        .first()
        .ok_or_else(|| missing("attestation key"))?;
    let attest_public = *find(token, ObjectClass::PUBLIC_KEY, ATTEST_LABEL)?
        .first()
        .ok_or_else(|| missing("attestation public key"))?;
    enforce(token, seal, "seal key", SEAL_POLICY)?;
    enforce(token, attest_private, "attestation key", ATTEST_POLICY)?;
    Ok(Keys {
        seal_id: id_of(token, seal)?,
        attest_id: id_of(token, attest_private)?,
        attest_point: ec_point(token, attest_public)?,
        seal,
        attest_private,
        attest_public,
    })
}

/// The attributes an attestation statement reports for each key.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct KeyReport {
    pub id: String,
    pub label: String,
    pub attributes: std::collections::BTreeMap<String, bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub check_value: Option<String>,
}

pub fn report(token: &Token, keys: &Keys) -> Result<(KeyReport, KeyReport)> {
    let seal_attrs = enforce(token, keys.seal, "seal key", SEAL_POLICY)?;
    let attest_attrs = enforce(token, keys.attest_private, "attestation key", ATTEST_POLICY)?;
    let check_value = token
        .session()
        .get_attributes(keys.seal, &[AttributeType::CheckValue])
        .ok()
        .and_then(|a| {
            a.into_iter().find_map(|x| match x {
                Attribute::CheckValue(v) if !v.is_empty() => Some(hex::encode(v)),
                _ => None,
            })
        });
    let mk = |id: &str, label: &str, attrs: Vec<(&str, bool)>, cv| KeyReport {
        id: id.to_owned(),
        label: label.to_owned(),
        attributes: attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        check_value: cv,
    };
    Ok((
        mk(&keys.seal_id, SEAL_LABEL, seal_attrs, check_value),
        mk(&keys.attest_id, ATTEST_LABEL, attest_attrs, None),
    ))
}
