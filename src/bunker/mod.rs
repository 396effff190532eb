//! `passport serve --relay`: a NIP-46 remote signer ("bunker") whose user key is a FROST
//! group key no single machine holds.
//!
//! The bunker talks to clients with its own *transport key*, an ordinary Nostr key kept
//! in the home's keystore; `get_public_key` answers the group key. Requests are checked
//! against per-client grants in the bunker's tables (in serve's SQLite, reached through
//! `serve::door`, the bunker's one way into serve); signing and ECDH go to a [`Backend`]:
//! this home's own shares, or co-signers.

pub mod answer;
pub mod approval;
pub mod asking;
pub mod attach;
pub mod backend;
pub mod budget;
pub mod console;
pub mod cosign;
mod error;
pub mod limits;
pub mod listening;
mod log;
pub mod method;
pub mod nostrconnect;
pub mod policy;
pub mod rpc;
pub mod service;
mod stats;
pub mod store;

use std::fmt::Write;
use std::time::Duration;

use nostr::{Keys, PublicKey, SecretKey, ToBech32};
use url::Url;

pub use attach::{parse_relays, prepare, serve, Options, Prepared};
pub use backend::Backend;
pub use error::{Error, Result};
pub use service::Bunker;
pub use stats::{Label, Stats};

use crate::home::Home;

/// Keystore name of the bunker's transport secret key.
const TRANSPORT_KEY: &str = "bunker/transport";

/// The bunker's transport key: created on first use, then kept in the home's keystore.
pub fn transport_keys(home: &Home) -> Result<Keys> {
    let ks = home.keystore();
    if !ks.exists(TRANSPORT_KEY) {
        let k = Keys::generate();
        ks.put(TRANSPORT_KEY, k.secret_key().as_secret_bytes(), false)?;
    }
    let bytes = ks.get(TRANSPORT_KEY)?;
    let sk = SecretKey::from_slice(&bytes)
        .map_err(|_| crate::keystore::Error::Tampered(TRANSPORT_KEY.into()))?;
    Ok(Keys::new(sk))
}

/// What must be escaped in a relay URL inside a query value.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'=')
    .add(b'?')
    .add(b':')
    .add(b'/');

/// `bunker://<transport pubkey hex>?relay=…&secret=…`, as NIP-46 specifies.
pub fn bunker_uri(transport: &PublicKey, relays: &[Url], secret: Option<&str>) -> String {
    let mut s = format!("bunker://{}", transport.to_hex());
    let mut sep = '?';
    for r in relays {
        // `ws://host:port/` and `ws://host:port` name the same relay; write the short form.
        let text = match r.path() {
            "/" if r.query().is_none() => r.as_str().trim_end_matches('/'),
            _ => r.as_str(),
        };
        let _ = write!(
            s,
            "{sep}relay={}",
            percent_encoding::utf8_percent_encode(text, QUERY_VALUE)
        );
        sep = '&';
    }
    if let Some(sec) = secret {
        let _ = write!(s, "{sep}secret={sec}");
    }
    s
}

/// A fresh single-use connect secret (128 random bits, hex).
pub fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The npub of a hex or bech32 key, for display.
pub fn npub(pk: &PublicKey) -> String {
    pk.to_bech32().unwrap_or_else(|_| pk.to_hex())
}

/// Default per-request time limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Unix seconds now (grant expiry and secrets are in Unix time).
pub fn unix_now() -> u64 {
    nostr::Timestamp::now().as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_has_relays_escaped_and_the_secret() {
        let pk = Keys::generate().public_key();
        let relays = [
            Url::parse("wss://relay.example/path?x=1").unwrap(),
            Url::parse("ws://127.0.0.1:7777").unwrap(),
        ];
        let uri = bunker_uri(&pk, &relays, Some("abc123"));
        assert_eq!(
            uri,
            format!(
                "bunker://{}?relay=wss%3A%2F%2Frelay.example%2Fpath%3Fx%3D1&relay=ws%3A%2F%2F127.0.0.1%3A7777&secret=abc123",
                pk.to_hex()
            )
        );
        // The nostr crate reads back exactly what was written.
        let parsed = nostr::nips::nip46::NostrConnectURI::parse(&uri).unwrap();
        assert_eq!(parsed.remote_signer_public_key(), Some(&pk));
        assert_eq!(parsed.relays().len(), 2);
        assert_eq!(parsed.secret(), Some("abc123"));
    }
}
