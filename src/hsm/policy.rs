//! What passport requires of each key it uses, read back from the token and enforced
//! on every load: a key the token would let anyone extract, or use for more than the
//! one operation passport needs, is refused rather than used.

use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};

use super::{Error, Result, Token};

/// Attribute policy: (name, type, required value).
pub type Policy = &'static [(&'static str, AttributeType, bool)];

/// Kept secret and inside the token since it was made there.
macro_rules! held {
    ($($rest:tt)*) => {
        &[
            ("CKA_TOKEN", AttributeType::Token, true),
            ("CKA_PRIVATE", AttributeType::Private, true),
            ("CKA_SENSITIVE", AttributeType::Sensitive, true),
            ("CKA_EXTRACTABLE", AttributeType::Extractable, false),
            ("CKA_ALWAYS_SENSITIVE", AttributeType::AlwaysSensitive, true),
            ("CKA_NEVER_EXTRACTABLE", AttributeType::NeverExtractable, true),
            ("CKA_LOCAL", AttributeType::Local, true),
            $($rest)*
        ]
    };
}

/// The AES key-derivation key: ECB encryption only (RFC 8452 §4 needs no decryption).
pub const KDK_AES: Policy = held![
    ("CKA_ENCRYPT", AttributeType::Encrypt, true),
    ("CKA_DECRYPT", AttributeType::Decrypt, false),
    ("CKA_WRAP", AttributeType::Wrap, false),
    ("CKA_UNWRAP", AttributeType::Unwrap, false),
    ("CKA_SIGN", AttributeType::Sign, false),
    ("CKA_VERIFY", AttributeType::Verify, false),
    ("CKA_DERIVE", AttributeType::Derive, false),
];

/// The HMAC key-derivation key: MAC generation only.
pub const KDK_HMAC: Policy = held![
    ("CKA_SIGN", AttributeType::Sign, true),
    ("CKA_VERIFY", AttributeType::Verify, false),
    ("CKA_ENCRYPT", AttributeType::Encrypt, false),
    ("CKA_DECRYPT", AttributeType::Decrypt, false),
    ("CKA_WRAP", AttributeType::Wrap, false),
    ("CKA_UNWRAP", AttributeType::Unwrap, false),
    ("CKA_DERIVE", AttributeType::Derive, false),
];

/// The seal key of format v1 (on-token AES-GCM), still opened for old blobs.
pub const LEGACY_SEAL: Policy = held![
    ("CKA_ENCRYPT", AttributeType::Encrypt, true),
    ("CKA_DECRYPT", AttributeType::Decrypt, true),
    ("CKA_WRAP", AttributeType::Wrap, false),
    ("CKA_UNWRAP", AttributeType::Unwrap, false),
    ("CKA_SIGN", AttributeType::Sign, false),
    ("CKA_VERIFY", AttributeType::Verify, false),
    ("CKA_DERIVE", AttributeType::Derive, false),
];

/// The attestation key: ECDSA signing only.
pub const ATTEST: Policy = held![
    ("CKA_SIGN", AttributeType::Sign, true),
    ("CKA_DECRYPT", AttributeType::Decrypt, false),
    ("CKA_UNWRAP", AttributeType::Unwrap, false),
    ("CKA_DERIVE", AttributeType::Derive, false),
];

pub fn find(token: &Token, class: ObjectClass, label: &str) -> Result<Vec<ObjectHandle>> {
    token
        .session()
        .find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(|e| token.fail("C_FindObjects", e))
}

/// Reads the boolean attributes of `policy` and refuses on any difference.
pub fn enforce(
    token: &Token,
    key: ObjectHandle,
    name: &'static str,
    policy: Policy,
) -> Result<Vec<(&'static str, bool)>> {
    let mut seen = vec![];
    for (attr_name, ty, want) in policy {
        // One attribute per call: a token that cannot read one (tpm2-pkcs11 lacks some)
        // then names it instead of failing the whole read.
        let got = token
            .session()
            .get_attributes(key, &[*ty])
            .ok()
            .and_then(|attrs| attrs.iter().find_map(|a| bool_of(a, *ty)));
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

pub fn id_of(token: &Token, key: ObjectHandle) -> Result<String> {
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
