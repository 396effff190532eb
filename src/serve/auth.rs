//! NIP-98 HTTP auth: `Authorization: Nostr <base64 kind-27235 event>`.
//!
//! Written out here rather than calling `nip98::verify_auth_header` because the window is
//! configurable (`auth_window_secs`) and the replay cache needs the event id.

use base64::Engine;
use nostr::{Event, EventId, JsonUtil, Kind, PublicKey, Url};
use sha2::{Digest, Sha256};

/// Auth events are a few hundred bytes; this bounds what we decode and parse.
const MAX_HEADER_BYTES: usize = 16 << 10;
/// Clocks run fast too: accept events from at most this far in the future.
const MAX_FUTURE_SECS: u64 = 30;

/// A verified auth event (not yet checked against the replay cache).
#[derive(Debug)]
pub struct Authed {
    pub pubkey: PublicKey,
    pub event_id: EventId,
    /// What the replay cache remembers: the signature, hex. Two requests that sign the
    /// same content within one second share an event id but not a signature (BIP-340
    /// signing is randomized), and nobody without the key can make a second signature.
    pub replay_key: String,
    /// When the event stops being acceptable; the replay cache keeps it until then.
    pub expires_at: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing Authorization header; sign a NIP-98 event (kind 27235) and send `Authorization: Nostr <base64>`")]
    Missing,
    #[error("malformed Authorization header: {0}")]
    Malformed(String),
    #[error("the auth event is kind {0}, not 27235 (NIP-98 HTTP auth)")]
    WrongKind(u16),
    #[error("the auth event is for {got}, not {want}; sign the exact URL of this request, query included")]
    WrongUrl { got: String, want: String },
    #[error("the auth event is for method {got}, not {want}")]
    WrongMethod { got: String, want: String },
    #[error("the auth event is {age} s old; the window is {window} s: sign a fresh one (and check the client's clock)")]
    Expired { age: u64, window: u64 },
    #[error("the auth event is dated {ahead} s in the future; check the client's clock")]
    Future { ahead: u64 },
    #[error("the auth event has no payload tag; requests with a body must sign its SHA-256")]
    NoPayload,
    #[error("the auth event's payload tag does not match the SHA-256 of the body")]
    PayloadMismatch,
    #[error("the auth event's id or signature does not verify")]
    BadSignature,
}

/// What the request was, for comparison with the signed `u`, `method` and `payload` tags.
pub struct Request<'a> {
    pub url: &'a str,
    pub method: &'a str,
    pub body: Option<&'a [u8]>,
}

fn tag<'a>(event: &'a Event, name: &str) -> Option<&'a str> {
    event.tags.iter().find_map(|t| {
        let s = t.as_slice();
        (s.len() >= 2 && s[0] == name).then(|| s[1].as_str())
    })
}

