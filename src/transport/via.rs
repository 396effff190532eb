//! The network backends behind one connection: `passport serve` over HTTP (NIP-98) or
//! Nostr relays, with the ceremony's packages sorted into a view as they arrive.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nostr::{Event, EventId, JsonUtil, Keys, PublicKey, Timestamp};

use super::{http, relays, Bounds, Endpoint, Error, Exchange, Input, Result, ViaError, Waits};
use crate::ceremony::Roster;
use crate::envelope;

mod view;
use view::View;

/// One delivered package.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: EventId,
    /// The server had it already (a re-run of a finished step).
    pub duplicate: bool,
    /// Relays that did not take the package (url, why), when others did.
    pub missed: Vec<(String, String)>,
}

enum Backend {
    Serve(Box<http::Client>),
    Relays(Box<relays::Client>),
}

/// A connection to one ceremony's packages, for one member.
pub struct Via {
    rt: tokio::runtime::Runtime,
    backend: Backend,
    endpoint: Endpoint,
    bounds: Bounds,
    view: View,
    ceremony: String,
    /// On relays, a publish returns once one relay took the package (the others finish
    /// in the background), so a dead or hung relay costs nothing while another works.
    quick: bool,
}

/// Who a connection listens to besides the roster's members (see [`Via::connect_agent`]).
struct Scope {
    requesters: Vec<PublicKey>,
    since: Option<Timestamp>,
    quick: bool,
}

/// Runs `op` on `rt`, giving up after `limit` with an error naming `url` and `what`.
fn bounded<T>(
    rt: &tokio::runtime::Runtime,
    limit: Duration,
    url: &str,
    what: &str,
    op: impl std::future::Future<Output = std::result::Result<T, ViaError>>,
) -> Result<T> {
    match rt.block_on(async { tokio::time::timeout(limit, op).await }) {
        Ok(r) => Ok(r?),
        Err(_) => Err(ViaError::Deadline {
            url: url.to_owned(),
            what: what.to_owned(),
            secs: limit.as_secs(),
        }
        .into()),
    }
}

impl Via {
    /// Connects for `roster`, acting as `keys` (used for NIP-98 auth on serve, NIP-42 on
    /// relays that ask), with the default [`Bounds`].
    pub fn connect(endpoint: &Endpoint, keys: &Keys, roster: &Roster) -> Result<Via> {
        Via::connect_bounded(endpoint, keys, roster, Bounds::default())
    }

    /// [`Via::connect`] with explicit bounds.
    pub fn connect_bounded(
        endpoint: &Endpoint,
        keys: &Keys,
        roster: &Roster,
        bounds: Bounds,
    ) -> Result<Via> {
        let scope = Scope {
            requesters: vec![],
            since: None,
            quick: false,
        };
        Via::open(endpoint, keys, roster, bounds, scope)
    }

    /// Connects for a co-signer agent: it also keeps the signing and ECDH requests that
    /// `coordinator` signs. On relays (which carry anyone's events) only the
    /// coordinator's packages from `since` on are asked for, and a publish returns as
    /// soon as one relay took it.
    pub fn connect_agent(
        endpoint: &Endpoint,
        keys: &Keys,
        roster: &Roster,
        coordinator: Option<PublicKey>,
        since: Timestamp,
    ) -> Result<Via> {
        let relays = matches!(endpoint, Endpoint::Relays(_));
        let scope = Scope {
            requesters: coordinator.into_iter().collect(),
            since: relays.then_some(since),
            quick: relays,
        };
        Via::open(endpoint, keys, roster, Bounds::default(), scope)
    }

