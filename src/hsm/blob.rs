//! The sealed blob on disk: format v2 ([`super::kdf`]) and, for old homes, format v1
//! ([`super::legacy`]); the associated data that binds a v2 blob to its name, context,
//! key and derivation input.

use serde::{Deserialize, Serialize};

use super::kdf::Scheme;
use super::legacy;
use crate::keystore;

pub const SEAL_VERSION: u8 = 2;

#[derive(Serialize, Deserialize)]
pub(super) struct Blob {
    pub(super) v: u8,
    pub(super) scheme: Scheme,
    pub(super) alg: String,
    /// The sealing token's label and key id: its identity (serials are not unique).
    pub(super) token: String,
    pub(super) key_id: String,
    /// The derivation input `N` the token was given.
    pub(super) input: String,
    pub(super) nonce: String,
    pub(super) ct: String,
    /// The one-time object a nonce depends on ([`super::once`]); absent for other secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) once: Option<String>,
}

/// Either format, as read from disk.
pub(super) enum AnyBlob {
    V1(legacy::Blob),
    V2(Blob),
}

impl AnyBlob {
    pub(super) fn parse(bytes: &[u8]) -> Option<AnyBlob> {
        #[derive(Deserialize)]
        struct Version {
            v: u8,
        }
        match serde_json::from_slice::<Version>(bytes).ok()?.v {
            legacy::VERSION => serde_json::from_slice(bytes).ok().map(AnyBlob::V1),
            SEAL_VERSION => serde_json::from_slice(bytes).ok().map(AnyBlob::V2),
            _ => None,
        }
    }

    pub(super) fn once(&self) -> Option<&str> {
        match self {
            AnyBlob::V1(b) => b.once.as_deref(),
            AnyBlob::V2(b) => b.once.as_deref(),
        }
    }
}

/// The format and scheme of a sealed blob, for `hsm migrate` and messages.
pub fn blob_format(bytes: &[u8]) -> Option<(u8, Option<Scheme>)> {
    match AnyBlob::parse(bytes)? {
        AnyBlob::V1(_) => Some((legacy::VERSION, None)),
        AnyBlob::V2(b) => Some((SEAL_VERSION, Some(b.scheme))),
    }
}

pub(super) fn aad(
    scheme: Scheme,
    label: &str,
    context: &str,
    key_id: &str,
    n: &[u8],
    once_id: Option<&str>,
) -> Vec<u8> {
    let mut a = format!(
        "passport-pkcs11-seal v{SEAL_VERSION}\n{}\n{}{key_id}\n{}\n",
        scheme.name(),
        keystore::binding(label, context),
        hex::encode(n)
    );
    if let Some(id) = once_id {
        a.push_str(&format!("once={id}\n"));
    }
    a.into_bytes()
}

pub(super) fn hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    hex::decode(s).ok()?.try_into().ok()
}
