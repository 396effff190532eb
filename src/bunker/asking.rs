//! A request its grant asks the operator about (NIP-46 `auth_url`): queued in
//! [`super::approval`], answered at once with `auth_url` and a link to the approval
//! page, then waited on — in the request's own task, so other requests go on — until
//! the operator approves (the real answer follows on the same request id), denies, or
//! the wait ends (an error on that id).
//!
//! A decision made by another process (`passport bunker approve`) is seen by polling
//! the row; one made in this process wakes the wait at once ([`super::approval::wake`]).
//! Uses are counted once, when the approved request is answered; the rate was taken
//! when it came.

use std::time::{Duration, Instant};

use nostr::{PublicKey, RelayUrl};
use nostr_sdk::Client;

use super::answer::Failure;
use super::approval::{self, New, State};
use super::log::Seen;
use super::method::{Call, Method};
use super::rpc::{self, Request, Scheme};
use super::service::{tracing_note, Bunker};

/// How often a waiting request re-reads its row.
const POLL: Duration = Duration::from_millis(200);

/// Default time a request waits for the operator.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(300);

/// Where approval links point and how long a request waits.
#[derive(Clone, Debug)]
pub struct Asking {
    /// serve's public URL, without a trailing slash.
    base: String,
    wait: Duration,
}

impl Default for Asking {
    fn default() -> Self {
        Asking::new("http://127.0.0.1", DEFAULT_WAIT)
    }
}

impl Asking {
    pub fn new(base: &str, wait: Duration) -> Asking {
        Asking {
            base: base.trim_end_matches('/').to_owned(),
            wait: wait.max(Duration::from_secs(1)),
        }
    }

    /// The approval page of request `id` (served by serve's console).
    pub fn url(&self, id: &str) -> String {
        format!("{}/console/pending/{id}", self.base)
    }
}

/// What the operator is shown of a call: nothing secret (no plaintext, no ciphertext).
pub fn queued(from: &PublicKey, call: &Call) -> New {
    let mut n = New {
        client: from.to_hex(),
        method: call.method().as_str().to_owned(),
        ..New::default()
    };
    match call {
        Call::SignEvent(t) => {
            n.kind = Some(t.kind);
            n.event = Some(serde_json::json!({
                "kind": t.kind,
                "content": t.content,
                "tags": t.tags,
                "created_at": t.created_at,
            }));
        }
        Call::Nip44Encrypt { peer, text } | Call::Nip04Encrypt { peer, text } => {
            n.peer = Some(peer.to_hex());
            n.text_len = Some(text.len() as u64);
        }
        Call::Nip44Decrypt { peer, .. } | Call::Nip04Decrypt { peer, .. } => {
            n.peer = Some(peer.to_hex());
        }
        _ => {}
    }
    n
}

/// The request being asked about, and where its replies go.
pub struct Asked<'a> {
    pub client: &'a Client,
    pub via: &'a RelayUrl,
    pub from: PublicKey,
    pub scheme: Scheme,
    pub method: Option<Method>,
    pub started: Instant,
}

impl Bunker {
    /// Queues `new`, sends `auth_url`, waits for the decision; the final outcome.
    pub(super) async fn ask(
        &self,
        a: Asked<'_>,
        req: &Request,
        new: New,
        seen: &Seen,
    ) -> Result<String, Failure> {
        let (at, lifetime) = (super::unix_now(), self.asking.wait.as_secs());
        let id = match self
            .db
            .call(move |c| approval::insert(c, &new, at, lifetime))
            .await?
        {
            Some(id) => id,
            None => return Err(Failure::QueueFull),
        };
        let url = self.asking.url(&id);
        if self.log_requests {
            super::log::asking(&a.from, a.method, seen, a.started.elapsed());
        }
        match rpc::auth_url(&self.transport, &a.from, a.scheme, &req.id, &url) {
            Ok(ev) => self.send(a.client, a.via, &a.from, &req.id, &ev).await,
            Err(e) => tracing_note(&format!("cannot build the auth_url reply: {e}")),
        }
        match self.decision(&id).await? {
            State::Approved => {
                seen.approved();
                let work = self.answer(a.from, req, seen, true);
                match tokio::time::timeout(self.request_timeout, work).await {
                    Ok(r) => r,
                    Err(_) => Err(Failure::Timeout(self.request_timeout.as_secs())),
                }
            }
            State::Denied => Err(Failure::Denied),
            State::Waiting | State::Expired => Err(Failure::NotApproved(lifetime)),
        }
    }

    /// Waits until request `id` is decided or expires.
    async fn decision(&self, id: &str) -> Result<State, Failure> {
        loop {
            // Registered before the row is read, so a wake-up in between is not lost.
            let woken = approval::woken();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let (id2, now) = (id.to_owned(), super::unix_now());
            let s = self.db.call(move |c| approval::state(c, &id2, now)).await?;
            if s != State::Waiting {
                return Ok(s);
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_keeps_no_plaintext_or_ciphertext() {
        let from = nostr::Keys::generate().public_key();
        let peer = nostr::Keys::generate().public_key();
        let enc = queued(
            &from,
            &Call::Nip44Encrypt {
                peer,
                text: "secret words".into(),
            },
        );
        assert_eq!(enc.text_len, Some(12));
        assert_eq!(enc.peer, Some(peer.to_hex()));
        assert!(enc.event.is_none());
        let dec = queued(
            &from,
            &Call::Nip44Decrypt {
                peer,
                text: "ciphertext".into(),
            },
        );
        assert_eq!((dec.text_len, dec.method.as_str()), (None, "nip44_decrypt"));
        assert_eq!(
            Asking::new("http://127.0.0.1:8080/", DEFAULT_WAIT).url("ab"),
            "http://127.0.0.1:8080/console/pending/ab"
        );
    }
}
