//! Wakes long polls when a ceremony gets a package they may fetch: watch channels per
//! ceremony with someone waiting, carrying the latest seq. No polling of the database.
//!
//! A package addressed to one member (a DKG round-2 share) wakes only its sender's and
//! recipient's polls, the only ones `queries::fetch` shows it to: waking every member's
//! poll of a 50-member DKG for each of them cost 48 empty fetches per post.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use super::store::NewPackage;

/// Whose fetches return a package (the rule of `queries::fetch`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// A broadcast: every member.
    All,
    /// Addressed: its sender and its recipient (hex pubkeys).
    Pair { sender: String, to: String },
}

impl Audience {
    pub fn of(p: &NewPackage) -> Audience {
        match &p.to_pubkey {
            None => Audience::All,
            Some(to) => Audience::Pair {
                sender: p.sender.clone(),
                to: to.clone(),
            },
        }
    }
}

#[derive(Default)]
struct Ceremony {
    /// Woken by every package (the server's own sidecars).
    every: Option<watch::Sender<i64>>,
    /// Woken by the packages this viewer (hex pubkey) may fetch.
    viewers: HashMap<String, watch::Sender<i64>>,
}

impl Ceremony {
    fn idle(&self) -> bool {
        self.viewers.is_empty() && self.every.is_none()
    }
}

#[derive(Default)]
pub struct Waiters {
    ceremonies: Mutex<HashMap<String, Ceremony>>,
}

fn fresh() -> watch::Sender<i64> {
    watch::channel(0).0
}

impl Waiters {
    /// A receiver that changes with every package of `ceremony` that `viewer` (hex
    /// pubkey) may fetch, accepted after this call.
    pub fn subscribe(&self, ceremony: &str, viewer: &str) -> watch::Receiver<i64> {
        let mut map = self.ceremonies.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.entry(ceremony.to_owned()).or_default();
        c.viewers
            .entry(viewer.to_owned())
            .or_insert_with(fresh)
            .subscribe()
    }

    /// A receiver that changes with every package `ceremony` accepts after this call.
    pub fn subscribe_all(&self, ceremony: &str) -> watch::Receiver<i64> {
        let mut map = self.ceremonies.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.entry(ceremony.to_owned()).or_default();
        c.every.get_or_insert_with(fresh).subscribe()
    }

    /// Announces package `seq` in `ceremony` to those who may fetch it.
    pub fn notify(&self, ceremony: &str, seq: i64, audience: &Audience) {
        let mut map = self.ceremonies.lock().unwrap_or_else(|p| p.into_inner());
        let Some(c) = map.get_mut(ceremony) else {
            return;
        };
        if let Some(tx) = &c.every {
            tx.send_replace(seq);
        }
        match audience {
            Audience::All => c.viewers.values().for_each(|tx| {
                tx.send_replace(seq);
            }),
            Audience::Pair { sender, to } => {
                for v in [sender, to] {
                    if let Some(tx) = c.viewers.get(v) {
                        tx.send_replace(seq);
                    }
                }
            }
        }
        // Forget channels nobody waits on, so the map only holds live polls.
        c.viewers.retain(|_, tx| tx.receiver_count() > 0);
        if c.every.as_ref().is_some_and(|tx| tx.receiver_count() == 0) {
            c.every = None;
        }
        if c.idle() {
            map.remove(ceremony);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(sender: &str, to: &str) -> Audience {
        Audience::Pair {
            sender: sender.into(),
            to: to.into(),
        }
    }

    #[tokio::test]
    async fn subscriber_sees_later_packages_only() {
        let w = Waiters::default();
        let mut rx = w.subscribe("c", "a");
        assert!(!rx.has_changed().expect("open"));
        w.notify("c", 7, &Audience::All);
        rx.changed().await.expect("changed");
        assert_eq!(*rx.borrow(), 7);
        drop(rx);
        w.notify("c", 8, &Audience::All);
        assert!(w.ceremonies.lock().expect("lock").is_empty());
    }

    #[test]
    fn addressed_packages_wake_only_sender_and_recipient() {
        let w = Waiters::default();
        let (mut a, mut b, c) = (
            w.subscribe("x", "a"),
            w.subscribe("x", "b"),
            w.subscribe("x", "c"),
        );
        let mut all = w.subscribe_all("x");
        let other = w.subscribe("y", "b");
        w.notify("x", 1, &pair("a", "b"));
        assert!(a.has_changed().expect("open"), "the sender's poll");
        assert!(b.has_changed().expect("open"), "the recipient's poll");
        assert!(
            !c.has_changed().expect("open"),
            "a third member's poll stays asleep"
        );
        assert!(
            all.has_changed().expect("open"),
            "a sidecar sees everything"
        );
        assert!(!other.has_changed().expect("open"), "another ceremony");
        for rx in [&mut a, &mut b, &mut all] {
            rx.borrow_and_update();
        }
        w.notify("x", 2, &Audience::All);
        for (name, rx) in [("a", &a), ("b", &b), ("c", &c), ("sidecar", &all)] {
            assert!(rx.has_changed().expect("open"), "{name} sees a broadcast");
            assert_eq!(*rx.borrow(), 2);
        }
        // Two polls of one viewer share its channel; it lives while either does.
        let c2 = w.subscribe("x", "c");
        drop(c);
        w.notify("x", 3, &pair("b", "c"));
        assert!(c2.has_changed().expect("open"));
        drop((a, b, c2, all));
        w.notify("x", 4, &Audience::All);
        let map = w.ceremonies.lock().expect("lock");
        assert!(!map.contains_key("x"), "idle ceremony forgotten");
        assert!(map.contains_key("y"));
    }
}
