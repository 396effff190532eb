//! What the bunker spends on clients it does not know.
//!
//! Every answered request is a signed event published under the bunker's transport key,
//! and relays budget what one key may publish: replies to throwaway keys would spend that
//! budget and the relay would drop replies to the clients that matter. So requests from
//! keys without a grant are counted before anything else is done for them (no decryption,
//! no database lookup): first against a bucket of their own, then against one shared by
//! all unknown keys. Beyond either, the bunker stays silent. Known clients are not
//! counted here; their grant's `--rate` applies.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Instant;

use nostr::PublicKey;

use crate::serve::door::Limiter;

/// Token buckets for replies to unknown keys (rates per second): read from serve's
/// config, whose file and flags carry the `bunker_unknown_*` keys.
pub use crate::serve::config::UnknownBudget as Limits;
pub use crate::serve::config::DEFAULT_UNKNOWN_BUDGET as DEFAULT_LIMITS;

pub struct Budget {
    per_key: Limiter,
    global: Limiter,
    /// Keys with a grant, as last read from the database (or learnt from a request that
    /// passed): these are answered without counting.
    known: Mutex<HashSet<PublicKey>>,
}

impl Budget {
    pub fn new(l: Limits) -> Self {
        Budget {
            per_key: Limiter::new(l.rate_per_key, l.burst_per_key),
            global: Limiter::new(l.rate, l.burst),
            known: Mutex::new(HashSet::new()),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashSet<PublicKey>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when a request from `from` may be worked on and answered.
    pub fn admit(&self, from: &PublicKey, now: Instant) -> bool {
        if self.known().contains(from) {
            return true;
        }
        // The key's own bucket first, so one loud key cannot drain the shared one.
        self.per_key.take(&from.to_hex(), now).is_ok() && self.global.take("", now).is_ok()
    }

    pub fn is_known(&self, pk: &PublicKey) -> bool {
        self.known().contains(pk)
    }

    /// `pk` holds a grant (it just connected or was authorized).
    pub fn learn(&self, pk: PublicKey) {
        self.known().insert(pk);
    }

    /// `pk` holds no grant any more.
    pub fn forget(&self, pk: &PublicKey) {
        self.known().remove(pk);
    }

    /// Replaces the known keys with the database's current list (grants added or
    /// revoked by `passport bunker clients` in another process).
    pub fn reset_known(&self, keys: impl IntoIterator<Item = PublicKey>) {
        *self.known() = keys.into_iter().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr::Keys;
    use std::time::Duration;

    #[test]
    fn strangers_share_a_budget_and_known_keys_skip_it() {
        let b = Budget::new(Limits {
            rate: 1.0,
            burst: 3,
            rate_per_key: 0.1,
            burst_per_key: 2,
        });
        let t = Instant::now();
        let loud = Keys::generate().public_key();
        assert!(b.admit(&loud, t));
        assert!(b.admit(&loud, t));
        // Its own bucket is empty; the shared one still has a token for someone else.
        assert!(!b.admit(&loud, t));
        assert!(b.admit(&Keys::generate().public_key(), t));
        // The shared bucket is empty now: a fresh key is refused too.
        assert!(!b.admit(&Keys::generate().public_key(), t));
        let friend = Keys::generate().public_key();
        b.learn(friend);
        for _ in 0..100 {
            assert!(b.admit(&friend, t));
        }
        // Refills with time.
        assert!(b.admit(
            &Keys::generate().public_key(),
            t + Duration::from_millis(1100)
        ));
        b.reset_known([]);
        assert!(!b.is_known(&friend));
    }
}