    fn open(
        endpoint: &Endpoint,
        keys: &Keys,
        roster: &Roster,
        bounds: Bounds,
        scope: Scope,
    ) -> Result<Via> {
        // Several crates enable rustls providers; pick one explicitly so TLS never panics.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime(e.to_string()))?;
        let mut allowed: Vec<PublicKey> = roster.members.iter().map(|m| m.npub).collect();
        allowed.extend(roster.dealer);
        let place = endpoint.describe();
        // An agent reads only requests: on relays, only its coordinator's are asked for.
        let authors = match scope.requesters.is_empty() {
            true => allowed.clone(),
            false => scope.requesters.clone(),
        };
        let backend = match endpoint {
            Endpoint::Serve(url) => Backend::Serve(Box::new(bounded(
                &rt,
                bounds.deadline,
                &place,
                "roster registration",
                http::Client::open(url, keys, roster),
            )?)),
            Endpoint::Relays(urls) => Backend::Relays(Box::new(bounded(
                &rt,
                bounds.deadline,
                &place,
                "connection",
                relays::Client::open(
                    urls,
                    keys,
                    roster,
                    &authors,
                    scope.since,
                    scope.quick,
                    bounds,
                ),
            )?)),
        };
        Ok(Via {
            rt,
            backend,
            endpoint: endpoint.clone(),
            bounds,
            view: View {
                seen: BTreeMap::new(),
                ignored: 0,
                allowed,
                any_requester: false,
                requesters: scope.requesters,
                fresh: Vec::new(),
            },
            ceremony: roster.ceremony_id.clone(),
            quick: scope.quick,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Relays that could not be reached when connecting (url, why); the others are used.
    pub fn unreachable(&self) -> Vec<(String, String)> {
        match &self.backend {
            Backend::Relays(c) => c.unreachable().to_vec(),
            Backend::Serve(_) => vec![],
        }
    }

    /// Relays that failed to take a package since the last call (url, why), from the
    /// publishes that returned early; each relay is named once until it works again.
    pub fn relay_trouble(&mut self) -> Vec<(String, String)> {
        match &self.backend {
            Backend::Relays(c) => c.trouble(),
            Backend::Serve(_) => vec![],
        }
    }

    /// Events dropped so far because no roster member signed them.
    pub fn ignored(&self) -> usize {
        self.view.ignored
    }

    /// Sends one package; sending the same package again is harmless.
    pub fn publish(&mut self, event: &Event) -> Result<Delivery> {
        let (place, limit) = (self.endpoint.describe(), self.bounds.deadline);
        let d = match &mut self.backend {
            Backend::Serve(c) => bounded(&self.rt, limit, &place, "package upload", c.post(event))?,
            Backend::Relays(c) if self.quick => bounded(
                &self.rt,
                limit,
                &place,
                "package upload",
                c.publish_first(event),
            )?,
            Backend::Relays(c) => {
                bounded(&self.rt, limit, &place, "package upload", c.publish(event))?
            }
        };
        if let Ok(parsed) = envelope::parse(event.as_json().as_bytes()) {
            self.view.seen.insert(event.id, parsed);
        }
        Ok(d)
    }

    /// Fetches whatever is new without waiting.
    pub fn refresh(&mut self) -> Result<usize> {
        self.pull(Duration::ZERO)
    }

    /// Waits up to `max` for at least one new package. Returns how many arrived.
    pub fn wait(&mut self, max: Duration) -> Result<usize> {
        let deadline = Instant::now() + max;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let n = self.pull(left)?;
            if n > 0 || left.is_zero() {
                return Ok(n);
            }
        }
    }

    fn pull(&mut self, wait: Duration) -> Result<usize> {
        let place = self.endpoint.describe();
        let Via {
            rt,
            backend,
            view,
            bounds,
            ..
        } = self;
        let mut new = 0;
        let mut sink = |events: Vec<Event>| new += view.take(events);
        // The deadline comes on top of the long poll (serve's is capped at MAX_POLL).
        match backend {
            Backend::Serve(c) => {
                let limit = wait.min(http::MAX_POLL) + bounds.deadline;
                bounded(rt, limit, &place, "fetch", c.fetch(wait, &mut sink))?
            }
            Backend::Relays(c) => {
                let limit = wait + bounds.deadline;
                bounded(rt, limit, &place, "fetch", c.fetch(wait, &mut sink))?
            }
        }
        Ok(new)
    }

    /// Keeps signing and ECDH requests from signers outside the roster (a coordinator
    /// such as the bunker inside serve). Only for serve, which checks what it stores.
    pub fn accept_requests_from_anyone(&mut self) {
        self.view.any_requester = matches!(self.endpoint, Endpoint::Serve(_));
    }

    /// The events that arrived since the last call, in arrival order.
    pub fn take_fresh(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.view.fresh)
    }

    /// Forgets events seen so far (a long-running agent keeps only its own view).
    pub fn forget_seen(&mut self) {
        self.view.seen.clear();
    }

    /// Everything seen so far, as inputs for the round functions.
    pub fn inputs(&self) -> Vec<Input> {
        let place = self.endpoint.describe();
        let mut out: Vec<Input> = self
            .view
            .seen
            .values()
            .map(|(event, meta)| Input {
                path: format!("package {} from {place}", &event.id.to_hex()[..12]),
                explicit: false,
                event: event.clone(),
                meta: meta.clone(),
            })
            .collect();
        out.sort_by_key(|i| (i.event.created_at, i.event.id));
        out
    }

    /// Closes connections politely (bounded: a relay that does not answer is left).
    pub fn close(self) {
        if let Backend::Relays(c) = self.backend {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), c.close()).await });
        }
    }
}

impl Exchange for Via {
    fn bind(&mut self, roster: &Roster) -> Result<()> {
        if roster.ceremony_id != self.ceremony {
            return Err(Error::OtherCeremony {
                carries: self.ceremony.clone(),
                asked: roster.ceremony_id.clone(),
            });
        }
        Ok(())
    }

    fn inputs(&mut self, _roster: &Roster) -> Result<Vec<Input>> {
        self.refresh()?;
        Ok(Via::inputs(self))
    }

    fn deliver(&mut self, name: &str, event: &Event) -> Result<String> {
        let d = self.publish(event)?;
        // Name only where it went: a relay that did not take it is said so.
        let to = match &self.endpoint {
            Endpoint::Relays(urls) if !d.missed.is_empty() => urls
                .iter()
                .map(|u| u.to_string())
                .filter(|u| !d.missed.iter().any(|(m, _)| same_relay(m, u)))
                .collect::<Vec<_>>()
                .join(", "),
            _ => self.endpoint.describe(),
        };
        let missed = d
            .missed
            .iter()
            .map(|(u, why)| format!(", NOT to {u} ({why})"))
            .collect::<String>();
        Ok(format!(
            "{name} ({}) to {to}{}{missed}",
            &d.id.to_hex()[..12],
            if d.duplicate { ", already there" } else { "" }
        ))
    }

    fn sent(&self) -> bool {
        true
    }
}

/// Relay URLs compare without a trailing slash (the SDK normalizes them).
fn same_relay(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

impl Waits for Via {
    fn wait_news(&mut self, max: Duration) -> Result<usize> {
        self.wait(max)
    }
}
