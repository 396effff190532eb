//! Transports for `--via`: round packages carried through `passport serve` (HTTP with
//! NIP-98) or Nostr relays instead of files ([`Files`] is the file flow).
//!
//! Packages are already signed events, so they travel unchanged; confidential ones are
//! NIP-44 encrypted to their recipient before they leave the home. A transport only moves
//! events: every package fetched here is checked again by the round that reads it.
//!
//! The other side is not trusted to behave: every operation has a deadline
//! ([`Bounds::deadline`]), answers are read with size caps, paging stops when a cursor
//! does not advance, and each page is sorted (strangers' events dropped) as it arrives,
//! so what a server or relay sends is never buffered whole. Errors name the endpoint.

mod collect;
mod error;
mod files;
mod http;
mod lazy;
mod relays;
mod socket;
mod via;
mod wait;

use std::time::Duration;

use nostr::Event;
use url::Url;

use crate::ceremony::Roster;

pub use collect::{collect, Want};
pub use error::{Error, Result, ViaError};
pub use files::{
    input_of, read_inputs, read_package, read_source, refuse_clobber, write_package, Files, Input,
};
pub use lazy::Lazy;
pub use socket::{sdk_builder, NoDelay};
pub use via::{Delivery, Via};
pub use wait::{until_complete, Progress, Retry, Retryable, Waiting, Waits};

/// Kind of the ephemeral "still here" event a co-signer agent on relays sends now and
/// then (tagged `c` with the ceremony, signed by its identity key): relays keep none, and
/// the bunker counts the signer as online, as serve does a co-signer that polls.
pub const PRESENCE_KIND: u16 = 27707;

/// How often an agent on relays sends its presence event.
pub const PRESENCE_EVERY: Duration = Duration::from_secs(60);

/// A presence event of `keys` for `ceremony` (see [`PRESENCE_KIND`]).
pub fn presence_event(keys: &nostr::Keys, ceremony: &str) -> Result<Event> {
    let c = nostr::TagKind::single_letter(nostr::Alphabet::C, false);
    let tag = nostr::Tag::custom(c, [ceremony]);
    nostr::EventBuilder::new(nostr::Kind::Custom(PRESENCE_KIND), "")
        .tag(tag)
        .sign_with_keys(keys)
        .map_err(|e| Error::Runtime(e.to_string()))
}

/// Where packages go: one serve URL, or one or more relays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Serve(Url),
    Relays(Vec<Url>),
}

impl Endpoint {
    /// Parses `--via` values: a single `http(s)://` URL, or `ws(s)://` relay URLs.
    pub fn parse(values: &[String]) -> Result<Endpoint> {
        let mut http = vec![];
        let mut ws = vec![];
        for v in values {
            for part in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let url = Url::parse(part).map_err(|e| Error::NotAUrl {
                    part: part.to_owned(),
                    detail: e.to_string(),
                })?;
                match url.scheme() {
                    "http" | "https" => http.push(url),
                    "ws" | "wss" => ws.push(url),
                    other => {
                        return Err(Error::Scheme {
                            part: part.to_owned(),
                            scheme: other.to_owned(),
                        })
                    }
                }
            }
        }
        match (http.len(), ws.len()) {
            (0, 0) => Err(Error::NoUrl),
            (1, 0) => Ok(Endpoint::Serve(http.remove(0))),
            (0, _) => Ok(Endpoint::Relays(ws)),
            _ => Err(Error::Mixed),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Endpoint::Serve(u) => u.to_string(),
            Endpoint::Relays(r) => r.iter().map(Url::as_str).collect::<Vec<_>>().join(", "),
        }
    }
}

/// How far a transport trusts the other side (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// One operation (registering the roster, sending a package, one fetch with all its
    /// pages) may take this long, on top of any long-poll wait it asks for.
    pub deadline: Duration,
    /// Stored events one relay may send for one fetch (an honest relay sends what the
    /// roster's members published for the ceremony: about n² packages for a DKG).
    pub relay_events: usize,
    /// Bytes of those events (each one is at most [`envelope::MAX_PACKAGE_BYTES`]).
    pub relay_bytes: usize,
}

/// Default [`Bounds::deadline`], in seconds.
pub const DEFAULT_DEADLINE_SECS: u64 = 60;

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            deadline: Duration::from_secs(DEFAULT_DEADLINE_SECS),
            relay_events: 200_000,
            relay_bytes: 256 << 20,
        }
    }
}

/// Where a round's packages come from and go to: files (`--in`, `--out`) or a
/// transport (`--via`).
pub trait Exchange {
    /// Names the roster the packages are bound to, before anything is sent (a transport
    /// that has not connected yet connects for it).
    fn bind(&mut self, _roster: &Roster) -> Result<()> {
        Ok(())
    }
    /// Every package available for this roster.
    fn inputs(&mut self, roster: &Roster) -> Result<Vec<Input>>;
    /// Delivers one package named `name`; returns where it went, for the report.
    fn deliver(&mut self, name: &str, event: &Event) -> Result<String>;
    /// Delivers saved packages again, one by one (a re-run of a step that already sent
    /// them); returns where each went.
    fn deliver_each(&mut self, items: &[(String, Event)]) -> Result<Vec<String>> {
        items
            .iter()
            .map(|(name, ev)| self.deliver(name, ev))
            .collect()
    }
    /// Delivers several packages, all or (where the medium allows) none.
    fn deliver_all(&mut self, items: &[(String, &Event)]) -> Result<Vec<String>> {
        items.iter().map(|(n, e)| self.deliver(n, e)).collect()
    }
    /// True when delivering sends packages away rather than writing files.
    fn sent(&self) -> bool {
        false
    }
    /// Whether files that exist with other content may be overwritten (`--force`).
    fn force(&self) -> bool {
        false
    }
}
