//! NIP-46 messages on the wire: kind-24133 events whose content is a NIP-44 (or, from
//! older clients, NIP-04) encrypted JSON-RPC object. Replies use the request's scheme.

use nostr::nips::{nip04, nip44};
use nostr::{Event, EventBuilder, Keys, Kind, PublicKey, Tag};
use serde::{Deserialize, Serialize};

/// How a request was encrypted; the reply is encrypted the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Nip44,
    Nip04,
}

/// A request as sent: any method name (unknown ones get an error reply, not silence).
#[derive(Debug, Deserialize)]
pub struct Request {
    pub id: String,
    pub method: String,
    #[serde(default)]
    pub params: Vec<serde_json::Value>,
}

impl Request {
    /// Parameter `i` as a string (clients send strings; numbers are tolerated).
    pub fn param(&self, i: usize) -> Option<String> {
        self.params.get(i).and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        })
    }
}

#[derive(Serialize)]
struct Response<'a> {
    id: &'a str,
    result: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("cannot decrypt the request from {0} (neither NIP-44 nor NIP-04)")]
    Decrypt(String),
    #[error("the request from {from} is not a NIP-46 request: {detail}")]
    Parse { from: String, detail: String },
}

/// Decrypts and parses a request event addressed to `transport`.
pub fn open(transport: &Keys, ev: &Event) -> Result<(Scheme, Request), RpcError> {
    let from = ev.pubkey.to_hex();
    let (scheme, json) = if ev.content.contains("?iv=") {
        (
            Scheme::Nip04,
            nip04::decrypt(transport.secret_key(), &ev.pubkey, &ev.content)
                .map_err(|_| RpcError::Decrypt(from.clone()))?,
        )
    } else {
        (
            Scheme::Nip44,
            nip44::decrypt(transport.secret_key(), &ev.pubkey, &ev.content)
                .map_err(|_| RpcError::Decrypt(from.clone()))?,
        )
    };
    let req: Request = serde_json::from_str(&json).map_err(|e| RpcError::Parse {
        from,
        detail: e.to_string(),
    })?;
    Ok((scheme, req))
}

/// The reply event for request `id`: `Ok(result)` or `Err(error message)`.
pub fn reply(
    transport: &Keys,
    to: &PublicKey,
    scheme: Scheme,
    id: &str,
    outcome: &Result<String, String>,
) -> Result<Event, String> {
    let body = match outcome {
        Ok(r) => Response {
            id,
            result: Some(r),
            error: None,
        },
        Err(e) => Response {
            id,
            result: None,
            error: Some(e),
        },
    };
    let json = serde_json::to_string(&body).expect("responses serialize");
    let content = match scheme {
        Scheme::Nip44 => {
            nip44::encrypt(transport.secret_key(), to, json, nip44::Version::default())
                .map_err(|e| e.to_string())?
        }
        Scheme::Nip04 => {
            nip04::encrypt(transport.secret_key(), to, json).map_err(|e| e.to_string())?
        }
    };
    EventBuilder::new(Kind::NostrConnect, content)
        .tag(Tag::public_key(*to))
        .sign_with_keys(transport)
        .map_err(|e| e.to_string())
}

/// The `connect` response that answers a `nostrconnect://` URI: sent unasked, carrying
/// the client's secret as the result.
pub fn connect_response(
    transport: &Keys,
    client: &PublicKey,
    secret: Option<&str>,
) -> Result<Event, String> {
    let id = hex::encode(rand::random::<[u8; 8]>());
    reply(
        transport,
        client,
        Scheme::Nip44,
        &id,
        &Ok(secret.unwrap_or("ack").to_owned()),
    )
}
