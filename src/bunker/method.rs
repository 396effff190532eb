//! The NIP-46 methods the bunker answers, and a request parsed once into what it asks
//! ([`Call`]). Method names are read and written here only.

use std::fmt;

use nostr::PublicKey;
use serde::{Deserialize, Serialize};

use super::rpc::Request;
use crate::events::Template;

/// A NIP-46 method the bunker answers. Serialized as its NIP-46 name (grants keep the
/// names they always had).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Connect,
    GetPublicKey,
    SignEvent,
    Ping,
    Nip44Encrypt,
    Nip44Decrypt,
    Nip04Encrypt,
    Nip04Decrypt,
    SwitchRelays,
    Logout,
}

impl Method {
    /// Every method, in the order they are listed to users.
    pub const ALL: [Method; 10] = [
        Method::Connect,
        Method::GetPublicKey,
        Method::SignEvent,
        Method::Ping,
        Method::Nip44Encrypt,
        Method::Nip44Decrypt,
        Method::Nip04Encrypt,
        Method::Nip04Decrypt,
        Method::SwitchRelays,
        Method::Logout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Connect => "connect",
            Method::GetPublicKey => "get_public_key",
            Method::SignEvent => "sign_event",
            Method::Ping => "ping",
            Method::Nip44Encrypt => "nip44_encrypt",
            Method::Nip44Decrypt => "nip44_decrypt",
            Method::Nip04Encrypt => "nip04_encrypt",
            Method::Nip04Decrypt => "nip04_decrypt",
            Method::SwitchRelays => "switch_relays",
            Method::Logout => "logout",
        }
    }

    pub fn parse(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Allowed to every authorized client whatever its grant says, and not counted.
    pub fn always_allowed(self) -> bool {
        matches!(
            self,
            Method::Connect | Method::Ping | Method::SwitchRelays | Method::Logout
        )
    }

    /// Outside a grant's per-minute rate.
    pub fn rate_exempt(self) -> bool {
        matches!(self, Method::Ping | Method::SwitchRelays | Method::Logout)
    }

    /// Every name, comma-separated, for messages.
    pub fn names() -> String {
        Method::ALL.map(Method::as_str).join(", ")
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A method name the bunker does not answer (in a grant the operator wrote).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown method {0:?}; known: {names}", names = Method::names())]
pub struct UnknownMethod(pub String);

impl std::str::FromStr for Method {
    type Err = UnknownMethod;
    fn from_str(s: &str) -> Result<Method, UnknownMethod> {
        Method::parse(s).ok_or_else(|| UnknownMethod(s.to_owned()))
    }
}

/// What a request asks, parsed once from its method and parameters.
#[derive(Clone, Debug)]
pub enum Call {
    /// `signer` is the bunker's transport key as the client names it (may be absent);
    /// `meta` is what a fourth parameter says about the client (`{"name":…,"url":…,
    /// "image":…}`, as some clients send), a display hint only.
    Connect {
        signer: Option<String>,
        secret: Option<String>,
        /// The third parameter: the permissions the client asks for (`sign_event:1,…`);
        /// unreadable ones are ignored (the operator's grant is the ceiling anyway).
        perms: Option<super::nostrconnect::Perms>,
        meta: Option<super::nostrconnect::ClientMeta>,
    },
    GetPublicKey,
    SignEvent(Template),
    Ping,
    Nip44Encrypt {
        peer: PublicKey,
        text: String,
    },
    Nip44Decrypt {
        peer: PublicKey,
        text: String,
    },
    Nip04Encrypt {
        peer: PublicKey,
        text: String,
    },
    Nip04Decrypt {
        peer: PublicKey,
        text: String,
    },
    SwitchRelays,
    Logout,
}

/// Why a request cannot be understood. The message is the client's error reply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("unsupported method {0:?}; this bunker answers {names}", names = Method::names())]
    Unsupported(String),
    #[error("sign_event needs the event as its first parameter")]
    NoEvent,
    #[error("sign_event: not an event: {0}")]
    NotAnEvent(String),
    #[error("{0} needs a public key parameter")]
    NoPeer(Method),
    #[error("{method}: bad public key {given:?}: {detail}")]
    BadPeer {
        method: Method,
        given: String,
        detail: String,
    },
    #[error("{method} needs {count} parameters")]
    Missing { method: Method, count: usize },
}

impl CallError {
    /// Parameter errors a client hears only once its grant allows the method (so a
    /// stranger learns nothing about them): the method they belong to.
    pub fn after_grant(&self) -> Option<Method> {
        match self {
            CallError::NoPeer(m) => Some(*m),
            CallError::BadPeer { method, .. } | CallError::Missing { method, .. } => Some(*method),
            _ => None,
        }
    }
}

impl Call {
    pub fn method(&self) -> Method {
        match self {
            Call::Connect { .. } => Method::Connect,
            Call::GetPublicKey => Method::GetPublicKey,
            Call::SignEvent(_) => Method::SignEvent,
            Call::Ping => Method::Ping,
            Call::Nip44Encrypt { .. } => Method::Nip44Encrypt,
            Call::Nip44Decrypt { .. } => Method::Nip44Decrypt,
            Call::Nip04Encrypt { .. } => Method::Nip04Encrypt,
            Call::Nip04Decrypt { .. } => Method::Nip04Decrypt,
            Call::SwitchRelays => Method::SwitchRelays,
            Call::Logout => Method::Logout,
        }
    }

    /// Parses `req`'s method and parameters.
    pub fn parse(req: &Request) -> Result<Call, CallError> {
        let method =
            Method::parse(&req.method).ok_or_else(|| CallError::Unsupported(req.method.clone()))?;
        let crypt = || -> Result<(PublicKey, String), CallError> {
            let p = req.param(0).ok_or(CallError::NoPeer(method))?;
            let peer = PublicKey::parse(&p).map_err(|e| CallError::BadPeer {
                method,
                given: p.clone(),
                detail: e.to_string(),
            })?;
            let text = req
                .param(1)
                .ok_or(CallError::Missing { method, count: 2 })?;
            Ok((peer, text))
        };
        Ok(match method {
            Method::Connect => Call::Connect {
                signer: req.param(0),
                secret: req.param(1),
                perms: req
                    .param(2)
                    .and_then(|p| super::nostrconnect::Perms::parse(&p).ok())
                    .filter(|p| !p.0.is_empty()),
                meta: req
                    .param(3)
                    .and_then(|j| super::nostrconnect::ClientMeta::from_json(&j)),
            },
            Method::GetPublicKey => Call::GetPublicKey,
            Method::SignEvent => {
                let p = req.param(0).ok_or(CallError::NoEvent)?;
                let t = Template::lenient(&p).map_err(|e| CallError::NotAnEvent(e.to_string()))?;
                Call::SignEvent(t)
            }
            Method::Ping => Call::Ping,
            Method::Nip44Encrypt => {
                let (peer, text) = crypt()?;
                Call::Nip44Encrypt { peer, text }
            }
            Method::Nip44Decrypt => {
                let (peer, text) = crypt()?;
                Call::Nip44Decrypt { peer, text }
            }
            Method::Nip04Encrypt => {
                let (peer, text) = crypt()?;
                Call::Nip04Encrypt { peer, text }
            }
            Method::Nip04Decrypt => {
                let (peer, text) = crypt()?;
                Call::Nip04Decrypt { peer, text }
            }
            Method::SwitchRelays => Call::SwitchRelays,
            Method::Logout => Call::Logout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, params: serde_json::Value) -> Request {
        Request {
            id: "1".into(),
            method: method.into(),
            params: params.as_array().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn names_round_trip_and_serialize_as_before() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.as_str()), Some(m));
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.as_str())
            );
        }
        assert_eq!(Method::parse("sign"), None);
        let e = "nope".parse::<Method>().unwrap_err().to_string();
        assert!(
            e.starts_with("unknown method \"nope\"; known: connect, get_public_key"),
            "{e}"
        );
    }

    #[test]
    fn requests_parse_once_with_the_old_messages() {
        let pk = nostr::Keys::generate().public_key();
        let c = Call::parse(&req(
            "nip44_encrypt",
            serde_json::json!([pk.to_hex(), "hi"]),
        ));
        assert!(
            matches!(c, Ok(Call::Nip44Encrypt { peer, ref text }) if peer == pk && text == "hi")
        );
        let c = Call::parse(&req("sign_event", serde_json::json!([r#"{"kind":1}"#]))).unwrap();
        assert!(matches!(c, Call::SignEvent(Template { kind: 1, .. })));
        for (method, params, message, after) in [
            ("sign", serde_json::json!([]), "unsupported method \"sign\"; this bunker answers connect, get_public_key, sign_event, ping, nip44_encrypt, nip44_decrypt, nip04_encrypt, nip04_decrypt, switch_relays, logout", None),
            ("sign_event", serde_json::json!([]), "sign_event needs the event as its first parameter", None),
            ("nip04_decrypt", serde_json::json!([]), "nip04_decrypt needs a public key parameter", Some(Method::Nip04Decrypt)),
            ("nip44_decrypt", serde_json::json!([pk.to_hex()]), "nip44_decrypt needs 2 parameters", Some(Method::Nip44Decrypt)),
        ] {
            let e = Call::parse(&req(method, params)).unwrap_err();
            assert_eq!(e.to_string(), message);
            assert_eq!(e.after_grant(), after);
        }
        let e = Call::parse(&req("sign_event", serde_json::json!(["{"]))).unwrap_err();
        assert!(
            e.to_string().starts_with("sign_event: not an event: "),
            "{e}"
        );
        let e = Call::parse(&req("nip44_encrypt", serde_json::json!(["zz", "x"]))).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("nip44_encrypt: bad public key \"zz\": "),
            "{e}"
        );
    }
}
