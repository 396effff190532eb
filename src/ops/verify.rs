//! `passport verify`: check a signed Nostr event or a raw BIP-340 signature with
//! libsecp256k1, independently of the code that produced it.

use std::path::Path;

use nostr::{Event, JsonUtil, PublicKey, ToBech32};
use serde::Serialize;

use super::{read_source, sign::RawSignature, Report};
use crate::error::{Error, Result, SignError};
use crate::events;

#[derive(Serialize)]
pub struct VerifyReport {
    pub valid: bool,
    pub what: &'static str,
    pub pubkey: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Report for VerifyReport {
    fn human(&self) -> String {
        match &self.id {
            Some(id) => format!("valid event {id} signed by {}", self.pubkey),
            None => format!("valid raw signature by {}", self.pubkey),
        }
    }
}

/// Verifies the file's signature; with `expect`, also that the signer is that key.
pub fn verify(path: &Path, expect: Option<&str>) -> Result<VerifyReport> {
    let bytes = read_source(path)?;
    let name = if path.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    verify_bytes(&name, &bytes, expect)
}

/// [`verify`] of bytes already read; `name` names them in errors.
pub fn verify_bytes(name: &str, bytes: &[u8], expect: Option<&str>) -> Result<VerifyReport> {
    let name = name.to_owned();
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::Malformed {
        path: name.clone(),
        what: "signed event or raw signature",
        detail: e.to_string(),
    })?;
    let expect = expect
        .map(crate::ceremony::roster::parse_npub)
        .transpose()?;
    let check_signer = |pk: &PublicKey| -> Result<()> {
        match &expect {
            Some(e) if e != pk => Err(SignError::WrongSigner {
                name: name.clone(),
                signer: pk.to_bech32().expect("bech32"),
                expected: e.to_bech32().expect("bech32"),
            }
            .into()),
            _ => Ok(()),
        }
    };
    if v.get("sig").is_some() {
        let event =
            Event::from_json(std::str::from_utf8(bytes).unwrap_or_default()).map_err(|e| {
                Error::Malformed {
                    path: name.clone(),
                    what: "Nostr event",
                    detail: e.to_string(),
                }
            })?;
        if !event.verify_id() {
            return Err(SignError::EventTampered { name }.into());
        }
        if !event.verify_signature() {
            return Err(SignError::BadSignature { name }.into());
        }
        check_signer(&event.pubkey)?;
        return Ok(VerifyReport {
            valid: true,
            what: "event",
            pubkey: event.pubkey.to_bech32().expect("bech32"),
            id: Some(event.id.to_hex()),
        });
    }
    let raw: RawSignature = serde_json::from_value(v).map_err(|e| Error::Malformed {
        path: name.clone(),
        what: "signed event or raw signature",
        detail: e.to_string(),
    })?;
    let pk = crate::ceremony::roster::parse_npub(&raw.pubkey)?;
    let msg = hex::decode(&raw.message).map_err(|e| Error::Malformed {
        path: name.clone(),
        what: "raw signature",
        detail: e.to_string(),
    })?;
    let sig = hex::decode(&raw.signature).map_err(|e| Error::Malformed {
        path: name.clone(),
        what: "raw signature",
        detail: e.to_string(),
    })?;
    events::verify_raw(&pk, &msg, &sig).map_err(|reason| SignError::RawUnverified {
        name: name.clone(),
        reason,
    })?;
    check_signer(&pk)?;
    Ok(VerifyReport {
        valid: true,
        what: "raw",
        pubkey: pk.to_bech32().expect("bech32"),
        id: None,
    })
}
