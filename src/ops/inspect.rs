//! `passport inspect FILE`: describe any passport file without revealing secrets.

use std::path::Path;

use nostr::{Event, JsonUtil, ToBech32};
use serde::Serialize;
use serde_json::{json, Value};

use super::{read_source, Report};
use crate::ceremony::Roster;
use crate::envelope::{self, short_npub};
use crate::error::{Error, Result};
use crate::group::Group;
use crate::untrusted;

#[derive(Serialize)]
pub struct Inspection {
    pub kind: &'static str,
    pub details: Value,
}

impl Report for Inspection {
    fn human(&self) -> String {
        let mut s = format!("{}\n", self.kind);
        if let Value::Object(m) = &self.details {
            for (k, v) in m {
                // Values come from the file: shown escaped, on one line each.
                let v = match v {
                    Value::String(s) => untrusted::line(s),
                    other => untrusted::line(&other.to_string()),
                };
                s.push_str(&format!("  {k}: {v}\n"));
            }
        }
        s.trim_end().to_owned()
    }
}

fn roster_details(r: &Roster) -> Value {
    json!({
        "ceremony": r.ceremony_id,
        "purpose": r.purpose,
        "threshold": r.threshold,
        "members": r.members.iter().map(|m| format!("{} {}", m.name, m.npub.to_bech32().expect("bech32"))).collect::<Vec<_>>(),
        "dealer": r.dealer.map(|d| d.to_bech32().expect("bech32")),
        "fingerprint": r.fingerprint(),
    })
}

pub fn inspect(path: &Path) -> Result<Inspection> {
    let bytes = read_source(path)?;
    let name = path.display().to_string();
    if bytes.starts_with(b"age-encryption.org/v1") {
        return Ok(Inspection {
            kind: "sealed secret (age)",
            details: json!({ "bytes": bytes.len(), "note": "contents are encrypted; passport never prints them" }),
        });
    }
    if bytes.starts_with(b"passport-consumed") {
        return Ok(Inspection {
            kind: "consumed nonce (tombstone)",
            details: json!({}),
        });
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Malformed {
        path: name.clone(),
        what: "passport file",
        detail: e.to_string(),
    })?;
    if v.get("sig").is_some()
        && v.get("kind").and_then(Value::as_u64) == Some(envelope::PACKAGE_KIND as u64)
    {
        let (event, meta) =
            envelope::parse(&bytes).map_err(|e| Error::Rejected(format!("{name}: {e}")))?;
        let mut d = json!({
            "round": meta.round.as_str(),
            "signer": event.pubkey.to_bech32().expect("bech32"),
            "signature": "valid",
            "ceremony": meta.binding.ceremony,
            "roster_hash": meta.binding.roster_hash,
            "encrypted": meta.encrypted,
            "id": event.id.to_hex(),
        });
        if let Some(m) = meta.member {
            d["member_seat"] = json!(m);
        }
        if let Some((pk, seat)) = meta.to {
            d["recipient"] = json!(format!("seat {seat} ({})", short_npub(&pk)));
        }
        if let Some(r) = meta.reference {
            d["request"] = json!(r);
        }
        if !meta.encrypted {
            if let Ok(p) = serde_json::from_str::<Value>(&event.content) {
                if let Some(g) = p.get("group") {
                    d["group"] = g.clone();
                }
                if let Some(c) = p.get("commitments").and_then(Value::as_array) {
                    d["commitments"] = json!(c.len());
                }
                if let Some(m) = p.get("message") {
                    d["message"] = m.clone();
                }
                if let Some(h) = p.get("public_key_package_hash") {
                    d["public_key_package_hash"] = h.clone();
                }
            }
        }
        return Ok(Inspection {
            kind: meta.round.describe(),
            details: d,
        });
    }
    if v.get("sig").is_some() {
        return signed_event(&name, &bytes);
    }
    if v.get("public_key_package").is_some() {
        let g = Group::from_json(&bytes).map_err(|e| Error::Malformed {
            path: name,
            what: "group file",
            detail: e.to_string(),
        })?;
        let mut d = roster_details(&g.roster);
        d["group"] = json!(g.npub);
        d["origin"] = json!(g.origin);
        return Ok(Inspection {
            kind: "group file (public)",
            details: d,
        });
    }
    if v.get("ceremony_id").is_some() {
        let r = Roster::from_json(&bytes).map_err(|e| Error::Malformed {
            path: name,
            what: "roster",
            detail: e.to_string(),
        })?;
        return Ok(Inspection {
            kind: "roster",
            details: roster_details(&r),
        });
    }
    if v.get("keystore").is_some() && v.get("npub").is_some() {
        return Ok(Inspection {
            kind: "passport home config",
            details: json!({ "npub": v["npub"], "keystore": v["keystore"]["unlock"] }),
        });
    }
    if v.get("signature").is_some() && v.get("message").is_some() {
        let r = super::verify::verify_bytes(&name, &bytes, None).map_err(|e| {
            Error::Rejected(format!(
                "{name}: not a valid raw signature: {}",
                strip(&e, &name)
            ))
        })?;
        return Ok(Inspection {
            kind: "raw signature",
            details: json!({ "pubkey": r.pubkey, "valid": true }),
        });
    }
    Err(Error::Malformed {
        path: name,
        what: "passport file",
        detail: "not a roster, package, group, event or home file".into(),
    })
}

/// A file with a `sig` that is not a passport package: only a real NIP-01 event (parsed
/// by the nostr crate, id recomputed, BIP-340 signature checked with libsecp256k1) is
/// described as one; anything else is rejected, so `inspect` never vouches for junk.
fn signed_event(name: &str, bytes: &[u8]) -> Result<Inspection> {
    let bad = |why: String| Error::Rejected(format!("{name}: not a valid Nostr event: {why}"));
    let text = std::str::from_utf8(bytes).map_err(|e| bad(e.to_string()))?;
    let event = Event::from_json(text).map_err(|e| bad(e.to_string()))?;
    if !event.verify_id() {
        return Err(bad(
            "its id is not the hash of its content (tampered or miscomputed)".into(),
        ));
    }
    if !event.verify_signature() {
        return Err(bad("its BIP-340 signature does not verify".into()));
    }
    let kind = event.kind.as_u16();
    Ok(Inspection {
        kind: "signed Nostr event",
        details: json!({
            "id": event.id.to_hex(),
            "kind": kind,
            "meaning": crate::events::describe_kind(kind),
            "pubkey": event.pubkey.to_bech32().expect("bech32"),
            "created_at": event.created_at.as_secs(),
            "content_chars": event.content.chars().count(),
            "content": event.content,
            "tags": event.tags.len(),
            "signature": "valid (libsecp256k1)",
            "valid": true,
        }),
    })
}

/// An error's message without the leading `NAME: ` it may already carry.
fn strip(e: &Error, name: &str) -> String {
    let m = e.to_string();
    m.strip_prefix(&format!("{name}: "))
        .map(str::to_owned)
        .unwrap_or(m)
}
