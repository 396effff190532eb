//! The relay transport: packages published to ordinary Nostr relays and fetched back by
//! the ceremony's `c` tag. Relays store regular events (kind 7707), so a member who
//! starts late still finds everything sent before.
//!
//! Relays are not trusted to be sane either: the filter names the roster's keys (so an
//! honest relay sends nothing of strangers), one relay message is capped at a package's
//! size, and the stored events one relay sends for one fetch are counted and cut at
//! [`Bounds`], naming the relay.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nostr::{
    Alphabet, Event, EventId, Filter, JsonUtil, Keys, Kind, PublicKey, SingleLetterTag, Timestamp,
};
use nostr_sdk::prelude::{RelayLimits, ReqExitPolicy, StreamExt};
use nostr_sdk::{Client as SdkClient, ClientOptions, RelayPoolNotification};
use tokio::sync::broadcast;
use url::Url;

use super::{Bounds, Delivery, ViaError};
use crate::ceremony::Roster;
use crate::envelope::{MAX_PACKAGE_BYTES, PACKAGE_KIND};

const CONNECT: Duration = Duration::from_secs(10);
/// How long to wait for stored events (until every relay says EOSE).
const STORED: Duration = Duration::from_secs(10);
/// Live events taken per fetch; the rest wait in the (bounded) channel for the next.
const LIVE_PER_FETCH: usize = 10_000;

pub struct Client {
    sdk: SdkClient,
    filter: Filter,
    news: broadcast::Receiver<RelayPoolNotification>,
    relays: String,
    stored_fetched: bool,
    bounds: Bounds,
    /// Relays that failed to connect (url, why).
    unreachable: Vec<(String, String)>,
    /// Relays that failed to connect stay in the pool (see [`Client::open`]).
    keep_unreachable: bool,
    /// Relays whose last background publish failed (url → why, and whether reported).
    trouble: Arc<Mutex<BTreeMap<String, (String, bool)>>>,
}

impl Client {
    pub async fn open(
        urls: &[Url],
        keys: &Keys,
        roster: &Roster,
        authors: &[PublicKey],
        since: Option<Timestamp>,
        keep_unreachable: bool,
        bounds: Bounds,
    ) -> Result<Client, ViaError> {
        let relays = urls.iter().map(Url::as_str).collect::<Vec<_>>().join(", ");
        // One relay message carries one event: none of ours is larger than a package.
        let mut limits = RelayLimits::default();
        limits.messages.max_size = Some((MAX_PACKAGE_BYTES + (64 << 10)) as u32);
        // The identity key signs NIP-42 AUTH for relays that ask; nothing else.
        let sdk = super::sdk_builder()
            .signer(keys.clone())
            .opts(ClientOptions::new().relay_limits(limits))
            .build();
        for u in urls {
            sdk.add_relay(u.as_str())
                .await
                .map_err(|e| ViaError::Unreachable {
                    url: u.to_string(),
                    detail: e.to_string(),
                })?;
        }
        let out = sdk.try_connect(CONNECT).await;
        if out.success.is_empty() {
            return Err(ViaError::NoRelay { relays });
        }
        let unreachable: Vec<(String, String)> = out
            .failed
            .iter()
            .map(|(u, e)| (u.to_string(), e.to_string()))
            .collect();
        // A relay that failed to connect leaves the pool: kept, it made every publish
        // and every stored fetch wait out the SDK's timeouts (10 s per command) for a
        // relay that was never there. Deliveries still name it as missed.
        // A long-running agent (`keep_unreachable`, publishing without waiting for every
        // relay) keeps it instead: the SDK goes on trying, and stored fetches skip it.
        for u in out.failed.keys().filter(|_| !keep_unreachable) {
            let _ = sdk.force_remove_relay(u.clone()).await;
        }
        // Only the roster's keys: relays carry anyone's events, and a stranger flooding
        // the (public) ceremony tag should cost an honest relay's bandwidth, not ours.
        let mut filter = Filter::new()
            .kind(Kind::Custom(PACKAGE_KIND))
            .authors(authors.iter().copied())
            .custom_tag(SingleLetterTag::lowercase(Alphabet::C), &roster.ceremony_id);
        if let Some(t) = since {
            filter = filter.since(t);
        }
        // Subscribe before anything is fetched so nothing published meanwhile is missed;
        // the SDK re-sends the subscription when a relay reconnects.
        let news = sdk.notifications();
        sdk.subscribe(filter.clone(), None)
            .await
            .map_err(|e| ViaError::Unreachable {
                url: relays.clone(),
                detail: e.to_string(),
            })?;
        Ok(Client {
            sdk,
            filter,
            news,
            relays,
            stored_fetched: false,
            bounds,
            unreachable,
            keep_unreachable,
            trouble: Arc::default(),
        })
    }