/// Verifies a header value against a request at time `now` (Unix seconds).
pub fn verify(
    header: Option<&str>,
    req: &Request<'_>,
    now: u64,
    window: u64,
) -> Result<Authed, AuthError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(AuthError::Missing)?;
    let encoded = header
        .strip_prefix("Nostr ")
        .map(str::trim)
        .ok_or_else(|| AuthError::Malformed("it must start with `Nostr `".into()))?;
    if encoded.len() > MAX_HEADER_BYTES {
        return Err(AuthError::Malformed(format!(
            "longer than {MAX_HEADER_BYTES} bytes"
        )));
    }
    let json = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| AuthError::Malformed(format!("not base64 ({e})")))?;
    let event = Event::from_json(&json)
        .map_err(|e| AuthError::Malformed(format!("not a Nostr event ({e})")))?;
    if event.kind != Kind::HttpAuth {
        return Err(AuthError::WrongKind(event.kind.as_u16()));
    }
    let signed_url = tag(&event, "u").ok_or_else(|| AuthError::Malformed("no `u` tag".into()))?;
    // Compare parsed URLs so harmless spelling differences (host case, default port) pass.
    let same_url = match (Url::parse(signed_url), Url::parse(req.url)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same_url {
        return Err(AuthError::WrongUrl {
            got: signed_url.to_owned(),
            want: req.url.to_owned(),
        });
    }
    let method =
        tag(&event, "method").ok_or_else(|| AuthError::Malformed("no `method` tag".into()))?;
    if !method.eq_ignore_ascii_case(req.method) {
        return Err(AuthError::WrongMethod {
            got: method.to_owned(),
            want: req.method.to_owned(),
        });
    }
    let created = event.created_at.as_secs();
    if created > now + MAX_FUTURE_SECS {
        return Err(AuthError::Future {
            ahead: created - now,
        });
    }
    let age = now.saturating_sub(created);
    if age > window {
        return Err(AuthError::Expired { age, window });
    }
    if let Some(body) = req.body {
        let payload = tag(&event, "payload").ok_or(AuthError::NoPayload)?;
        if !payload.eq_ignore_ascii_case(&hex::encode(Sha256::digest(body))) {
            return Err(AuthError::PayloadMismatch);
        }
    }
    // Last: the costly check, after the cheap ones refused what they could.
    event.verify().map_err(|_| AuthError::BadSignature)?;
    Ok(Authed {
        pubkey: event.pubkey,
        event_id: event.id,
        replay_key: event.sig.to_string(),
        expires_at: created.max(now) + window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr::nips::nip98::{HttpData, HttpMethod};
    use nostr::{EventBuilder, Keys, Timestamp};

    const URL: &str = "http://p.test/v1/ceremonies?x=1";

    fn header(keys: &Keys, url: &str, method: HttpMethod, body: Option<&[u8]>, at: u64) -> String {
        let mut data = HttpData::new(Url::parse(url).expect("url"), method);
        if let Some(b) = body {
            use nostr::hashes::Hash;
            data = data.payload(nostr::hashes::sha256::Hash::hash(b));
        }
        let ev = EventBuilder::http_auth(data)
            .custom_created_at(Timestamp::from(at))
            .sign_with_keys(keys)
            .expect("sign");
        format!(
            "Nostr {}",
            base64::engine::general_purpose::STANDARD.encode(ev.as_json())
        )
    }

    fn req(body: Option<&[u8]>) -> Request<'_> {
        Request {
            url: URL,
            method: "POST",
            body,
        }
    }

    #[test]
    fn accepts_a_fresh_signed_event() {
        let k = Keys::generate();
        let h = header(&k, URL, HttpMethod::POST, Some(b"{}"), 1000);
        let a = verify(Some(&h), &req(Some(b"{}")), 1010, 60).expect("valid");
        assert_eq!(a.pubkey, k.public_key());
        assert_eq!(a.expires_at, 1070);
    }

    #[test]
    fn refuses_each_mismatch() {
        let k = Keys::generate();
        let h = header(&k, URL, HttpMethod::POST, Some(b"{}"), 1000);
        assert_eq!(
            verify(None, &req(None), 1000, 60).unwrap_err(),
            AuthError::Missing
        );
        assert!(matches!(
            verify(Some("Basic abc"), &req(None), 1000, 60),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            verify(Some("Nostr !!!"), &req(None), 1000, 60),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            verify(Some(&h), &req(Some(b"{}")), 1061, 60),
            Err(AuthError::Expired { .. })
        ));
        assert!(matches!(
            verify(Some(&h), &req(Some(b"{}")), 900, 60),
            Err(AuthError::Future { .. })
        ));
        assert_eq!(
            verify(Some(&h), &req(Some(b"{ }")), 1000, 60).unwrap_err(),
            AuthError::PayloadMismatch
        );
        let other = Request {
            url: "http://p.test/v1/ceremonies?x=2",
            ..req(Some(b"{}"))
        };
        assert!(matches!(
            verify(Some(&h), &other, 1000, 60),
            Err(AuthError::WrongUrl { .. })
        ));
        let get = Request {
            method: "GET",
            ..req(None)
        };
        assert!(matches!(
            verify(Some(&h), &get, 1000, 60),
            Err(AuthError::WrongMethod { .. })
        ));
        let nopayload = header(&k, URL, HttpMethod::POST, None, 1000);
        assert_eq!(
            verify(Some(&nopayload), &req(Some(b"{}")), 1000, 60).unwrap_err(),
            AuthError::NoPayload
        );
    }

    #[test]
    fn refuses_a_forged_signature() {
        let k = Keys::generate();
        let h = header(&k, URL, HttpMethod::GET, None, 1000);
        let json = base64::engine::general_purpose::STANDARD
            .decode(h.trim_start_matches("Nostr "))
            .expect("b64");
        let mut v: serde_json::Value = serde_json::from_slice(&json).expect("json");
        v["pubkey"] = serde_json::Value::String(Keys::generate().public_key().to_hex());
        let forged = format!(
            "Nostr {}",
            base64::engine::general_purpose::STANDARD.encode(v.to_string())
        );
        let get = Request {
            method: "GET",
            ..req(None)
        };
        assert_eq!(
            verify(Some(&forged), &get, 1000, 60).unwrap_err(),
            AuthError::BadSignature
        );
    }
}
