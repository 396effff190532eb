//! Co-signers over relays: `passport cosign --via wss://…` agents need no HTTP path to
//! serve. The bridge carries the group ceremony's packages between the bunker's relays
//! (its own `--relay` URLs) and serve's store, so [`super::Cosigners`], which reads the
//! store and waits on `door.subscribe`, sees relay-borne commitments and answers exactly
//! like posted ones:
//!
//! - in: every kind-7707 package of the ceremony (`c` tag) signed by a roster member,
//!   from any relay (deduplicated by id), goes through [`Door::insert_posted`], judged by
//!   the rules a posted package meets;
//! - out: every package the bunker inserts itself (its signing and ECDH requests, signed
//!   by its transport key) is published to every relay, each on its own, so a dead or
//!   hung relay delays nothing; a failing relay is logged once until it works again.
//!
//! The SDK reconnects a relay that went away and subscribes again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nostr::{Alphabet, Event, EventId, Filter, JsonUtil, Keys, Kind, SingleLetterTag, Timestamp};
use nostr_sdk::{Client, RelayPoolNotification};
use tokio::sync::broadcast::error::RecvError;
use url::Url;

use crate::envelope::payload::sign::DEFAULT_VALID_FOR;
use crate::envelope::PACKAGE_KIND;
use crate::group::Group;
use crate::serve::door::{self, BoxError, Ceremony, Door};
use crate::transport::PRESENCE_KIND;

/// How long startup waits for the relays (the SDK keeps trying after).
const CONNECT: Duration = Duration::from_secs(5);
/// Own packages published per wake-up (the rest on the next).
const BATCH: usize = 200;
/// Event ids remembered for deduplication before the set is started afresh.
const SEEN_MAX: usize = 100_000;

/// Subscription ids: asking again under the same id replaces, never adds.
const PACKAGES: &str = "passport-cosign-packages";
const PRESENCE: &str = "passport-cosign-presence";

/// Relays whose last publish failed (logged once until one works again).
type Trouble = Arc<Mutex<HashSet<String>>>;

