//! What the bunker running inside `passport serve` uses to coordinate co-signers through
//! the same package store: packages it makes itself go in directly (judged as the
//! server's own, so it alone may issue ECDH requests), waiters wake it when answers
//! arrive, and presence says which members are polling right now.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use nostr::{Event, JsonUtil, PublicKey};
use rand::RngCore;

use super::door::Error;
use super::store::{self, Ceremony, Inserted};
use super::waiters::Audience;
use super::{now, rules, AppState};
use crate::ceremony::Roster;

/// Who is fetching packages: open long polls and the last fetch, per ceremony and key.
#[derive(Default)]
pub struct Presence {
    seen: Mutex<HashMap<(String, PublicKey), Seen>>,
}

#[derive(Clone, Copy, Debug)]
pub struct Seen {
    /// Fetches in progress (a connected co-signer keeps one open).
    pub polling: u32,
    /// When the key last started or finished a fetch.
    pub last: Instant,
}

/// Counts one fetch in progress until dropped.
pub struct Polling<'a> {
    presence: &'a Presence,
    key: (String, PublicKey),
}

impl Presence {
    pub fn poll(&self, ceremony: &str, pk: &PublicKey) -> Polling<'_> {
        let key = (ceremony.to_owned(), *pk);
        let mut m = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 100_000 {
            m.retain(|_, s| s.polling > 0 || s.last.elapsed().as_secs() < 3600);
        }
        let e = m.entry(key.clone()).or_insert(Seen {
            polling: 0,
            last: Instant::now(),
        });
        e.polling += 1;
        e.last = Instant::now();
        Polling {
            presence: self,
            key,
        }
    }

    /// Every key seen fetching in `ceremony`.
    pub fn of(&self, ceremony: &str) -> Vec<(PublicKey, Seen)> {
        let m = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        m.iter()
            .filter(|((c, _), _)| c == ceremony)
            .map(|((_, pk), s)| (*pk, *s))
            .collect()
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        let mut m = self.presence.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = m.get_mut(&self.key) {
            e.polling = e.polling.saturating_sub(1);
            e.last = Instant::now();
        }
    }
}

impl AppState {
    /// The server's ceremony for exactly `roster`, registered now if no member has yet.
    pub(crate) async fn ceremony_for(&self, roster: &Roster) -> Result<Ceremony, Error> {
        let mut raw = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let new_id = hex::encode(raw);
        let stored = roster.clone();
        let created = self
            .0
            .db
            .call(move |c| store::create(c, &stored, &new_id, now()))
            .await?;
        Ok(created.ceremony)
    }

    /// Stores a package the server itself made (the bunker's requests) and wakes
    /// waiters. Returns its seq.
    pub(crate) async fn insert_own(&self, c: &Ceremony, event: &Event) -> Result<i64, Error> {
        self.insert_judged(c, event, true).await
    }

    /// Stores a package judged as the server's own (`internal`) or as if a member had
    /// posted it, and wakes waiters. Returns its seq.
    pub(crate) async fn insert_judged(
        &self,
        c: &Ceremony,
        event: &Event,
        internal: bool,
    ) -> Result<i64, Error> {
        let stored = c.clone();
        let body = event.as_json().into_bytes();
        let judged =
            tokio::task::spawn_blocking(move || rules::judge_stored(&stored, &body, internal))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
                .map_err(Error::Package)?;
        let audience = Audience::of(&judged.package);
        let outcome = store::insert(
            &self.0.db,
            c,
            judged.package,
            judged.requires,
            judged.unique,
            now(),
        )
        .await?;
        match outcome {
            Inserted::Accepted(seq) => {
                self.0.waiters.notify(&c.id, seq, &audience);
                Ok(seq)
            }
            Inserted::Duplicate(seq) => Ok(seq),
            Inserted::Conflict { existing } => Err(Error::Conflict { existing }),
            Inserted::Missing => Err(Error::Missing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_counts_open_polls() {
        let p = Presence::default();
        let pk = nostr::Keys::generate().public_key();
        let g = p.poll("c", &pk);
        let h = p.poll("c", &pk);
        assert_eq!(p.of("c")[0].1.polling, 2);
        drop(g);
        drop(h);
        let seen = p.of("c");
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1.polling, 0);
        assert!(p.of("other").is_empty());
    }
}
