//! NIP-46 messages on the wire: kind-24133 events whose content is a NIP-44 (or, from
//! older clients, NIP-04) encrypted JSON-RPC object. Replies use the request's scheme.

use crate::conversation::pairs;
use nostr::nips::nip04;
use nostr::{Event, EventBuilder, Keys, Kind, PublicKey, Tag};
use serde::Serialize;

/// How a request was encrypted; the reply is encrypted the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Nip44,
    Nip04,
}

/// A request as sent: any method name (unknown ones get an error reply, not silence).
#[derive(Debug)]
pub struct Request {
    pub id: String,
    pub method: String,
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
    /// Has an id to answer, but not the shape of a request: gets an error reply.
    #[error("request {id} from {from} is malformed: {detail}")]
    Malformed {
        from: String,
        scheme: Scheme,
        id: String,
        detail: String,
    },
}

/// Why a reply event could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error(transparent)]
    Nip44(#[from] crate::conversation::Error),
    #[error(transparent)]
    Nip04(#[from] nip04::Error),
    #[error(transparent)]
    Sign(#[from] nostr::event::builder::Error),
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
            pairs::decrypt(transport, &ev.pubkey, &ev.content)
                .map_err(|_| RpcError::Decrypt(from.clone()))?,
        )
    };
    let req = parse(&json).map_err(|(id, detail)| match id {
        Some(id) => RpcError::Malformed {
            from: from.clone(),
            scheme,
            id,
            detail,
        },
        None => RpcError::Parse {
            from: from.clone(),
            detail,
        },
    })?;
    Ok((scheme, req))
}

/// `{"id": string, "method": string, "params": [..]}` (params may be left out). A
/// failure carries the id when there is one, so that the client hears why.
/// Parses a decrypted request; on failure, the id (when there is one to answer) and why.
pub fn parse(json: &str) -> Result<Request, (Option<String>, String)> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| (None, e.to_string()))?;
    let Some(id) = v.get("id").and_then(|i| i.as_str()) else {
        return Err((None, "no string \"id\"".into()));
    };
    let bad = |detail: &str| Err((Some(id.to_owned()), detail.to_owned()));
    let Some(method) = v.get("method").and_then(|m| m.as_str()) else {
        return bad("\"method\" must be a string");
    };
    let params = match v.get("params") {
        None | Some(serde_json::Value::Null) => vec![],
        Some(serde_json::Value::Array(a)) => a.clone(),
        Some(_) => return bad("\"params\" must be an array"),
    };
    Ok(Request {
        id: id.to_owned(),
        method: method.to_owned(),
        params,
    })
}

/// The reply event for request `id`: `Ok(result)` or `Err(error message)`.
pub fn reply(
    transport: &Keys,
    to: &PublicKey,
    scheme: Scheme,
    id: &str,
    outcome: &Result<String, String>,
) -> Result<Event, ReplyError> {
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
    seal(transport, to, scheme, &body)
}

/// The NIP-46 `auth_url` reply to request `id`: `{"id", "result": "auth_url", "error":
/// url}`. The client opens the URL and keeps waiting for the real reply on the same id.
pub fn auth_url(
    transport: &Keys,
    to: &PublicKey,
    scheme: Scheme,
    id: &str,
    url: &str,
) -> Result<Event, ReplyError> {
    let body = Response {
        id,
        result: Some("auth_url"),
        error: Some(url),
    };
    seal(transport, to, scheme, &body)
}

fn seal(
    transport: &Keys,
    to: &PublicKey,
    scheme: Scheme,
    body: &Response<'_>,
) -> Result<Event, ReplyError> {
    let json = serde_json::to_string(body).expect("responses serialize");
    let content = match scheme {
        Scheme::Nip44 => pairs::encrypt(transport, to, json.as_bytes())?,
        Scheme::Nip04 => nip04::encrypt(transport.secret_key(), to, json)?,
    };
    Ok(EventBuilder::new(Kind::NostrConnect, content)
        .tag(Tag::public_key(*to))
        .sign_with_keys(transport)?)
}

/// The `connect` response that answers a `nostrconnect://` URI: sent unasked, carrying
/// the client's secret as the result.
pub fn connect_response(
    transport: &Keys,
    client: &PublicKey,
    secret: Option<&str>,
) -> Result<Event, ReplyError> {
    let id = hex::encode(rand::random::<[u8; 8]>());
    reply(
        transport,
        client,
        Scheme::Nip44,
        &id,
        &Ok(secret.unwrap_or("ack").to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_requests_keep_their_id() {
        let r = parse(r#"{"id":"a","method":"ping"}"#).unwrap();
        assert!(r.params.is_empty());
        let r = parse(r#"{"id":"a","method":"ping","params":["x",1]}"#).unwrap();
        assert_eq!(r.param(1).as_deref(), Some("1"));
        for (json, needle) in [
            (r#"{"id":"a","method":"ping","params":{"0":"x"}}"#, "array"),
            (r#"{"id":"a","method":"ping","params":"x"}"#, "array"),
            (r#"{"id":"a","method":7}"#, "method"),
        ] {
            let (id, e) = parse(json).unwrap_err();
            assert_eq!(id.as_deref(), Some("a"), "{json}");
            assert!(e.contains(needle), "{json}: {e}");
        }
        for json in [r#"{"method":"ping"}"#, r#"{"id":5}"#, "[1]", "nope"] {
            assert_eq!(parse(json).unwrap_err().0, None, "{json}");
        }
    }
}
