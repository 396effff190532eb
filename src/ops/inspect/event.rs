//! Signed Nostr events: passport packages (kind 7707), backup manifests (7709, 7710),
//! anything else signed (a `sign aggregate` result), and raw signatures.

use std::path::Path;

use nostr::{Event, JsonUtil, ToBech32};
use serde_json::{json, Value};

use super::{names_for, strip, Context, Inspection};
use crate::backup::identity::{IdentityManifest, IDENTITY_MANIFEST_KIND};
use crate::backup::MANIFEST_KIND;
use crate::envelope::{self, Round};
use crate::error::{Result, SignError};
use crate::events::Message;
use crate::untrusted;

fn bech(pk: &nostr::PublicKey) -> String {
    pk.to_bech32().expect("bech32")
}

/// A file with a `sig`. Only a real NIP-01 event (parsed by the nostr crate, id
/// recomputed, BIP-340 signature checked with libsecp256k1) is described; anything else
/// is rejected, so `inspect` never vouches for junk.
pub(super) fn signed(
    path: &Path,
    name: &str,
    bytes: &[u8],
    v: &Value,
    ctx: &Context,
) -> Result<Inspection> {
    let kind = v.get("kind").and_then(Value::as_u64);
    if kind == Some(envelope::PACKAGE_KIND as u64) {
        return package(path, name, bytes, ctx);
    }
    let bad = |e: &dyn std::fmt::Display| SignError::NotAnEvent {
        name: name.into(),
        reason: e.to_string(),
    };
    let text = std::str::from_utf8(bytes).map_err(|e| bad(&e))?;
    let event = Event::from_json(text.trim()).map_err(|e| bad(&e))?;
    if !event.verify_id() {
        return Err(SignError::EventIdNotHash { name: name.into() }.into());
    }
    if !event.verify_signature() {
        return Err(SignError::EventSignatureBad { name: name.into() }.into());
    }
    match event.kind.as_u16() {
        MANIFEST_KIND => super::backup::share_manifest(path, name, bytes),
        IDENTITY_MANIFEST_KIND => identity_manifest(path, name, &event),
        _ => Ok(nostr_event(name, &event)),
    }
}

fn nostr_event(name: &str, event: &Event) -> Inspection {
    let kind = event.kind.as_u16();
    let mut i = Inspection::new("signed Nostr event", name);
    // `pubkey` keeps its earlier form (the npub); `pubkey_hex` is the raw key.
    i.put("pubkey", bech(&event.pubkey))
        .put("pubkey_hex", event.pubkey.to_hex());
    i.field("npub", "signer", bech(&event.pubkey))
        .field("id", "id", event.id.to_hex());
    i.put("kind", kind)
        .put("meaning", crate::events::describe_kind(kind));
    i.show_safe(
        "kind",
        format!("{kind}: {}", crate::events::describe_kind(kind)),
    );
    i.date("created_at", "created at", event.created_at.as_secs());
    i.put("content_chars", event.content.chars().count());
    i.text("content", "content", &event.content);
    let tags: Vec<Vec<String>> = event.tags.iter().map(|t| t.as_slice().to_vec()).collect();
    let items = tags
        .iter()
        .map(|t| {
            let f: Vec<String> = t.iter().map(|x| untrusted::quoted(x)).collect();
            format!("[{}]", f.join(", "))
        })
        .collect();
    i.list("tag_list", "tags", json!(tags), items);
    i.put("tags", tags.len());
    i.field("signature", "signature", "valid (libsecp256k1)");
    i.put("valid", true);
    i
}

fn package(path: &Path, name: &str, bytes: &[u8], ctx: &Context) -> Result<Inspection> {
    let (event, meta) = envelope::parse(bytes).map_err(|source| SignError::Package {
        path: name.into(),
        source,
    })?;
    let mut i = Inspection::new(meta.round.describe(), name);
    let names = names_for(path, ctx, &meta, &event);
    let who = |seat: u16, pk: Option<&nostr::PublicKey>| match &names {
        Some(n) => format!("{} (seat {seat})", n.roster.name(seat)),
        None => match pk {
            Some(pk) => format!("seat {seat} ({})", envelope::short_npub(pk)),
            None => format!("seat {seat}"),
        },
    };
    i.field("round", "round", meta.round.as_str());
    i.field("ceremony", "ceremony", meta.binding.ceremony.as_str());
    if let Some(seat) = meta.member {
        i.put("member_seat", seat);
        if let Some(n) = &names {
            i.put("member", n.roster.name(seat));
        }
        i.show("from", &who(seat, Some(&event.pubkey)));
    }
    i.field("signer", "signer npub", bech(&event.pubkey));
    if let Some((pk, seat)) = meta.to {
        i.put("recipient_seat", seat);
        i.put("recipient_npub", bech(&pk));
        if let Some(n) = &names {
            i.put("recipient_name", n.roster.name(seat));
        }
        let r = who(seat, Some(&pk));
        i.put("recipient", r.clone());
        i.show("to", &r);
    }
    i.date("created_at", "created at", event.created_at.as_secs());
    i.put("encrypted", meta.encrypted);
    i.show_safe(
        "encrypted",
        if meta.encrypted {
            "yes (NIP-44, readable only by the recipient)".into()
        } else {
            "no (public)".into()
        },
    );
    if let Some(r) = &meta.reference {
        i.field("request", "answers request", r.as_str());
    }
    if !meta.encrypted {
        payload(
            &mut i,
            meta.round,
            &event,
            names.as_ref().map(|n| &n.roster),
        );
    }
    i.field(
        "roster_hash",
        "roster hash",
        meta.binding.roster_hash.as_str(),
    );
    i.field("id", "id", event.id.to_hex());
    i.field("signature", "signature", "valid");
    match &names {
        Some(n) => i.note(format!("names from {}", untrusted::line(&n.source))),
        None => i.note("no roster found beside it or in this home: seats shown without names (pass --roster FILE)"),
    };
    Ok(i)
}