/// Connects to `relays`, subscribes to `group`'s ceremony and runs the bridge in the
/// background until serve shuts down. Returns once subscribed (or the relays did not
/// answer within a few seconds: the SDK goes on trying).
pub async fn start(
    door: Door,
    transport: Keys,
    group: &Group,
    relays: &[Url],
) -> Result<(), BoxError> {
    let ceremony = door.ceremony_for(&group.roster).await?;
    // The transport key signs NIP-42 AUTH for relays that ask.
    let sdk = crate::transport::sdk_builder()
        .signer(transport.clone())
        .build();
    for r in relays {
        sdk.add_relay(r.as_str()).await?;
    }
    sdk.connect().await;
    sdk.wait_for_connection(CONNECT).await;
    // Commitments are valid DEFAULT_VALID_FOR: older packages are of no use.
    let since = Timestamp::from(crate::clock::now().saturating_sub(DEFAULT_VALID_FOR));
    let filter = Filter::new()
        .kind(Kind::Custom(PACKAGE_KIND))
        .authors(group.roster.members.iter().map(|m| m.npub))
        .custom_tag(
            SingleLetterTag::lowercase(Alphabet::C),
            &group.roster.ceremony_id,
        )
        .since(since);
    // Agents on relays say now and then that they are online (nobody sees them poll).
    let presence = Filter::new()
        .kind(Kind::Custom(PRESENCE_KIND))
        .authors(group.roster.members.iter().map(|m| m.npub))
        .custom_tag(
            SingleLetterTag::lowercase(Alphabet::C),
            &group.roster.ceremony_id,
        )
        .since(Timestamp::now());
    let news = sdk.notifications();
    for (id, f) in [(PACKAGES, filter.clone()), (PRESENCE, presence.clone())] {
        let id = nostr::SubscriptionId::new(id);
        if let Err(e) = sdk.subscribe_with_id(id, f, None).await {
            // No relay took the subscription now; the SDK sends it again on reconnect.
            tracing::warn!("passport serve: bunker: co-signer relays: cannot subscribe yet ({e})");
        }
    }
    let cid = ceremony.id.clone();
    let cursor = door.db().call(move |c| door::latest_seq(c, &cid)).await?;
    let bridge = Bridge {
        door,
        sdk,
        ceremony,
        filter,
        presence,
        own: transport.public_key().to_hex(),
        cursor,
        seen: HashSet::new(),
        trouble: Trouble::default(),
    };
    tracing::info!(
        "passport serve: bunker: co-signers may also come over {}",
        relays
            .iter()
            .map(Url::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    );
    tokio::spawn(bridge.run(news));
    Ok(())
}

struct Bridge {
    door: Door,
    sdk: Client,
    ceremony: Ceremony,
    filter: Filter,
    presence: Filter,
    /// The bunker's transport key (hex), which signs its requests.
    own: String,
    /// Own packages up to this seq are published.
    cursor: i64,
    seen: HashSet<EventId>,
    trouble: Trouble,
}

impl Bridge {
    async fn run(mut self, mut news: tokio::sync::broadcast::Receiver<RelayPoolNotification>) {
        let mut stored = self.door.subscribe(&self.ceremony.id);
        let mut stop = self.door.shutdown_signal();
        loop {
            tokio::select! {
                n = news.recv() => match n {
                    Ok(RelayPoolNotification::Event { event, .. }) => self.take(*event).await,
                    Ok(_) => {}
                    // Missed some: the relays still have them; ask again.
                    Err(RecvError::Lagged(_)) => {
                        let id = nostr::SubscriptionId::new(PACKAGES);
                        let _ = self.sdk.subscribe_with_id(id, self.filter.clone(), None).await;
                    }
                    Err(RecvError::Closed) => break,
                },
                r = stored.changed() => {
                    if r.is_err() {
                        break;
                    }
                    self.publish_own().await;
                }
                _ = stop.changed() => break,
            }
        }
        self.sdk.shutdown().await;
    }

    /// A relay's event: a member's package goes into the store as if posted.
    async fn take(&mut self, ev: Event) {
        if self.presence.match_event(&ev, Default::default()) {
            if ev.verify().is_ok() {
                self.door.touch(&self.ceremony.id, &ev.pubkey);
            }
            return;
        }
        if !self.filter.match_event(&ev, Default::default()) {
            return;
        }
        if self.seen.len() >= SEEN_MAX {
            self.seen.clear();
        }
        if !self.seen.insert(ev.id) {
            return;
        }
        match self.door.insert_posted(&self.ceremony, &ev).await {
            Ok(_) => self.door.touch(&self.ceremony.id, &ev.pubkey),
            // Judged unacceptable (or answers a request this store never had): dropped,
            // as a posted one would be refused.
            Err(e) => tracing::debug!(
                "passport serve: bunker: relay package {} not taken: {}",
                &ev.id.to_hex()[..12],
                crate::untrusted::one_line(&e.to_string())
            ),
        }
    }

    /// Publishes the bunker's own packages stored since the last call to every relay.
    async fn publish_own(&mut self) {
        loop {
            let (cid, own, since) = (self.ceremony.id.clone(), self.own.clone(), self.cursor);
            let rows = match self
                .door
                .db()
                .read(move |c| door::sent_by(c, &cid, &own, since, BATCH))
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!("passport serve: bunker: co-signer relays: {e}");
                    return;
                }
            };
            let full = rows.len() == BATCH;
            for (seq, json) in rows {
                self.cursor = self.cursor.max(seq);
                if let Ok(ev) = Event::from_json(&json) {
                    self.send(ev).await;
                }
            }
            if !full {
                return;
            }
        }
    }

    /// Sends `ev` to each relay on its own task: none waits for another.
    async fn send(&self, ev: Event) {
        for (url, relay) in self.sdk.relays().await {
            let (ev, trouble) = (ev.clone(), Arc::clone(&self.trouble));
            tokio::spawn(async move {
                let r = relay.send_event(&ev).await;
                let mut t = trouble.lock().unwrap_or_else(|p| p.into_inner());
                match r {
                    Ok(_) => {
                        if t.remove(url.as_str()) {
                            tracing::info!(
                                "passport serve: bunker: relay {url} takes packages again"
                            );
                        }
                    }
                    Err(e) => {
                        if t.insert(url.to_string()) {
                            tracing::warn!(
                                "passport serve: bunker: relay {url} did not take a co-signer request ({e}); going on with the others"
                            );
                        }
                    }
                }
            });
        }
    }
}
