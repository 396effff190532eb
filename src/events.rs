//! Nostr events the group signs: templates in, NIP-01 events out. (Named `events`, not
//! `nostr`, so it cannot shadow the `nostr` crate.)

use nostr::{Event, Kind, PublicKey, Tag, Timestamp, UnsignedEvent};
use serde::{Deserialize, Serialize};

/// What a signing request asks the group to sign.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Message {
    /// A Nostr event: the signed message is its NIP-01 id.
    Event { event: UnsignedEvent },
    /// Raw bytes (hex), signed as a BIP-340 message.
    Raw { hex: String },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not an event template: {0}")]
    Template(String),
    #[error("the template's pubkey is {0}, not the group's key")]
    WrongPubkey(String),
    #[error("raw message must be 32 bytes of hex (64 characters), got {0} bytes")]
    RawLength(usize),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Template {
    kind: u16,
    #[serde(default)]
    content: String,
    #[serde(default)]
    tags: Vec<Vec<String>>,
    created_at: Option<u64>,
    pubkey: Option<String>,
    // Accepted so a previously signed event can be re-signed; ignored.
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    sig: Option<String>,
}

/// Builds the unsigned event the group will sign from a JSON template (`kind`,
/// `content`, `tags`, optional `created_at`, optional `pubkey` that must be the group's).
pub fn from_template(
    json: &[u8],
    group: &PublicKey,
    now: Timestamp,
) -> Result<UnsignedEvent, Error> {
    let t: Template = serde_json::from_slice(json).map_err(|e| Error::Template(e.to_string()))?;
    let _ = (&t.id, &t.sig);
    if let Some(pk) = &t.pubkey {
        if PublicKey::parse(pk).ok().as_ref() != Some(group) {
            return Err(Error::WrongPubkey(pk.clone()));
        }
    }
    let tags = t
        .tags
        .into_iter()
        .map(|fields| Tag::parse(fields).map_err(|e| Error::Template(format!("bad tag: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let created_at = t.created_at.map(Timestamp::from).unwrap_or(now);
    let mut ev = UnsignedEvent::new(*group, created_at, Kind::from(t.kind), tags, t.content);
    ev.ensure_id();
    Ok(ev)
}

/// A raw 32-byte message from hex.
pub fn raw_message(hex_str: &str) -> Result<Message, Error> {
    let bytes =
        hex::decode(hex_str.trim()).map_err(|e| Error::Template(format!("raw message: {e}")))?;
    if bytes.len() != 32 {
        return Err(Error::RawLength(bytes.len()));
    }
    Ok(Message::Raw {
        hex: hex::encode(bytes),
    })
}

impl Message {
    /// The bytes FROST signs: the event id, or the raw message.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Message::Event { event } => {
                let mut e = event.clone();
                e.id = None;
                e.id().as_bytes().to_vec()
            }
            Message::Raw { hex } => hex::decode(hex).unwrap_or_default(),
        }
    }
}

/// Attaches a 64-byte BIP-340 signature and verifies the result with libsecp256k1.
pub fn finish(unsigned: UnsignedEvent, sig: &[u8; 64]) -> Result<Event, String> {
    let sig = nostr::secp256k1::schnorr::Signature::from_slice(sig).map_err(|e| e.to_string())?;
    let mut unsigned = unsigned;
    unsigned.id = None;
    unsigned.ensure_id();
    let event = unsigned.add_signature(sig).map_err(|e| e.to_string())?;
    event.verify().map_err(|e| e.to_string())?;
    Ok(event)
}

/// Verifies a BIP-340 signature over a 32-byte message with libsecp256k1.
pub fn verify_raw(pubkey: &PublicKey, message: &[u8], sig: &[u8]) -> Result<(), String> {
    use nostr::secp256k1::{schnorr, Message as M, XOnlyPublicKey, SECP256K1};
    let sig =
        schnorr::Signature::from_slice(sig).map_err(|e| format!("bad signature encoding: {e}"))?;
    let msg = M::from_digest_slice(message).map_err(|_| "message must be 32 bytes".to_string())?;
    let pk = XOnlyPublicKey::from_slice(&pubkey.to_bytes()).map_err(|e| e.to_string())?;
    SECP256K1
        .verify_schnorr(&sig, &msg, &pk)
        .map_err(|_| "signature does not verify".to_string())
}
