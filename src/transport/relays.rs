//! The relay transport: packages published to ordinary Nostr relays and fetched back by
//! the ceremony's `c` tag. Relays store regular events (kind 7707), so a member who
//! starts late still finds everything sent before.

use std::time::Duration;

use nostr::{Alphabet, Event, Filter, Keys, Kind, SingleLetterTag};
use nostr_sdk::{Client as SdkClient, RelayPoolNotification};
use tokio::sync::broadcast;
use url::Url;

use super::{Delivery, ViaError};
use crate::ceremony::Roster;
use crate::envelope::PACKAGE_KIND;

const CONNECT: Duration = Duration::from_secs(10);
/// How long to wait for stored events (until every relay says EOSE).
const STORED: Duration = Duration::from_secs(10);

pub struct Client {
    sdk: SdkClient,
    filter: Filter,
    news: broadcast::Receiver<RelayPoolNotification>,
    relays: String,
    stored_fetched: bool,
}

impl Client {
    pub async fn open(urls: &[Url], keys: &Keys, roster: &Roster) -> Result<Client, ViaError> {
        let relays = urls.iter().map(Url::as_str).collect::<Vec<_>>().join(", ");
        // The identity key signs NIP-42 AUTH for relays that ask; nothing else.
        let sdk = SdkClient::new(keys.clone());
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
        let filter = Filter::new()
            .kind(Kind::Custom(PACKAGE_KIND))
            .custom_tag(SingleLetterTag::lowercase(Alphabet::C), &roster.ceremony_id);
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
        })
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
        })
    }

    /// Stored events on the first call, then whatever the subscription delivered.
    pub async fn fetch(&mut self, wait: Duration) -> Result<Vec<Event>, ViaError> {
        let mut out = vec![];
        if !self.stored_fetched {
            let events = self
                .sdk
                .fetch_events(self.filter.clone(), STORED)
                .await
                .map_err(|e| ViaError::Unreachable {
                    url: self.relays.clone(),
                    detail: e.to_string(),
                })?;
            out.extend(events);
            self.stored_fetched = true;
        }
        self.drain(&mut out);
        if out.is_empty() && !wait.is_zero() {
            let deadline = tokio::time::Instant::now() + wait;
            while out.is_empty() {
                match tokio::time::timeout_at(deadline, self.news.recv()).await {
                    Err(_) => break,
                    Ok(Ok(n)) => self.take(n, &mut out),
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                        // Missed notifications: ask the relays again.
                        self.stored_fetched = false;
                        return Box::pin(self.fetch(Duration::ZERO)).await;
                    }
                    Ok(Err(broadcast::error::RecvError::Closed)) => {
                        return Err(ViaError::NoRelay {
                            relays: self.relays.clone(),
                        })
                    }
                }
            }
        }
        Ok(out)
    }

    fn drain(&mut self, out: &mut Vec<Event>) {
        loop {
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
