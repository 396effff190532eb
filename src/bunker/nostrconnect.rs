//! A client's `nostrconnect://` URI, read by passport itself: nostr 0.44's parser refuses
//! the form nostr-tools' `createNostrConnectURI` writes today (`perms`, `name`, `url`,
//! `image` as their own parameters, no `metadata` JSON), so both forms are read here.
//!
//! `nostrconnect://<client pubkey hex>?relay=wss://…&relay=…&secret=…&perms=…&name=…`
//!
//! The client's `perms` become the grant proposed to the operator ([`Perms::grant`]);
//! its name, url and image are a display hint only ([`ClientMeta`]), never consulted for
//! authorization: anyone can write any name into a URI.

use std::collections::BTreeSet;

use nostr::{PublicKey, RelayUrl};
use serde::{Deserialize, Serialize};

use super::method::Method;
use super::policy::Grant;

/// Longest secret accepted: it is echoed back to the client, nothing more.
const MAX_SECRET: usize = 256;
/// Longest name, url or image kept as a hint.
const MAX_HINT: usize = 512;

/// What a client says about itself: shown to the operator, stored beside the grant,
/// never trusted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl ClientMeta {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.url.is_none() && self.image.is_none()
    }

    /// Reads `{"name":…,"url":…,"image":…}` leniently (other fields and non-string
    /// values are dropped, long values cut): it is a hint.
    pub fn from_json(text: &str) -> Option<ClientMeta> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let o = v.as_object()?;
        let field = |k: &str| o.get(k).and_then(|v| v.as_str()).and_then(hint);
        let m = ClientMeta {
            name: field("name"),
            url: field("url"),
            image: field("image"),
        };
        (!m.is_empty()).then_some(m)
    }

    /// The fields of `other` that are set replace those of `self`.
    pub fn or(self, other: ClientMeta) -> ClientMeta {
        ClientMeta {
            name: other.name.or(self.name),
            url: other.url.or(self.url),
            image: other.image.or(self.image),
        }
    }
}

fn hint(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    Some(s.chars().take(MAX_HINT).collect())
}

/// One entry of `perms`: a method and its optional parameter (`sign_event:1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Perm {
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

impl std::fmt::Display for Perm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.param {
            Some(p) => write!(f, "{}:{p}", self.method),
            None => f.write_str(&self.method),
        }
    }
}

/// The permissions a client asks for, as its URI lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Perms(pub Vec<Perm>);

/// The grant made from a client's perms, and what in them the bunker cannot grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub grant: Grant,
    /// Methods this bunker does not answer (shown, not granted).
    pub ignored: Vec<String>,
}

impl Perms {
    /// `sign_event:1,nip44_encrypt`: comma-separated, each `method[:param]`.
    pub fn parse(text: &str) -> Result<Perms, BadUri> {
        let mut out = vec![];
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (method, param) = match item.split_once(':') {
                Some((m, p)) => (m.trim(), Some(p.trim().to_owned())),
                None => (item, None),
            };
            if method.is_empty() {
                return Err(BadUri::Perm(item.into()));
            }
            if method == Method::SignEvent.as_str() {
                if let Some(p) = &param {
                    p.parse::<u16>()
                        .map_err(|_| BadUri::PermKind(item.into()))?;
                }
            }
            out.push(Perm {
                method: method.into(),
                param: param.filter(|p| !p.is_empty()),
            });
        }
        Ok(Perms(out))
    }

    /// The grant these perms ask for: their methods (`get_public_key` always, as every
    /// client calls it right after connecting; the always-allowed ones need no entry),
    /// and the kinds of their `sign_event:<kind>` entries (any kind for a bare
    /// `sign_event`). No perms at all: everything, as the client did not narrow it.
    pub fn grant(&self) -> Proposal {
        if self.0.is_empty() {
            return Proposal {
                grant: Grant::default(),
                ignored: vec![],
            };
        }
        let mut methods = BTreeSet::from([Method::GetPublicKey]);
        let (mut kinds, mut any_kind) = (BTreeSet::new(), false);
        let mut ignored = vec![];
        for p in &self.0 {
            let Some(m) = Method::parse(&p.method) else {
                if !ignored.contains(&p.method) {
                    ignored.push(p.method.clone());
                }
                continue;
            };
            if m == Method::SignEvent {
                match p.param.as_deref().map(str::parse::<u16>) {
                    Some(Ok(k)) => {
                        kinds.insert(k);
                    }
                    // `parse` refused other parameters.
                    _ => any_kind = true,
                }
            }
            if !m.always_allowed() {
                methods.insert(m);
            }
        }
        let signs = methods.contains(&Method::SignEvent);
        Proposal {
            grant: Grant {
                methods: Some(methods.into_iter().collect()),
                kinds: (signs && !any_kind).then(|| kinds.into_iter().collect()),
                ..Grant::default()
            },
            ignored,
        }
    }
}