    /// Sends `event` to every relay at once and returns when the first one took it; the
    /// others go on in the background (a failure is kept for [`Client::trouble`]).
    pub async fn publish_first(&mut self, event: &Event) -> Result<Delivery, ViaError> {
        let relays = self.sdk.relays().await;
        let (tx, mut rx) = tokio::sync::mpsc::channel(relays.len().max(1));
        for (url, relay) in relays {
            let (tx, ev, trouble) = (tx.clone(), event.clone(), Arc::clone(&self.trouble));
            tokio::spawn(async move {
                let r = relay.send_event(&ev).await.map_err(|e| e.to_string());
                {
                    let mut t = trouble.lock().unwrap_or_else(|p| p.into_inner());
                    match &r {
                        Ok(_) => {
                            t.remove(url.as_str());
                        }
                        Err(e) => {
                            let reported = t.get(url.as_str()).is_some_and(|(_, r)| *r);
                            t.insert(url.to_string(), (e.clone(), reported));
                        }
                    }
                }
                let _ = tx.send((url, r)).await;
            });
        }
        drop(tx);
        let mut failed = vec![];
        while let Some((url, r)) = rx.recv().await {
            match r {
                Ok(_) => {
                    return Ok(Delivery {
                        id: event.id,
                        duplicate: false,
                        missed: vec![],
                    })
                }
                Err(e) => failed.push(format!("{url}: {e}")),
            }
        }
        Err(ViaError::NotPublished {
            id: event.id.to_hex(),
            detail: if failed.is_empty() {
                format!("no relay left of {}", self.relays)
            } else {
                failed.join("; ")
            },
        })
    }

    /// Relays that failed a background publish and were not named yet (url, why).
    pub fn trouble(&self) -> Vec<(String, String)> {
        let mut t = self.trouble.lock().unwrap_or_else(|p| p.into_inner());
        t.iter_mut()
            .filter(|(_, (_, reported))| !*reported)
            .map(|(url, (why, reported))| {
                *reported = true;
                (url.clone(), why.clone())
            })
            .collect()
    }

    pub fn unreachable(&self) -> &[(String, String)] {
        &self.unreachable
    }

    pub async fn publish(&mut self, event: &Event) -> Result<Delivery, ViaError> {
        let out = self
            .sdk
            .send_event(event)
            .await
            .map_err(|e| ViaError::NotPublished {
                id: event.id.to_hex(),
                detail: e.to_string(),
            })?;
        if out.success.is_empty() {
            let detail = out
                .failed
                .iter()
                .map(|(u, e)| format!("{u}: {e}"))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(ViaError::NotPublished {
                id: event.id.to_hex(),
                detail: if detail.is_empty() {
                    format!("no answer from {}", self.relays)
                } else {
                    detail
                },
            });
        }
        // Relays accept a re-sent event silently; whether it was new is unknown here.
        Ok(Delivery {
            id: event.id,
            duplicate: false,
            missed: out
                .failed
                .iter()
                .map(|(u, e)| (u.to_string(), e.to_string()))
                .chain(
                    self.unreachable
                        .iter()
                        .map(|(u, e)| (u.clone(), format!("unreachable: {e}"))),
                )
                .collect(),
        })
    }

