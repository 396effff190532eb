//! Building a package: its binding tags, and NIP-44 v2 encryption to the recipient for
//! confidential rounds.

use nostr::{Event, EventBuilder, Keys, Kind, PublicKey, Tag};
use serde::Serialize;

use super::{Binding, Error, Result, Round, FORMAT_VERSION, PACKAGE_KIND};
use crate::ceremony::MemberId;

/// What to put in a new package.
pub struct Draft<'a, T: Serialize> {
    pub binding: &'a Binding,
    pub round: Round,
    pub from: Option<MemberId>,
    pub to: Option<(PublicKey, MemberId)>,
    pub reference: Option<String>,
    pub payload: &'a T,
}

fn tag(fields: &[&str]) -> Tag {
    Tag::parse(fields.iter().copied()).expect("non-empty tag")
}

/// Signs (and, for confidential rounds, encrypts) a package.
pub fn seal<T: Serialize>(keys: &Keys, draft: Draft<'_, T>) -> Result<Event> {
    // Confidential payloads carry secret shares: keep the plaintext in zeroizing memory.
    let json =
        zeroize::Zeroizing::new(serde_json::to_string(draft.payload).expect("payloads serialize"));
    let mut tags = vec![
        tag(&["passport", FORMAT_VERSION]),
        tag(&["c", &draft.binding.ceremony]),
        tag(&["roster", &draft.binding.roster_hash]),
        tag(&["round", draft.round.as_str()]),
    ];
    if let Some(m) = draft.from {
        tags.push(tag(&["member", &m.to_string()]));
    }
    if let Some((pk, seat)) = &draft.to {
        tags.push(tag(&["p", &pk.to_hex()]));
        tags.push(tag(&["to", &seat.to_string()]));
    }
    if let Some(r) = &draft.reference {
        tags.push(tag(&["e", r]));
    }
    let content = if draft.round.confidential() {
        let (pk, _) = draft
            .to
            .as_ref()
            .expect("confidential packages are addressed");
        tags.push(tag(&["enc", "nip44"]));
        crate::conversation::pairs::encrypt(keys, pk, json.as_bytes()).map_err(|e| {
            Error::Payload {
                from: "you".into(),
                detail: e.to_string(),
            }
        })?
    } else {
        json.to_string()
    };
    // One identity may hold several seats, so a package can be addressed to its own
    // author's key; nostr's builder would otherwise drop that `p` tag.
    EventBuilder::new(Kind::from(PACKAGE_KIND), content)
        .allow_self_tagging()
        .tags(tags)
        .sign_with_keys(keys)
        .map_err(|e| Error::Payload {
            from: "you".into(),
            detail: e.to_string(),
        })
}
