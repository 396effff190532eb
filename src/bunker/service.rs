//! The bunker loop: subscribe to kind-24133 requests for the transport key on the
//! configured relays, check each against the client's grant, answer through the
//! backend, reply in the request's encryption scheme — always, within the timeout, to
//! every known client; to unknown keys within [`super::budget`], then silence.
//!
//! A reply goes to the relay the request came through; a relay that refuses it (`OK
//! false`, e.g. rate limited) is logged and the next relay is tried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nostr::{Event, Filter, Keys, Kind, PublicKey, RelayMessage, RelayUrl, Timestamp};
use nostr_sdk::{Client, RelayPoolNotification};
use tokio::sync::{broadcast, watch};
use url::Url;

use super::answer::Failure;
use super::backend::Backend;
use super::budget::{self, Budget};
use super::method::Method;
use super::policy;
use super::rpc;
use super::Label;
use crate::group::Group;
use crate::serve::door::Db;

/// How long a request id is remembered to answer duplicates once: in memory for every
/// request, and durably (`bunker::store::first_answer`) for each one counted against a
/// grant, so a restart does not answer and count it again.
pub(super) const DEDUPE_FOR: Duration = Duration::from_secs(600);
/// How often the keys with a grant are re-read (grants change from other processes,
/// `bunker clients allow`): until then a newly allowed client counts as a stranger, within
/// the unknown budget. One indexed read of the keys; 2 s keeps that wait short.
const RELOAD_KNOWN: Duration = Duration::from_secs(2);

/// A running bunker's configuration and state.
pub struct Bunker {
    pub transport: Keys,
    pub relays: Vec<Url>,
    pub group: Group,
    pub backend: Arc<dyn Backend>,
    pub db: Db,
    pub request_timeout: Duration,
    pub stats: Arc<super::Stats>,
    pub(super) rate: policy::RateWindow,
    answered: Mutex<HashMap<(PublicKey, String), Instant>>,
    pub(super) budget: Budget,
    /// `serve -v`: one log line per request ([`super::log`]).
    pub(super) log_requests: bool,
    /// Where approval links point and how long a request waits ([`super::asking`]).
    pub(super) asking: super::asking::Asking,
}

impl Bunker {
    pub fn new(
        transport: Keys,
        relays: Vec<Url>,
        group: Group,
        backend: Arc<dyn Backend>,
        db: Db,
        request_timeout: Duration,
    ) -> Bunker {
        Bunker {
            transport,
            relays,
            group,
            backend,
            db,
            request_timeout,
            stats: Arc::new(super::Stats::default()),
            rate: policy::RateWindow::default(),
            answered: Mutex::new(HashMap::new()),
            budget: Budget::new(budget::DEFAULT_LIMITS),
            log_requests: false,
            asking: super::asking::Asking::default(),
        }
    }

    /// Approval links under `base` (serve's public URL); a request waits `timeout` for
    /// the operator.
    pub fn with_approval(mut self, base: &str, timeout: Duration) -> Self {
        self.asking = super::asking::Asking::new(base, timeout);
        self
    }

    /// Sets the budget for replies to unknown keys.
    pub fn with_unknown_limits(mut self, limits: budget::Limits) -> Self {
        self.budget = Budget::new(limits);
        self
    }

    /// Logs one line per request (`serve -v`).
    pub fn with_request_log(mut self, on: bool) -> Self {
        self.log_requests = on;
        self
    }

    /// Shares counters with `/metrics`.
    pub fn with_stats(mut self, stats: Arc<super::Stats>) -> Self {
        self.stats = stats;
        self
    }

    /// True the first time (client, request id) is seen within [`DEDUPE_FOR`].
    fn first_time(&self, from: PublicKey, id: &str) -> bool {
        let mut seen = self.answered.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if seen.len() > 10_000 {
            seen.retain(|_, t| now.duration_since(*t) < DEDUPE_FOR);
        }
        match seen.get(&(from, id.to_owned())) {
            Some(t) if now.duration_since(*t) < DEDUPE_FOR => false,
            _ => {
                seen.insert((from, id.to_owned()), now);
                true
            }
        }
    }

