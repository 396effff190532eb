//! What an attestation statement says about each passport key: its id, label, the
//! attributes read back (and enforced) and, for the seal key, its scheme.

use cryptoki::object::{Attribute, AttributeType};
use serde::Serialize;

use super::keys::{kdk_policy, Keys, ATTEST_LABEL, KDK_LABEL, LEGACY_SEAL_LABEL};
use super::policy::{self, enforce};
use super::{Error, Result, Token};

/// The attributes an attestation statement reports for each key.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct KeyReport {
    pub id: String,
    pub label: String,
    pub attributes: std::collections::BTreeMap<String, bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub check_value: Option<String>,
    /// How the seal key seals (format v2); absent for format v1 and attestation keys.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scheme: Option<String>,
}

pub fn report(token: &Token, keys: &Keys) -> Result<(KeyReport, KeyReport)> {
    let (seal, seal_id, label, policy, scheme) = match (&keys.kdk, &keys.legacy) {
        (Some(k), _) => (
            k.handle,
            k.id.clone(),
            KDK_LABEL,
            kdk_policy(k.scheme),
            Some(k.scheme.name().to_owned()),
        ),
        (None, Some((h, id))) => (*h, id.clone(), LEGACY_SEAL_LABEL, policy::LEGACY_SEAL, None),
        (None, None) => {
            return Err(Error::KeysMissing {
                token: token.info.label.clone(),
                what: "seal key",
            })
        }
    };
    let seal_attrs = enforce(token, seal, "seal key", policy)?;
    let attest_attrs = enforce(
        token,
        keys.attest_private,
        "attestation key",
        policy::ATTEST,
    )?;
    let check_value = token
        .session()
        .get_attributes(seal, &[AttributeType::CheckValue])
        .ok()
        .and_then(|a| {
            a.into_iter().find_map(|x| match x {
                Attribute::CheckValue(v) if !v.is_empty() => Some(hex::encode(v)),
                _ => None,
            })
        });
    let mk = |id: &str, label: &str, attrs: Vec<(&str, bool)>, cv, scheme| KeyReport {
        id: id.to_owned(),
        label: label.to_owned(),
        attributes: attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        check_value: cv,
        scheme,
    };
    Ok((
        mk(&seal_id, label, seal_attrs, check_value, scheme),
        mk(&keys.attest_id, ATTEST_LABEL, attest_attrs, None, None),
    ))
}
