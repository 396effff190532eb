//! Wakes long polls when a ceremony gets a package: one watch channel per ceremony
//! with someone waiting, carrying the latest seq. No polling of the database.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

#[derive(Default)]
pub struct Waiters {
    channels: Mutex<HashMap<String, watch::Sender<i64>>>,
}

impl Waiters {
    /// A receiver that sees every package accepted after this call.
    pub fn subscribe(&self, ceremony: &str) -> watch::Receiver<i64> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(ceremony.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Announces package `seq` in `ceremony`.
    pub fn notify(&self, ceremony: &str, seq: i64) {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let idle = match map.get(ceremony) {
            Some(tx) => {
                tx.send_replace(seq);
                tx.receiver_count() == 0
            }
            None => false,
        };
        // Nobody is waiting: forget the channel so the map only holds live ceremonies.
        if idle {
            map.remove(ceremony);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscriber_sees_later_packages_only() {
        let w = Waiters::default();
        let mut rx = w.subscribe("c");
        assert!(!rx.has_changed().expect("open"));
        w.notify("c", 7);
        rx.changed().await.expect("changed");
        assert_eq!(*rx.borrow(), 7);
        drop(rx);
        w.notify("c", 8);
        assert!(w.channels.lock().expect("lock").is_empty());
    }
}