/// What the cleartext payload of a package says, by round.
fn payload(
    i: &mut Inspection,
    round: Round,
    event: &Event,
    roster: Option<&crate::ceremony::Roster>,
) {
    let Ok(p) = serde_json::from_str::<Value>(&event.content) else {
        return;
    };
    let name = |s: u16| match roster {
        Some(r) => format!("{} (seat {s})", r.name(s)),
        None => format!("seat {s}"),
    };
    if let Some(g) = p.get("group").filter(|g| g.is_string()) {
        i.field("group", "group", g.clone());
    }
    match round {
        Round::SignCommit => {
            let n = p["commitments"].as_array().map_or(0, Vec::len);
            i.put("commitments", n);
            i.show_safe("commitments", format!("{n} (one signature each)"));
            let valid = p["valid_for"].as_u64();
            let expires = super::super::nonce::package_expires(event.created_at.as_secs(), valid);
            i.date("expires_at", "usable until", expires);
        }
        Round::SignRequest => {
            if let Some(ids) = p["commitment_ids"].as_object() {
                let seats: Vec<u16> = ids.keys().filter_map(|k| k.parse().ok()).collect();
                let items = seats.iter().map(|&s| untrusted::line(&name(s))).collect();
                i.list("signers", "signers", json!(seats), items);
            }
            match serde_json::from_value::<Message>(p["message"].clone()) {
                Ok(Message::Event { event }) => {
                    let k = event.kind.as_u16();
                    i.put("message_kind", k);
                    i.show_safe(
                        "event kind",
                        format!("{k}: {}", crate::events::describe_kind(k)),
                    );
                    i.date(
                        "message_created_at",
                        "event created at",
                        event.created_at.as_secs(),
                    );
                    i.text("message_content", "event content", &event.content);
                    i.put("message_tags", event.tags.len());
                    i.put("message", p["message"].clone());
                }
                Ok(Message::Raw { hex }) => {
                    i.field("raw_message", "raw message", hex.as_str());
                    i.put("message", p["message"].clone());
                }
                Err(_) => {}
            }
        }
        Round::SignShare => {}
        Round::DkgAgree => {
            if let Some(h) = p.get("public_key_package_hash") {
                i.field("public_key_package_hash", "key package hash", h.clone());
            }
        }
        _ => {
            if let Some(c) = p.get("commitments").and_then(Value::as_array) {
                i.put("commitments", c.len());
            }
        }
    }
}

fn identity_manifest(path: &Path, name: &str, event: &Event) -> Result<Inspection> {
    let m: IdentityManifest =
        serde_json::from_str(&event.content).map_err(|source| SignError::IdentityManifest {
            name: name.into(),
            source,
        })?;
    let mut i = Inspection::new("identity backup manifest (signed, kind 7710)", name);
    i.field("npub", "identity", m.npub.as_str());
    let signed_by_it = crate::ceremony::roster::parse_npub(&m.npub).ok() == Some(event.pubkey);
    i.put("signer", bech(&event.pubkey));
    i.show_safe(
        "signed by",
        if signed_by_it {
            "that identity (signature valid)".into()
        } else {
            format!(
                "ANOTHER KEY {} (not the identity it names)",
                bech(&event.pubkey)
            )
        },
    );
    i.date("created_at", "created", m.created_at);
    super::backup::recipients(&mut i, &m.recipients);
    i.field("sha256", "backup sha256", m.sha256.as_str());
    super::backup::backup_beside(&mut i, path, &m.sha256);
    i.note("`passport backup verify BACKUP` checks it; `passport init --restore-identity BACKUP` rebuilds a home with it");
    Ok(i)
}

/// A raw-message signature from `sign aggregate --message`.
pub(super) fn raw_signature(name: &str, bytes: &[u8]) -> Result<Inspection> {
    let r = super::super::verify::verify_bytes(name, bytes, None).map_err(|e| {
        SignError::NotARawSignature {
            name: name.into(),
            reason: strip(&e, name),
        }
    })?;
    let v: Value = serde_json::from_slice(bytes).unwrap_or_default();
    let mut i = Inspection::new("raw signature (BIP-340)", name);
    i.field("pubkey", "signer", r.pubkey.clone());
    if let Ok(pk) = crate::ceremony::roster::parse_npub(&r.pubkey) {
        i.put("npub", bech(&pk));
    }
    i.field("message", "message", v["message"].clone());
    i.put("valid", true);
    i.show_safe("signature", "valid (libsecp256k1)".into());
    Ok(i)
}