    /// Stored events on the first call, then whatever the subscription delivered, handed
    /// to `sink` in batches.
    pub async fn fetch(
        &mut self,
        wait: Duration,
        sink: &mut dyn FnMut(Vec<Event>),
    ) -> Result<(), ViaError> {
        let mut got = 0;
        if !self.stored_fetched {
            got += self.fetch_stored(sink).await?;
            self.stored_fetched = true;
        }
        let mut out = vec![];
        self.drain(&mut out);
        if out.is_empty() && got == 0 && !wait.is_zero() {
            let deadline = tokio::time::Instant::now() + wait;
            while out.is_empty() {
                match tokio::time::timeout_at(deadline, self.news.recv()).await {
                    Err(_) => break,
                    Ok(Ok(n)) => self.take(n, &mut out),
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                        // Missed notifications: ask the relays again.
                        self.stored_fetched = false;
                        sink(out);
                        return Box::pin(self.fetch(Duration::ZERO, sink)).await;
                    }
                    Ok(Err(broadcast::error::RecvError::Closed)) => {
                        return Err(ViaError::NoRelay {
                            relays: self.relays.clone(),
                        })
                    }
                }
            }
        }
        sink(out);
        Ok(())
    }

    /// Every relay's stored events for the filter, each relay read on its own so that one
    /// sending too much is named and cut off. Returns how many events were handed on.
    async fn fetch_stored(&self, sink: &mut dyn FnMut(Vec<Event>)) -> Result<usize, ViaError> {
        let mut tasks = tokio::task::JoinSet::new();
        for (url, relay) in self.sdk.relays().await {
            if self.keep_unreachable && !relay.is_connected() {
                // Kept only to be reconnected: when it is, the subscription brings its
                // stored events (the SDK subscribes again).
                continue;
            }
            let (filter, bounds) = (self.filter.clone(), self.bounds);
            tasks.spawn(async move {
                let r = stored_from(&relay, filter, bounds).await;
                (url, r)
            });
        }
        let mut seen: HashSet<EventId> = HashSet::new();
        let mut answered = 0;
        let mut handed = 0;
        let mut failed = vec![];
        while let Some(done) = tasks.join_next().await {
            let Ok((url, r)) = done else { continue };
            match r {
                Ok(events) => {
                    answered += 1;
                    let new: Vec<Event> =
                        events.into_iter().filter(|e| seen.insert(e.id)).collect();
                    handed += new.len();
                    sink(new);
                }
                Err(Stored::Flood(detail)) => {
                    tasks.abort_all();
                    return Err(ViaError::RelayFlood {
                        url: url.to_string(),
                        detail,
                    });
                }
                Err(Stored::Failed(e)) => failed.push(format!("{url}: {e}")),
            }
        }
        if answered == 0 {
            return Err(ViaError::Unreachable {
                url: self.relays.clone(),
                detail: failed.join("; "),
            });
        }
        Ok(handed)
    }

    /// Takes queued live events, at most [`LIVE_PER_FETCH`] (a relay pushing without end
    /// cannot keep one fetch going).
    fn drain(&mut self, out: &mut Vec<Event>) {
        while out.len() < LIVE_PER_FETCH {
            match self.news.try_recv() {
                Ok(n) => self.take(n, out),
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.stored_fetched = false,
                Err(_) => return,
            }
        }
    }

    fn take(&self, n: RelayPoolNotification, out: &mut Vec<Event>) {
        if let RelayPoolNotification::Event { event, .. } = n {
            if self.filter.match_event(&event, Default::default()) {
                out.push(*event);
            }
        }
    }

    pub async fn close(self) {
        self.sdk.shutdown().await;
    }
}

enum Stored {
    /// More than the bounds allow (what was exceeded).
    Flood(String),
    Failed(String),
}

/// One relay's stored events, counted against `bounds` as they arrive.
async fn stored_from(
    relay: &nostr_sdk::Relay,
    filter: Filter,
    bounds: Bounds,
) -> Result<Vec<Event>, Stored> {
    let mut stream = relay
        .stream_events(filter.clone(), STORED, ReqExitPolicy::ExitOnEOSE)
        .await
        .map_err(|e| Stored::Failed(e.to_string()))?;
    let (mut out, mut bytes) = (vec![], 0usize);
    while let Some(r) = stream.next().await {
        let Ok(ev) = r else { continue };
        // Only what was asked for counts as an answer; anything else is dropped unkept.
        if !filter.match_event(&ev, Default::default()) {
            continue;
        }
        bytes += ev.as_json().len();
        if out.len() >= bounds.relay_events {
            return Err(Stored::Flood(format!(
                "more than {} events",
                bounds.relay_events
            )));
        }
        if bytes > bounds.relay_bytes {
            return Err(Stored::Flood(format!(
                "more than {} bytes of events",
                bounds.relay_bytes
            )));
        }
        out.push(ev);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
