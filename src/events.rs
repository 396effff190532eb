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
    /// An aggregate signature libsecp256k1 does not accept (a bad share slipped through).
    #[error("aggregate signature failed libsecp256k1 verification: {0}")]
    Unverified(String),
}

/// An event to sign as the group: `kind`, `content`, `tags`, optional `created_at`, and
/// an optional `pubkey` that must be the group's. The one form a template takes between a
/// request (a `sign request --event` file, a NIP-46 `sign_event`) and the signers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub kind: u16,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub tags: Vec<Vec<String>>,
    pub created_at: Option<u64>,
    pub pubkey: Option<String>,
    // Accepted so a previously signed event can be re-signed; ignored.
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    sig: Option<String>,
}

impl Template {
    /// The fields a template has; [`Template::lenient`] drops every other one.
    const FIELDS: &'static [&'static str] = &[
        "kind",
        "content",
        "tags",
        "created_at",
        "pubkey",
        "id",
        "sig",
    ];

    /// A template from a whole event as NIP-46 clients send it: fields a template does
    /// not have are ignored (a file template refuses them, to catch typos).
    pub fn lenient(json: &str) -> Result<Template, serde_json::Error> {
        let mut v: serde_json::Value = serde_json::from_str(json)?;
        if let Some(o) = v.as_object_mut() {
            o.retain(|k, _| Self::FIELDS.contains(&k.as_str()));
        }
        serde_json::from_value(v)
    }

    /// The unsigned event the group will sign (`created_at` defaults to `now`).
    pub fn unsigned(self, group: &PublicKey, now: Timestamp) -> Result<UnsignedEvent, Error> {
        let _ = (&self.id, &self.sig);
        if let Some(pk) = &self.pubkey {
            if PublicKey::parse(pk).ok().as_ref() != Some(group) {
                return Err(Error::WrongPubkey(pk.clone()));
            }
        }
        let tags = self
            .tags
            .into_iter()
            .map(|fields| Tag::parse(fields).map_err(|e| Error::Template(format!("bad tag: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let created_at = self.created_at.map(Timestamp::from).unwrap_or(now);
        let mut ev = UnsignedEvent::new(
            *group,
            created_at,
            Kind::from(self.kind),
            tags,
            self.content,
        );
        ev.ensure_id();
        Ok(ev)
    }
}

/// Builds the unsigned event the group will sign from a JSON template file (see
/// [`Template`]; unknown fields are refused).
pub fn from_template(
    json: &[u8],
    group: &PublicKey,
    now: Timestamp,
) -> Result<UnsignedEvent, Error> {
    let t: Template = serde_json::from_slice(json).map_err(|e| Error::Template(e.to_string()))?;
    t.unsigned(group, now)
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
    // Without an id, `add_signature` computes it from the fields (once) and verifies the
    // signature over it with libsecp256k1 (once). Setting the id first, then calling
    // `Event::verify`, hashed the event three times and verified twice.
    unsigned.id = None;
    unsigned.add_signature(sig).map_err(|e| e.to_string())
}

/// [`finish`] for a threshold signature: its failure is an [`Error::Unverified`].
pub fn finish_aggregate(unsigned: UnsignedEvent, sig: &[u8; 64]) -> Result<Event, Error> {
    finish(unsigned, sig).map_err(Error::Unverified)
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

/// What an event kind is for (NIP-01 and the NIPs that define the common kinds), as
/// shown in a signing review; `None` for a kind passport does not know.
pub fn kind_meaning(kind: u16) -> Option<&'static str> {
    Some(match kind {
        0 => "profile metadata (NIP-01)",
        1 => "short text note (NIP-01)",
        2 => "relay recommendation (deprecated)",
        3 => "follow list (NIP-02)",
        4 => "encrypted direct message (NIP-04)",
        5 => "deletion request (NIP-09)",
        6 => "repost (NIP-18)",
        7 => "reaction (NIP-25)",
        8 => "badge award (NIP-58)",
        9 => "chat message (NIP-C7)",
        13 => "seal (NIP-59)",
        14 => "private direct message (NIP-17)",
        16 => "generic repost (NIP-18)",
        40 => "channel creation (NIP-28)",
        41 => "channel metadata (NIP-28)",
        42 => "channel message (NIP-28)",
        1059 => "gift wrap (NIP-59)",
        1063 => "file metadata (NIP-94)",
        1111 => "comment (NIP-22)",
        1984 => "report (NIP-56)",
        7707 => "passport ceremony package",
        7709 => "passport backup manifest",
        9734 => "zap request (NIP-57)",
        9735 => "zap receipt (NIP-57)",
        10000 => "mute list (NIP-51)",
        10002 => "relay list (NIP-65)",
        10050 => "direct-message relay list (NIP-17)",
        13194 => "wallet info (NIP-47)",
        22242 => "relay authentication (NIP-42)",
        23194 => "wallet request (NIP-47)",
        23195 => "wallet response (NIP-47)",
        24133 => "Nostr Connect message (NIP-46)",
        27235 => "HTTP authorization (NIP-98)",
        30000 => "follow set (NIP-51)",
        30008 => "profile badges (NIP-58)",
        30009 => "badge definition (NIP-58)",
        30023 => "long-form article (NIP-23)",
        30078 => "application-specific data (NIP-78)",
        _ => return None,
    })
}

/// `kind_meaning`, or for an unknown kind what its range implies (NIP-01).
pub fn describe_kind(kind: u16) -> String {
    if let Some(m) = kind_meaning(kind) {
        return m.to_owned();
    }
    let range = match kind {
        1000..=9999 => " (regular range)",
        10000..=19999 => " (replaceable range: replaces the group's previous one)",
        20000..=29999 => " (ephemeral range)",
        30000..=39999 => {
            " (addressable range: replaces the group's previous one with the same d tag)"
        }
        _ => "",
    };
    format!("UNKNOWN KIND{range}: passport cannot tell what it means")
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    #[test]
    fn known_and_unknown_kinds() {
        assert!(describe_kind(1).contains("short text note"));
        assert!(describe_kind(24133).contains("NIP-46"));
        assert!(describe_kind(27235).contains("NIP-98"));
        assert!(describe_kind(4242).starts_with("UNKNOWN KIND (regular range)"));
        assert!(describe_kind(34242).contains("addressable"));
        assert!(describe_kind(65000).starts_with("UNKNOWN KIND:"));
    }
}

#[cfg(test)]
mod template_tests {
    use super::*;

    const WHOLE: &str = r#"{"kind":1,"content":"hi","tags":[["t","x"]],"created_at":7,"id":"00","sig":"00","relays":["wss://r"],"extra":{"a":1}}"#;

    #[test]
    fn a_whole_event_is_a_lenient_template_but_not_a_file_template() {
        let group = nostr::Keys::generate().public_key();
        let t = Template::lenient(WHOLE).unwrap();
        let ev = t.unsigned(&group, Timestamp::from(99)).unwrap();
        assert_eq!(ev.kind, Kind::from(1));
        assert_eq!(ev.content, "hi");
        assert_eq!(ev.created_at, Timestamp::from(7));
        assert_eq!(ev.pubkey, group);
        // A file template refuses fields it does not know: they are likely typos.
        let e = from_template(WHOLE.as_bytes(), &group, Timestamp::from(99)).unwrap_err();
        assert!(e.to_string().contains("unknown field `relays`"), "{e}");
    }

    #[test]
    fn a_lenient_template_still_checks_what_it_reads() {
        let group = nostr::Keys::generate().public_key();
        let other = nostr::Keys::generate().public_key().to_hex();
        assert!(Template::lenient(r#"{"content":"no kind"}"#).is_err());
        assert!(Template::lenient(r#"[1,2]"#).is_err());
        let t = Template::lenient(&format!(r#"{{"kind":1,"pubkey":"{other}"}}"#)).unwrap();
        assert!(matches!(
            t.unsigned(&group, Timestamp::from(1)),
            Err(Error::WrongPubkey(_))
        ));
        let t = Template::lenient(r#"{"kind":1}"#).unwrap();
        assert_eq!(
            t.unsigned(&group, Timestamp::from(42)).unwrap().created_at,
            Timestamp::from(42)
        );
    }
}

#[cfg(test)]
mod finish_tests {
    use super::*;

    #[test]
    fn finish_checks_the_signature_over_the_events_own_id() {
        let keys = nostr::Keys::generate();
        let mut unsigned = nostr::EventBuilder::text_note("hi").build(keys.public_key());
        let signed = unsigned.clone().sign_with_keys(&keys).unwrap();
        let sig: [u8; 64] = *signed.sig.as_ref();
        let event = finish(unsigned.clone(), &sig).unwrap();
        assert_eq!(event.id, signed.id);
        event.verify().unwrap();
        // A stale id given with the fields is ignored, not trusted: recomputed.
        unsigned.id = Some(nostr::EventId::all_zeros());
        assert_eq!(finish(unsigned.clone(), &sig).unwrap().id, signed.id);
        // Another event's signature, or changed content, does not verify.
        let other = nostr::EventBuilder::text_note("other")
            .sign_with_keys(&keys)
            .unwrap();
        assert!(finish(unsigned.clone(), other.sig.as_ref()).is_err());
        unsigned.content = "changed".into();
        assert!(finish(unsigned, &sig).is_err());
    }
}
