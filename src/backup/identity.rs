//! Identity backups: the home's identity key (the member's roster npub) in an armored
//! age file, with a cleartext manifest signed by that same key (a kind-7710 Nostr event)
//! beside it. With a share backup, it is what rebuilds a member's home after the whole
//! machine is lost: `passport init --restore-identity FILE` makes a home with the
//! identity, and `backup restore` then accepts the share, whose manifest that identity
//! signed. The manifest pins the SHA-256 of the armored bytes, so a tampered or
//! truncated identity backup is detected without any secret.

use nostr::{Event, EventBuilder, JsonUtil, Keys, Kind, SecretKey, Timestamp};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{decrypt_armored, encrypt_armored, sha256_hex, Key, Protection};
use super::{Error, Result};

pub const IDENTITY_VERSION: u8 = 1;
/// The Nostr kind of a signed identity-backup manifest (share manifests are 7709).
pub const IDENTITY_MANIFEST_KIND: u16 = 7710;
const PAYLOAD_TYPE: &str = "passport-identity-backup";

/// The plaintext inside the age file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    version: u8,
    npub: String,
    /// The secret key, hex. Secret.
    secret_key: String,
}

/// The signed, cleartext description of an identity backup.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdentityManifest {
    pub version: u8,
    /// SHA-256 (hex) of the armored file's bytes.
    pub sha256: String,
    /// Public recipient strings, or `["passphrase"]`.
    pub recipients: Vec<String>,
    /// The identity's npub (also the manifest's signer).
    pub npub: String,
    /// Unix seconds.
    pub created_at: u64,
}

/// The armored file and its signed manifest for `keys`.
pub fn create(keys: &Keys, to: &Protection) -> Result<(Vec<u8>, Event, IdentityManifest)> {
    let npub = nostr::ToBech32::to_bech32(&keys.public_key()).expect("bech32");
    let payload = Zeroizing::new(
        serde_json::to_vec(&Payload {
            kind: PAYLOAD_TYPE.into(),
            version: IDENTITY_VERSION,
            npub: npub.clone(),
            secret_key: keys.secret_key().to_secret_hex(),
        })
        .expect("payload serializes"),
    );
    let armored = encrypt_armored(&payload, to)?;
    let manifest = IdentityManifest {
        version: IDENTITY_VERSION,
        sha256: sha256_hex(&armored),
        recipients: to.names(),
        npub,
        created_at: Timestamp::now().as_secs(),
    };
    let event = EventBuilder::new(
        Kind::from(IDENTITY_MANIFEST_KIND),
        serde_json::to_string(&manifest).expect("manifest serializes"),
    )
    .custom_created_at(Timestamp::from(manifest.created_at))
    .sign_with_keys(keys)
    .map_err(|e| Error::SignManifest {
        reason: e.to_string(),
    })?;
    Ok((armored, event, manifest))
}

/// True when `bytes` is an identity-backup manifest (by its event kind), so `backup
/// verify` can tell the two kinds of backup apart.
pub fn is_identity_manifest(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| Event::from_json(t.trim()).ok())
        .is_some_and(|e| e.kind == Kind::from(IDENTITY_MANIFEST_KIND))
}

/// Checks a manifest (signature by the npub it names) against the armored bytes; with
/// `key`, also decrypts and checks the key inside is that npub's. No secret is needed
/// for the first part.
pub fn verify(
    file: &str,
    armored: &[u8],
    manifest_path: &str,
    manifest_bytes: &[u8],
    key: Option<&Key>,
) -> Result<(IdentityManifest, Option<Keys>)> {
    let path = || manifest_path.to_owned();
    let text =
        std::str::from_utf8(manifest_bytes).map_err(|_| Error::ManifestNotText { path: path() })?;
    let event = Event::from_json(text.trim()).map_err(|e| Error::NotIdentityManifest {
        path: path(),
        reason: e.to_string(),
    })?;
    if event.kind != Kind::from(IDENTITY_MANIFEST_KIND) {
        return Err(Error::IdentityManifestKind {
            path: path(),
            kind: event.kind.as_u16(),
        });
    }
    let signer = || crate::envelope::short_npub(&event.pubkey);
    if event.verify().is_err() {
        return Err(Error::ForgedIdentityManifest {
            path: path(),
            signer: signer(),
        });
    }
    let m: IdentityManifest =
        serde_json::from_str(&event.content).map_err(|source| Error::ManifestContent {
            path: path(),
            source,
        })?;
    if m.version != IDENTITY_VERSION || m.created_at != event.created_at.as_secs() {
        return Err(Error::IdentityManifestVersion { path: path() });
    }
    let named = crate::ceremony::roster::parse_npub(&m.npub).map_err(|_| Error::NotAnNpub {
        path: path(),
        npub: m.npub.clone(),
    })?;
    if named != event.pubkey {
        return Err(Error::SignerMismatch {
            path: path(),
            npub: m.npub,
            signer: signer(),
        });
    }
    let file_of = || file.to_owned();
    if sha256_hex(armored) != m.sha256 {
        return Err(Error::HashMismatch { file: file_of() });
    }
    let Some(key) = key else {
        return Ok((m, None));
    };
    let plain = decrypt_armored(file, armored, key)?;
    let p: Payload = serde_json::from_slice(&plain).map_err(|source| Error::NotIdentityInside {
        file: file_of(),
        source,
    })?;
    let secret = Zeroizing::new(p.secret_key);
    let keys = SecretKey::from_hex(secret.as_str())
        .map(Keys::new)
        .map_err(|_| Error::NotSecretKey { file: file_of() })?;
    if p.kind != PAYLOAD_TYPE || keys.public_key() != named || p.npub != m.npub {
        return Err(Error::NotKeyOf {
            file: file_of(),
            npub: m.npub,
        });
    }
    Ok((m, Some(keys)))
}