    /// Handles one incoming event: decrypt, answer (bounded by the timeout), reply.
    async fn handle(self: Arc<Self>, client: Client, via: RelayUrl, ev: Event) {
        let started = Instant::now();
        let (scheme, req) = match rpc::open(&self.transport, &ev) {
            Ok(x) => x,
            Err(rpc::RpcError::Malformed {
                scheme, id, detail, ..
            }) => {
                // Malformed but with an id: the client hears why, like any refusal.
                self.stats.record(Label::Other, false, started.elapsed());
                if self.first_time(ev.pubkey, &id) {
                    let outcome = Err(Failure::Malformed(detail));
                    if self.log_requests {
                        let seen = super::log::Seen::default();
                        super::log::request(
                            &ev.pubkey,
                            None,
                            &seen,
                            false,
                            &outcome,
                            started.elapsed(),
                        );
                    }
                    self.reply(&client, &via, &ev.pubkey, scheme, &id, &outcome)
                        .await;
                }
                return;
            }
            Err(e) => {
                // Not readable: nothing to reply to (no id), so it is only counted.
                self.stats.record(Label::Other, false, started.elapsed());
                tracing_note(&e.to_string());
                return;
            }
        };
        if !self.first_time(ev.pubkey, &req.id) {
            self.stats.record(Label::Duplicate, true, started.elapsed());
            return;
        }
        let method = Method::parse(&req.method);
        let label = method.map_or(Label::Other, Label::Method);
        let seen = super::log::Seen::default();
        let answer = self.answer(ev.pubkey, &req, &seen, false);
        let outcome = match tokio::time::timeout(self.request_timeout, answer).await {
            Ok(Err(Failure::Ask(new))) => {
                let asked = super::asking::Asked {
                    client: &client,
                    via: &via,
                    from: ev.pubkey,
                    scheme,
                    method,
                    started,
                };
                self.ask(asked, &req, *new, &seen).await
            }
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout(self.request_timeout.as_secs())),
        };
        if matches!(outcome, Err(Failure::Refused(policy::Refusal::Replayed))) {
            // Answered before a restart ([`DEDUPE_FOR`] survives it for counted
            // requests): a duplicate, answered once, as within one run.
            self.stats.record(Label::Duplicate, true, started.elapsed());
            return;
        }
        self.stats.record(label, outcome.is_ok(), started.elapsed());
        if self.log_requests {
            let asks = self.backend.asks();
            super::log::request(&ev.pubkey, method, &seen, asks, &outcome, started.elapsed());
        }
        self.reply(&client, &via, &ev.pubkey, scheme, &req.id, &outcome)
            .await;
    }

    /// Sends a reply through the relay the request came by, then, while relays refuse
    /// it, through each other relay in turn; every refusal is logged and counted.
    async fn reply(
        &self,
        client: &Client,
        via: &RelayUrl,
        to: &PublicKey,
        scheme: rpc::Scheme,
        id: &str,
        outcome: &Result<String, Failure>,
    ) {
        // The one place a failure becomes the client's text.
        let outcome = match outcome {
            Ok(r) => Ok(r.clone()),
            Err(e) => Err(e.to_string()),
        };
        match rpc::reply(&self.transport, to, scheme, id, &outcome) {
            Ok(r) => self.send(client, via, to, id, &r).await,
            Err(e) => tracing_note(&format!("cannot build the reply: {e}")),
        }
    }

    /// Sends a reply event as [`Bunker::reply`] says.
    pub(super) async fn send(
        &self,
        client: &Client,
        via: &RelayUrl,
        to: &PublicKey,
        id: &str,
        reply: &Event,
    ) {
        let mut order = vec![via.clone()];
        order.extend(client.relays().await.into_keys().filter(|u| u != via));
        let who = super::npub(to);
        for url in order {
            let why = match client.send_event_to([url.clone()], reply).await {
                Ok(out) if out.success.contains(&url) => return,
                Ok(out) => out
                    .failed
                    .get(&url)
                    .cloned()
                    .unwrap_or_else(|| "no answer".into()),
                Err(e) => e.to_string(),
            };
            self.stats.rejected();
            // The relay's words are quoted escaped: they are not ours to print raw.
            tracing_note(&format!(
                "relay {url} did not take the reply to {who} (request {id:?}): {why:?}"
            ));
        }
        tracing_note(&format!(
            "no relay took the reply to {who} (request {id:?}); the client will not hear it"
        ));
    }

    /// Re-reads which keys hold a grant.
    async fn reload_known(&self) {
        match self.db.call(policy::client_keys).await {
            Ok(keys) => self
                .budget
                .reset_known(keys.iter().filter_map(|k| PublicKey::from_hex(k).ok())),
            Err(e) => tracing_note(&format!("cannot read the clients: internal error: {e}")),
        }
    }

    /// Connects to the relays and subscribes; the returned future answers requests until
    /// `shutdown` flips. Ready means subscribed: NIP-46 requests are ephemeral events
    /// that relays do not keep, so a URI handed out earlier could lose the first request.
    pub async fn start(
        self: Arc<Self>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<crate::serve::door::Task, super::Error> {
        let client = crate::transport::sdk_builder()
            .signer(self.transport.clone())
            .build();
        for r in &self.relays {
            client
                .add_relay(r.as_str())
                .await
                .map_err(|e| super::Error::Relay {
                    relay: r.to_string(),
                    detail: e.to_string(),
                })?;
        }
        // Wait for the relays (a subscription sent before a relay is up would be lost);
        // ones still down keep reconnecting in the background and get the subscription
        // when they come up.
        let up = client.try_connect(Duration::from_secs(10)).await;
        for (url, e) in &up.failed {
            tracing_note(&format!("relay {url} is not reachable yet: {e}"));
        }
        let filter = Filter::new()
            .kind(Kind::NostrConnect)
            .pubkey(self.transport.public_key())
            .since(Timestamp::now());
        self.reload_known().await;
        // Requests asked about before a restart have no one waiting on them now.
        let at = super::unix_now();
        if let Err(e) = self
            .db
            .call(move |c| super::approval::abandon_all(c, at))
            .await
        {
            tracing_note(&format!(
                "cannot expire the old approvals: internal error: {e}"
            ));
        }
        let news = client.notifications();
        let mut eose = client.notifications();
        // The SDK re-sends this subscription whenever a relay reconnects.
        let sub = client
            .subscribe(filter, None)
            .await
            .map_err(|e| super::Error::Subscribe(e.to_string()))?;
        // Sent is not registered: a relay handles each connection on its own, so a
        // client's first request can overtake our REQ and find no subscriber (seen under
        // load). A relay answers a REQ with EOSE once the subscription is live; wait for
        // that from every relay that took it, bounded, before reporting ready.
        let mut waiting: std::collections::HashSet<RelayUrl> = sub.success.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !waiting.is_empty() {
            match tokio::time::timeout_at(deadline, eose.recv()).await {
                Ok(Ok(RelayPoolNotification::Message {
                    relay_url,
                    message: RelayMessage::EndOfStoredEvents(id),
                })) if *id == sub.val => {
                    waiting.remove(&relay_url);
                }
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => {
                    for url in &waiting {
                        tracing_note(&format!(
                            "relay {url} has not confirmed the subscription (no EOSE yet)"
                        ));
                    }
                    break;
                }
            }
        }
        Ok(Box::pin(self.serve_requests(client, news, shutdown)))
    }

    async fn serve_requests(
        self: Arc<Self>,
        client: Client,
        mut news: broadcast::Receiver<RelayPoolNotification>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), crate::serve::door::BoxError> {
        let mut reload = tokio::time::interval(RELOAD_KNOWN);
        reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = reload.tick() => {
                    let me = Arc::clone(&self);
                    tokio::spawn(async move { me.reload_known().await });
                }
                n = news.recv() => match n {
                    Ok(RelayPoolNotification::Event { event, relay_url, .. }) => {
                        if event.kind != Kind::NostrConnect || event.verify().is_err() {
                            continue;
                        }
                        // Before any work for it: strangers past their budget get silence.
                        if !self.budget.admit(&event.pubkey, Instant::now()) {
                            self.stats.silenced();
                            continue;
                        }
                        tokio::spawn(Arc::clone(&self).handle(client.clone(), relay_url, *event));
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing_note(&format!("fell behind by {n} relay notifications"));
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }
        client.shutdown().await;
        Ok(())
    }
}

pub(super) fn tracing_note(msg: &str) {
    // Messages quote clients and relays: one line, controls escaped.
    tracing::warn!(
        "passport serve: bunker: {}",
        crate::untrusted::one_line(msg)
    );
}