/// A client's `nostrconnect://` URI, read and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientUri {
    pub client: PublicKey,
    pub relays: Vec<RelayUrl>,
    /// Echoed in the connect reply so the client knows it is the signer it invited.
    pub secret: Option<String>,
    /// `None`: the URI asks for no particular permissions.
    pub perms: Option<Perms>,
    pub meta: ClientMeta,
}

/// Why a `nostrconnect://` URI is refused, naming the part that is wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadUri {
    #[error("not a URI ({0})")]
    NotUri(String),
    #[error("that is a bunker:// URI; `bunker connect` takes a client's nostrconnect:// URI")]
    Bunker,
    #[error("scheme {0}: a client's URI starts with nostrconnect://")]
    Scheme(String),
    #[error("the client key {0} is not a public key (64 hex digits)")]
    ClientKey(String),
    #[error("no relay= parameter: the client names no relay to answer on")]
    NoRelay,
    #[error("relay {0}: not a ws:// or wss:// URL")]
    Relay(String),
    #[error("{0}= is given more than once")]
    Repeated(&'static str),
    #[error("secret= is longer than {MAX_SECRET} characters or holds control characters")]
    Secret,
    #[error("perms: {0} is not method[:parameter]")]
    Perm(String),
    #[error("perms: {0} names no event kind (sign_event:<0-65535>)")]
    PermKind(String),
}

impl ClientUri {
    pub fn parse(text: &str) -> Result<ClientUri, BadUri> {
        let text = text.trim();
        let url = url::Url::parse(text).map_err(|e| BadUri::NotUri(e.to_string()))?;
        match url.scheme() {
            "nostrconnect" => {}
            "bunker" => return Err(BadUri::Bunker),
            other => return Err(BadUri::Scheme(crate::untrusted::quoted(other))),
        }
        let host = url.host_str().unwrap_or_default();
        let client = (host.len() == 64 && host.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| PublicKey::from_hex(host).ok())
            .flatten()
            .ok_or_else(|| BadUri::ClientKey(crate::untrusted::quoted(host)))?;
        let (mut relays, mut secret, mut perms) = (vec![], None, None);
        let (mut meta, mut old_meta) = (ClientMeta::default(), None);
        let mut seen_secret = false;
        for (k, v) in url.query_pairs() {
            match &*k {
                "relay" => {
                    let r = RelayUrl::parse(v.trim())
                        .map_err(|_| BadUri::Relay(crate::untrusted::quoted(&v)))?;
                    if !relays.contains(&r) {
                        relays.push(r);
                    }
                }
                "secret" => {
                    if std::mem::replace(&mut seen_secret, true) {
                        return Err(BadUri::Repeated("secret"));
                    }
                    if v.chars().count() > MAX_SECRET || v.chars().any(char::is_control) {
                        return Err(BadUri::Secret);
                    }
                    // An empty secret is none: the reply says "ack", as without one.
                    secret = Some(v.into_owned()).filter(|s| !s.is_empty());
                }
                "perms" => {
                    if perms.is_some() {
                        return Err(BadUri::Repeated("perms"));
                    }
                    perms = Some(Perms::parse(&v)?);
                }
                "name" => meta.name = hint(&v),
                "url" => meta.url = hint(&v),
                "image" => meta.image = hint(&v),
                // The older form: {"name":…,"url":…,"perms":…} in one JSON parameter.
                "metadata" => old_meta = Some(v.into_owned()),
                _ => {}
            }
        }
        if let Some(json) = old_meta {
            if let Some(m) = ClientMeta::from_json(&json) {
                meta = m.or(meta);
            }
            let perms_in_json = serde_json::from_str::<serde_json::Value>(&json)
                .ok()
                .and_then(|v| v.get("perms").and_then(|p| p.as_str()).map(str::to_owned));
            if let (None, Some(p)) = (&perms, perms_in_json) {
                perms = Some(Perms::parse(&p)?);
            }
        }
        if relays.is_empty() {
            return Err(BadUri::NoRelay);
        }
        Ok(ClientUri {
            client,
            relays,
            secret,
            perms: perms.filter(|p| !p.0.is_empty()),
            meta,
        })
    }
}

#[cfg(test)]
mod tests;
