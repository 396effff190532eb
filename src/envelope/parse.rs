//! Reading a package: size, event kind, id and signature, then the routing tags.

use nostr::{Event, JsonUtil, Kind, PublicKey};

use super::{
    short_npub, Binding, Error, Meta, Result, Round, FORMAT_VERSION, MAX_PACKAGE_BYTES,
    PACKAGE_KIND,
};
use crate::ceremony::MemberId;

/// Parses bytes as a signed package event and verifies its id and signature.
pub fn parse(bytes: &[u8]) -> Result<(Event, Meta)> {
    if bytes.len() > MAX_PACKAGE_BYTES {
        return Err(Error::TooLarge);
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| Error::NotAPackage("not UTF-8 text".into()))?;
    let event = Event::from_json(text.trim()).map_err(|e| {
        let what = if text.trim().is_empty() {
            "empty file".to_string()
        } else {
            format!("not a Nostr event ({e})")
        };
        Error::NotAPackage(what)
    })?;
    if event.kind != Kind::from(PACKAGE_KIND) {
        return Err(Error::NotAPackage(format!(
            "event kind {} is not {PACKAGE_KIND}",
            event.kind.as_u16()
        )));
    }
    if event.verify().is_err() {
        return Err(Error::BadSignature {
            claimed: short_npub(&event.pubkey),
            signer: event.pubkey,
        });
    }
    let meta = read_meta(&event)?;
    Ok((event, meta))
}

/// The routing tags of a package this home saved after [`parse`] verified it: reading
/// it back checks its signature no second time.
pub fn saved_meta(event: &Event) -> Result<Meta> {
    read_meta(event)
}

fn tag_value<'a>(event: &'a Event, name: &str) -> Option<&'a str> {
    event.tags.iter().find_map(|t| {
        let s = t.as_slice();
        (s.len() >= 2 && s[0] == name).then(|| s[1].as_str())
    })
}

/// The routing tags; the sender is named (a bech32 encoding) only in an error.
fn read_meta(event: &Event) -> Result<Meta> {
    let from = || short_npub(&event.pubkey);
    let missing = |tag| Error::MissingTag { from: from(), tag };
    let version = tag_value(event, "passport").ok_or_else(|| missing("passport"))?;
    if version != FORMAT_VERSION {
        return Err(Error::Version {
            from: from(),
            got: version.to_owned(),
        });
    }
    let round = tag_value(event, "round")
        .and_then(Round::parse)
        .ok_or_else(|| missing("round"))?;
    let ceremony = tag_value(event, "c")
        .ok_or_else(|| missing("c"))?
        .to_owned();
    let roster_hash = tag_value(event, "roster")
        .ok_or_else(|| missing("roster"))?
        .to_owned();
    let member = match tag_value(event, "member") {
        Some(v) => Some(
            v.parse::<MemberId>()
                .ok()
                .filter(|&m| m >= 1)
                .ok_or_else(|| missing("member"))?,
        ),
        None => None,
    };
    let to = match tag_value(event, "p") {
        Some(p) => {
            let pk = PublicKey::from_hex(p).map_err(|_| missing("p"))?;
            let seat = tag_value(event, "to")
                .and_then(|v| v.parse::<MemberId>().ok())
                .filter(|&m| m >= 1)
                .ok_or_else(|| missing("to"))?;
            Some((pk, seat))
        }
        None => None,
    };
    let encrypted = tag_value(event, "enc") == Some("nip44");
    if round.confidential() && (!encrypted || to.is_none()) {
        return Err(Error::Payload {
            from: from(),
            detail: format!("a {} must be encrypted to its recipient", round.describe()),
        });
    }
    Ok(Meta {
        round,
        binding: Binding {
            ceremony,
            roster_hash,
        },
        member,
        to,
        reference: tag_value(event, "e").map(str::to_owned),
        encrypted,
    })
}
